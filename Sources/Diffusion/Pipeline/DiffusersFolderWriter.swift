import Foundation
import NeuralNet
import SafeTensors

/// Writes a diffusers model folder: the one writer behind `sepme apply` (`ModelFolderWriter`) and the
/// toy model's export (`ToyModelFolder`). The files are assembled in a hidden temporary folder beside
/// the destination and renamed into place only when all are written; on any error, or when
/// `shouldStop` returns true between two files, the temporary folder is removed and nothing is left
/// behind (`DiffusersFolderWriterError.interrupted` for a stop).
public struct DiffusersFolderWriter {
    /// What one entry of the folder holds.
    public enum Content {
        /// A file copied byte for byte.
        case copy(URL)
        /// Bytes written as they are.
        case data(Data)
        /// A module's parameters as safetensors, each tensor in the dtype `dtype(key)` gives
        /// (F32, F16 or BF16), with `metadata` in the header.
        case weights(Module, metadata: [String: String], dtype: (String) -> SafeTensorDType)
        /// A producer that writes the entry itself (a file or a folder) at the URL it is given.
        case produced((URL) throws -> Void)
    }

    /// What to do when the destination exists.
    public enum ExistingDestination: Sendable {
        /// Throw `destinationExists`.
        case refuse
        /// Replace it, once the new folder is complete.
        case replace
    }

    /// Entries by path relative to the folder ("unet/config.json"), written in this order.
    public private(set) var entries: [(path: String, content: Content)] = []

    public init() {}

    public mutating func add(_ relativePath: String, _ content: Content) {
        entries.append((relativePath, content))
    }

    /// Writes the folder at `destination`. `sourceFolder` is the model folder the entries are copied
    /// from, if any: a destination equal to it or inside it is refused (the copy would contain itself).
    public func write(
        to destination: URL, existing: ExistingDestination = .refuse, sourceFolder: URL? = nil,
        shouldStop: (() -> Bool)? = nil
    ) throws {
        let fm = FileManager.default
        let target = destination.standardizedFileURL.resolvingSymlinksInPath()
        if let sourceFolder {
            let source = sourceFolder.standardizedFileURL.resolvingSymlinksInPath()
            if target.path == source.path || target.path.hasPrefix(source.path.hasSuffix("/") ? source.path : source.path + "/") {
                throw DiffusersFolderWriterError.destinationInsideSource(destination: destination.path, source: sourceFolder.path)
            }
        }
        let parent = target.deletingLastPathComponent()
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: parent.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DiffusersFolderWriterError.parentMissing(destination: destination.path, parent: parent.path)
        }
        let exists = fm.fileExists(atPath: target.path)
        if exists && existing == .refuse { throw DiffusersFolderWriterError.destinationExists(path: destination.path) }
        let tmp = parent.appendingPathComponent(".\(target.lastPathComponent).tmp-\(UUID().uuidString.prefix(8))")
        do {
            try Self.attempt(tmp.path) { try fm.createDirectory(at: tmp, withIntermediateDirectories: false) }
            for (relative, content) in entries {
                if shouldStop?() == true { throw DiffusersFolderWriterError.interrupted(destination: destination.path) }
                let url = tmp.appendingPathComponent(relative)
                try Self.attempt(url.deletingLastPathComponent().path) {
                    try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                }
                try Self.writeEntry(content, to: url, finalPath: target.appendingPathComponent(relative).path)
            }
            if shouldStop?() == true { throw DiffusersFolderWriterError.interrupted(destination: destination.path) }
            if exists {
                let old = parent.appendingPathComponent(".\(target.lastPathComponent).old-\(UUID().uuidString.prefix(8))")
                try Self.attempt(target.path) { try fm.moveItem(at: target, to: old) }
                do {
                    try Self.attempt(target.path) { try fm.moveItem(at: tmp, to: target) }
                } catch {
                    try? fm.moveItem(at: old, to: target)
                    throw error
                }
                try? fm.removeItem(at: old)
            } else {
                try Self.attempt(target.path) { try fm.moveItem(at: tmp, to: target) }
            }
        } catch {
            try? fm.removeItem(at: tmp)
            throw error
        }
    }

    private static func writeEntry(_ content: Content, to url: URL, finalPath: String) throws {
        switch content {
        case .copy(let source):
            try attempt(finalPath) { try FileManager.default.copyItem(at: source, to: url) }
        case .data(let data):
            try attempt(finalPath) { try data.write(to: url) }
        case .weights(let module, let metadata, let dtype):
            var writer = SafeTensorsWriter()
            for (key, p) in module.namedParameters() {
                let wanted = dtype(key)
                try writer.add(
                    key, shape: p.shape, floats: UnsafeBufferPointer(start: p.pointer, count: p.count),
                    dtype: wanted == .f16 || wanted == .bf16 ? wanted : .f32)
            }
            try writer.write(to: url.path, metadata: metadata)
        case .produced(let produce):
            try produce(url)
        }
    }

    /// Runs `body`, turning a Foundation error into `writeFailed` naming `path` with a plain reason.
    static func attempt(_ path: String, _ body: () throws -> Void) throws {
        do { try body() } catch let error as DiffusersFolderWriterError {
            throw error
        } catch {
            throw DiffusersFolderWriterError.writeFailed(path: path, reason: plainReason(error))
        }
    }

    /// The POSIX reason under a Foundation file error ("No space left on device"), else its text.
    static func plainReason(_ error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        if let cocoa = error as? CocoaError {
            switch cocoa.code {
            case .fileWriteOutOfSpace: return "no space left on device"
            case .fileWriteNoPermission, .fileReadNoPermission: return "permission denied"
            case .fileWriteFileExists: return "a file of that name exists"
            case .fileNoSuchFile, .fileReadNoSuchFile: return "no such file or folder"
            default: break
            }
        }
        return ns.localizedDescription
    }
}

/// Why a model folder could not be written; nothing is left at the destination or beside it.
public enum DiffusersFolderWriterError: Error, CustomStringConvertible, Equatable {
    case destinationExists(path: String)
    /// The destination is the source model folder or lies inside it.
    case destinationInsideSource(destination: String, source: String)
    case parentMissing(destination: String, parent: String)
    /// `shouldStop` asked to stop; the partial folder was removed.
    case interrupted(destination: String)
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .destinationExists(let path): return "\(path) already exists; expected a new output folder"
        case .destinationInsideSource(let destination, let source):
            return "\(destination) is the model folder \(source) or inside it; expected an output folder outside the model"
        case .parentMissing(let destination, let parent):
            return "\(destination): the parent folder \(parent) does not exist"
        case .interrupted(let destination): return "writing \(destination) was interrupted; nothing was written"
        case .writeFailed(let path, let reason): return "\(path): cannot be written: \(reason)"
        }
    }
}
