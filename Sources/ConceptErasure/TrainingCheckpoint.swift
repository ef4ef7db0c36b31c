import Foundation
import SafeTensors
import TensorEngine

/// The resumable state of a training run in one safetensors file (written atomically): every trainable
/// tensor, Adam's moments and step, and each concept's stop-rule state and loss curve.
struct TrainingCheckpoint {
    let url: URL

    struct State: Codable {
        var iteration: Int
        var adamStep: Int
        var iterations: [Int]
        var momenta: [Double?]
        var curves: [[Double]]
        var stopReasons: [String]
        var concepts: [String]
    }

    func save(iteration: Int, shifts: [TrainableShift], optimizer: Adam, rules: [MomentumStopRule],
              curves: [[Double]], stopReasons: [String]) throws {
        var w = SafeTensorsWriter()
        let (step, m, v) = optimizer.state
        var i = 0
        for (k, s) in shifts.enumerated() {
            for (key, p) in s.parameters {
                try w.add("\(k).\(key)", shape: p.shape, floats: p.scalars)
                try w.add("\(k).\(key).adam_m", shape: p.shape, floats: m[i].scalars)
                try w.add("\(k).\(key).adam_v", shape: p.shape, floats: v[i].scalars)
                i += 1
            }
        }
        let state = State(iteration: iteration, adamStep: step, iterations: rules.map(\.iterations),
                          momenta: rules.map(\.momentum), curves: curves, stopReasons: stopReasons,
                          concepts: shifts.map(\.concept))
        let json = String(decoding: try JSONEncoder().encode(state), as: UTF8.self)
        try w.write(to: url.path, metadata: ["sepme.checkpoint": json])
    }

    /// Restores tensors and optimizer state; nil when there is no checkpoint. A checkpoint of another
    /// run (different concepts or shapes) is an error naming the file.
    func load(shifts: [TrainableShift], optimizer: Adam) throws -> State? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let file = try SafeTensorsFile(path: url.path)
        guard let json = file.metadata["sepme.checkpoint"],
              let state = try? JSONDecoder().decode(State.self, from: Data(json.utf8)),
              state.concepts == shifts.map(\.concept) else {
            throw ErasureError.invalidArgument("\(url.path): checkpoint of a different run; delete it or drop --resume")
        }
        var m: [Tensor] = [], v: [Tensor] = []
        for (k, s) in shifts.enumerated() {
            for (key, p) in s.parameters {
                let name = "\(k).\(key)"
                guard try file.info(name).shape == p.shape else {
                    throw ErasureError.invalidArgument("\(url.path): '\(name)' has another shape than this run's")
                }
                try file.copyFloats(name, into: p.pointer, count: p.count)
                m.append(Tensor(try file.floats(name + ".adam_m"), shape: p.shape))
                v.append(Tensor(try file.floats(name + ".adam_v"), shape: p.shape))
            }
        }
        try optimizer.restore(step: state.adamStep, m: m, v: v)
        return state
    }

    func remove() { try? FileManager.default.removeItem(at: url) }
}
