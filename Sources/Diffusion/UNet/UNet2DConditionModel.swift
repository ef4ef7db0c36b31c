import NeuralNet
import TensorEngine

/// diffusers unets/unet_2d_condition.py `UNet2DConditionModel` for the Stable Diffusion 1.x, 2.x and
/// XL families: the noise-prediction network ε(x_t, t, c). Property names are diffusers' state-dict keys.
///
/// All parameters start frozen (`requiresGrad == false`); gradients flow through the frozen network
/// to whatever requires them (encoder states, `Linear.adapter` shifts, or chosen weights).
public final class UNet2DConditionModel: Module {
    public let conv_in: Conv2d
    public let time_embedding: TimestepEmbedding
    /// SDXL's "text_time" `add_embedding` (pooled text + time-id features -> timestep width); nil
    /// without `addition_embed_type`. Its sinusoidal `add_time_proj` has no weights.
    public let add_embedding: TimestepEmbedding?
    /// The "text_time" widths, nil without `addition_embed_type`.
    public let textTime: UNetTextTimeEmbedding?
    /// `DownBlock2D` or `CrossAttnDownBlock2D` per level.
    public let down_blocks: [DownBlock2D]
    public let mid_block: UNetMidBlock2DCrossAttn
    /// `UpBlock2D` or `CrossAttnUpBlock2D` per level, deepest first.
    public let up_blocks: [UpBlock2D]
    public let conv_norm_out: GroupNorm
    public let conv_out: Conv2d
    public let configuration: UNet2DConditionConfiguration

    /// Builds the architecture with zero weights (norm weights 1); `source` names the configuration in
    /// errors. Use `load(folder:)` for a checkpoint or `initializeRandomly(seed:)` for benchmarks.
    public init(configuration: UNet2DConditionConfiguration, source: String = "UNet2DConditionConfiguration") throws {
        let r = try configuration.resolved(source: source)
        let c = configuration
        let n = r.blockCount
        let channels = c.blockOutChannels
        let temb = r.timeEmbeddingDim
        self.configuration = configuration
        conv_in = Conv2d(c.inChannels, channels[0], kernelSize: 3, padding: 1)
        time_embedding = TimestepEmbedding(inChannels: channels[0], timeEmbedDim: temb)
        textTime = r.textTime
        add_embedding = r.textTime.map { TimestepEmbedding(inChannels: $0.projectionInputDim, timeEmbedDim: temb) }

        down_blocks = (0..<n).map { i in
            let input = i == 0 ? channels[0] : channels[i - 1]
            let last = i == n - 1
            switch c.downBlockTypes[i] {
            case .crossAttention:
                return CrossAttnDownBlock2D(
                    inChannels: input, outChannels: channels[i], layers: r.layersPerBlock[i],
                    timeEmbedDim: temb, groups: r.groups, eps: r.eps, addDownsample: !last,
                    heads: r.attentionHeads[i], crossAttentionDim: r.crossAttentionDim,
                    transformerLayers: r.transformerLayers[i], useLinearProjection: c.useLinearProjection)
            case .plain:
                return DownBlock2D(
                    inChannels: input, outChannels: channels[i], layers: r.layersPerBlock[i],
                    timeEmbedDim: temb, groups: r.groups, eps: r.eps, addDownsample: !last)
            }
        }
        mid_block = UNetMidBlock2DCrossAttn(
            channels: channels[n - 1], timeEmbedDim: temb, groups: r.groups, eps: r.eps,
            outputScaleFactor: Float(c.midBlockScaleFactor), heads: r.attentionHeads[n - 1],
            crossAttentionDim: r.crossAttentionDim, transformerLayers: r.transformerLayers[n - 1],
            useLinearProjection: c.useLinearProjection)
        // Up level j mirrors down level n-1-j (unet_2d_condition.py: reversed_* lists).
        up_blocks = (0..<n).map { j in
            let level = n - 1 - j
            let previous = j == 0 ? channels[n - 1] : channels[level + 1]
            let input = channels[max(level - 1, 0)]
            let last = j == n - 1
            switch c.upBlockTypes[j] {
            case .crossAttention:
                return CrossAttnUpBlock2D(
                    inChannels: input, previousChannels: previous, outChannels: channels[level],
                    layers: r.layersPerBlock[level] + 1, timeEmbedDim: temb, groups: r.groups,
                    eps: r.eps, addUpsample: !last, heads: r.attentionHeads[level],
                    crossAttentionDim: r.crossAttentionDim, transformerLayers: r.transformerLayers[level],
                    useLinearProjection: c.useLinearProjection)
            case .plain:
                return UpBlock2D(
                    inChannels: input, previousChannels: previous, outChannels: channels[level],
                    layers: r.layersPerBlock[level] + 1, timeEmbedDim: temb, groups: r.groups, eps: r.eps,
                    addUpsample: !last)
            }
        }
        conv_norm_out = GroupNorm(groups: r.groups, channels: channels[0], eps: r.eps)
        conv_out = Conv2d(channels[0], c.outChannels, kernelSize: 3, padding: 1)
    }

