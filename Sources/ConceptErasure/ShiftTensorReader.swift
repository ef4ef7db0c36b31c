import SafeTensors
import TensorEngine

/// Reads the tensors of a shift file and checks them before anything uses them: every key known,
/// every rank and shape consistent with the others and with the metadata, every value finite.
/// Errors name the file and the key.
struct ShiftTensorReader {
    let file: SafeTensorsFile
    let path: String

    /// The largest magnitude a shift tensor may hold. Trained factors and deltas stay many orders
    /// below it; values near Float's range would turn keys and values into infinities.
    static let magnitudeLimit: Float = 1e6

    private func invalid(_ reason: String) -> ErasureError { .invalidShiftFile(path: path, reason: reason) }

    /// Reads `key` as a finite tensor of rank `rank`.
    private func tensor(_ key: String, rank: Int) throws -> Tensor {
        let info: SafeTensorInfo
        let values: [Float]
        do {
            info = try file.info(key)
            values = try file.floats(key)
        } catch { throw invalid("tensor '\(key)': \(error)") }
        guard info.shape.count == rank else {
            throw invalid("'\(key)' has shape \(info.shape), expected a tensor of rank \(rank)")
        }
        guard info.shape.allSatisfy({ $0 > 0 }) else { throw invalid("'\(key)' is empty (shape \(info.shape))") }
        if let i = values.firstIndex(where: { !$0.isFinite }) {
            throw invalid("'\(key)' holds a non-finite value (\(values[i]) at element \(i))")
        }
        if let i = values.firstIndex(where: { abs($0) > Self.magnitudeLimit }) {
            throw invalid(
                "'\(key)' holds \(values[i]) at element \(i), beyond ±\(Self.magnitudeLimit): no trained shift is that large, and it would overflow the model's activations"
            )
        }
        return Tensor(values, shape: info.shape)
    }

    func weights(metadata: ShiftMetadata) throws -> ShiftWeights {
        var factors: [String: Tensor] = [:]
        var deltas: [String: Tensor] = [:]
        var biases: [String: Tensor] = [:]
        for key in file.keys where key != "beta" && key != "basis" {
            if key.hasSuffix(".A"), key.count > 2 {
                factors[String(key.dropLast(2))] = try tensor(key, rank: 2)
            } else if key.hasSuffix(".bias_delta"), key.count > 11 {
                biases[String(key.dropLast(11))] = try tensor(key, rank: 1)
            } else if key.hasSuffix(".delta"), key.count > 6 {
                deltas[String(key.dropLast(6))] = try tensor(key, rank: 2)
            } else {
                throw invalid(
                    "unexpected tensor '\(key)' (a shift holds 'basis', 'beta', '<projection>.A', '<projection>.delta' or '<projection>.bias_delta')")
            }
        }
        for (key, b) in biases.sorted(by: { $0.key < $1.key }) {
            guard let d = deltas[key] else {
                throw invalid("'\(key).bias_delta' has no '\(key).delta'; a bias change comes with its projection's dense delta")
            }
            guard b.shape[0] == d.shape[0] else {
                throw invalid("'\(key).bias_delta' has shape \(b.shape), expected [\(d.shape[0])] to match '\(key).delta' \(d.shape)")
            }
        }
        let weights = try form(factors: factors, deltas: deltas, biases: biases, metadata: metadata)
        if let recorded = metadata.contextWidth, let width = weights.inputWidth, recorded != width {
            throw invalid("the metadata's context_width is \(recorded), but the shift's weights take a text width of \(width)")
        }
        return weights
    }

    /// The factorised or dense form the tensors hold, checked.
    private func form(
        factors: [String: Tensor], deltas: [String: Tensor], biases: [String: Tensor], metadata: ShiftMetadata
    ) throws -> ShiftWeights {
        switch (factors.isEmpty, deltas.isEmpty) {
        case (true, true): throw invalid("no shift tensors")
        case (false, false): throw invalid("holds both factors ('.A') and dense deltas ('.delta'); a shift has one form")
        case (true, false):
            guard !file.keys.contains("basis") else { throw invalid("dense deltas with a 'basis' tensor") }
            // Projections of different blocks differ in d_out and d_in; each is checked against its
            // projection's weight shape when the shift is installed.
            return .dense(deltas: deltas, biases: biases)
        case (false, true):
            guard file.keys.contains("basis") else { throw invalid("factors without a 'basis' tensor") }
            let basis = try tensor("basis", rank: 2)
            let m = basis.shape[0]
            guard m <= basis.shape[1] else {
                throw invalid("'basis' has shape \(basis.shape): more basis rows (\(m)) than the text width (\(basis.shape[1]))")
            }
            if let ns = metadata.nullSpace, ns.dimension != m {
                throw invalid("'basis' has \(m) rows but the metadata's null space has dimension \(ns.dimension)")
            }
            let gram = GradMode.withNoGrad { Tensor.matmul(basis, basis.transposed(0, 1)) }
            for i in 0..<m { gram.pointer[i * m + i] -= 1 }
            let worst = gram.abs().scalars.max() ?? 0
            guard worst <= 1e-3 else {
                throw invalid(
                    "the rows of 'basis' are not orthonormal (|S Sᵀ − I| reaches \(worst)), so the shift would not leave the protected prompts unchanged"
                )
            }
            for (k, a) in factors.sorted(by: { $0.key < $1.key }) where a.shape[1] != m {
                throw invalid("'\(k).A' has shape \(a.shape), expected [d_out, \(m)] to match 'basis' \(basis.shape)")
            }
            let beta: Float
            if file.keys.contains("beta") {
                let b: [Float]
                do {
                    guard try file.info("beta").shape.reduce(1, *) == 1 else {
                        throw invalid("'beta' has shape \(try file.info("beta").shape), expected a scalar")
                    }
                    b = try file.floats("beta")
                } catch let e as ErasureError { throw e } catch { throw invalid("tensor 'beta': \(error)") }
                beta = b[0]
            } else {
                beta = Float(metadata.hyperparameters.beta)
            }
            guard beta.isFinite, beta > 0 else { throw invalid("'beta' is \(beta), expected a positive finite scale") }
            return .factorised(
                beta: beta, basis: basis, factors: factors,
                reachThreshold: ShiftAdapter.reachThreshold(relativeLeak: metadata.nullSpace?.relativeLeak))
        }
    }
}
