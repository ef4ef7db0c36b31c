import Foundation

extension CLIPTokenizer {
    /// The CLIP ViT-L/14 vocabulary of Stable Diffusion v1 (vocab.json + merges.txt in the hub's
    /// tokenizer-folder layout, built from open_clip's bpe_simple_vocab_16e6 by
    /// scripts/make_clip_tokenizer.py; MIT licence). Used for single-file checkpoints, which carry
    /// no tokenizer of their own.
    public static var bundledStableDiffusion1Folder: URL {
        Bundle.module.url(forResource: "Resources/clip-vit-large-patch14", withExtension: nil)!
    }

    /// The SD1.x tokenizer (77 tokens, BOS 49406, EOS/pad 49407); also SDXL's first tokenizer.
    public static func stableDiffusion1() throws -> CLIPTokenizer {
        try CLIPTokenizer(folder: bundledStableDiffusion1Folder)
    }

    /// The configuration of OpenCLIP's tokenizer as Stable Diffusion folders store it (SD 2.x's
    /// `tokenizer/`, SDXL's `tokenizer_2/`: `tokenizer_config.json` and `special_tokens_map.json`):
    /// CLIP's vocabulary padded with "!" (id 0) instead of the end token, as
    /// `CLIPTokenizer.from_pretrained(..., pad_token="!")` saves it.
    public static var bundledOpenCLIPFolder: URL {
        Bundle.module.url(forResource: "Resources/openclip-tokenizer", withExtension: nil)!
    }

    /// OpenCLIP's tokenizer: SD 2.x's, and SDXL base's second. The SD1.x vocabulary
    /// (`bundledStableDiffusion1Folder`) with the configuration of `bundledOpenCLIPFolder`
    /// (77 tokens, pad "!" = id 0).
    public static func openCLIP() throws -> CLIPTokenizer {
        let vocab = bundledStableDiffusion1Folder.appendingPathComponent("vocab.json")
        let merges = bundledStableDiffusion1Folder.appendingPathComponent("merges.txt")
        var files = try CLIPTokenizerFiles.load(vocabURL: vocab, mergesURL: merges)
        try files.applyConfiguration(folder: bundledOpenCLIPFolder)
        return try CLIPTokenizer(files: files, vocabFile: vocab.path, mergesFile: merges.path)
    }
}
