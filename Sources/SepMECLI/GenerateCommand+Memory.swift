import Diffusion

extension GenerateCommand {
    /// Refuses a request whose estimated memory exceeds this machine's, before any tensor is made.
    /// The estimate, beyond the weights: one pipeline call's largest activations (the UNet's top level
    /// holds its skip connections and the transformer's feed-forward, 8 times its width, at once; the
    /// VAE decoder's full-resolution level), its pixels, plus the sheet of every picture and the latents.
    func checkMemory(_ pipeline: StableDiffusionPipeline, prompts: Int, size: (width: Int, height: Int)) throws {
        let perCall = Double(min(prompts, Self.promptsPerCall) * batchSize)
        let all = Double(prompts) * Double(batchSize)
        let pixels = Double(size.width) * Double(size.height)
        let f = Double(pipeline.vaeScaleFactor)
        let latentPixels = pixels / (f * f)
        let copies: Double = sampling.guidance > 1 ? 2 : 1
        let unetWidth = Double(pipeline.unet.configuration.blockOutChannels.first ?? 320)
        let unet = perCall * copies * latentPixels * unetWidth * 4 * 16
        let vae = pipeline.vae.map { perCall * pixels * Double($0.configuration.blockOutChannels.first ?? 128) * 4 * 6 } ?? 0
        let decoded = perCall * pixels * 3 * 4 * 2
        // The sheet, its PNG rows and compressed copy.
        let sheet = ContactSheet.bytes(count: prompts * batchSize, columns: batchSize, tileWidth: size.width, tileHeight: size.height, gap: 2) * 3
        let latents = latentsOut == nil ? 0 : all * Double(pipeline.latentChannels) * latentPixels * 4 * 2
        try FlagCheck.memory("--width/--height \(size.width)x\(size.height) with --batch-size \(batchSize) and \(prompts) prompt(s)",
                             bytes: unet + vae + decoded + sheet + latents)
    }
}
