import Foundation
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Writes files so that readers never see a partial one and a crash never leaves a torn file: the bytes go
/// to a uniquely named temporary file in the destination's folder, which is flushed to disk (`fsync`),
/// renamed over the destination, and the folder is flushed so that the rename itself is durable.
///
/// On any failure before the rename the temporary file is removed and an existing file at the destination
/// is untouched. Every error is an `AtomicFile.WriteError` naming the destination, the step that failed and
/// the system's reason (the `errno` text), never a Foundation error description.
public enum AtomicFile {
    public struct WriteError: Error, CustomStringConvertible, Equatable {
        /// The step of the protocol that failed.
        public enum Step: String, Sendable {
            case validatePath = "check the path"
            case createTemporary = "create a temporary file"
            case write = "write"
            case syncFile = "fsync"
            case close = "close"
            case rename = "rename"
            case syncFolder = "fsync the folder"
            case produceContents = "produce the contents"
        }

        /// The destination path as given by the caller.
        public let path: String
        public let step: Step
        /// The system's explanation (`strerror` text, or the producer's error for `.produceContents`).
        public let detail: String

        public init(path: String, step: Step, detail: String) {
            self.path = path
            self.step = step
            self.detail = detail
        }

        /// The step and the detail, e.g. "rename failed: Is a directory".
        public var reason: String { "\(step.rawValue) failed: \(detail)" }
        public var description: String { "\(path): cannot write: \(reason)" }
    }

    /// Receives the contents of the file being written, in as many pieces as the producer likes.
    public struct Sink {
        fileprivate let descriptor: Int32
        fileprivate let path: String

        /// Appends `bytes`, retrying interrupted and partial writes.
        public func write(_ bytes: UnsafeRawBufferPointer) throws {
            guard var next = bytes.baseAddress else { return }
            var left = bytes.count
            while left > 0 {
                let written = systemWrite(descriptor, next, left)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw WriteError(path: path, step: .write, detail: AtomicFile.errnoText())
                }
                guard written > 0 else { throw WriteError(path: path, step: .write, detail: "no bytes were written") }
                next += written
                left -= written
            }
        }

        public func write(_ bytes: [UInt8]) throws {
            try bytes.withUnsafeBytes { try write($0) }
        }

        public func write(_ data: Data) throws {
            try data.withUnsafeBytes { try write($0) }
        }
    }

    /// Writes `data` to `path` atomically.
    public static func write(_ data: Data, to path: String) throws {
        try write(to: path) { try $0.write(data) }
    }

    /// Writes `bytes` to `path` atomically.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        try write(to: path) { try $0.write(bytes) }
    }

    /// Writes UTF-8 text atomically.
    public static func write(_ text: String, to path: String) throws {
        try write(Data(text.utf8), to: path)
    }

    /// Writes the bytes `produce` hands to the sink, atomically. An error thrown by `produce` removes the
    /// temporary file and is rethrown wrapped as `.produceContents` unless it already is a `WriteError`.
    public static func write(to path: String, _ produce: (Sink) throws -> Void) throws {
        _ = ignoreFileSizeSignal
        let (folder, name) = try split(path)
        var descriptor: Int32 = -1
        var temporaryPath = ""
        for _ in 0..<8 {
            temporaryPath = folder + "/." + name + ".tmp-\(getpid())-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
            descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if descriptor >= 0 || errno != EEXIST { break }
        }
        guard descriptor >= 0 else {
            throw WriteError(path: path, step: .createTemporary, detail: "in folder '\(folder)': \(errnoText())")
        }
        do {
            do {
                try produce(Sink(descriptor: descriptor, path: path))
            } catch let error as WriteError {
                throw error
            } catch {
                throw WriteError(path: path, step: .produceContents, detail: String(describing: error))
            }
            guard fsync(descriptor) == 0 else { throw WriteError(path: path, step: .syncFile, detail: errnoText()) }
        } catch {
            close(descriptor)
            unlink(temporaryPath)
            throw error
        }
        guard close(descriptor) == 0 else {
            let detail = errnoText()
            unlink(temporaryPath)
            throw WriteError(path: path, step: .close, detail: detail)
        }
        guard rename(temporaryPath, path) == 0 else {
            let detail = errnoText()
            unlink(temporaryPath)
            throw WriteError(path: path, step: .rename, detail: detail)
        }
        try syncFolder(folder, path: path)
    }

    /// The folder and file name of `path`; the folder must exist.
    static func split(_ path: String) throws -> (folder: String, name: String) {
        guard !path.isEmpty, !path.hasSuffix("/") else {
            throw WriteError(path: path, step: .validatePath, detail: "the path does not name a file")
        }
        let folder: String
        let name: String
        if let slash = path.lastIndex(of: "/") {
            folder = slash == path.startIndex ? "/" : String(path[..<slash])
            name = String(path[path.index(after: slash)...])
        } else {
            folder = "."
            name = path
        }
        guard name != ".", name != ".." else {
            throw WriteError(path: path, step: .validatePath, detail: "the path does not name a file")
        }
        return (folder, name)
    }

    /// Flushes the folder entry of the rename. Filesystems that cannot sync a folder (EINVAL) are accepted;
    /// any other failure is reported, though the new file is then already in place.
    private static func syncFolder(_ folder: String, path: String) throws {
        let descriptor = open(folder, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw WriteError(path: path, step: .syncFolder, detail: errnoText()) }
        defer { close(descriptor) }
        if fsync(descriptor) != 0, errno != EINVAL {
            throw WriteError(path: path, step: .syncFolder, detail: errnoText())
        }
    }

    /// Exceeding the file-size limit (`ulimit -f`) then fails the write with EFBIG, a `WriteError`,
    /// instead of killing the process with SIGXFSZ.
    private static let ignoreFileSizeSignal: Void = { _ = signal(SIGXFSZ, SIG_IGN) }()

    /// The text of the current `errno` (strerror).
    public static func errnoText() -> String { String(cString: strerror(errno)) }
}

private func systemWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
        return Glibc.write(descriptor, buffer, count)
    #else
        return Darwin.write(descriptor, buffer, count)
    #endif
}
