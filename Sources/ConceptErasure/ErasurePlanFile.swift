import FileOutput
import Foundation

/// `plan.json`: an erasure fixed and checked before any training, so that its concepts can be
/// trained one per process (`sepme erase --plan FILE --index N`, one task of a Slurm array or of a
/// Kubernetes Indexed Job each) and composed afterwards (`sepme compose`). It holds the model (path
/// and fingerprint), the whole `ErasurePlan` (concepts, protected prompts, decouple-from set,
/// variant, hyper-parameters, seeds) and, per concept, its null space and leak bound (method.md §1,
/// §4). Written atomically; read back with every field checked.
public struct ErasurePlanFile: Codable, Equatable, Sendable {
    public static let formatName = "sepme-plan"
    public static let currentVersion = 1
    public static let fileName = "plan.json"

    /// The base model the plan was made on.
    public struct Model: Codable, Equatable, Sendable {
        public var path: String
        /// The diffusers folder describing a single-file checkpoint's architecture (`--config`);
        /// nil for a diffusers folder or an SD1 single file.
        public var configuration: String?
        public var fingerprint: String

        public init(path: String, configuration: String? = nil, fingerprint: String) {
            self.path = path
            self.configuration = configuration
            self.fingerprint = fingerprint
        }
    }

    /// One concept of the plan, at its index.
    public struct Concept: Codable, Equatable, Sendable {
        public var index: Int
        public var concept: String
        /// The prompts it is erased on (the concept prompt and its further wordings).
        public var prompts: [String]
        /// Its shift file, relative to the plan's folder.
        public var shiftFile: String
        /// Its decoupling (SepME's decoupled variants; nil otherwise).
        public var nullSpace: NullSpaceReport?
        /// ℓ_k (`ConceptDecoupling.relativeLeak`): no prompt the shift must leave unchanged sees a
        /// change of its keys or values larger than ℓ_k |dW|_F |E(p)|_F. Nil where no bound holds.
        public var leakBound: Double?
        /// The fraction of the concept's embedding the shift can reach (`ConceptDecoupling.conceptReach`).
        public var conceptReach: Double?

        enum CodingKeys: String, CodingKey {
            case index, concept, prompts
            case shiftFile = "shift_file"
            case nullSpace = "null_space"
            case leakBound = "leak_bound"
            case conceptReach = "concept_reach"
        }
    }

    public var format: String
    public var version: Int
    public var toolVersion: String
    public var model: Model
    public var plan: ErasurePlan
    /// The seed of the training loop's draws and the seeds of each concept's generated training images.
    public var trainingSeed: UInt64
    public var imageSeeds: [UInt64]
    public var concepts: [Concept]

    enum CodingKeys: String, CodingKey {
        case format, version
        case toolVersion = "tool_version"
        case model, plan
        case trainingSeed = "training_seed"
        case imageSeeds = "image_seeds"
        case concepts
    }

    /// Fixes `plan` on `model` (loaded from `modelPath`). A decoupled SepME plan without a
    /// tolerance whose exact null space is empty for some concept (more prompts than the text width
    /// holds, method.md §4) gets a tolerance of `NullSpaceTolerance.ladder` (`toleranceKeepingMostReach`);
    /// the plan records it, and each concept's leak bound states what it costs.
    public static func make(plan: ErasurePlan, modelPath: String, configuration: String? = nil, model: ShiftSet) throws -> ErasurePlanFile {
        let all = Array(plan.concepts.indices)
        var resolved = plan
        var decouplings: [Int: ConceptDecoupling] = [:]
        if plan.method == .sepme, plan.variant.isDecoupled {
            do {
                decouplings = try SepMEMethod.decouple(plan: plan, concepts: all, model: model)
            } catch let error as ErasureError {
                guard case .noNullSpace = error, plan.hyperparameters.nullSpaceTolerance == nil else { throw error }
                (resolved, decouplings) = try toleranceKeepingMostReach(plan: plan, model: model, exactFailure: error)
            }
        }
        let h = resolved.hyperparameters
        let imageCount = resolved.method == .ca ? (resolved.ca?.images ?? h.images) : h.images
        return ErasurePlanFile(
            format: formatName, version: currentVersion, toolVersion: SepMEInfo.version,
            model: Model(path: modelPath, configuration: configuration, fingerprint: model.fingerprint), plan: resolved,
            trainingSeed: h.seed, imageSeeds: (0..<UInt64(imageCount)).map { h.seed &+ $0 },
            concepts: all.map { k in
                let d = decouplings[k]
                return Concept(
                    index: k, concept: resolved.concepts[k], prompts: resolved.prompts(ofConceptAt: k),
                    shiftFile: ErasurePlan.shiftFileName(resolved.concepts[k]), nullSpace: d?.report,
                    leakBound: d?.relativeLeak, conceptReach: d?.conceptReach)
            })
    }

