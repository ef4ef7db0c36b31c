import Foundation

extension CLIPTokenizer {
    /// The CLIP ViT-L/14 vocabulary of Stable Diffusion v1 (vocab.json + merges.txt in the hub's
    /// tokenizer-folder layout, built from open_clip's bpe_simple_vocab_16e6 by
    /// scripts/make_clip_tokenizer.py; MIT licence). Used for single-file checkpoints, which carry
    /// no tokenizer of their own.
    public static var bundledStableDiffusion1Folder: URL {
        Bundle.module.url(forResource: "Resources/clip-vit-large-patch14", withExtension: nil)!
    }

    /// The configuration of SDXL base's second tokenizer (`tokenizer_2/tokenizer_config.json` and
    /// `special_tokens_map.json`): the same vocabulary, padded with "!" (id 0) instead of the end
    /// token, as `CLIPTokenizer.from_pretrained(..., pad_token="!")` saves it.
    public static var bundledStableDiffusionXLSecondFolder: URL {
        Bundle.module.url(forResource: "Resources/sdxl-tokenizer-2", withExtension: nil)!
    }

    /// The SD1.x tokenizer (77 tokens, BOS 49406, EOS/pad 49407); also SDXL's first tokenizer.
    public static func stableDiffusion1() throws -> CLIPTokenizer {
        try CLIPTokenizer(folder: bundledStableDiffusion1Folder)
    }

    /// SDXL base's second tokenizer: the SD1.x vocabulary (`bundledStableDiffusion1Folder`) with
    /// the configuration of `bundledStableDiffusionXLSecondFolder` (77 tokens, pad "!" = id 0).
    public static func stableDiffusionXLSecond() throws -> CLIPTokenizer {
        let vocab = bundledStableDiffusion1Folder.appendingPathComponent("vocab.json")
        let merges = bundledStableDiffusion1Folder.appendingPathComponent("merges.txt")
        var files = try CLIPTokenizerFiles.load(vocabURL: vocab, mergesURL: merges)
        try files.applyConfiguration(folder: bundledStableDiffusionXLSecondFolder)
        return try CLIPTokenizer(files: files, vocabFile: vocab.path, mergesFile: merges.path)
    }
}
