// ShapeOps: permute, concatenate and slice, producing contiguous results. A permute that swaps two
// adjacent groups of axes ([B, C, H, W] <-> [B, H, W, C]) is a batched matrix transpose and runs
// on CAVX2's blocked transpose (8 x 8 tiles in registers on AVX2 CPUs).

import CAVX2

extension Tensor {
    /// Axes reordered: result axis i is input axis `order[i]` (as `torch.permute`), made contiguous.
    public func permuted(_ order: [Int]) -> Tensor {
        precondition(order.sorted() == Array(0..<rank), "permute: \(order) for rank \(rank)")
        if order == Array(0..<rank) { return self }
        let outShape = order.map { shape[$0] }
        if let (batches, rows, columns) = batchedTranspose(order) {
            var out = Tensor(uninitialized: outShape)
            let matrix = rows * columns
            // Blocks of 64 rows (whole 8 x 8 tiles) as work items.
            let rowBlocks = ceilDivide(rows, 64)
            withUnsafePointer { src in
                out.withUnsafeMutablePointer { dst in
                    Parallel.forEach(batches * rowBlocks, grain: max(1, elementwiseGrain / max(64 * columns, 1))) { range in
                        for item in range {
                            let (batch, row0) = (item / rowBlocks, (item % rowBlocks) * 64)
                            st_f32_transpose(src + batch * matrix + row0 * columns, min(64, rows - row0), columns, columns,
                                             dst + batch * matrix + row0, rows)
                        }
                    }
                }
            }
            return out
        }
        let inStrides = Tensor.strides(of: shape)
        let srcStrides = order.map { inStrides[$0] }
        var out = Tensor(uninitialized: outShape)
        let inner = outShape.last ?? 1
        let innerStride = srcStrides.last ?? 1
        let rows = count / max(inner, 1)
        withUnsafePointer { src in
            out.withUnsafeMutablePointer { dst in
                Parallel.forEach(rows, grain: max(1, elementwiseGrain / max(inner, 1))) { range in
                    for row in range {
                        var rest = row, offset = 0
                        for axis in stride(from: outShape.count - 2, through: 0, by: -1) {
                            offset += (rest % outShape[axis]) * srcStrides[axis]
                            rest /= outShape[axis]
                        }
                        let o = dst + row * inner
                        if innerStride == 1 {
                            o.update(from: src + offset, count: inner)
                        } else {
                            for j in 0..<inner { o[j] = src[offset + j * innerStride] }
                        }
                    }
                }
            }
        }
        return out
    }

    /// The permutation as a batched matrix transpose, when it swaps two adjacent groups of axes
    /// ([0..<k] + [m..<n] + [k..<m], as [B, C, H, W] <-> [B, H, W, C]): `batches` matrices of
    /// `rows` (the axes k..<m) x `columns` (m..<n), each transposed. Nil for any other order.
    func batchedTranspose(_ order: [Int]) -> (batches: Int, rows: Int, columns: Int)? {
        let n = order.count
        guard let lead = order.indices.first(where: { order[$0] != $0 }) else { return nil }
        let m = order[lead]  // the first axis of the group that moves forward
        guard m > lead, order == Array(0..<lead) + Array(m..<n) + Array(lead..<m) else { return nil }
        return (shape[..<lead].reduce(1, *), shape[lead..<m].reduce(1, *), shape[m...].reduce(1, *))
    }

    /// Elements `range` along `axis` (as `narrow`/slicing), contiguous.
    public func slice(axis: Int, _ range: Range<Int>) -> Tensor {
        precondition(axis >= 0 && axis < rank && range.lowerBound >= 0 && range.upperBound <= shape[axis],
                     "slice: \(range) of axis \(axis) in \(shape)")
        var outShape = shape
        outShape[axis] = range.count
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *)
        var out = Tensor(uninitialized: outShape)
        withUnsafePointer { src in
            out.withUnsafeMutablePointer { dst in
                for o in 0..<outer {
                    (dst + o * range.count * inner).update(
                        from: src + (o * shape[axis] + range.lowerBound) * inner, count: range.count * inner)
                }
            }
        }
        return out
    }

    /// Tensors joined along `axis`; all other extents must agree.
    public static func concatenate(_ parts: [Tensor], axis: Int) -> Tensor {
        precondition(!parts.isEmpty, "concatenate: no tensors")
        let first = parts[0].shape
        precondition(axis >= 0 && axis < first.count, "concatenate: axis \(axis) for rank \(first.count)")
        for part in parts {
            precondition(part.rank == first.count && (0..<first.count).allSatisfy { $0 == axis || part.shape[$0] == first[$0] },
                         "concatenate: \(part.shape) does not match \(first) off axis \(axis)")
        }
        var outShape = first
        outShape[axis] = parts.reduce(0) { $0 + $1.shape[axis] }
        let outer = first[..<axis].reduce(1, *)
        let inner = first[(axis + 1)...].reduce(1, *)
        var out = Tensor(uninitialized: outShape)
        out.withUnsafeMutablePointer { dst in
            var offset = 0
            for part in parts {
                let run = part.shape[axis] * inner
                part.withUnsafePointer { src in
                    for o in 0..<outer {
                        (dst + o * outShape[axis] * inner + offset).update(from: src + o * run, count: run)
                    }
                }
                offset += run
            }
        }
        return out
    }
}
