import Diffusion

extension GenerateCommand {
    /// Refuses a request whose pictures, kept until the end, exceed this machine's memory, before any
    /// tensor is made: the sheet of every picture (with the PNG encoder's row copy and compressed
    /// output) and, with --latents-out, every latent. One pipeline call's own need (latents,
    /// activations) is checked by the pipeline (`TextToImagePipeline.validate`).
    func checkMemory(_ pipeline: any TextToImagePipeline, prompts: Int, size: (width: Int, height: Int)) throws {
        let all = Double(prompts) * Double(batchSize)
        let f = Double(pipeline.vaeScaleFactor)
        let latentPixels = Double(size.width) / f * (Double(size.height) / f)
        let sheet = ContactSheet.bytes(count: prompts * batchSize, columns: batchSize, tileWidth: size.width, tileHeight: size.height, gap: 2) * 3
        let latents = latentsOut == nil ? 0 : all * Double(pipeline.latentChannels) * latentPixels * 4 * 2
        try FlagCheck.memory(
            "--width/--height \(size.width)x\(size.height) with --batch-size \(batchSize) and \(prompts) prompt(s)",
            bytes: sheet + latents)
    }
}