    /// Decouples at every tolerance of the ladder and takes the rung `NullSpaceTolerance.rung` picks.
    private static func toleranceKeepingMostReach(
        plan: ErasurePlan, model: ShiftSet, exactFailure: ErasureError
    ) throws -> (ErasurePlan, [Int: ConceptDecoupling]) {
        let all = Array(plan.concepts.indices)
        let embeddings = PromptEmbeddings(model: model)
        let alone = (try? SepMEMethod.decouple(plan: plan, concepts: all, model: model, alone: true, embeddings: embeddings)) ?? [:]
        var rungs: [(plan: ErasurePlan, decouplings: [Int: ConceptDecoupling]?)] = []
        for tolerance in NullSpaceTolerance.ladder {
            let candidate = try plan.withNullSpaceTolerance(tolerance)
            rungs.append((candidate, try? SepMEMethod.decouple(plan: candidate, concepts: all, model: model, embeddings: embeddings)))
        }
        let reaches = rungs.map { r in r.decouplings.map { d in all.map { d[$0]?.conceptReach ?? 0 } } }
        guard let i = NullSpaceTolerance.rung(reaches: reaches, alone: all.map { alone[$0]?.conceptReach ?? 0 }),
            let decouplings = rungs[i].decouplings
        else { throw exactFailure }
        return (rungs[i].plan, decouplings)
    }

    /// Writes the plan as indented JSON with sorted keys, atomically.
    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            try AtomicFile.write(try encoder.encode(self), to: path)
        } catch let error as AtomicFile.WriteError {
            throw ErasureError.output(path: path, reason: "\(error)")
        }
    }

    /// Reads and checks a plan file: its format and version, the plan itself (every check of
    /// `ErasurePlan`), and that its concept list matches the plan.
    public static func read(path: String) throws -> ErasurePlanFile {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ErasureError.planFile(path: path, reason: "cannot be read (\(error.localizedDescription))")
        }
        let file: ErasurePlanFile
        do { file = try JSONDecoder().decode(ErasurePlanFile.self, from: data) } catch let error as ErasureError {
            throw ErasureError.planFile(path: path, reason: error.description)
        } catch let DecodingError.keyNotFound(key, context) {
            throw ErasureError.planFile(path: path, reason: "missing key '\(ShiftMetadata.keyPath(context.codingPath + [key]))'")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context),
            let DecodingError.dataCorrupted(context)
        {
            throw ErasureError.planFile(
                path: path, reason: "'\(ShiftMetadata.keyPath(context.codingPath))': \(context.debugDescription)")
        } catch {
            throw ErasureError.planFile(path: path, reason: "not JSON (\(error.localizedDescription))")
        }
        guard file.format == formatName else {
            throw ErasureError.planFile(path: path, reason: "'format' is '\(file.format)', expected '\(formatName)'")
        }
        guard file.version == currentVersion else {
            throw ErasureError.planFile(path: path, reason: "'version' is \(file.version); this sepme reads version \(currentVersion)")
        }
        guard file.concepts.map(\.concept) == file.plan.concepts, file.concepts.map(\.index) == Array(file.plan.concepts.indices) else {
            throw ErasureError.planFile(path: path, reason: "'concepts' does not list the plan's concepts in order")
        }
        return file
    }
}

/// The tolerances a plan tries, smallest first, when the exact null space of some concept is empty.
public enum NullSpaceTolerance {
    public static let ladder: [Double] = [1e-6, 1e-5, 1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1]

    /// The rung a plan takes (method.md §4, "Choosing the tolerance"), from each rung's per-concept
    /// reach (nil: some concept has no null space there) and each concept's reach alone: the rung
    /// at which the concept that keeps the smallest share of its reach alone keeps the most, the
    /// smaller rung on a tie; nil when no rung has a null space. A larger tolerance widens each
    /// basis but raises the reach mask with ℓ_k, so the share peaks in between; the smallest rung
    /// with a null space can leave a shift one dimension that hardly touches its concept.
    public static func rung(reaches: [[Double]?], alone: [Double]) -> Int? {
        var best: (index: Int, share: Double)?
        for (i, reach) in reaches.enumerated() {
            guard let reach else { continue }
            let share = zip(reach, alone).map { $1 > 0 ? $0 / $1 : 0 }.min() ?? 0
            if best.map({ share > $0.share }) ?? true { best = (i, share) }
        }
        return best?.index
    }
}
