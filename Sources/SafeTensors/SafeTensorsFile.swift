import Foundation
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A safetensors file opened for reading (format: huggingface/safetensors README, "Format").
///
/// The header is fully validated in `init`; any problem throws a `SafeTensorsError` naming the file and
/// key. Only regular files are opened: the path is checked with `stat` first and opened with
/// `O_NONBLOCK`, so a FIFO or device given as a weights file is refused by name instead of blocking.
///
/// Files changed while open: tensor values (`floats`, `copyFloats`, `int64s`, the paths every model
/// loader takes) are read with `pread` from the descriptor kept open for the object's lifetime, so a
/// file truncated or replaced while loading ends in a thrown `unreadableFile` naming the key, never a
/// SIGBUS. `rawBytes` alone points into a read-only memory mapping (for byte-exact comparisons of
/// small files): if the file is truncated while such a buffer is read, the process gets SIGBUS. That
/// is the documented limit; no loader uses `rawBytes`.
public final class SafeTensorsFile: @unchecked Sendable {  // immutable after init; the mapping is read-only
    /// The path the file was opened from.
    public let path: String
    /// Tensor names, sorted.
    public let keys: [String]
    /// The `__metadata__` map (empty when absent).
    public let metadata: [String: String]

    private let tensors: [String: SafeTensorInfo]
    private let mapping: UnsafeMutableRawPointer?
    private let mappedLength: Int
    /// Start of the data section inside the mapping.
    private let dataStart: UnsafeRawPointer?
    /// File offset of the data section (8 + header length).
    private let dataOffset: Int
    /// Kept open for `pread` until deinit.
    private let descriptor: Int32

    /// Opens, maps and validates the file at `path`.
    public init(path: String) throws {
        self.path = path
        var pathStatus = stat()
        guard stat(path, &pathStatus) == 0 else {
            let code = errno
            if code == ENOENT { throw SafeTensorsError.fileNotFound(path: path) }
            throw SafeTensorsError.unreadableFile(path: path, reason: String(cString: strerror(code)))
        }
        guard (pathStatus.st_mode & S_IFMT) == S_IFREG else {
            throw SafeTensorsError.unreadableFile(path: path, reason: "not a regular file")
        }
        let descriptor = open(path, O_RDONLY | O_NONBLOCK)
        guard descriptor >= 0 else {
            let code = errno
            if code == ENOENT { throw SafeTensorsError.fileNotFound(path: path) }
            throw SafeTensorsError.unreadableFile(path: path, reason: String(cString: strerror(code)))
        }
        var keepOpen = false
        defer { if !keepOpen { close(descriptor) } }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw SafeTensorsError.unreadableFile(path: path, reason: String(cString: strerror(errno)))
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw SafeTensorsError.unreadableFile(path: path, reason: "not a regular file")
        }
        let fileSize = Int(status.st_size)
        guard fileSize >= 8 else { throw SafeTensorsError.truncatedFile(path: path, fileSize: fileSize) }

