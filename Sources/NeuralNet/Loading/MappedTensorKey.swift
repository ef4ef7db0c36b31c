/// Where one stored checkpoint tensor appears in a `TensorSource`'s key space, and how its stored shape
/// relates to the parameter's: used for single-file checkpoints whose key names (and a few shapes)
/// differ from the module's, e.g. the VAE attention projections that CompVis stores as 1x1 convolution
/// weights `[C, C, 1, 1]` where diffusers' `AutoencoderKL` has `Linear` weights `[C, C]`.
public struct MappedTensorKey: Equatable, Hashable, Sendable {
    /// The key in the source's key space (the module's parameter path).
    public var name: String
    /// When set, the stored tensor may carry trailing unit dimensions beyond this rank; they are
    /// dropped from the shape the source reports and loads (`[C, C, 1, 1]` -> `[C, C]` for rank 2).
    /// A stored tensor whose extra trailing dimensions are not all 1 keeps its stored shape, so strict
    /// loading reports it as mis-shaped by key.
    public var droppingTrailingUnitDimensionsBeyondRank: Int?

    public init(_ name: String, droppingTrailingUnitDimensionsBeyondRank rank: Int? = nil) {
        self.name = name
        droppingTrailingUnitDimensionsBeyondRank = rank
    }

    /// The shape this key has in the source, given the shape stored in the file.
    public func presentedShape(stored: [Int]) -> [Int] {
        guard let rank = droppingTrailingUnitDimensionsBeyondRank, rank >= 0, stored.count > rank,
            stored[rank...].allSatisfy({ $0 == 1 })
        else { return stored }
        return Array(stored.prefix(rank))
    }
}
