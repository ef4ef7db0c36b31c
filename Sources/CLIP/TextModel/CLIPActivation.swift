import TensorEngine

/// The MLP activations a transformers CLIP text config may name in `hidden_act`
/// (transformers activations.py ACT2CLS: quick_gelu, gelu, gelu_new, gelu_pytorch_tanh).
public enum CLIPActivation: String, Codable, CaseIterable, Sendable {
    /// x · sigmoid(1.702 x), the OpenAI CLIP / SD1.x choice.
    case quickGelu = "quick_gelu"
    /// Exact (erf) GELU.
    case gelu = "gelu"
    /// Tanh-approximated GELU (transformers NewGELUActivation).
    case geluNew = "gelu_new"
    /// Tanh-approximated GELU (transformers GELUTanh, the same function as gelu_new).
    case geluPytorchTanh = "gelu_pytorch_tanh"

    // x: any shape -> same shape
    public func callAsFunction(_ x: Tensor) -> Tensor {
        switch self {
        case .quickGelu: return x.quickGelu()
        case .gelu: return x.gelu()
        case .geluNew, .geluPytorchTanh: return x.geluTanh()
        }
    }
}