    /// Width of the encoder hidden states the cross-attention layers take.
    public var crossAttentionDim: Int { configuration.crossAttentionDim.all[0] }

    /// Every cross-attention layer (`…transformer_blocks.k.attn2`) in diffusers' module order, keyed
    /// by its state-dict path (SD1: 16 layers).
    public func crossAttentionLayers() -> [(key: String, attention: Attention)] {
        namedModules().compactMap { key, module in
            guard key.hasSuffix(".attn2"), let attention = module as? Attention else { return nil }
            return (key: key, attention: attention)
        }
    }

    /// Predicted noise ε for `sample` at `timesteps` (one per batch item, or one for all) under
    /// `encoderHiddenStates`; diffusers `UNet2DConditionModel.forward` with `added_cond_kwargs`
    /// (`addedConditions`, required exactly when the model has "text_time") and no other optional input.
    // sample: [B, Cin, H, W], encoderHiddenStates: [B, L, Dc] -> [B, Cout, H, W]
    public func callAsFunction(
        _ sample: Tensor, timesteps: [Float], encoderHiddenStates: Tensor, addedConditions: UNetAddedConditions? = nil
    ) -> Tensor {
        precondition(
            encoderHiddenStates.rank == 3 && encoderHiddenStates.shape[0] == sample.shape.first,
            "UNet2DConditionModel: encoder hidden states must be [\(sample.shape.first ?? 0), L, \(crossAttentionDim)], got \(encoderHiddenStates.shape)"
        )
        return self(
            continuing: textFreeStart(sample, timesteps: timesteps), encoderHiddenStates: encoderHiddenStates,
            addedConditions: addedConditions)
    }

    /// The start of a forward pass, which does not read the text: the timestep embedding, conv_in
    /// and, when the first down block has cross-attention and the timestep embedding has no text in
    /// it (no "text_time"), its first resnet and its first transformer up to the first
    /// cross-attention (norm, proj_in, self-attention). One SepME step
    /// evaluates the same x_t under three contexts (original concept and blank, edited concept) and
    /// computes this once.
    public struct TextFreeStart {
        let temb: Tensor, convIn: Tensor
        let firstBlock: (resnet: Tensor, tokens: Tensor)?
        let forwardUpsampleSize: Bool
        /// The sample's batch size.
        public var batch: Int { convIn.shape[0] }
        /// The sample's height and width (conv_in keeps them).
        public var sampleHeight: Int { convIn.shape[2] }
        public var sampleWidth: Int { convIn.shape[3] }
    }

