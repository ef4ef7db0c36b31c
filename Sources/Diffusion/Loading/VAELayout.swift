/// The facts about a diffusers `AutoencoderKL` configuration that decide how the original (CompVis)
/// VAE keys `encoder.down.i.block.j` / `decoder.up.i.block.j` are numbered.
public struct VAELayout: Equatable, Sendable {
    /// Number of encoder down blocks = decoder up blocks (`len(block_out_channels)`).
    public var blockCount: Int
    /// `layers_per_block`: resnets per encoder block; decoder blocks have one more.
    public var layersPerBlock: Int

    public init(blockCount: Int, layersPerBlock: Int) {
        self.blockCount = max(0, blockCount)
        self.layersPerBlock = max(0, layersPerBlock)
    }

    /// Stable Diffusion 1.x (and 2.x): block_out_channels [128, 256, 512, 512], layers_per_block 2.
    public static let stableDiffusion1 = VAELayout(blockCount: 4, layersPerBlock: 2)
}
