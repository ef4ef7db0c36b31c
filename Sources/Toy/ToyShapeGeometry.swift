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

    /// Whether the point (x, y) lies inside shape `shape` (index into `ToyConcepts.shapes`).
    static func contains(shape: Int, x: Int, y: Int, h: Int) -> Bool {
        switch shape {
        case 0:  // circle of radius h
            return x * x + y * y <= h * h
        case 1:  // square, side 0.84 of the box
            return 100 * abs(x) <= 84 * h && 100 * abs(y) <= 84 * h
        case 2:
            return polygonContains(triangle, x: x, y: y, h: h)
        case 3:
            return polygonContains(star, x: x, y: y, h: h)
        case 4:  // plus sign, arms 0.72 h thick
            let ax = abs(x)
            let ay = abs(y)
            return (ax <= h && 100 * ay <= 36 * h) || (ay <= h && 100 * ax <= 36 * h)
        case 5:  // heart: two lobes and a downward point
            let r = 53 * h / 100
            let lobeX = 48 * h / 100
            let lobeY = -38 * h / 100
            let dl = (x + lobeX) * (x + lobeX) + (y - lobeY) * (y - lobeY)
            let dr = (x - lobeX) * (x - lobeX) + (y - lobeY) * (y - lobeY)
            if dl <= r * r || dr <= r * r { return true }
            return polygonContains(heartPoint, x: x, y: y, h: h)
        default:
            return false
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
