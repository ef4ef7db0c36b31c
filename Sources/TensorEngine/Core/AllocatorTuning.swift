import Foundation

/// glibc's allocator returns large blocks to the kernel on every free (blocks above the mmap
/// threshold are unmapped, the heap top is trimmed), so a training loop that allocates the same
/// activation sizes every step pays for zeroing fresh pages each time (visible in a profile of the toy
/// model's training step as time in the kernel's clear_page). `keepFreedMemory()` raises the mmap
/// threshold to glibc's maximum (32 MiB) and stops trimming, so freed activations are reused.
/// Peak resident memory is unchanged (it is the high-water mark either way). `mallopt` is looked up
/// at run time (it is glibc's, declared in malloc.h, which Swift's Glibc module does not export);
/// elsewhere this does nothing.
public enum AllocatorTuning {
    private typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
    // malloc.h: M_TRIM_THRESHOLD -1, M_TOP_PAD -2, M_MMAP_THRESHOLD -3.
    private static let trimThreshold: Int32 = -1, topPad: Int32 = -2, mmapThreshold: Int32 = -3

    public static func keepFreedMemory() {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        _ = mallopt(mmapThreshold, 32 << 20)
        _ = mallopt(trimThreshold, Int32.max)
        _ = mallopt(topPad, 64 << 20)
    }
}
