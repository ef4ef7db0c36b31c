/// `down_block_types` entries of an AutoencoderKL (diffusers models/autoencoders/vae.py `Encoder`,
/// built by unet_2d_blocks.py `get_down_block`) that `VAEEncoder` builds.
public enum VAEEncoderBlockType: String, DiffusersBlockType {
    /// `DownEncoderBlock2D`: resnets, then an optional downsampler.
    case downEncoder = "DownEncoderBlock2D"
}

/// `up_block_types` entries of an AutoencoderKL (vae.py `Decoder`, unet_2d_blocks.py `get_up_block`)
/// that `VAEDecoder` builds.
public enum VAEDecoderBlockType: String, DiffusersBlockType {
    /// `UpDecoderBlock2D`: resnets, then an optional upsampler.
    case upDecoder = "UpDecoderBlock2D"
}
