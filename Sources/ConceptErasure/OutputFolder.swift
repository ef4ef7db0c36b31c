import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// The folder an erasure writes into: created if missing, proven writable before any work starts,
/// and locked against a second run writing the same checkpoints and shift files at once.
public enum OutputFolder {
    /// Creates `folder` if needed and checks that a file can be created in it (as root, permission
    /// bits say nothing about a read-only file system). Errors carry the system's reason.
    public static func prepare(_ folder: URL) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw ErasureError.output(path: folder.path, reason: "exists and is not a folder") }
        } else if mkdir(folder.path, 0o755) != 0 && errno != EEXIST {
            let reason = String(cString: strerror(errno))
            // A missing parent is created too, as `mkdir -p` does.
            do { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
                throw ErasureError.output(path: folder.path, reason: "cannot create the folder (\(reason))")
            }
        }
        let probe = folder.appendingPathComponent(".sepme-write-test-\(getpid())").path
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else {
            throw ErasureError.output(path: folder.path, reason: "cannot write into the folder (\(String(cString: strerror(errno))))")
        }
        close(fd)
        unlink(probe)
    }

    /// A lock file in the folder (`.sepme-lock` for a whole plan, `.sepme-lock-<slug>` for one index
    /// of it), holding the owner's host name and process id. A lock whose process is gone is taken
    /// over; one whose process runs is an error naming it. A lock written on another host (a
    /// cluster's shared folder) cannot be checked and is taken over: the scheduler runs each index
    /// once at a time, and a task it restarts elsewhere must not wait for the one it killed.
    final class Lock {
        let path: String
        private var held = false

        init(folder: URL, name: String? = nil) throws {
            path = folder.appendingPathComponent(name ?? ".sepme-lock").path
            let host = ProcessInfo.processInfo.hostName
            for _ in 0..<2 {
                let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
                if fd >= 0 {
                    let text = "\(getpid()) \(host)\n"
                    _ = text.withCString { write(fd, $0, strlen($0)) }
                    close(fd)
                    held = true
                    return
                }
                guard errno == EEXIST else {
                    throw ErasureError.output(path: path, reason: "cannot create the lock file (\(String(cString: strerror(errno))))")
                }
                let fields = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(whereSeparator: \.isWhitespace)
                let owner = fields.first.flatMap { Int32($0) }
                let ownerHost = fields.count > 1 ? String(fields[1]) : host
                if let owner, ownerHost == host, owner != getpid(), kill(owner, 0) == 0 || errno == EPERM {
                    throw ErasureError.output(
                        path: path,
                        reason: "another sepme run (process \(owner)) is writing into this folder; wait for it or choose another output folder")
                }
                unlink(path)  // stale: its process is gone, or it ran on another host
            }
            throw ErasureError.output(path: path, reason: "cannot take over the stale lock file")
        }

        func release() {
            if held {
                unlink(path)
                held = false
            }
        }
    }
}
