import Foundation

/// Python's `json` module writes the non-finite floats as the bare words `NaN`, `Infinity` and
/// `-Infinity`, which JSON does not have (diffusers' DPMSolverMultistepScheduler saves
/// `"lambda_min_clipped": -Infinity`). `quoted` turns each such word outside a string into a string
/// ("-Infinity"), so the file parses and a field holding one is reported as a string where a number
/// belongs, unless the field accepts it (`lambda_min_clipped`).
enum PythonJSONLiterals {
    static func quoted(_ data: Data) -> Data {
        let bytes = [UInt8](data)
        let words: [[UInt8]] = ["-Infinity", "Infinity", "NaN"].map { Array($0.utf8) }
        let quote = UInt8(ascii: "\"")
        let backslash = UInt8(ascii: "\\")
        var out = [UInt8]()
        out.reserveCapacity(bytes.count + 16)
        var inString = false
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            if inString {
                out.append(byte)
                if byte == backslash, i + 1 < bytes.count {
                    out.append(bytes[i + 1])
                    i += 2
                    continue
                }
                if byte == quote { inString = false }
                i += 1
                continue
            }
            if byte == quote {
                inString = true
                out.append(byte)
                i += 1
                continue
            }
            if let word = words.first(where: { bytes[i...].starts(with: $0) }) {
                out.append(quote)
                out.append(contentsOf: word)
                out.append(quote)
                i += word.count
                continue
            }
            out.append(byte)
            i += 1
        }
        return Data(out)
    }
}
