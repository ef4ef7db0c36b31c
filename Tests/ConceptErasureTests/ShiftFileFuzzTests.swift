@testable import ConceptErasure
import Foundation
import TensorEngine
import TestSupport
import XCTest

/// Seeded mutations of shift files (safetensors header, tensor shapes and dtypes, offsets, tensor
/// bytes, the metadata JSON, truncation): every mutant must be refused with a named error or be
/// read into a shift that installs, exports and applies without trapping. A trap kills the test
/// process, which is the failure this test exists to catch.
final class ShiftFileFuzzTests: XCTestCase {
    struct Counts { var cases = 0, refused = 0, read = 0, installed = 0 }

    private func validFiles(model: ShiftSet, dir: URL) throws -> [Data] {
        var rng = TestRNG(seed: 21)
        let kv = model.projections.keyValueProjections
        let width = model.projections.textWidth
        let basis = try NullSpace.basis(of: DoubleMatrix(rng.tensor([width - 5, width])), mode: .exact).basis.toTensor()
        let metadata = ShiftMetadata(
            variant: .separate, concepts: ["a red circle"], protectedPrompts: ["zq watermark"],
            decoupledFrom: [], baseFingerprint: model.fingerprint, hyperparameters: ErasureHyperparameters(),
            training: TrainingRecord(iterations: 3, stopReason: .converged), nullSpace: nil,
            restorable: true, toolVersion: "test")
        var factors: [String: Tensor] = [:]
        var deltas: [String: Tensor] = [:]
        for (key, linear) in kv.prefix(4) {
            factors[key] = rng.tensor([linear.outFeatures, basis.shape[0]])
            deltas[key] = rng.tensor(linear.weight.shape, -1e-3, 1e-3)
        }
        var biases: [String: Tensor] = [:]
        if let layer = model.projections.layers.first, let out = layer.toOut {
            deltas[layer.key + ".to_out.0"] = rng.tensor(out.weight.shape, -1e-3, 1e-3)
            biases[layer.key + ".to_out.0"] = rng.tensor([out.outFeatures], -1e-3, 1e-3)
        }
        var dense = metadata
        dense.variant = .full
        dense.restorable = false
        let shifts = [
            ConceptShift(metadata: metadata, beta: 0.01, basis: basis, factors: factors),
            ConceptShift(metadata: dense, weights: .dense(deltas: deltas, biases: biases))
        ]
        return try shifts.enumerated().map { i, s in
            let path = dir.appendingPathComponent("valid-\(i).sepme.safetensors").path
            try s.write(to: path)
            return try Data(contentsOf: URL(fileURLWithPath: path))
        }
    }

    /// (header JSON object, data bytes) of a safetensors file.
    private func split(_ file: Data) -> ([String: Any], Data)? {
        guard file.count >= 8 else { return nil }
        let n = file.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        guard n >= 0, 8 + n <= file.count,
            let header = (try? JSONSerialization.jsonObject(with: file.subdata(in: 8..<(8 + n)))) as? [String: Any]
        else { return nil }
        return (header, file.subdata(in: (8 + n)..<file.count))
    }

    private func join(_ header: [String: Any], _ data: Data) -> Data {
        let json = (try? JSONSerialization.data(withJSONObject: header)) ?? Data("{".utf8)
        var out = Data((0..<8).map { UInt8((json.count >> (8 * $0)) & 0xFF) })
        out.append(json)
        out.append(data)
        return out
    }

