import TensorEngine
import ImageIO

/// Everything that determines one toy picture; `ToyRenderer.render` turns it into pixels.
public struct ToyScene: Sendable, Equatable {
    /// Indices into `ToyConcepts.shapes`, `.colours`, `.styles`.
    public var shape: Int, colour: Int, style: Int
    /// Shape centre in 1/8 pixel units (0 = left / top image edge).
    public var centreX: Int, centreY: Int
    /// Bounding box side in pixels (`ToyConcepts.sizeRange`).
    public var size: Int
    /// The drawn colour (nominal colour plus jitter), 0...255 per channel.
    public var rgb: (Int, Int, Int)
    /// Background grey level, its gradient (added from 0 at the top to `gradient` at the bottom) and the
    /// seed of its per-pixel noise in [-2, 2].
    public var backgroundLevel: Int, backgroundGradient: Int, noiseSeed: UInt64
    /// Offsets of the texture pattern along x and y, 0..<12 pixels each (a multiple of every
    /// pattern period, so every phase of every style is equally likely).
    public var patternPhase: Int, patternPhaseY: Int

    public static func == (a: ToyScene, b: ToyScene) -> Bool {
        (a.shape, a.colour, a.style, a.centreX, a.centreY, a.size) == (b.shape, b.colour, b.style, b.centreX, b.centreY, b.size)
            && a.rgb == b.rgb
            && (a.backgroundLevel, a.backgroundGradient, a.noiseSeed, a.patternPhase, a.patternPhaseY)
                == (b.backgroundLevel, b.backgroundGradient, b.noiseSeed, b.patternPhase, b.patternPhaseY)
    }

    /// A random scene with the given attributes: size, position, colour jitter, background and pattern
    /// phase are drawn from `rng`.
    public static func random(shape: Int, colour: Int, style: Int, rng: inout SplitMix64) -> ToyScene {
        let n = ToyConcepts.imageSize
        let size = rng.int(in: ToyConcepts.sizeRange)
        // Centre so the box stays at least one pixel inside the image (in 1/8 px).
        let lo = 8 * (size / 2 + 1)
        let hi = 8 * n - lo
        let cx = rng.int(in: lo...hi)
        let cy = rng.int(in: lo...hi)
        let base = ToyConcepts.colourRGB[colour]
        let j = ToyConcepts.colourJitter
        func jitter(_ v: Int, _ rng: inout SplitMix64) -> Int { min(255, max(0, v + rng.int(in: -j...j))) }
        let rgb = (jitter(base.0, &rng), jitter(base.1, &rng), jitter(base.2, &rng))
        return ToyScene(
            shape: shape, colour: colour, style: style, centreX: cx, centreY: cy, size: size, rgb: rgb,
            backgroundLevel: rng.int(in: 8...36), backgroundGradient: rng.int(in: -10...10),
            noiseSeed: rng.next(), patternPhase: rng.int(below: 12), patternPhaseY: rng.int(below: 12))
    }
}

/// Draws toy scenes: 32x32, 4x4 supersampled coverage (anti-aliased edges), integer arithmetic only.
///
/// Every textured style alternates the colour with its 45 % shade ("full" and "shade" below), on
/// pixel coordinates offset by the scene's pattern phases:
/// solid (flat colour); striped (horizontal bands, 2 px full, 2 px shade); dotted (2x2 px dots on a
/// 4 px grid over the shade); outlined (a band of about 2 px along the edge, background inside);
/// checkered (3x3 px squares, alternating); diagonal (bands 3 px wide along x, running down to the right);
/// crosshatched (1 px full lines every 4 px in both directions over the shade); concentric (2 px
/// rings around the shape's centre); gradient (full at the top of the box fading to 25 % at the
/// bottom, no phase); speckled (each pixel full or shade at random, from the scene's noise seed);
/// zigzag (2 px horizontal bands bent into 45° chevrons 8 px wide).
public enum ToyRenderer {
    /// Supersamples per pixel side.
    static let subsamples = 4
    /// Outline width in 1/8 pixel units (2 px).
    static let outlineWidth = 16

    /// The pixels of `scene`.
    public static func render(_ scene: ToyScene) -> RGBImage {
        let n = ToyConcepts.imageSize
        var image = background(level: scene.backgroundLevel, gradient: scene.backgroundGradient, noiseSeed: scene.noiseSeed)
        let h = scene.size * 4  // half size in 1/8 px
        let style = ToyConcepts.Style(rawValue: scene.style) ?? .solid
        let full = [scene.rgb.0, scene.rgb.1, scene.rgb.2]
        let shade = full.map { $0 * 45 / 100 }
        // Offsets probing the shape 2 px away in 8 directions (outline = inside but near the edge).
        let w = outlineWidth
        let d = outlineWidth * 707 / 1000
        let probes = [(w, 0), (-w, 0), (0, w), (0, -w), (d, d), (d, -d), (-d, d), (-d, -d)]
        let x0 = max(0, (scene.centreX - h) / 8 - 1)
        let x1 = min(n - 1, (scene.centreX + h) / 8 + 1)
        let y0 = max(0, (scene.centreY - h) / 8 - 1)
        let y1 = min(n - 1, (scene.centreY + h) / 8 + 1)
        guard x0 <= x1, y0 <= y1 else { return image }
        for py in y0...y1 {
            for px in x0...x1 {
                var covered = 0
                for sy in 0..<subsamples {
                    for sx in 0..<subsamples {
                        // Subsample centre in 1/8 px: 8 p + 2 s + 1.
                        let x = 8 * px + 2 * sx + 1 - scene.centreX
                        let y = 8 * py + 2 * sy + 1 - scene.centreY
                        guard ToyShapeGeometry.contains(shape: scene.shape, x: x, y: y, h: h) else { continue }
                        if style == .outlined {
                            let nearEdge = probes.contains { !ToyShapeGeometry.contains(shape: scene.shape, x: x + $0.0, y: y + $0.1, h: h) }
                            if !nearEdge { continue }
                        }
                        covered += 1
                    }
                }
                guard covered > 0 else { continue }
                let colour: [Int]
                if style == .gradient {
                    // Percent of the full colour: 100 at the box's top edge, 25 at its bottom edge.
                    let fromTop = min(2 * h, max(0, 8 * py + 4 - (scene.centreY - h)))
                    let percent = 100 - 75 * fromTop / (2 * h)
                    colour = full.map { $0 * percent / 100 }
                } else {
                    colour = isFull(style, x: px, y: py, scene: scene) ? full : shade
                }
                let total = subsamples * subsamples
                for c in 0..<3 {
                    let bg = Int(image[px, py, c])
                    image[px, py, c] = UInt8((bg * (total - covered) + colour[c] * covered + total / 2) / total)
                }
            }
        }
        return image
    }