        guard let mapped = mmap(nil, fileSize, PROT_READ, MAP_PRIVATE, descriptor, 0), mapped != MAP_FAILED else {
            throw SafeTensorsError.unreadableFile(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        // From here on the mapping must be released if validation fails.
        do {
            let headerLength = UInt64(littleEndian: UnsafeRawPointer(mapped).loadUnaligned(as: UInt64.self))
            guard headerLength <= UInt64(SafeTensorsHeader.maximumHeaderLength) else {
                throw SafeTensorsError.headerTooLarge(
                    path: path, headerLength: headerLength,
                    limit: SafeTensorsHeader.maximumHeaderLength)
            }
            guard 8 + Int(headerLength) <= fileSize else {
                throw SafeTensorsError.headerLengthPastEnd(path: path, headerLength: headerLength, fileSize: fileSize)
            }
            let headerBytes = Data(bytes: mapped + 8, count: Int(headerLength))
            let dataSectionSize = fileSize - 8 - Int(headerLength)
            let header = try SafeTensorsHeader(json: headerBytes, dataSectionSize: dataSectionSize, path: path)
            tensors = header.tensors
            metadata = header.metadata
            keys = header.tensors.keys.sorted()
            dataStart = UnsafeRawPointer(mapped + 8 + Int(headerLength))
            dataOffset = 8 + Int(headerLength)
        } catch {
            munmap(mapped, fileSize)
            throw error
        }
        mapping = mapped
        mappedLength = fileSize
        self.descriptor = descriptor
        keepOpen = true
    }

    deinit {
        if let mapping { munmap(mapping, mappedLength) }
        close(descriptor)
    }

    /// Reads `byteCount` bytes of the data section at `offset` into `destination` with `pread`; a
    /// short read (the file shrank after it was opened) throws naming `key`.
    private func readData(_ key: String, offset: Int, byteCount: Int, into destination: UnsafeMutableRawPointer) throws {
        var done = 0
        while done < byteCount {
            let n = pread(descriptor, destination + done, byteCount - done, off_t(dataOffset + offset + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let reason = n < 0 ? String(cString: strerror(errno)) : "the file ended early (changed or truncated after it was opened)"
                throw SafeTensorsError.unreadableFile(path: path, reason: "reading tensor '\(key)': \(reason)")
            }
            done += n
        }
    }

    /// Elements per read of a tensor's data: a chunk's Float32 values (1 MiB) stay in cache while they
    /// are converted and scanned.
    private static let chunkElements = 1 << 18

    /// The tensor's bytes, read in chunks of at most `chunkElements`: `body(chunk, firstElement, count)`
    /// for each.
    private func forEachChunk(
        _ key: String, _ info: SafeTensorInfo, elementSize: Int,
        _ body: (UnsafeRawPointer, Int, Int) throws -> Void
    ) throws {
        try forEachChunk(key, info, elements: 0..<info.elementCount, elementSize: elementSize, body)
    }

    /// `forEachChunk` over the elements `elements` only; `body`'s first index counts from the range's start.
    private func forEachChunk(
        _ key: String, _ info: SafeTensorInfo, elements: Range<Int>, elementSize: Int,
        _ body: (UnsafeRawPointer, Int, Int) throws -> Void
    ) throws {
        let count = elements.count
        let perChunk = Self.chunkElements
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: perChunk * elementSize, alignment: 16)
        defer { buffer.deallocate() }
        var first = 0
        while first < count {
            let n = min(perChunk, count - first)
            let offset = info.byteRange.lowerBound + (elements.lowerBound + first) * elementSize
            try readData(key, offset: offset, byteCount: n * elementSize, into: buffer)
            try body(UnsafeRawPointer(buffer), first, n)
            first += n
        }
    }

    /// Dtype, shape and byte range of tensor `key`.
    public func info(_ key: String) throws -> SafeTensorInfo {
        guard let info = tensors[key] else { throw SafeTensorsError.keyNotFound(path: path, key: key) }
        return info
    }

    /// The tensor's raw little-endian bytes. Valid only while this `SafeTensorsFile` is alive.
    public func rawBytes(_ key: String) throws -> UnsafeRawBufferPointer {
        let info = try info(key)
        guard let dataStart, info.byteRange.count > 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: dataStart + info.byteRange.lowerBound, count: info.byteRange.count)
    }