    private func mutate(_ file: Data, _ rng: inout SplitMix64) -> Data {
        guard var (header, data) = split(file) else { return file }
        let tensorKeys = header.keys.filter { $0 != "__metadata__" }.sorted()
        guard !tensorKeys.isEmpty else { return file }
        let key = tensorKeys[Int(rng.next() % UInt64(tensorKeys.count))]
        guard var entry = header[key] as? [String: Any] else { return file }
        let odd: [Any] = [0, -1, 1, 2, 3, 7, 1 << 31, Int.max, 1.5, "x", NSNull(), [Int](), [1, 2]]
        func pick<T>(_ a: [T]) -> T { a[Int(rng.next() % UInt64(a.count))] }
        switch rng.next() % 9 {
        case 0:  // a shape dimension
            var shape = entry["shape"] as? [Any] ?? []
            if shape.isEmpty { shape = [pick(odd)] } else { shape[Int(rng.next() % UInt64(shape.count))] = pick(odd) }
            entry["shape"] = shape
        case 1:  // rank
            entry["shape"] = pick([[], [5], [2, 2, 2], [0, 4], [Int.max, 2]] as [[Int]])
        case 2:
            entry["dtype"] = pick(["F16", "BF16", "F64", "I64", "U8", "XX", ""])
        case 3:  // offsets
            guard var offsets = entry["data_offsets"] as? [Int], offsets.count == 2 else { break }
            offsets[Int(rng.next() % 2)] = pick([0, -8, 3, data.count, data.count + 4, Int.max])
            entry["data_offsets"] = offsets
        case 4:  // tensor bytes: a NaN, an Inf or noise
            if let offsets = entry["data_offsets"] as? [Int], offsets.count == 2, offsets[0] >= 0,
                offsets[1] <= data.count, offsets[1] - offsets[0] >= 4
            {
                let at = offsets[0] + 4 * Int(rng.next() % UInt64((offsets[1] - offsets[0]) / 4))
                let bits = pick([Float.nan.bitPattern, Float.infinity.bitPattern, UInt32(truncatingIfNeeded: rng.next())])
                for b in 0..<4 { data[at + b] = UInt8((bits >> (8 * UInt32(b))) & 0xFF) }
            }
        case 5:  // drop or rename a tensor
            header[key] = nil
            if rng.next() % 2 == 0 { header[pick(["beta", "basis", "x.A", ".A", "k.delta", "__x__"])] = entry }
            return join(header, data)
        case 6:  // the metadata JSON
            var meta = header["__metadata__"] as? [String: String] ?? [:]
            if var object = meta["sepme"].flatMap({ try? JSONSerialization.jsonObject(with: Data($0.utf8)) }) as? [String: Any] {
                let k = pick(object.keys.sorted())
                object[k] = pick([NSNull(), 1e308, -1, "", "\u{1b}[2J", [String](), ["x": 1]] as [Any])
                if var hp = object["hyperparameters"] as? [String: Any], rng.next() % 2 == 0 {
                    hp[pick(hp.keys.sorted())] = pick([-1.0, 1e30, 0.0, 2.5] as [Any])
                    object["hyperparameters"] = hp
                }
                meta["sepme"] = String(decoding: (try? JSONSerialization.data(withJSONObject: object)) ?? Data(), as: UTF8.self)
            }
            if rng.next() % 5 == 0 { meta["format"] = "sepme-shift/9" }
            header["__metadata__"] = meta
            return join(header, data)
        case 7:  // truncation
            var whole = join(header, data)
            whole.removeLast(Int(rng.next() % UInt64(max(1, data.count))) + 1)
            return whole
        default:  // the beta scalar
            if let b = header["beta"] as? [String: Any] {
                var beta = b
                beta["shape"] = pick([[0], [2], [1], [1, 1]] as [[Int]])
                header["beta"] = beta
            }
        }
        header[key] = entry
        return join(header, data)
    }

    func testMutatedShiftFilesAreRefusedOrUsable() throws {
        let model = try TinyErasure.model()
        let dir = try TinyErasure.temporaryDirectory("fuzz")
        defer { try? FileManager.default.removeItem(at: dir) }
        let valid = try validFiles(model: model, dir: dir)
        var rng = SplitMix64(seed: 2026)
        var counts = Counts()
        let path = dir.appendingPathComponent("mutant.sepme.safetensors").path
        let lora = dir.appendingPathComponent("mutant-lora.safetensors").path
        for i in 0..<2000 {
            var bytes = valid[i % valid.count]
            for _ in 0..<(1 + Int(rng.next() % 3)) { bytes = mutate(bytes, &rng) }
            try bytes.write(to: URL(fileURLWithPath: path))
            counts.cases += 1
            guard let shift = try? ConceptShift.read(path: path) else {
                counts.refused += 1
                continue
            }
            counts.read += 1
            // A shift that reads must be all finite and act on the model, or be refused there.
            for key in shift.projectionKeys { XCTAssertTrue(shift.weightDelta(for: key)?.isFinite ?? true, "case \(i): \(key)") }
            if counts.read % 5 == 0 { _ = try? LoRAExport.write([shift], format: .kohya, to: lora) }
            if (try? model.install([shift], force: true)) != nil {
                counts.installed += 1
                let y = GradMode.withNoGrad { model.pipeline.conditioning(prompts: ["a red circle"]).context }
                XCTAssertTrue(model.projections.keyValueProjections[0].1(y).isFinite, "case \(i)")
                model.remove()
            }
        }
        print("shift-file fuzz: \(counts.cases) cases, \(counts.refused) refused, \(counts.read) read, \(counts.installed) installed")
        XCTAssertGreaterThan(counts.refused, counts.cases / 2, "most mutations must be caught")
        XCTAssertGreaterThan(counts.installed, 0, "harmless mutations (e.g. a changed seed) still install")
    }
}
