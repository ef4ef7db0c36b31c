import Diffusion
import Foundation
import TensorEngine
import XCTest

/// Seeded fuzzing of whole model folders (issue 12): each case mutates one file of a small diffusers
/// folder (config fields, tokenizer files, safetensors headers and tensor data) and loads it with
/// `StableDiffusionPipeline`; a load that succeeds also generates one small image. Every case must
/// end in a thrown error or a success: a trap kills the test process, which is the failure signal.
final class ModelFolderFuzzTests: XCTestCase {
    static let tinySD = Bundle.module.url(forResource: "Resources/pipeline/tiny-sd", withExtension: nil)!
    /// The embedded toy model (vocab.json + merges.txt tokenizer, no VAE), read from the source tree.
    static let toy = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Sources/Toy/Resources/toy-model").standardizedFileURL

    /// Replacement values for a JSON field: wrong types, huge, negative, fractional, empty.
    static func strangeValue(_ original: Any?, _ r: inout SplitMix64) -> Any? {
        let choices: [Any?] = [
            nil, NSNull(), 0, -1, 1, 2, 2.5, -0.5, 1e30, -1e30, 1 << 62, -(1 << 62), Int.max, 1_000_000,
            "x", "NaN", "", true, false, [Any](), [1, 2, 3], [2.5], ["a"], [String: Any](), 1e-300, 0.999, 1.0
        ]
        if let n = original as? NSNumber, r.below(3) == 0 {
            let d = n.doubleValue
            return r.pick([d * 2, d + 1, d - 1, -d, d * 1000, d / 3, d + 0.5])
        }
        if let list = original as? [Any], !list.isEmpty, r.below(3) == 0 {
            var copy = list
            switch r.below(3) {
            case 0: copy.removeLast()
            case 1: copy.append(list[0])
            default: copy[r.below(copy.count)] = strangeValue(copy[0], &r) ?? NSNull()
            }
            return copy
        }
        return r.pick(choices)
    }

    static let extraKeys = [
        "vocab_size", "hidden_size", "num_hidden_layers", "intermediate_size", "max_position_embeddings",
        "sample_size", "block_out_channels", "layers_per_block", "num_train_timesteps", "trained_betas",
        "steps_offset", "latent_channels", "model_max_length", "cross_attention_dim", "in_channels",
        "out_channels", "num_attention_heads", "attention_head_dim", "beta_start", "beta_end"
    ]