    /// The tensor's values converted to Float32 (row-major). Float types convert as torch's `.float()`
    /// does (F64 rounds to nearest); integer and BOOL types convert exactly up to 2^24.
    public func floats(_ key: String) throws -> [Float] {
        let info = try info(key)
        let count = info.elementCount
        return try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            if let base = buffer.baseAddress { try copyFloats(key, into: base, count: count) }
            initialized = count
        }
    }

    /// Converts the tensor's values to Float32 directly into `destination`, which must hold exactly
    /// the tensor's element count (`count`). No intermediate array is allocated.
    public func copyFloats(_ key: String, into destination: UnsafeMutablePointer<Float>, count: Int) throws {
        let info = try wholeTensor(key, count: count)
        try copyFloats(key, info, elements: 0..<count, into: destination) { _ in }
    }

    /// `copyFloats`, and the index of the first NaN or infinity among the converted values (nil when
    /// every value is finite). Each chunk is scanned right after it is written, while it is in cache,
    /// instead of in a second pass over the whole tensor from memory.
    public func copyFloatsFindingNonFinite(
        _ key: String, into destination: UnsafeMutablePointer<Float>, count: Int
    ) throws -> Int? {
        _ = try wholeTensor(key, count: count)
        return try copyFloatsFindingNonFinite(key, elements: 0..<count, into: destination)
    }

    /// `copyFloatsFindingNonFinite` for the elements `elements` of the tensor (in row-major order) only, for
    /// example one block of rows of a fused tensor, without reading the rest; `destination` holds
    /// `elements.count` values and the index returned counts from its start. A range past the tensor's
    /// element count throws `elementCountMismatch`.
    public func copyFloatsFindingNonFinite(
        _ key: String, elements: Range<Int>, into destination: UnsafeMutablePointer<Float>
    ) throws -> Int? {
        let info = try info(key)
        guard elements.lowerBound >= 0, elements.upperBound <= info.elementCount else {
            throw SafeTensorsError.elementCountMismatch(path: path, key: key, expected: info.elementCount, found: elements.upperBound)
        }
        var first: Int?
        try copyFloats(key, info, elements: elements, into: destination) { chunk in
            guard first == nil, let index = NonFiniteScan.firstIndex(destination + chunk.lowerBound, count: chunk.count) else {
                return
            }
            first = chunk.lowerBound + index
        }
        return first
    }

    /// The entry of `key`, once `count` is its element count (the size of a whole-tensor destination).
    private func wholeTensor(_ key: String, count: Int) throws -> SafeTensorInfo {
        let info = try info(key)
        guard count == info.elementCount else {
            throw SafeTensorsError.elementCountMismatch(path: path, key: key, expected: info.elementCount, found: count)
        }
        return info
    }

    /// Converts the elements `elements` of the tensor into `destination` (element `elements.lowerBound` at
    /// its start), calling `written` with each chunk's range of destination indices once it holds its
    /// Float32 values.
    private func copyFloats(
        _ key: String, _ info: SafeTensorInfo, elements: Range<Int>, into destination: UnsafeMutablePointer<Float>,
        written: (Range<Int>) -> Void
    ) throws {
        let count = elements.count
        guard count > 0 else { return }
        #if _endian(little)
            if info.dtype == .f32 {
                var first = 0
                while first < count {
                    let n = min(Self.chunkElements, count - first)
                    try readData(
                        key, offset: info.byteRange.lowerBound + (elements.lowerBound + first) * 4, byteCount: n * 4,
                        into: UnsafeMutableRawPointer(destination + first))
                    written(first..<(first + n))
                    first += n
                }
                return
            }
        #endif
        try forEachChunk(key, info, elements: elements, elementSize: info.dtype.byteSize) { source, first, n in
            let out = destination + first
            switch info.dtype {
            case .f32:
                for i in 0..<n { out[i] = Float(bitPattern: Self.load(UInt32.self, source, i)) }
            case .f16:
                for i in 0..<n { out[i] = HalfPrecision.float(fromHalfBits: Self.load(UInt16.self, source, i)) }
            case .bf16:
                for i in 0..<n { out[i] = HalfPrecision.float(fromBFloat16Bits: Self.load(UInt16.self, source, i)) }
            case .f64:
                for i in 0..<n { out[i] = Float(Double(bitPattern: Self.load(UInt64.self, source, i))) }
            case .bool, .u8:
                for i in 0..<n { out[i] = Float(source.load(fromByteOffset: i, as: UInt8.self)) }
            case .i8:
                for i in 0..<n { out[i] = Float(source.load(fromByteOffset: i, as: Int8.self)) }
            case .i16:
                for i in 0..<n { out[i] = Float(Int16(bitPattern: Self.load(UInt16.self, source, i))) }
            case .u16:
                for i in 0..<n { out[i] = Float(Self.load(UInt16.self, source, i)) }
            case .i32:
                for i in 0..<n { out[i] = Float(Int32(bitPattern: Self.load(UInt32.self, source, i))) }
            case .u32:
                for i in 0..<n { out[i] = Float(Self.load(UInt32.self, source, i)) }
            case .i64:
                for i in 0..<n { out[i] = Float(Int64(bitPattern: Self.load(UInt64.self, source, i))) }
            case .u64:
                for i in 0..<n { out[i] = Float(Self.load(UInt64.self, source, i)) }
            }
            written(first..<(first + n))
        }
    }

    /// The values of an integer or BOOL tensor as Int64 (e.g. token ids). Float tensors and U64 values
    /// above `Int64.max` throw `unsupportedConversion`.
    public func int64s(_ key: String) throws -> [Int64] {
        let info = try info(key)
        let count = info.elementCount
        guard info.dtype.isInteger else {
            throw SafeTensorsError.unsupportedConversion(path: path, key: key, dtype: info.dtype.rawValue, target: "Int64")
        }
        guard count > 0 else { return [] }
        var values = [Int64](repeating: 0, count: count)
        try forEachChunk(key, info, elementSize: info.dtype.byteSize) { source, first, n in
            for i in 0..<n {
                let value: Int64
                switch info.dtype {
                case .bool, .u8: value = Int64(source.load(fromByteOffset: i, as: UInt8.self))
                case .i8: value = Int64(source.load(fromByteOffset: i, as: Int8.self))
                case .i16: value = Int64(Int16(bitPattern: Self.load(UInt16.self, source, i)))
                case .u16: value = Int64(Self.load(UInt16.self, source, i))
                case .i32: value = Int64(Int32(bitPattern: Self.load(UInt32.self, source, i)))
                case .u32: value = Int64(Self.load(UInt32.self, source, i))
                case .i64: value = Int64(bitPattern: Self.load(UInt64.self, source, i))
                case .u64:
                    let raw = Self.load(UInt64.self, source, i)
                    guard let exact = Int64(exactly: raw) else {
                        throw SafeTensorsError.unsupportedConversion(
                            path: path, key: key, dtype: "U64 value \(raw)",
                            target: "Int64")
                    }
                    value = exact
                case .f16, .bf16, .f32, .f64: value = 0  // excluded above
                }
                values[first + i] = value
            }
        }
        return values
    }

    /// Little-endian element `index` of type `T` at `base` (no alignment assumed).
    @inline(__always)
    private static func load<T: FixedWidthInteger>(_: T.Type, _ base: UnsafeRawPointer, _ index: Int) -> T {
        T(littleEndian: base.loadUnaligned(fromByteOffset: index * MemoryLayout<T>.size, as: T.self))
    }
}
