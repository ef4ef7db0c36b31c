import Foundation
import ImageIO
import Toy

/// The benchmark's pictures: a bar chart of UA / IRA / CRA per target (`benchmark-bars.png`) and,
/// per target, its prompts drawn by the original and the erased model side by side
/// (`grids/<kind>-<target>.png`).
public enum BenchmarkFigures {
    /// Images per cell of a target's grid (the first seeds of each prompt).
    public static let seedsPerCell = 4

    /// UA, IRA and CRA (training templates) of every target and their mean, against the 95 % line.
    public static func bars(_ result: BenchmarkResult) throws -> RGBImage {
        let groups =
            result.targets.map { BarChart.Group(label: $0.target, values: [$0.ua, $0.ira, $0.cra]) }
            + (result.targets.count > 1 ? [.init(label: "mean", values: [result.summary.ua, result.summary.ira, result.summary.cra])] : [])
        let chart = BarChart(
            title: "UA / IRA / CRA, \(result.method) \(result.settings.variant.rawValue)",
            series: [
                .init(name: "UA (unlearning)", colour: .blue), .init(name: "IRA (in-domain retain)", colour: .orange),
                .init(name: "CRA (cross-domain retain)", colour: .green)
            ],
            groups: groups, referenceLines: [.init(value: 0.95, label: "95 %")])
        return try chart.render()
    }

    /// One target's grid: every UA prompt of the training templates, one IRA prompt per retained
    /// concept of the domain and one CRA prompt per concept of the other attribute (shapes
    /// rotating, so each row shows another), then the held-out UA prompts; columns original and
    /// erased, the first `seedsPerCell` seeds each.
    public static func targetGrid(
        target: BenchmarkPromptGrid.Target, grids: [BenchmarkPromptGrid], edited: [String: [RGBImage]], original: [String: [RGBImage]],
        title: String
    ) throws -> RGBImage {
        func rows(_ prompts: [BenchmarkPromptGrid.Prompt]) -> [LabelledImageGrid.Row] {
            prompts.compactMap { p in
                guard let e = edited[p.prompt], let o = original[p.prompt] else { return nil }
                return .init(label: p.prompt, cells: [Array(o.prefix(seedsPerCell)), Array(e.prefix(seedsPerCell))])
            }
        }
        var sections: [LabelledImageGrid.Section] = []
        for grid in grids {
            let set = grid.templateSet == .training ? "" : " (\(grid.templateSet.rawValue) wordings)"
            sections.append(.init(heading: "UA: '\(target.name)' asked for\(set)", rows: rows(grid.ua)))
            guard grid.templateSet == .training else { continue }
            let inDomain = target.kind == .style ? "other styles" : "other objects, by colour"
            let crossDomain = target.kind == .style ? "objects by colour" : "other objects, by style"
            sections.append(.init(heading: "IRA: \(inDomain)", rows: rows(sample(grid.ira) { target.kind == .style ? $0.style : $0.shape })))
            sections.append(.init(heading: "CRA: \(crossDomain)", rows: rows(sample(grid.cra) { target.kind == .style ? $0.colour : $0.style })))
        }
        return try LabelledImageGrid(title: title, columns: ["original", "erased"], sections: sections.filter { !$0.rows.isEmpty }).render()
    }

    /// One prompt per distinct value of `key` (in first-seen order): the g-th value's prompt is the
    /// (g mod count)-th of its prompts, so consecutive rows show different shapes.
    static func sample(_ prompts: [BenchmarkPromptGrid.Prompt], by key: (BenchmarkPromptGrid.Prompt) -> Int?) -> [BenchmarkPromptGrid.Prompt] {
        var order: [Int] = []
        var byValue: [Int: [BenchmarkPromptGrid.Prompt]] = [:]
        for p in prompts {
            guard let v = key(p) else { continue }
            if byValue[v] == nil { order.append(v) }
            byValue[v, default: []].append(p)
        }
        return order.enumerated().compactMap { g, v in byValue[v].map { $0[g % $0.count] } }
    }

    /// Writes a figure atomically (a temporary file renamed into place).
    static func write(_ image: RGBImage, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try AtomicFile.write(Data(try PNG.encode(image)), to: url.path)
    }
}
