/// Finds NaNs and infinities in Float32 data (a loaded weight must be finite: one bad value poisons
/// every image the model makes).
public enum NonFiniteScan {
    /// Elements per block: each is checked with bitwise operations that compile to vector code, and
    /// searched element by element only when the check finds a bad value.
    private static let block = 4096

    /// Index of the first NaN or infinity among `count` floats, nil when every value is finite.
    public static func firstIndex(_ values: UnsafePointer<Float>, count: Int) -> Int? {
        var start = 0
        while start < count {
            let end = min(start + block, count)
            // An all-ones exponent marks an infinity or a NaN, and only it carries into the sign bit when
            // one is added to the exponent. Or-ing the results has no branch per element (a comparison
            // summed or or-ed became an early exit, one element at a time), so the loop is vectorised.
            var carries: UInt32 = 0
            for i in start..<end { carries |= (values[i].bitPattern & 0x7F80_0000) &+ 0x0080_0000 }
            let found = carries & 0x8000_0000
            if found != 0 {
                for i in start..<end where !values[i].isFinite { return i }
            }
            start = end
        }
        return nil
    }
}
