import ArgumentParser
import Foundation
import TensorEngine

/// `sepme bench nullspace`: time of the orthonormal null-space basis of SepME-sized embedding stacks
/// (3 prompts × 77 tokens × 768, the SD1 case of method.md §1), full and deficient rank.
struct BenchNullSpaceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "nullspace", abstract: "Null-space basis time for 231x768 embedding stacks.")

    @Option(help: "Rows of the stacked embeddings.") var rows = 231
    @Option(help: "Text width.") var width = 768
    @Option(help: "Repetitions; the fastest is reported.") var repeats = 5

    func validate() throws {
        try FlagCheck.range("--rows", rows, 1...BenchLimits.maxMatrixSide)
        try FlagCheck.range("--width", width, 1...BenchLimits.maxMatrixSide)
        try FlagCheck.range("--repeats", repeats, 1...BenchLimits.maxRepeats)
        // Two stacks, their product with the basis, the SVD's copies and workspace (doubles).
        try FlagCheck.memory(
            "--rows \(rows) with --width \(width)",
            bytes: 8 * 8 * (Double(rows) * Double(width) + Double(width) * Double(width)))
    }

    func run() throws { try CommandFailure.reporting { try measure() } }

    private func measure() throws {
        var rng = SplitMix64(seed: 42)
        func random(_ r: Int, _ c: Int) throws -> DoubleMatrix {
            try DoubleMatrix(rows: r, cols: c, values: (0..<(r * c)).map { _ in rng.nextGaussianish() })
        }
        let full = try random(rows, width)
        let deficient = try random(rows, rows * 2 / 3).multiplied(by: try random(rows * 2 / 3, width))
        // Baseline in the same run: one dgemm of the same size.
        let gemmTime = try WallClock.fastest(of: repeats) { _ = try full.multiplied(by: full, transposingOther: true) }
        print("null space of \(rows)x\(width) (SVD in double precision, LAPACK), best of \(repeats):")
        for (name, m) in [("full rank", full), ("rank \(rows * 2 / 3)", deficient)] {
            var basis: NullSpaceBasis?
            let t = try WallClock.fastest(of: repeats) { basis = try NullSpace.basis(of: m, mode: .exact) }
            guard let b = basis else { throw CommandLineError("no null-space basis was computed") }
            let residual = try m.multiplied(by: b.basis, transposingOther: true).maxAbsoluteValue / m.maxAbsoluteValue
            print(String(format: "  %-10@ %7.1f ms  dimension %d  |M S^T|/|M| %.1e", name, t * 1000, b.dimension, residual))
        }
        print(String(format: "  baseline: M M^T dgemm %.2f ms", gemmTime * 1000))
    }
}

extension SplitMix64 {
    /// Sum of four uniforms, centred: a cheap bell-shaped draw.
    mutating func nextGaussianish() -> Double { (0..<4).reduce(0.0) { acc, _ in acc + nextUnitDouble() } - 2 }
}