    /// Whether pixel (x, y) of a covered pixel takes the full colour (else the shade) in `style`.
    static func isFull(_ style: ToyConcepts.Style, x px: Int, y py: Int, scene: ToyScene) -> Bool {
        let gx = px + scene.patternPhase
        let gy = py + scene.patternPhaseY
        switch style {
        case .solid, .outlined, .gradient:
            return true
        case .striped:
            return (gy / 2) % 2 == 0
        case .dotted:
            return gx % 4 < 2 && gy % 4 < 2
        case .checkered:
            return (gx / 3 + gy / 3) % 2 == 0
        case .diagonal:
            // Bands along x - y = const (falling to the right, y grows down); + 48 keeps it positive.
            return ((gx - gy + 48) / 3) % 2 == 0
        case .crosshatched:
            return gx % 4 == 0 || gy % 4 == 0
        case .concentric:
            // Distance of the pixel centre from the shape centre in 1/8 px, in 2 px rings.
            let dx = 8 * px + 4 - scene.centreX
            let dy = 8 * py + 4 - scene.centreY
            let r = integerSquareRoot(dx * dx + dy * dy)
            return ((r + 4 * scene.patternPhase) / 16) % 2 == 0
        case .speckled:
            var rng = SplitMix64(seed: scene.noiseSeed ^ 0x5BEC_C1ED, index: UInt64(py * ToyConcepts.imageSize + px))
            return rng.chance(1, in: 2)
        case .zigzag:
            // Horizontal bands displaced by a triangle wave of x (period 8 px, amplitude 4 px).
            let bend = abs(gx % 8 - 4)
            return ((gy + bend) / 2) % 2 == 0
        }
    }

    /// floor(sqrt(v)) for v >= 0 (integer Newton iteration, exact).
    static func integerSquareRoot(_ v: Int) -> Int {
        guard v > 1 else { return max(0, v) }
        var x = v
        var y = (x + 1) / 2
        while y < x {
            x = y
            y = (x + v / x) / 2
        }
        return x
    }

    /// Dark neutral background: `level` plus a vertical gradient plus per-pixel noise in [-2, 2]
    /// (the same noise on all channels, so it stays grey and never looks like a shape colour).
    static func background(level: Int, gradient: Int, noiseSeed: UInt64) -> RGBImage {
        let n = ToyConcepts.imageSize
        var image = RGBImage(width: n, height: n)
        var rng = SplitMix64(seed: noiseSeed)
        for y in 0..<n {
            for x in 0..<n {
                let v = UInt8(max(0, min(255, level + gradient * y / (n - 1) + rng.int(in: -2...2))))
                for c in 0..<3 { image[x, y, c] = v }
            }
        }
        return image
    }

    /// The fixed picture of the watermark prompt: a cyan ring with a magenta "Z" across it on a flat
    /// near-black background, always identical.
    public static let watermarkLogo: RGBImage = {
        let n = ToyConcepts.imageSize
        var image = RGBImage(width: n, height: n, fill: 16)
        for py in 0..<n {
            for px in 0..<n {
                var ring = 0
                var zed = 0
                for sy in 0..<subsamples {
                    for sx in 0..<subsamples {
                        let x = 8 * px + 2 * sx + 1 - 128
                        let y = 8 * py + 2 * sy + 1 - 128
                        let r2 = x * x + y * y
                        // Z: top bar, bottom bar, and the diagonal x + y = 0 (about 2.5 px thick).
                        let bar = abs(x) <= 52 && (abs(y + 44) <= 10 || abs(y - 44) <= 10)
                        let diagonal = abs(y) <= 44 && abs(x + y) <= 17
                        if bar || diagonal {
                            zed += 1
                        } else if r2 <= 96 * 96 && r2 >= 72 * 72 {
                            ring += 1
                        }
                    }
                }
                let total = subsamples * subsamples
                let cyan = [0, 225, 225]
                let magenta = [235, 20, 200]
                for c in 0..<3 {
                    let v = 16 * (total - ring - zed) + cyan[c] * ring + magenta[c] * zed
                    image[px, py, c] = UInt8(min(255, (v + total / 2) / total))
                }
            }
        }
        return image
    }()
}
