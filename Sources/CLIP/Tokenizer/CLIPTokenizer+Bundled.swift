import Foundation

extension CLIPTokenizer {
    /// The CLIP ViT-L/14 vocabulary of Stable Diffusion v1 (vocab.json + merges.txt in the hub's
    /// tokenizer-folder layout, built from open_clip's bpe_simple_vocab_16e6 by
    /// scripts/make_clip_tokenizer.py; MIT licence). Used for single-file checkpoints, which carry
    /// no tokenizer of their own.
    public static var bundledStableDiffusion1Folder: URL {
        Bundle.module.url(forResource: "Resources/clip-vit-large-patch14", withExtension: nil)!
    }

    /// The SD1.x tokenizer (77 tokens, BOS 49406, EOS/pad 49407).
    public static func stableDiffusion1() throws -> CLIPTokenizer {
        try CLIPTokenizer(folder: bundledStableDiffusion1Folder)
    }
}