    /// A mutated JSON object file (one to three fields), or raw byte damage.
    static func mutateJSON(_ data: Data, _ r: inout SplitMix64) -> Data {
        guard r.below(10) > 0, var object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            return mutateBytes(data, &r)
        }
        for _ in 0...r.below(3) {
            let key = r.below(3) == 0 ? r.pick(extraKeys) : (object.keys.sorted().randomElement(using: &r) ?? "x")
            if object["model"] is [String: Any], key == "model", var model = object["model"] as? [String: Any] {
                // tokenizer.json: damage a vocabulary id or a merge.
                if var vocab = model["vocab"] as? [String: Any], let token = vocab.keys.sorted().randomElement(using: &r) {
                    vocab[token] = strangeValue(vocab[token], &r) ?? 1 << 40
                    model["vocab"] = vocab
                }
                object["model"] = model
                continue
            }
            object[key] = strangeValue(object[key], &r)
        }
        return (try? JSONSerialization.data(withJSONObject: object)) ?? data
    }

    static func mutateBytes(_ data: Data, _ r: inout SplitMix64) -> Data {
        var bytes = [UInt8](data)
        switch r.below(4) {
        case 0: bytes = Array(bytes.prefix(r.below(bytes.count + 1)))
        case 1: for _ in 0...r.below(8) where !bytes.isEmpty { bytes[r.below(bytes.count)] = UInt8(truncatingIfNeeded: r.next()) }
        case 2: bytes += Array(repeating: UInt8(ascii: "9"), count: r.below(64))
        default: if !bytes.isEmpty { bytes.remove(at: r.below(bytes.count)) }
        }
        return Data(bytes)
    }

    /// Damage to a safetensors file: a header field, raw header bytes, NaN/Inf in the data, truncation.
    static func mutateSafeTensors(_ data: Data, _ r: inout SplitMix64) -> Data {
        var bytes = [UInt8](data)
        guard bytes.count > 8 else { return mutateBytes(data, &r) }
        let headerLength = Int(bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        guard headerLength > 0, 8 + headerLength <= bytes.count else { return mutateBytes(data, &r) }
        switch r.below(5) {
        case 0, 1:  // non-finite values at random positions of the data section (F32 and F16 patterns)
            let dataStart = 8 + headerLength
            for _ in 0...r.below(3) {
                let at = dataStart + r.below((bytes.count - dataStart) / 4) * 4
                guard at + 4 <= bytes.count else { continue }
                let pattern: [UInt8] = r.pick([[0, 0, 0xC0, 0x7F], [0, 0, 0x80, 0x7F], [0, 0x7C, 0, 0x7C], [0, 0, 0x80, 0xFF]])
                bytes.replaceSubrange(at..<(at + 4), with: pattern)
            }
        case 2:  // one header entry's dtype, shape or offsets
            let header = Data(bytes[8..<(8 + headerLength)])
            guard var object = (try? JSONSerialization.jsonObject(with: header)) as? [String: Any],
                let key = object.keys.filter({ $0 != "__metadata__" }).sorted().randomElement(using: &r),
                var entry = object[key] as? [String: Any]
            else { return mutateBytes(data, &r) }
            let field = r.pick(["dtype", "shape", "data_offsets"])
            entry[field] =
                field == "dtype"
                ? r.pick(["F16", "BF16", "F64", "I64", "U8", "BOOL", "F8", 3] as [Any])
                : strangeValue(entry[field], &r)
            object[key] = entry
            guard let json = try? JSONSerialization.data(withJSONObject: object) else { return data }
            var length = UInt64(json.count).littleEndian
            bytes = withUnsafeBytes(of: &length) { Array($0) } + [UInt8](json) + bytes[(8 + headerLength)...]
        case 3:
            return mutateBytes(data, &r)
        default:  // header length prefix
            let value: UInt64 = r.pick([0, 1, UInt64(headerLength) + 1, UInt64(headerLength) - 1, UInt64.max, 1 << 40])
            for i in 0..<8 { bytes[i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
        }
        return Data(bytes)
    }

    struct Tally { var loaded = 0, thrown = 0, generated = 0, generationErrors = 0, configurationsPassed = 0 }
    var loadSeconds = 0.0, generateSeconds = 0.0

    /// Runs `cases` mutants of `base` (files chosen by `include`), returning how they ended, by file.
    /// Each mutant first goes through the configuration stage (`FolderConfigurations`); one that
    /// passes it, or whose weights were mutated, is then loaded whole (every `fullLoadEvery`-th of the
    /// configuration mutants, all weight mutants) and, when it loads, generates one image.
    func fuzz(
        _ base: URL, cases: Int, seed: UInt64, tokenizerFrom: URL? = nil, fullLoadEvery: Int = 1,
        include: (String) -> Bool = { _ in true }
    ) throws -> [String: Tally] {
        let fm = FileManager.default
        let work = fm.temporaryDirectory.appendingPathComponent("sepme-fuzz-\(UUID().uuidString)")
        try fm.copyItem(at: base, to: work)
        defer { try? fm.removeItem(at: work) }
        if let tokenizerFrom {
            try fm.removeItem(at: work.appendingPathComponent("tokenizer"))
            try fm.copyItem(at: tokenizerFrom, to: work.appendingPathComponent("tokenizer"))
        }
        var files: [String] = []
        let prefix = work.path + "/"
        for case let url as URL in fm.enumerator(at: work, includingPropertiesForKeys: nil)! {
            var isDirectory: ObjCBool = false
            if fm.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue {
                files.append(String(url.standardizedFileURL.path.dropFirst(prefix.count)))
            }
        }
        files = files.filter(include).sorted()
        var passedConfigurations = 0
        var r = SplitMix64(seed: seed)
        var tally: [String: Tally] = [:]
        for _ in 0..<cases {
            let file = r.pick(files)
            let url = work.appendingPathComponent(file)
            let original = try Data(contentsOf: url)
            let mutated: Data
            if file.hasSuffix(".safetensors") {
                mutated = Self.mutateSafeTensors(original, &r)
            } else if file.hasSuffix(".json") {
                mutated = Self.mutateJSON(original, &r)
            } else {
                mutated = Self.mutateBytes(original, &r)
            }
            try mutated.write(to: url)
            var t = tally[file, default: Tally()]
            let start = Date()
            defer { loadSeconds += Date().timeIntervalSince(start) }
            do {
                let folder = try ModelFolder(path: work.path)
                _ = try FolderConfigurations(folder: folder)
                if !file.hasSuffix(".safetensors") {
                    passedConfigurations += 1
                    if passedConfigurations % fullLoadEvery != 0 {
                        t.configurationsPassed += 1
                        tally[file] = t
                        try original.write(to: url)
                        continue
                    }
                }
                let pipeline = try StableDiffusionPipeline(folder: folder)
                t.loaded += 1
                let g0 = Date()
                defer { generateSeconds += Date().timeIntervalSince(g0) }
                // Tokens across the vocabulary, so out-of-range ids would be reached.
                let prompt = "a red circle and a blue square, \(r.below(100000)) <|endoftext|> ! zebra"
                do {
                    _ = try pipeline.generate(
                        GenerationOptions(
                            prompts: [prompt], seed: r.next(), steps: 1, guidance: 2,
                            width: 8 * pipeline.vaeScaleFactor, height: 8 * pipeline.vaeScaleFactor))
                    t.generated += 1
                } catch {
                    t.generationErrors += 1
                }
            } catch {
                t.thrown += 1
            }
            tally[file] = t
            try original.write(to: url)
        }
        return tally
    }

    private func report(_ name: String, _ tally: [String: Tally]) {
        var total = Tally()
        for (file, t) in tally.sorted(by: { $0.key < $1.key }) {
            print(
                "fuzz \(name) \(file): \(t.thrown) refused, \(t.configurationsPassed) passed the configuration stage only, "
                    + "\(t.loaded) loaded (\(t.generated) generated, \(t.generationErrors) generation errors)")
            total.thrown += t.thrown
            total.loaded += t.loaded
            total.generated += t.generated
            total.generationErrors += t.generationErrors
            total.configurationsPassed += t.configurationsPassed
        }
        print(String(format: "fuzz time: %.1f s in all, %.1f s generating", loadSeconds, generateSeconds))
        print(
            "fuzz \(name) total: \(total.thrown + total.loaded + total.configurationsPassed) cases, \(total.thrown) refused, "
                + "\(total.configurationsPassed) passed the configuration stage only, \(total.loaded) loaded")
        XCTAssertGreaterThan(total.thrown, 0, "no mutant was refused: the mutations are not reaching the loader")
    }

    static func cases(_ fallback: Int) -> Int {
        Int(ProcessInfo.processInfo.environment["SEPME_FUZZ_SCALE"] ?? "1").map { $0 * fallback } ?? fallback
    }

    /// Configuration and tokenizer files of tiny-sd, with the toy model's small vocab.json + merges.txt
    /// tokenizer for speed; every 8th mutant that passes the configuration stage is loaded whole.
    func testMutatedConfigurationsAndTokenizersLoadOrThrow() throws {
        guard FileManager.default.fileExists(atPath: Self.toy.path) else { throw XCTSkip("toy model not found at \(Self.toy.path)") }
        report(
            "configurations",
            try fuzz(
                Self.tinySD, cases: Self.cases(3000), seed: 0x5E9_ED01,
                tokenizerFrom: Self.toy.appendingPathComponent("tokenizer"), fullLoadEvery: 8
            ) {
                !$0.hasSuffix(".safetensors")
            })
    }

    /// tiny-sd's own tokenizer.json format.
    func testMutatedTokenizerJSONLoadsOrThrows() throws {
        report(
            "tokenizer.json",
            try fuzz(Self.tinySD, cases: Self.cases(150), seed: 0x70_C3, fullLoadEvery: 8) {
                $0.hasPrefix("tokenizer/")
            })
    }

    /// Weight files: headers, data (NaN, infinities), truncation; every mutant is loaded whole.
    func testMutatedWeightsLoadOrThrow() throws {
        guard FileManager.default.fileExists(atPath: Self.toy.path) else { throw XCTSkip("toy model not found at \(Self.toy.path)") }
        report(
            "weights",
            try fuzz(
                Self.tinySD, cases: Self.cases(500), seed: 0xBAD_5EED,
                tokenizerFrom: Self.toy.appendingPathComponent("tokenizer")
            ) { $0.hasSuffix(".safetensors") })
    }
}

extension Array {
    /// An element picked by `r.below`, nil when empty.
    func randomElement(using r: inout SplitMix64) -> Element? { isEmpty ? nil : self[r.below(count)] }
}

extension SplitMix64 {
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
}
