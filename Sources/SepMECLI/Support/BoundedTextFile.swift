import Foundation

/// Reads a UTF-8 text file named by a flag, refusing what is not a regular file (a FIFO would block
/// the read forever) or larger than a limit, before reading it.
enum BoundedTextFile {
    static func read(_ path: String, flag: String, maxBytes: Int) throws -> String {
        var info = stat()
        guard stat(path, &info) == 0 else { throw CommandLineError("\(flag) \(path): \(String(cString: strerror(errno)))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw CommandLineError("\(flag) \(path): not a regular file") }
        guard Int(info.st_size) <= maxBytes else {
            throw CommandLineError("\(flag) \(path): \(info.st_size) bytes; at most \(maxBytes) are read")
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw CommandLineError("\(flag) \(CommandFailure.foundationMessage(error) ?? "\(path): cannot read the file")")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw CommandLineError("\(flag) \(path): not UTF-8 text") }
        return text
    }
}
