import Foundation

/// Output paths compared as files, not as strings.
enum OutputPath {
    /// Whether `a` and `b` name the same file: the same device and inode when both exist (hard
    /// links, symbolic links), else the same absolute path once "." / ".." and the folder's symbolic
    /// links are resolved.
    static func same(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
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
}
