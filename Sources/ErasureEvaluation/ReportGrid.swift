import ImageIO

/// The report's picture: one row per prompt; per state (original first) a block of the first seeds'
/// images, blocks separated by a wider gap.
public enum ReportGrid {
    // states[s][prompt][seed]
    public static func make(states: [[[RGBImage]]], seedsPerCell: Int) -> RGBImage {
        guard let first = states.first?.first?.first else { return RGBImage(width: 1, height: 1, fill: 255) }
        let w = first.width
        let h = first.height
        let gap = 2
        let blockGap = 8
        let prompts = states[0].count
        let k = max(1, seedsPerCell)
        let blockWidth = k * w + (k - 1) * gap
        let width = states.count * blockWidth + (states.count - 1) * blockGap + 2 * gap
        let height = prompts * h + (prompts + 1) * gap
        var out = RGBImage(width: width, height: height, fill: 255)
        for (s, state) in states.enumerated() {
            for (p, images) in state.enumerated() {
                for (j, image) in images.prefix(k).enumerated() {
                    let x0 = gap + s * (blockWidth + blockGap) + j * (w + gap)
                    let y0 = gap + p * (h + gap)
                    for y in 0..<h {
                        for x in 0..<w {
                            for c in 0..<3 { out.pixels[((y0 + y) * width + x0 + x) * 3 + c] = image.pixels[(y * w + x) * 3 + c] }
                        }
                    }
                }
            }
        }
        return out
    }
}
