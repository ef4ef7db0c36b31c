import ArgumentParser
import ConceptErasure
import Foundation

/// `sepme export-lora`: the sum of shifts as one LoRA file, each projection a truncated SVD of its
/// ΣdW (`LoRARankRule`): by default exact for SepME's factorised shifts and the smallest rank keeping
/// 99.9 % of the Frobenius energy once a dense shift is summed; `--rank` and `--energy` set it.
struct ExportLoRACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-lora",
        abstract: "Write shifts as one standard LoRA file (diffusers/PEFT or kohya keys).")

    @Option(help: "A shift file (repeatable; their sum is exported).") var shift: [String] = []
    @Option(help: "Key layout: diffusers (PEFT) or kohya (A1111, ComfyUI).") var format: LoRAExport.Format
    @Option(help: "Output .safetensors file.") var output: String
    @Option(
        help: ArgumentHelp(
            "The most singular directions a projection keeps (an integer >= 1), or 'full' for the exact export.",
            discussion:
                "Never above a projection's numerical rank. Alone, N is the rank of every projection that has that many directions; with --energy, the smaller of the two."
        ))
    var rank: LoRARankArgument?
    @Option(
        help: ArgumentHelp(
            "The fraction of each projection's Frobenius energy (sum of squared singular values) to keep, in (0, 1]; 1 is exact.",
            discussion:
                "Default: 1 when every shift is factorised (SepME's separate and joint variants), \(LoRARankRule.defaultEnergy) when one is dense (the full variant, uce), unless --rank N is given."
        ))
    var energy: Double?

    func validate() throws {
        guard !shift.isEmpty else { throw ValidationError("give at least one --shift") }
        try FlagCheck.nonEmpty("--output", output)
    }

    func run() throws {
        let s = try CommandFailure.reporting {
            try ErasureFlags.mapping(Self.flags) {
                let rule = try LoRARankRule(energy: energy ?? (rank == .full ? 1 : nil), maxRank: rank?.cap)
                return try LoRAExport.write(shift.map { try ConceptShift.read(path: $0) }, format: format, to: output, rule: rule)
            }
        }
        print(
            "wrote \(output): \(s.projections) projections, rank up to \(s.maxRank) (numerical rank up to \(s.maxNumericalRank)), \(s.parameters) parameters"
        )
        print(Self.energyLine(s, cap: rank?.cap))
    }

    /// Rule key → flag, for `ErasureFlags.mapping`.
    static let flags = [LoRARankRule.rankKey: "--rank", LoRARankRule.energyKey: "--energy"]

    /// "energy kept per projection: min …, mean … (rule: …)".
    static func energyLine(_ s: LoRAExport.Summary, cap: Int?) -> String {
        String(format: "energy kept per projection: min %.6f, mean %.6f (", s.minEnergyKept, s.meanEnergyKept)
            + ruleDescription(energy: s.energy, cap: cap) + ")"
    }

    /// The rule in words, e.g. "smallest rank keeping 99.9 % of each projection's energy, at most 8".
    static func ruleDescription(energy: Double, cap: Int?) -> String {
        let base =
            energy >= 1
            ? "exact: each projection at its numerical rank"
            : String(format: "smallest rank keeping %g %% of each projection's Frobenius energy", energy * 100)
        return base + (cap.map { ", at most \($0)" } ?? "")
    }
}

/// `--rank N|full`: a cap on every projection's rank, or the exact export. Any integer parses, so
/// that a rank below 1 reaches the library's range check and is refused with its value.
enum LoRARankArgument: ExpressibleByArgument, Equatable {
    case full
    case count(Int)

    init?(argument: String) {
        if argument.lowercased() == "full" {
            self = .full
        } else if let n = Int(argument) {
            self = .count(n)
        } else {
            return nil
        }
    }

    var cap: Int? {
        if case .count(let n) = self { return n }
        return nil
    }
}
