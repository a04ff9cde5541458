// Compares every Tensor kernel with the values PyTorch (and the official sam2 code) computed for
// the same inputs: Fixtures/kernels/*.safetensors, written by Tools/reference/make_kernel_fixtures.py.
//
// Tolerance: relative L2 error 1e-5 (float32 rounding differences between BLAS/im2col orders and
// PyTorch's kernels are ~1e-7; the vectorised exp/erf are accurate to ~2e-7). Exact-data
// operations (permute, slice, concat, max-pool, nearest, ReLU) must match bit for bit.

import XCTest
import Tensor
import TestSupport

final class KernelFixtureTests: XCTestCase {
    let tolerance = 1e-5

    func testMatmulAndLinear() throws {
        let f = try Fixtures.reference("kernels/matmul.safetensors")
        let a = try f.tensor("a")
        assertTensorsClose(a.matmul(try f.tensor("b")), try f.tensor("ab"), relativeL2: tolerance, "a@b")
        assertTensorsClose(a.matmul(try f.tensor("bt"), transposeOther: true), try f.tensor("abt"), relativeL2: tolerance, "a@bt^T")
        let l = try Fixtures.reference("kernels/linear.safetensors")
        let x = try l.tensor("x"), w = try l.tensor("weight")
        assertTensorsClose(x.linear(weight: w, bias: try l.tensor("bias")), try l.tensor("out"), relativeL2: tolerance, "linear")
        assertTensorsClose(x.linear(weight: w, bias: nil), try l.tensor("out_nobias"), relativeL2: tolerance, "linear no bias")
    }

    func testBatchedMatmul() throws {
        let f = try Fixtures.reference("kernels/batched_matmul.safetensors")
        let x = try f.tensor("x"), y = try f.tensor("y")
        assertTensorsClose(batchedMatmul(x, y), try f.tensor("xy"), relativeL2: tolerance, "x@y")
        assertTensorsClose(batchedMatmul(try f.tensor("xt"), y, transposeA: true), try f.tensor("xt_t_y"), relativeL2: tolerance, "xt^T@y")
        assertTensorsClose(batchedMatmul(x, try f.tensor("yt"), transposeB: true, alpha: 0.5), try f.tensor("x_yt_t"),
                           relativeL2: tolerance, "0.5 x@yt^T")
    }

    func testConv2dCases() throws {
        for name in ["conv3x3", "conv3x3_s2", "patch_embed", "grouped", "depthwise7", "depthwise3_s2", "pointwise", "k2s2"] {
            let f = try Fixtures.reference("kernels/conv2d_\(name).safetensors")
            let options = Conv2dOptions(stride: f.int("stride")!, padding: f.int("padding")!, groups: f.int("groups")!)
            let out = try f.tensor("x").conv2d(weight: try f.tensor("weight"), bias: try f.tensor("bias"), options: options)
            assertTensorsClose(out, try f.tensor("out"), relativeL2: tolerance, "conv2d \(name)")
        }
    }

    func testConvTranspose2d() throws {
        let f = try Fixtures.reference("kernels/conv_transpose2d.safetensors")
        let out = try f.tensor("x").convTranspose2d(weight: try f.tensor("weight"), bias: try f.tensor("bias"))
        assertTensorsClose(out, try f.tensor("out"), relativeL2: tolerance, "convTranspose2d")
    }

    func testNorms() throws {
        let f = try Fixtures.reference("kernels/layer_norm.safetensors")
        let out = try f.tensor("x").layerNorm(weight: try f.tensor("weight"), bias: try f.tensor("bias"), eps: 1e-6)
        assertTensorsClose(out, try f.tensor("out"), relativeL2: tolerance, "layerNorm")
        let p = try Fixtures.reference("kernels/layer_norm_plain.safetensors")
        assertTensorsClose(try p.tensor("x").layerNorm(weight: nil, bias: nil, eps: 1e-5), try p.tensor("out"),
                           relativeL2: tolerance, "layerNorm without affine")
        let n = try Fixtures.reference("kernels/layer_norm2d.safetensors")
        let out2d = try n.tensor("x").layerNorm2d(weight: try n.tensor("weight"), bias: try n.tensor("bias"), eps: 1e-6)
        assertTensorsClose(out2d, try n.tensor("out"), relativeL2: tolerance, "layerNorm2d")
    }

