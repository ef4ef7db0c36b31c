import Foundation

extension TerminalText {
    /// `text` sanitised on one line: line breaks become "; " (an error message is one line).
    static func line(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).map { sanitized($0.trimmingCharacters(in: .whitespaces)) }
            .filter { !$0.isEmpty }.joined(separator: "; ")
    }
}
