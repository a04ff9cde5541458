// TorchTensorMaterializer: turns a pickled tensor reference (storage, offset, shape, strides,
// element type) into a dense Float32 `Tensor`.
//
//   - contiguous float32 whose first byte is 4-byte aligned: borrows the file mapping, no copy
//     (torch aligns storage entries to 64 bytes, so official checkpoints take this path);
//   - other contiguous float32, float16, bfloat16: converted into new storage in one pass;
//   - non-contiguous views (transposed, sliced, strided, expanded): gathered row-major into new
//     storage, so every `Tensor` is contiguous.
//
// Every extent is checked against the storage entry before any byte is read; sizes and strides
// come from the file, so all arithmetic on them is overflow-checked.

import Tensor

/// Builds `Tensor`s from tensor references of one checkpoint.
struct TorchTensorMaterializer {
    let archive: ZipArchive
    /// Entry-name prefix of the storages, e.g. "sam2.1_hiera_tiny/data/".
    let storagePrefix: String

    /// Largest number of elements a view may expand to beyond its storage's size (stride-0
    /// broadcasts); larger expansions are treated as corrupt rather than allocated.
    static let maximumExpansion = 1 << 28

    private var path: String { archive.file.path }

    /// The dense tensor that `reference` describes; `name` is its dotted key, used in errors.
    func tensor(_ reference: TorchTensorReference, name: String) throws -> Tensor {
        guard let dtype = reference.elementType.stored else {
            throw CheckpointError.unsupportedDType(path: path, tensor: name, dtype: reference.elementType.name)
        }
        let shape = reference.shape, offset = reference.storageOffset
        guard shape.allSatisfy({ $0 >= 0 }), reference.strides.allSatisfy({ $0 >= 0 }), offset >= 0 else {
            throw CheckpointError.corrupt(path: path, reason: "tensor '\(name)' has a negative size, stride or offset (size \(shape), stride \(reference.strides), offset \(offset))")
        }
        // The stride of an axis of extent 1 never moves the address; zero it so that no
        // arithmetic below ever adds an arbitrary value from the file.
        let strides = zip(shape, reference.strides).map { $0 == 1 ? 0 : $1 }
        guard let count = Self.product(shape) else {
            throw CheckpointError.corrupt(path: path, reason: "tensor '\(name)' has an impossibly large shape \(shape)")
        }
        let entryName = storagePrefix + reference.storage.key
        guard let entry = archive.entry(named: entryName) else {
            throw CheckpointError.corrupt(path: path, reason: "storage '\(entryName)' of tensor '\(name)' is missing from the archive")
        }
        guard entry.dataRange.upperBound <= archive.file.size else {
            throw CheckpointError.truncatedTensor(path: path, tensor: name, reason: "its storage '\(entryName)' ends at byte \(entry.dataRange.upperBound) but the file has \(archive.file.size) bytes")
        }
        let bytes = try archive.contents(of: entry)
        if count == 0 { return Tensor(uninitialized: shape) }

        // Elements the storage really holds: the smaller of the pickled count and the entry size.
        let available = min(reference.storage.elementCount, bytes.count / dtype.size)
        guard let last = Self.lastIndex(offset: offset, shape: shape, strides: strides), last < available else {
            throw CheckpointError.truncatedTensor(
                path: path, tensor: name,
                reason: "shape \(shape) with strides \(strides) at offset \(offset) needs \(dtype.rawValue) elements up to index \(Self.lastIndex(offset: offset, shape: shape, strides: strides).map(String.init) ?? "overflow") but its storage '\(entryName)' holds \(available)")
        }
        guard count <= available || count <= Self.maximumExpansion else {
            throw CheckpointError.corrupt(path: path, reason: "tensor '\(name)' expands \(available) stored elements to \(count)")
        }
        guard let base = bytes.baseAddress else {  // unreachable: available > 0 implies bytes
            throw CheckpointError.corrupt(path: path, reason: "storage '\(entryName)' of tensor '\(name)' is empty")
        }
        let start = base + offset * dtype.size

        if Self.isContiguous(shape: shape, strides: strides) {
            if dtype == .float32, Int(bitPattern: start) % MemoryLayout<Float>.alignment == 0 {
                let pointer = UnsafeMutableRawPointer(mutating: start).assumingMemoryBound(to: Float.self)
                return Tensor(shape: shape, storage: TensorStorage(borrowing: pointer, count: count, owner: archive.file))
            }
            var tensor = Tensor(uninitialized: shape)
            tensor.withUnsafeMutablePointer { dtype.convert(from: start, count: count, into: $0) }
            return tensor
        }
        var tensor = Tensor(uninitialized: shape)
        tensor.withUnsafeMutablePointer { destination in
            Self.gather(from: base, dtype: dtype, offset: offset, shape: shape, strides: strides, into: destination)
        }
        return tensor
    }

    // MARK: - Layout arithmetic

    /// Product of `shape`, or nil on overflow.
    static func product(_ shape: [Int]) -> Int? {
        var result = 1
        for extent in shape {
            let (next, overflow) = result.multipliedReportingOverflow(by: extent)
            if overflow { return nil }
            result = next
        }
        return result
    }

    /// Storage index of the last element, `offset + sum((size - 1) * stride)`, for a non-empty
    /// view; nil on overflow.
    static func lastIndex(offset: Int, shape: [Int], strides: [Int]) -> Int? {
        var last = offset
        for (extent, stride) in zip(shape, strides) {
            let (step, overflow1) = (extent - 1).multipliedReportingOverflow(by: stride)
            let (sum, overflow2) = last.addingReportingOverflow(step)
            if overflow1 || overflow2 { return nil }
            last = sum
        }
        return last
    }

    /// True when `strides` are row-major for `shape` (axes of extent 1 may have any stride).
    static func isContiguous(shape: [Int], strides: [Int]) -> Bool {
        var expected = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) where shape[axis] != 1 {
            if strides[axis] != expected { return false }
            expected *= shape[axis]
        }
        return true
    }

    /// Copies the strided view into `destination` in row-major order, converting to Float32.
    /// Rows along the last axis are converted in one call when that axis has stride 1.
    static func gather(from base: UnsafeRawPointer, dtype: StoredDType, offset: Int, shape: [Int],
                       strides: [Int], into destination: UnsafeMutablePointer<Float>) {
        let rank = shape.count
        let inner = shape[rank - 1], innerStride = strides[rank - 1]
        let rows = shape.dropLast().reduce(1, *)
        var index = [Int](repeating: 0, count: rank - 1)
        var rowStart = offset
        var written = 0
        for _ in 0..<rows {
            if innerStride == 1 {
                dtype.convert(from: base + rowStart * dtype.size, count: inner, into: destination + written)
            } else {
                for column in 0..<inner {
                    dtype.convert(from: base + (rowStart + column * innerStride) * dtype.size, count: 1,
                                  into: destination + written + column)
                }
            }
            written += inner
            // advance the multi-index over the outer axes (odometer)
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                rowStart += strides[axis]
                if index[axis] < shape[axis] { break }
                rowStart -= strides[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }
}
