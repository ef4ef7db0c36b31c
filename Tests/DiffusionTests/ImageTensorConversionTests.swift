import Diffusion
import ImageIO
import TensorEngine
import XCTest

final class ImageTensorConversionTests: XCTestCase {
    /// Every float maps to a byte: NaN to 0, infinities and out-of-range values clamped, in-range values
    /// rounded half to even like diffusers' (x / 2 + 0.5).clamp(0, 1) * 255 then round.
    func testConversionIsTotalOnNonFiniteAndOutOfRangeValues() {
        let values: [Float] = [
            .nan, -.nan, .infinity, -.infinity, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
            -1, 1, 0, 3, -3, 1 / 255, -1 + 1 / 255, Float(0.5).nextDown
        ]
        let expected: [UInt8] = [0, 0, 255, 0, 255, 0, 0, 255, 128, 255, 0, 128, 0, 191]
        XCTAssertEqual(values.map(ImageTensorConversion.byte(fromPixel:)), expected)
        // Through the tensor path: a [1, 3, 2, 2] image holding NaN and infinities.
        let pixels = Tensor([.nan, .infinity, -.infinity, 0, 1, -1, .nan, 0.5, -0.5, 2, -2, .nan], shape: [1, 3, 2, 2])
        let images = ImageTensorConversion.images(fromPixels: pixels)
        XCTAssertEqual(images.count, 1)
        XCTAssertEqual(images[0].pixels, [0, 255, 64, 255, 0, 255, 0, 0, 0, 128, 191, 0])
    }
}
