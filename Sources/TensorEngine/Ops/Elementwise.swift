extension Tensor {
    public func addInPlace(_ other: Tensor) {
        precondition(other.shape == shape, "addInPlace: \(other.shape) into \(shape)")
        BLAS.saxpy(count, alpha: 1, x: other.pointer, y: pointer)
    }
    public static func + (a: Tensor, b: Tensor) -> Tensor { fatalError() }
}
