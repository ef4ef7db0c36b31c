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

    /// `.sepme-lock` in the folder, holding the owner's process id. A lock whose process is gone is
    /// taken over; one whose process runs is an error naming it.
    final class Lock {
        let path: String
        private var held = false

        init(folder: URL) throws {
            path = folder.appendingPathComponent(".sepme-lock").path
            for _ in 0..<2 {
                let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
                if fd >= 0 {
                    let text = "\(getpid())\n"
                    _ = text.withCString { write(fd, $0, strlen($0)) }
                    close(fd)
                    held = true
                    return
                }
                guard errno == EEXIST else {
                    throw ErasureError.output(path: path, reason: "cannot create the lock file (\(String(cString: strerror(errno))))")
                }
                let owner = (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
                if let owner, owner != getpid(), kill(owner, 0) == 0 || errno == EPERM {
                    throw ErasureError.output(
                        path: path,
                        reason: "another sepme run (process \(owner)) is writing into this folder; wait for it or choose another output folder")
                }
                unlink(path)  // stale: its process is gone
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