    // sample: [B, Cin, H, W]
    public func textFreeStart(_ sample: Tensor, timesteps: [Float]) -> TextFreeStart {
        let c = configuration
        precondition(
            sample.rank == 4 && sample.shape[1] == c.inChannels,
            "UNet2DConditionModel: sample must be [B, \(c.inChannels), H, W], got \(sample.shape)")
        let b = sample.shape[0]
        precondition(
            timesteps.count == b || timesteps.count == 1,
            "UNet2DConditionModel: \(timesteps.count) timesteps for a batch of \(b)")
        // Timestep embedding (embeddings.py Timesteps + TimestepEmbedding).
        let perItem = timesteps.count == b ? timesteps : Array(repeating: timesteps[0], count: b)
        let features = SinusoidalTimestepFeatures.make(
            perItem, dim: c.blockOutChannels[0], flipSinToCos: c.flipSinToCos,
            downscaleFreqShift: Float(c.freqShift))  // [B, C0]
        let temb = time_embedding(features)  // [B, 4·C0]
        // Sizes not divisible by the overall upsampling factor: upsample to each skip's size.
        let factor = 1 << (down_blocks.count - 1)
        let forwardUpsampleSize = sample.shape[2] % factor != 0 || sample.shape[3] % factor != 0
        let h = conv_in(c.centerInputSample ? sample * 2 - 1 : sample)  // [B, C0, H, W]
        // With "text_time" the resnets' embedding holds the pooled text: nothing after conv_in is text-free.
        let first = add_embedding == nil ? (down_blocks[0] as? CrossAttnDownBlock2D).map { $0.textFreeStart(h, temb: temb) } : nil
        return TextFreeStart(temb: temb, convIn: h, firstBlock: first, forwardUpsampleSize: forwardUpsampleSize)
    }

    /// The forward pass from `start` under `encoderHiddenStates`, whose batch is the start's batch
    /// times k: the sample is then evaluated under each context, in the order of
    /// `concat([sample] * k)` (e.g. [concept, blank] contexts for one x_t). `addedConditions` (batch
    /// k·B, in the contexts' order) must be given exactly when the model has "text_time".
    // encoderHiddenStates: [k·B, L, Dc], addedConditions: [k·B, P] + [k·B, N] -> [k·B, Cout, H, W]
    public func callAsFunction(
        continuing start: TextFreeStart, encoderHiddenStates context: Tensor, addedConditions: UNetAddedConditions? = nil
    ) -> Tensor {
        let b = start.batch
        precondition(
            context.rank == 3 && context.shape[0] % b == 0 && context.shape[0] > 0
                && context.shape[2] == crossAttentionDim,
            "UNet2DConditionModel: encoder hidden states must be [k·\(b), L, \(crossAttentionDim)], got \(context.shape)")
        let k = context.shape[0] / b
        func tiled(_ t: Tensor) -> Tensor { k == 1 ? t : Tensor.concat([Tensor](repeating: t, count: k), axis: 0) }
        var temb = tiled(start.temb)  // [k·B, T]
        precondition(
            (add_embedding == nil) == (addedConditions == nil),
            "UNet2DConditionModel: added conditions are required exactly for addition_embed_type \"text_time\"")
        if let addedConditions {
            precondition(
                addedConditions.batch == context.shape[0],
                "UNet2DConditionModel: added conditions for \(addedConditions.batch) items, contexts for \(context.shape[0])")
            temb = temb + additionEmbedding(addedConditions)  // unet_2d_condition.py: emb = emb + aug_emb
        }
        var h = tiled(start.convIn)
        var skips: [Tensor] = [h]
        var remaining = down_blocks[...]
        if let first = start.firstBlock, let block = down_blocks[0] as? CrossAttnDownBlock2D {
            let (out, states) = block.forward(resuming: (tiled(first.resnet), tiled(first.tokens)), temb: temb, context: context)
            h = out
            skips += states
            remaining = down_blocks.dropFirst()
        }
        for block in remaining {
            let (out, states) = block.forward(h, temb: temb, context: context)
            h = out
            skips += states
        }
        h = mid_block.forward(h, temb: temb, context: context)  // [B, Cn, H/f, W/f]
        for (j, block) in up_blocks.enumerated() {
            let used = Array(skips.suffix(block.resnets.count))
            skips.removeLast(block.resnets.count)
            var size: (Int, Int)? = nil
            if start.forwardUpsampleSize, j < up_blocks.count - 1, let next = skips.last { size = (next.shape[2], next.shape[3]) }
            h = block.forward(h, skips: used, temb: temb, context: context, upsampleSize: size)
        }
        h = conv_norm_out(h, silu: true)  // [B, C0, H, W]
        return conv_out(h)  // [B, Cout, H, W]
    }
}