    func testActivations() throws {
        let f = try Fixtures.reference("kernels/activations.safetensors")
        let x = try f.tensor("x")
        assertTensorsClose(x.applying(.gelu), try f.tensor("gelu"), relativeL2: tolerance, absolute: 1e-6, "gelu")
        assertTensorsClose(x.applying(.geluTanh), try f.tensor("gelu_tanh"), relativeL2: tolerance, absolute: 1e-6, "gelu tanh")
        XCTAssertEqual(x.applying(.relu).scalars, try f.tensor("relu").scalars, "relu is exact")
        assertTensorsClose(x.scaled(by: 4).applying(.sigmoid), try f.tensor("sigmoid"), relativeL2: tolerance, absolute: 1e-6, "sigmoid")
        var inPlace = x
        inPlace.apply(.gelu)
        XCTAssertEqual(inPlace.scalars, x.applying(.gelu).scalars, "in-place and out-of-place agree")
    }

    func testSoftmax() throws {
        let f = try Fixtures.reference("kernels/softmax.safetensors")
        assertTensorsClose(try f.tensor("small").softmax(), try f.tensor("small_out"), relativeL2: tolerance, "softmax small")
        assertTensorsClose(try f.tensor("large").softmax(), try f.tensor("large_out"), relativeL2: tolerance, "softmax large")
    }

    func testAttention() throws {
        let f = try Fixtures.reference("kernels/attention.safetensors")
        let q = try f.tensor("q"), k = try f.tensor("k"), v = try f.tensor("v")
        assertTensorsClose(scaledDotProductAttention(query: q, key: k, value: v), try f.tensor("out"), relativeL2: tolerance, "sdpa")
        assertTensorsClose(scaledDotProductAttention(query: q, key: k, value: v, scale: 0.05), try f.tensor("out_scaled"),
                           relativeL2: tolerance, "sdpa scaled")
        let q2 = try f.tensor("q2"), k2 = try f.tensor("k2"), v2 = try f.tensor("v2")
        let expected = try f.tensor("out2")
        assertTensorsClose(scaledDotProductAttention(query: q2, key: k2, value: v2), expected, relativeL2: tolerance, "sdpa long")
        // Force small tiles: query blocks of 7 rows, key blocks of <= 64 keys (online softmax).
        assertTensorsClose(scaledDotProductAttention(query: q2, key: k2, value: v2,
                                                     tiling: AttentionTiling(queryRows: 7, keys: 64)), expected,
                           relativeL2: tolerance, "sdpa long, tiled")
    }

    func testMaxPool() throws {
        let f = try Fixtures.reference("kernels/max_pool.safetensors")
        let x = try f.tensor("x")
        XCTAssertEqual(x.maxPool2d(kernel: 2).scalars, try f.tensor("out").scalars)
        XCTAssertEqual(try f.tensor("x_odd").maxPool2d(kernel: 2).scalars, try f.tensor("out_odd").scalars)
        let channelsLast = x.permuted([0, 2, 3, 1]).maxPool2dChannelsLast(kernel: 2).permuted([0, 3, 1, 2])
        XCTAssertEqual(channelsLast.scalars, try f.tensor("out").scalars)
    }

