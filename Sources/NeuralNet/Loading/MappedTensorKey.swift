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
    /// When set, the key is one of `count` equal blocks of rows (first axis) of the stored tensor: a
    /// fused projection such as OpenCLIP's `in_proj_weight` `[3D, D]`, whose blocks 0, 1, 2 are the
    /// query, key and value weights `[D, D]`.
    public var rowBlock: RowBlock?
    /// When set, the key is the transpose of a stored matrix `[R, C]` -> `[C, R]`: OpenCLIP's
    /// `text_projection`, applied as `x @ P`, where transformers' `Linear` computes `x @ Wᵀ`. A stored
    /// tensor that is not a matrix keeps its stored shape, so strict loading reports it by key.
    public var transposed: Bool

    /// Block `index` of `count` equal blocks along the first axis.
    public struct RowBlock: Equatable, Hashable, Sendable {
        public var index: Int
        public var count: Int

        public init(index: Int, count: Int) {
            self.index = index
            self.count = count
        }
    }

    public init(
        _ name: String, droppingTrailingUnitDimensionsBeyondRank rank: Int? = nil, rowBlock: RowBlock? = nil, transposed: Bool = false
    ) {
        self.name = name
        droppingTrailingUnitDimensionsBeyondRank = rank
        self.rowBlock = rowBlock
        self.transposed = transposed
    }

    /// The shape this key has in the source, given the shape stored in the file. A row block of a
    /// tensor whose first axis does not divide into `count` blocks keeps the stored shape, so strict
    /// loading reports it as mis-shaped by key.
    public func presentedShape(stored: [Int]) -> [Int] {
        if transposed {
            return stored.count == 2 ? [stored[1], stored[0]] : stored
        }
        if let block = rowBlock {
            guard block.count > 0, block.index >= 0, block.index < block.count, let rows = stored.first,
                rows % block.count == 0
            else { return stored }
            return [rows / block.count] + stored.dropFirst()
        }
        guard let rank = droppingTrailingUnitDimensionsBeyondRank, rank >= 0, stored.count > rank,
            stored[rank...].allSatisfy({ $0 == 1 })
        else { return stored }
        return Array(stored.prefix(rank))
    }
}
