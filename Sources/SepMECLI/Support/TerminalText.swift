import Foundation

/// Text from files or errors made safe to print: control characters (escape sequences that could
/// clear the screen or set the title, bidirectional overrides that reverse text) are written as
/// `\u{..}` escapes, so what is printed is what the file holds.
enum TerminalText {
    /// `text` with every control or bidirectional-format character escaped (tab and newline kept).
    static func sanitized(_ text: String) -> String {
        var out = ""
        out.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            if scalar == "\n" || scalar == "\t" || !isUnsafe(scalar) {
                out.unicodeScalars.append(scalar)
            } else {
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            }
        }
        return out
    }

    /// `text` sanitised on one line: line breaks become "; " (an error message is one line).
    static func line(_ text: String) -> String {
        sanitized(text).split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: "; ")
    }

    private static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }
}
