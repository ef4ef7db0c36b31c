import Foundation

/// Live and peak bytes of tensor storage allocated by the engine (benchmarks report the peak).
public final class MemoryStatistics: @unchecked Sendable {
    public static let shared = MemoryStatistics()
    private let lock = NSLock()
    private var live = 0
    private var peak = 0

    public var liveBytes: Int {
        lock.lock()
        defer { lock.unlock() }
        return live
    }
    public var peakBytes: Int {
        lock.lock()
        defer { lock.unlock() }
        return peak
    }

    /// Starts a new peak measurement from the current live size.
    public func resetPeak() {
        lock.lock()
        peak = live
        lock.unlock()
    }

    func allocated(bytes: Int) {
        lock.lock()
        live += bytes
        if live > peak { peak = live }
        lock.unlock()
    }

    func freed(bytes: Int) {
        lock.lock()
        live -= bytes
        lock.unlock()
    }

    /// Resident set size of the whole process, from /proc/self/status (VmHWM = peak), in bytes.
    public static func processPeakResidentBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let digits = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if digits.count >= 2, let kb = Int(digits[1]) { return kb * 1024 }
        }
        return nil
    }
}
