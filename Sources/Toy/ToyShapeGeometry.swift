/// Inside tests for the toy shapes in exact integer arithmetic, so every platform draws the same pixels.
///
/// Coordinates are in 1/8 pixel units relative to the shape's centre; `h` is half the nominal size in
/// the same units. Polygon vertices are fixed integer tables in thousandths of `h` (computed once from
/// the regular-polygon angles and rounded; no run-time trigonometry).
enum ToyShapeGeometry {
    /// Five-pointed star, outer radius 1000, inner radius 440, first point straight up (y grows down).
    static let star: [(Int, Int)] = [
        (0, -1000), (259, -356), (951, -309), (418, 136), (588, 809),
        (0, 440), (-588, 809), (-418, 136), (-951, -309), (-259, -356)
    ]
    /// Upward triangle filling the box width, base slightly above the bottom.
    static let triangle: [(Int, Int)] = [(0, -1000), (1000, 800), (-1000, 800)]
    /// Regular pentagon, circumradius 1000, point up, moved down by 95 so its box is centred.
    static let pentagon: [(Int, Int)] = [(0, -905), (951, -214), (588, 904), (-588, 904), (-951, -214)]
    /// Regular hexagon, circumradius 1000, corners left and right (flat top and bottom).
    static let hexagon: [(Int, Int)] = [(1000, 0), (500, 866), (-500, 866), (-1000, 0), (-500, -866), (500, -866)]
    /// Arrow pointing right: a shaft 0.84 h thick and a head 1.8 h tall over the right 45 %.
    static let arrow: [(Int, Int)] = [(-1000, -420), (100, -420), (100, -900), (1000, 0), (100, 900), (100, 420), (-1000, 420)]

    /// Whether the point (x, y) lies inside shape `shape` (index into `ToyConcepts.shapes`, i.e. a
    /// `ToyConcepts.Shape` raw value).
    static func contains(shape: Int, x: Int, y: Int, h: Int) -> Bool {
        guard let kind = ToyConcepts.Shape(rawValue: shape) else { return false }
        switch kind {
        case .circle:  // circle of radius h
            return x * x + y * y <= h * h
        case .square:  // square, side 0.84 of the box
            return 100 * abs(x) <= 84 * h && 100 * abs(y) <= 84 * h
        case .triangle:
            return polygonContains(triangle, x: x, y: y, h: h)
        case .star:
            return polygonContains(star, x: x, y: y, h: h)
        case .cross:  // plus sign, arms 0.72 h thick
            let ax = abs(x)
            let ay = abs(y)
            return (ax <= h && 100 * ay <= 36 * h) || (ay <= h && 100 * ax <= 36 * h)
        case .heart:  // heart: two lobes and a downward point
            let r = 53 * h / 100
            let lobeX = 48 * h / 100
            let lobeY = -38 * h / 100
            let dl = (x + lobeX) * (x + lobeX) + (y - lobeY) * (y - lobeY)
            let dr = (x - lobeX) * (x - lobeX) + (y - lobeY) * (y - lobeY)
            if dl <= r * r || dr <= r * r { return true }
            return polygonContains(heartPoint, x: x, y: y, h: h)
        case .diamond:  // diamond (rhombus), 0.8 h wide each side of the centre, h tall
            return 5 * abs(x) + 4 * abs(y) <= 4 * h
        case .hexagon:
            return polygonContains(hexagon, x: x, y: y, h: h)
        case .pentagon:
            return polygonContains(pentagon, x: x, y: y, h: h)
        case .arrow:
            return polygonContains(arrow, x: x, y: y, h: h)
        case .crescent:  // crescent opening right: the disc of radius h minus a disc of radius 0.75 h centred 0.55 h right
            let ix = x - 55 * h / 100
            let ir = 75 * h / 100
            return x * x + y * y <= h * h && ix * ix + y * y > ir * ir
        case .oval:  // oval: ellipse with half-axes h (across) and 0.6 h (up-down)
            return 9 * x * x + 25 * y * y <= 9 * h * h
        }
    }

    /// Lower part of the heart: a triangle from the lobes' outer sides down to the tip.
    static let heartPoint: [(Int, Int)] = [(-975, -230), (975, -230), (0, 1000)]

    /// Even-odd crossing test against the polygon whose vertices are `table` scaled by h / 1000.
    static func polygonContains(_ table: [(Int, Int)], x: Int, y: Int, h: Int) -> Bool {
        var inside = false
        var j = table.count - 1
        for i in 0..<table.count {
            let xi = table[i].0 * h / 1000
            let yi = table[i].1 * h / 1000
            let xj = table[j].0 * h / 1000
            let yj = table[j].1 * h / 1000
            if (yi > y) != (yj > y) {
                // x < xi + (y - yi) (xj - xi) / (yj - yi), multiplied out by (yj - yi) with its sign.
                let lhs = (x - xi) * (yj - yi)
                let rhs = (y - yi) * (xj - xi)
                if yj > yi ? lhs < rhs : lhs > rhs { inside.toggle() }
            }
            j = i
        }
        return inside
    }
}
