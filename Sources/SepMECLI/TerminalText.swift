/// Text from files made safe to print on a terminal: control characters (which could clear the
/// screen, set the window title or move the cursor) and bidirectional overrides (which reorder what
/// is shown) are written as visible `\u{...}` escapes; everything else is kept.
enum TerminalText {
    static func sanitized(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            if isUnsafe(scalar) {
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// C0/C1 controls, DEL, and the Unicode format characters that change text direction or hide text.
    static func isUnsafe(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }
}