    func testInterpolate() throws {
        let f = try Fixtures.reference("kernels/interpolate.safetensors")
        let src = try f.tensor("src"), big = try f.tensor("big"), huge = try f.tensor("huge"), pos = try f.tensor("pos")
        let cases: [(String, Tensor, Int, Int, InterpolationMode)] = [
            ("bilinear_up", src, 13, 17, .bilinear(antialias: false)),
            ("bilinear_down", big, 7, 9, .bilinear(antialias: false)),
            ("bilinear_aa_down", huge, 10, 9, .bilinear(antialias: true)),
            ("bilinear_aa_mixed", big, 7, 45, .bilinear(antialias: true)),
            ("bicubic_up", pos, 16, 16, .bicubic),
            ("bicubic_down", big, 9, 11, .bicubic),
            ("nearest_up", src, 12, 9, .nearest),
            ("nearest_down", big, 3, 4, .nearest),
            ("nearest_double", src, 10, 14, .nearest),
        ]
        for (name, input, h, w, mode) in cases {
            assertTensorsClose(input.interpolate(height: h, width: w, mode: mode), try f.tensor(name),
                               relativeL2: tolerance, name)
        }
    }

    func testPositionEncodings() throws {
        let f = try Fixtures.reference("kernels/position_encoding.safetensors")
        assertTensorsClose(PositionEncoding.sine2D(channels: 64, height: 8, width: 6), try f.tensor("sine2d"),
                           relativeL2: tolerance, absolute: 1e-5, "sine2D")
        assertTensorsClose(PositionEncoding.sine2D(channels: 32, height: 5, width: 4, normalize: false), try f.tensor("sine2d_raw"),
                           relativeL2: tolerance, absolute: 1e-5, "sine2D unnormalised")
        let positions = try f.tensor("positions").scalars
        assertTensorsClose(PositionEncoding.sine1D(positions: positions, dim: 64), try f.tensor("sine1d"),
                           relativeL2: tolerance, absolute: 1e-5, "sine1D")
    }

    func testAxialRoPE() throws {
        let f = try Fixtures.reference("kernels/rope.safetensors")
        let rope = AxialRoPE(dim: 32, endX: 8, endY: 6)
        assertTensorsClose(rope.cosines, try f.tensor("cos"), relativeL2: tolerance, absolute: 1e-6, "cos table")
        assertTensorsClose(rope.sines, try f.tensor("sin"), relativeL2: tolerance, absolute: 1e-6, "sin table")
        var q = try f.tensor("q"), k = try f.tensor("k")
        rope.apply(to: &q)
        rope.apply(to: &k, rotatedTokens: f.int("rotated_keys")!)
        assertTensorsClose(q, try f.tensor("q_out"), relativeL2: tolerance, "rotated q")
        assertTensorsClose(k, try f.tensor("k_out"), relativeL2: tolerance, "rotated k (repeated tables, 4 pointer tokens kept)")
    }

    func testShapeOpsAndBroadcasting() throws {
        let f = try Fixtures.reference("kernels/shape_ops.safetensors")
        let x = try f.tensor("x")
        let p1 = x.permuted([0, 2, 3, 1]), p2 = x.permuted([3, 1, 0, 2])
        XCTAssertEqual(p1.shape, [2, 4, 5, 3])
        XCTAssertEqual(p1.scalars, try f.tensor("perm_0231").scalars)
        XCTAssertEqual(p2.scalars, try f.tensor("perm_3102").scalars)
        let cat = Tensor.concatenate([x, x.slice(axis: 1, 0..<2).scaled(by: 2)], axis: 1)
        XCTAssertEqual(cat.scalars, try f.tensor("cat1").scalars)
        XCTAssertEqual(x.slice(axis: 2, 1..<3).scalars, try f.tensor("slice2").scalars)
        let a = try f.tensor("a"), b = try f.tensor("b"), c = try f.tensor("c")
        XCTAssertEqual((a + b).scalars, try f.tensor("a_plus_b").scalars)
        XCTAssertEqual((a * c).scalars, try f.tensor("a_times_c").scalars)
        XCTAssertEqual((a - b).scalars, try f.tensor("a_minus_b").scalars)
    }
}
