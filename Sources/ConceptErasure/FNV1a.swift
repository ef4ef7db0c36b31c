/// FNV-1a, 64 bit (Fowler, Noll and Vo): a hash of bytes that stays the same across runs, builds and
/// machines (Swift's `Hasher` is seeded per process), for identities that are stored or that seed
/// random draws.
public struct FNV1a: Sendable {
    /// FNV's 64-bit offset basis.
    public static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325

    @usableFromInline var state: UInt64

    /// The hash of the bytes added so far (`basis` before any).
    public var value: UInt64 { state }

    public init(basis: UInt64 = FNV1a.offsetBasis) { state = basis }

    /// Adds `bytes` in order.
    @inlinable
    public mutating func add<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        for b in bytes { state = (state ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
    }
}
