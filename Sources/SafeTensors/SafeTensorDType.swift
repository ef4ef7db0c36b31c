import Foundation

/// Element types a safetensors header may name (the `dtype` field).
///
/// Matches the dtype names of the reference implementation (huggingface/safetensors, `src/tensor.rs`).
/// Sub-byte and 8-bit float formats are not supported and are reported as unknown dtypes.
public enum SafeTensorDType: String, CaseIterable, Sendable {
    case bool = "BOOL"
    case u8 = "U8"
    case i8 = "I8"
    case i16 = "I16"
    case u16 = "U16"
    case f16 = "F16"
    case bf16 = "BF16"
    case i32 = "I32"
    case u32 = "U32"
    case f32 = "F32"
    case f64 = "F64"
    case i64 = "I64"
    case u64 = "U64"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .bool, .u8, .i8: return 1
        case .i16, .u16, .f16, .bf16: return 2
        case .i32, .u32, .f32: return 4
        case .f64, .i64, .u64: return 8
        }
    }

    /// True for the integer and boolean types (readable with `SafeTensorsFile.int64s`).
    public var isInteger: Bool {
        switch self {
        case .bool, .u8, .i8, .i16, .u16, .i32, .u32, .i64, .u64: return true
        case .f16, .bf16, .f32, .f64: return false
        }
    }

    /// Position in the reference crate's `Dtype` enum declaration. The reference writer lays tensors out
    /// by decreasing rank, then by name; `SafeTensorsWriter` does the same so its bytes match.
    var referenceOrderRank: Int {
        switch self {
        case .bool: return 0
        case .u8: return 4
        case .i8: return 5
        case .i16: return 9
        case .u16: return 10
        case .f16: return 11
        case .bf16: return 12
        case .i32: return 13
        case .u32: return 14
        case .f32: return 15
        case .f64: return 17
        case .i64: return 18
        case .u64: return 19
        }
    }
}
