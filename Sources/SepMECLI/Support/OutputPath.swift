import Foundation

/// Output paths compared as files, not as strings.
enum OutputPath {
    /// Whether `a` and `b` name the same file: the same device and inode when both exist (hard
    /// links, symbolic links), else the same absolute path once "." / ".." and the folder's symbolic
    /// links are resolved.
    static func same(_ a: String, _ b: String) -> Bool {
        var sa = stat()
        var sb = stat()
        if stat(a, &sa) == 0, stat(b, &sb) == 0 { return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino }
        return normalised(a) == normalised(b)
    }

    /// The absolute path with its folder's symbolic links resolved (the file itself may not exist yet).
    static func normalised(_ path: String) -> String {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        let folder = url.deletingLastPathComponent().path
        guard let resolved = realpath(folder, nil) else { return url.path }
        defer { free(resolved) }
        return URL(fileURLWithPath: String(cString: resolved)).appendingPathComponent(url.lastPathComponent).path
    }

    /// Refuses, before any work, an output the process could not create: its folder missing, not a
    /// folder, or refusing a new file (probed by creating and removing an empty one), or the path
    /// itself a folder. The reason is the POSIX one, e.g. "--output /x/o.png: folder /x: No such file or directory".
    static func checkWritable(_ flag: String, _ path: String) throws {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var info = stat()
        guard stat(folder, &info) == 0 else { throw CommandLineError("\(flag) \(path): folder \(folder): \(posixReason())") }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { throw CommandLineError("\(flag) \(path): \(folder) is not a folder") }
        if stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            throw CommandLineError("\(flag) \(path): is a folder")
        }
        let probe = folder + "/.sepme-write-check-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else { throw CommandLineError("\(flag) \(path): cannot create a file in \(folder): \(posixReason())") }
        close(descriptor)
        unlink(probe)
    }

    private static func posixReason() -> String { String(cString: strerror(errno)) }
}
