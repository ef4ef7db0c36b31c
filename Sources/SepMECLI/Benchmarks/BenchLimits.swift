import Diffusion

/// Bounds on the benchmarks' numeric flags, and the memory check of the UNet-sized ones.
enum BenchLimits {
    /// Latent side (--size): 512 is a 4096x4096 image for SD.
    static let maxLatentSize = 512
    static let maxTokens = 1024
    static let maxBatch = 256
    static let maxRepeats = 1000
    static let maxMatrixSide = 16384
    /// VAE decode latent side (--size): 128 is a 1024x1024 image.
    static let maxVAELatentSize = 128

    /// Refuses a UNet benchmark whose activations (kept for the backward: the top level's width at
    /// every one of its layers, the transformer's feed-forward 8 times wider) exceed this machine's memory.
    static func checkMemory(_ request: String, configuration: UNet2DConditionConfiguration, size: Int, batch: Int) throws {
        let width = Double(configuration.blockOutChannels.first ?? 320)
        let perLevel = Double(batch) * Double(size) * Double(size) * width * 4
        try FlagCheck.memory(request, bytes: perLevel * 64)
    }
}
