import Diffusion
import Foundation
import NeuralNet
import TensorEngine

/// A fingerprint of the weights a shift depends on: the text encoder(s) and the cross-attention
/// projections (a 64-bit mixing hash over the raw float bits, in key order, printed as hex). One
/// text encoder (SD 1.x / 2.x) hashes as it always has; SDXL's two are hashed one after the other.
public enum ModelFingerprint {
    public static func of(textEncoders: [Module], crossAttention: CrossAttentionProjections) -> String {
        var h = Hasher64()
        for encoder in textEncoders {
            for (key, p) in encoder.namedParameters() { h.add(key: key, tensor: p) }
        }
        for (key, linear) in crossAttention.keyValueProjections { h.add(key: key, tensor: linear.weight) }
        return h.hex
    }

    /// A fingerprint of everything that decides a pipeline's images: every text encoder's, the
    /// UNet's and (where there is one) the VAE's weights, in key order, and the scheduler's
    /// configuration. It names a model by content, not by where its folder lies, so that saved
    /// results (a benchmark's rows) follow the model when it is moved or copied.
    public static func ofImageModel(_ pipeline: any PromptConditionedPipeline) -> String {
        var h = Hasher64()
        for module in pipeline.imageModules {
            for (key, p) in module.namedParameters() { h.add(key: key, tensor: p) }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        for b in (try? encoder.encode(pipeline.schedulerConfiguration)) ?? Data() { h.mix(UInt64(b)) }
        return h.hex
    }

    struct Hasher64 {
        var state: UInt64 = 0x243F_6A88_85A3_08D3

        mutating func mix(_ v: UInt64) {
            state ^= v &+ 0x9E37_79B9_7F4A_7C15 &+ (state << 6) &+ (state >> 2)
            state = (state ^ (state >> 31)) &* 0xBF58_476D_1CE4_E5B9
        }

        mutating func add(key: String, tensor: Tensor) {
            for b in key.utf8 { mix(UInt64(b)) }
            for d in tensor.shape { mix(UInt64(d)) }
            let p = UnsafeRawPointer(tensor.pointer).assumingMemoryBound(to: UInt32.self)
            var i = 0
            let n = tensor.count
            while i + 1 < n {
                mix(UInt64(p[i]) << 32 | UInt64(p[i + 1]))
                i += 2
            }
            if i < n { mix(UInt64(p[i])) }
        }

        var hex: String {
            let s = String(state, radix: 16)
            return String(repeating: "0", count: 16 - s.count) + s
        }
    }
}
