import Foundation
import SafeTensors
import TensorEngine

/// The resumable state of one training group (SepME's, or one concept of ESD-x or CA) in one safetensors file (written atomically):
/// every trainable tensor, Adam's moments and step, the group's stop statistic, each concept's loss
/// curve, and the settings of the run, so that a resume with other settings is refused instead of
/// producing a shift whose metadata misstates how it was made.
struct TrainingCheckpoint {
    let url: URL

    /// What a checkpoint records besides the tensors.
    struct State: Codable, Equatable {
        /// Iterations done; also the group's stop-rule count.
        var iteration = 0
        /// The group's stop statistic m_n (nil before the first iteration).
        var momentum: Double?
        /// Each concept's Lcor per iteration.
        var curves: [[Double]]
        var stopReason: StopReason?
        /// Training seconds before this checkpoint, over every process that worked on the run.
        var secondsBefore: Double = 0
        var concepts: [String]
        /// The run's settings; a resume must match them (the iteration budget may grow).
        var settings: Settings

        struct Settings: Codable, Equatable {
            var variant: ErasureVariant
            var protectedPrompts: [String]
            var decoupleFrom: [String]
            var hyperparameters: ErasureHyperparameters
            var imagesFolder: String?
            /// The method and its settings without the iteration budget (nil in checkpoints
            /// written before other methods existed: SepME's).
            var method: ErasureMethodKind?
            var esd: ESDOptions?
            var ca: CAOptions?
        }

        init(plan: ErasurePlan, concepts: [String]) {
            self.concepts = concepts
            curves = concepts.map { _ in [] }
            settings = Settings(
                variant: plan.variant, protectedPrompts: plan.protectedPrompts, decoupleFrom: plan.decoupleFrom,
                hyperparameters: plan.hyperparameters, imagesFolder: plan.imagesFolder, method: plan.method,
                esd: plan.esd?.withoutIterationBudget, ca: plan.ca?.withoutIterationBudget)
        }

        mutating func capture(_ rule: MomentumStopRule) {
            iteration = rule.iterations
            momentum = rule.momentum
        }
    }

    private static let metadataKey = "sepme.checkpoint"

    func save(_ state: State, weights: [ShiftWeights], optimizer: Adam) throws {
        var w = SafeTensorsWriter()
        let (step, m, v) = optimizer.state
        var i = 0
        for (k, shift) in weights.enumerated() {
            for (key, p) in shift.namedTrainableTensors {
                try w.add("\(k).\(key)", shape: p.shape, floats: p.scalars)
                try w.add("\(k).\(key).adam_m", shape: p.shape, floats: m[i].scalars)
                try w.add("\(k).\(key).adam_v", shape: p.shape, floats: v[i].scalars)
                i += 1
            }
        }
        let json = String(decoding: try JSONEncoder().encode(state), as: UTF8.self)
        try w.write(to: url.path, metadata: [Self.metadataKey: json, "sepme.adam_step": String(step)])
    }

    /// Restores tensors and optimizer state into `weights` / `optimizer` and returns the state; nil
    /// when there is no checkpoint. A checkpoint of another run (other concepts, settings or
    /// shapes) is an error naming the file and what differs.
    func load(expected: State, weights: [ShiftWeights], optimizer: Adam) throws -> State? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        func mismatch(_ reason: String) -> ErasureError {
            .checkpoint(path: url.path, reason: "\(reason); delete it to start over, or resume with the settings it was made with")
        }
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(path: url.path) } catch {
            throw ErasureError.checkpoint(path: url.path, reason: "unreadable checkpoint (\(error)); delete it to start over")
        }
        guard let json = file.metadata[Self.metadataKey], let state = try? JSONDecoder().decode(State.self, from: Data(json.utf8)),
            let step = file.metadata["sepme.adam_step"].flatMap(Int.init)
        else {
            throw ErasureError.checkpoint(path: url.path, reason: "not a checkpoint of this sepme version; delete it to start over")
        }
        guard state.concepts == expected.concepts else { throw mismatch("it is a checkpoint of the concepts \(state.concepts)") }
        try Self.compare(state.settings, expected.settings).map { throw mismatch($0) }
        guard state.curves.count == state.concepts.count, state.curves.allSatisfy({ $0.count == state.iteration }) else {
            throw mismatch("its loss curves do not match its \(state.concepts.count) concepts and \(state.iteration) iterations")
        }
        var m: [Tensor] = []
        var v: [Tensor] = []
        for (k, shift) in weights.enumerated() {
            for (key, p) in shift.namedTrainableTensors {
                let name = "\(k).\(key)"
                let values: [Float]
                let mv: [Float]
                let vv: [Float]
                do {
                    guard try file.info(name).shape == p.shape else { throw mismatch("'\(name)' has another shape than this run's") }
                    values = try file.floats(name)
                    mv = try file.floats(name + ".adam_m")
                    vv = try file.floats(name + ".adam_v")
                } catch let e as ErasureError { throw e } catch {
                    throw ErasureError.checkpoint(path: url.path, reason: "\(error); delete it to start over")
                }
                guard values.allSatisfy(\.isFinite), mv.allSatisfy(\.isFinite), vv.allSatisfy(\.isFinite) else {
                    throw ErasureError.checkpoint(path: url.path, reason: "'\(name)' holds non-finite values; delete it to start over")
                }
                p.pointer.update(from: values, count: p.count)
                m.append(Tensor(mv, shape: p.shape))
                v.append(Tensor(vv, shape: p.shape))
            }
        }
        try optimizer.restore(step: step, m: m, v: v)
        return state
    }

    /// The first setting that differs between a checkpoint and this run, or nil. The iteration
    /// budget may differ (a resumed run may be given more iterations).
    static func compare(_ found: State.Settings, _ expected: State.Settings) -> String? {
        var a = found.hyperparameters
        var b = expected.hyperparameters
        a.maxIterations = 0
        b.maxIterations = 0
        if (found.method ?? .sepme) != (expected.method ?? .sepme) {
            return "it was made by the method \((found.method ?? .sepme).rawValue)"
        }
        if found.esd != expected.esd || found.ca != expected.ca {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            func json(_ value: some Encodable) -> String { (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "?" }
            let made = found.esd.map(json) ?? found.ca.map(json) ?? "none"
            return "it was made with the \((found.method ?? .sepme).rawValue) settings \(made) (iteration count aside)"
        }
        if found.variant != expected.variant { return "it was made with the \(found.variant.rawValue) variant" }
        if found.protectedPrompts != expected.protectedPrompts { return "it was made with the protected prompts \(found.protectedPrompts)" }
        if found.decoupleFrom != expected.decoupleFrom { return "it was made decoupled from \(found.decoupleFrom)" }
        if found.imagesFolder != expected.imagesFolder { return "it was made with the training images \(found.imagesFolder ?? "generated")" }
        if a != b {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let fa = (try? JSONSerialization.jsonObject(with: encoder.encode(a))) as? [String: Any] ?? [:]
            let fb = (try? JSONSerialization.jsonObject(with: encoder.encode(b))) as? [String: Any] ?? [:]
            let keys = Set(fa.keys).union(fb.keys).sorted().filter { "\(fa[$0] ?? "none")" != "\(fb[$0] ?? "none")" }
            return "it was made with " + keys.map { "\($0) \(fa[$0] ?? "none") (this run: \(fb[$0] ?? "none"))" }.joined(separator: ", ")
        }
        return nil
    }

    func remove() { try? FileManager.default.removeItem(at: url) }
}
