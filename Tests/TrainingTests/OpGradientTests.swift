// Every backward pass on the prompt-encoder + mask-decoder path against torch.autograd
// (Fixtures/training/ops.safetensors, Tools/reference/make_training_fixtures.py) and, where the
// fast path goes through OpenBLAS or tap tables, against its naive twin (NaiveBackward).
//
// Tolerance: relative L2 error <= 1e-5 per tensor (issue 30). Both sides are fp32 products and
// sums of at most a few hundred terms; the twins sum in Double.

import XCTest
import Tensor
import TestSupport
@testable import Training

final class OpGradientTests: XCTestCase {
    static let tolerance = 1e-5
    var ops: Fixtures.Reference!

    override func setUpWithError() throws {
        ops = try Fixtures.reference("training/ops.safetensors")
    }

    func t(_ key: String) throws -> Tensor { try ops.tensor(key) }

    func norm(_ t: Tensor) -> Double { t.scalars.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot() }

    /// `assertTensorsClose`, and the figure printed for the parity report.
    func assertTensorsClose(_ actual: Tensor, _ expected: Tensor, relativeL2: Double, _ name: String,
                            file: StaticString = #filePath, line: UInt = #line) {
        TestSupport.assertTensorsClose(actual, expected, relativeL2: relativeL2, name, file: file, line: line)
        if actual.shape == expected.shape {
            print(String(format: "op parity %@ %@: rel L2 %.2e", self.name.split(separator: " ").last.map(String.init) ?? "", name,
                         relativeL2Error(actual, expected)))
        }
    }

    func testLinear() throws {
        let (x, w, dy) = (try t("linear.x"), try t("linear.weight"), try t("linear.dy"))
        assertTensorsClose(x.linear(weight: w, bias: try t("linear.bias")), try t("linear.y"), relativeL2: Self.tolerance, "y")
        let fast = Backward.linear(x: x, weight: w, dy: dy)
        assertTensorsClose(fast.dx, try t("linear.dx"), relativeL2: Self.tolerance, "dx")
        assertTensorsClose(fast.dWeight, try t("linear.dweight"), relativeL2: Self.tolerance, "dweight")
        assertTensorsClose(fast.dBias, try t("linear.dbias"), relativeL2: Self.tolerance, "dbias")
        let naive = NaiveBackward.linear(x: x, weight: w, dy: dy)
        assertTensorsClose(fast.dx, naive.dx, relativeL2: Self.tolerance, "dx vs twin")
        assertTensorsClose(fast.dWeight, naive.dWeight, relativeL2: Self.tolerance, "dweight vs twin")
        assertTensorsClose(fast.dBias, naive.dBias, relativeL2: Self.tolerance, "dbias vs twin")
    }

    func testLayerNorm() throws {
        let (x, w, dy) = (try t("layer_norm.x"), try t("layer_norm.weight"), try t("layer_norm.dy"))
        let g = Backward.layerNorm(x: x, weight: w, eps: 1e-5, dy: dy)
        assertTensorsClose(g.dx, try t("layer_norm.dx"), relativeL2: Self.tolerance, "dx")
        assertTensorsClose(g.dWeight, try t("layer_norm.dweight"), relativeL2: Self.tolerance, "dweight")
        assertTensorsClose(g.dBias, try t("layer_norm.dbias"), relativeL2: Self.tolerance, "dbias")
    }

    func testLayerNorm2d() throws {
        let (x, w, dy) = (try t("layer_norm2d.x"), try t("layer_norm2d.weight"), try t("layer_norm2d.dy"))
        assertTensorsClose(x.layerNorm2d(weight: w, bias: try t("layer_norm2d.bias"), eps: 1e-6), try t("layer_norm2d.y"),
                           relativeL2: Self.tolerance, "y")
        let g = Backward.layerNorm2d(x: x, weight: w, eps: 1e-6, dy: dy)
        assertTensorsClose(g.dx, try t("layer_norm2d.dx"), relativeL2: Self.tolerance, "dx")
        assertTensorsClose(g.dWeight, try t("layer_norm2d.dweight"), relativeL2: Self.tolerance, "dweight")
        assertTensorsClose(g.dBias, try t("layer_norm2d.dbias"), relativeL2: Self.tolerance, "dbias")
    }

    func testElementwise() throws {
        let gelu = Backward.gelu(x: try t("gelu.x"), dy: try t("gelu.dy"))
        assertTensorsClose(gelu, try t("gelu.dx"), relativeL2: Self.tolerance, "gelu")
        let relu = Backward.relu(x: try t("relu.x"), dy: try t("relu.dy"))
        assertTensorsClose(relu, try t("relu.dx"), relativeL2: Self.tolerance, "relu")
        let sigmoid = Backward.sigmoid(y: try t("sigmoid.y"), dy: try t("sigmoid.dy"))
        assertTensorsClose(sigmoid, try t("sigmoid.dx"), relativeL2: Self.tolerance, "sigmoid")
    }

    func testAttentionModule() throws {
        // SAM's Attention: 32 wide, 4 heads, downsample 2.
        var p: [String: Tensor] = [:]
        for name in ["q_proj", "k_proj", "v_proj", "out_proj"] {
            p["a.\(name).weight"] = try t("attention.\(name).weight")
            p["a.\(name).bias"] = try t("attention.\(name).bias")
        }
        let params = Parameters(keys: p.keys.sorted(), values: p)
        let attention = TrainableAttention("a", numHeads: 4)
        let (y, saved) = attention.forward(q: try t("attention.q"), k: try t("attention.k"), v: try t("attention.v"), params)
        assertTensorsClose(y, try t("attention.y"), relativeL2: Self.tolerance, "y")
        var g = Gradients()
        let (dq, dk, dv) = attention.backward(saved, dOut: try t("attention.dy"), params, &g)
        assertTensorsClose(dq, try t("attention.dq"), relativeL2: Self.tolerance, "dq")
        assertTensorsClose(dk, try t("attention.dk"), relativeL2: Self.tolerance, "dk")
        assertTensorsClose(dv, try t("attention.dv"), relativeL2: Self.tolerance, "dv")
        for name in ["q_proj", "k_proj", "v_proj", "out_proj"] {
            for kind in ["weight", "bias"] where "\(name).\(kind)" != "k_proj.bias" {
                assertTensorsClose(g.gradient("a.\(name).\(kind)", shape: []), try t("attention.d.\(name).\(kind)"),
                                   relativeL2: Self.tolerance, "d \(name).\(kind)")
            }
        }
        // The key bias's exact gradient is zero (q·b_k is the same for every key of a query, and
        // softmax ignores a constant per row): both sides hold rounding residue only, far below
        // the query bias's gradient.
        let scale = norm(try t("attention.d.q_proj.bias"))
        XCTAssertLessThanOrEqual(norm(g.gradient("a.k_proj.bias", shape: [])), 1e-5 * scale, "d k_proj.bias (exactly 0)")
        XCTAssertLessThanOrEqual(norm(try t("attention.d.k_proj.bias")), 1e-5 * scale, "torch's d k_proj.bias (exactly 0)")
        // The core against its twin, on the heads the module produced.
        let fast = Backward.attention(q: saved.qh, k: saved.kh, v: saved.vh, probabilities: saved.probabilities,
                                      dOut: attention.separateHeads(try t("attention.dy").linear(weight: p["a.out_proj.weight"]!.transposedForTest(), bias: nil)))
        let naive = NaiveBackward.attention(q: saved.qh, k: saved.kh, v: saved.vh,
                                            dOut: attention.separateHeads(try t("attention.dy").linear(weight: p["a.out_proj.weight"]!.transposedForTest(), bias: nil)))
        assertTensorsClose(fast.dq, naive.dq, relativeL2: Self.tolerance, "core dq vs twin")
        assertTensorsClose(fast.dk, naive.dk, relativeL2: Self.tolerance, "core dk vs twin")
        assertTensorsClose(fast.dv, naive.dv, relativeL2: Self.tolerance, "core dv vs twin")
    }

    func testConvTranspose2d() throws {
        let (x, w, dy) = (try t("conv_transpose2d.x"), try t("conv_transpose2d.weight"), try t("conv_transpose2d.dy"))
        assertTensorsClose(x.convTranspose2d(weight: w, bias: try t("conv_transpose2d.bias")), try t("conv_transpose2d.y"),
                           relativeL2: Self.tolerance, "y")
        let fast = Backward.convTranspose2d(x: x, weight: w, dy: dy)
        assertTensorsClose(fast.dx, try t("conv_transpose2d.dx"), relativeL2: Self.tolerance, "dx")
        assertTensorsClose(fast.dWeight, try t("conv_transpose2d.dweight"), relativeL2: Self.tolerance, "dweight")
        assertTensorsClose(fast.dBias, try t("conv_transpose2d.dbias"), relativeL2: Self.tolerance, "dbias")
        let naive = NaiveBackward.convTranspose2d(x: x, weight: w, dy: dy)
        assertTensorsClose(fast.dx, naive.dx, relativeL2: Self.tolerance, "dx vs twin")
        assertTensorsClose(fast.dWeight, naive.dWeight, relativeL2: Self.tolerance, "dweight vs twin")
        assertTensorsClose(fast.dBias, naive.dBias, relativeL2: Self.tolerance, "dbias vs twin")
    }

    func testPatchConvolutions() throws {
        for name in ["conv2d_k2s2", "conv2d_1x1"] {
            let (x, w, dy) = (try t("\(name).x"), try t("\(name).weight"), try t("\(name).dy"))
            let conv = x.conv2d(weight: w, bias: try t("\(name).bias"), options: Conv2dOptions(stride: w.shape[2]))
            assertTensorsClose(conv, try t("\(name).y"), relativeL2: Self.tolerance, "\(name) y")
            let fast = Backward.patchConv2d(x: x, weight: w, dy: dy)
            assertTensorsClose(fast.dx!, try t("\(name).dx"), relativeL2: Self.tolerance, "\(name) dx")
            assertTensorsClose(fast.dWeight, try t("\(name).dweight"), relativeL2: Self.tolerance, "\(name) dweight")
            assertTensorsClose(fast.dBias, try t("\(name).dbias"), relativeL2: Self.tolerance, "\(name) dbias")
            let naive = NaiveBackward.patchConv2d(x: x, weight: w, dy: dy)
            assertTensorsClose(fast.dx!, naive.dx, relativeL2: Self.tolerance, "\(name) dx vs twin")
            assertTensorsClose(fast.dWeight, naive.dWeight, relativeL2: Self.tolerance, "\(name) dweight vs twin")
            XCTAssertNil(Backward.patchConv2d(x: x, weight: w, dy: dy, inputGradient: false).dx)
        }
    }

    func testMLPWithSigmoid() throws {
        var p: [String: Tensor] = [:]
        for i in 0..<3 {
            p["m.layers.\(i).weight"] = try t("mlp.layers.\(i).weight")
            p["m.layers.\(i).bias"] = try t("mlp.layers.\(i).bias")
        }
        let params = Parameters(keys: p.keys.sorted(), values: p)
        let mlp = TrainableMLP("m", layers: 3, sigmoidOutput: true)
        let (y, saved) = mlp.forward(try t("mlp.x"), params)
        assertTensorsClose(y, try t("mlp.y"), relativeL2: Self.tolerance, "y")
        var g = Gradients()
        let dx = mlp.backward(saved, dy: try t("mlp.dy"), params, &g)
        assertTensorsClose(dx, try t("mlp.dx"), relativeL2: Self.tolerance, "dx")
        for key in p.keys.sorted() {
            let name = String(key.dropFirst(2))
            assertTensorsClose(g.gradient(key, shape: []), try t("mlp.d.\(name)"), relativeL2: Self.tolerance, "d \(name)")
        }
    }

    func testMaskProduct() throws {
        let (a, b, dy) = (try t("product.a"), try t("product.b"), try t("product.dy"))
        assertTensorsClose(batchedMatmul(a, b), try t("product.y"), relativeL2: Self.tolerance, "y")
        let fast = Backward.product(a: a, b: b, dc: dy)
        assertTensorsClose(fast.da, try t("product.da"), relativeL2: Self.tolerance, "da")
        assertTensorsClose(fast.db, try t("product.db"), relativeL2: Self.tolerance, "db")
        let naive = NaiveBackward.product(a: a, b: b, dc: dy)
        assertTensorsClose(fast.da, naive.da, relativeL2: Self.tolerance, "da vs twin")
        assertTensorsClose(fast.db, naive.db, relativeL2: Self.tolerance, "db vs twin")
    }

    func testBilinearResize() throws {
        for name in ["bilinear_x4", "bilinear_uneven"] {
            let (x, y, dy) = (try t("\(name).x"), try t("\(name).y"), try t("\(name).dy"))
            assertTensorsClose(x.interpolate(height: y.shape[2], width: y.shape[3], mode: .bilinear(antialias: false)), y,
                               relativeL2: Self.tolerance, "\(name) y")
            let fast = Backward.bilinearResize(dy: dy, height: x.shape[2], width: x.shape[3])
            assertTensorsClose(fast, try t("\(name).dx"), relativeL2: Self.tolerance, "\(name) dx")
            assertTensorsClose(fast, NaiveBackward.bilinearResize(dy: dy, height: x.shape[2], width: x.shape[3]),
                               relativeL2: Self.tolerance, "\(name) dx vs twin")
        }
    }
}

extension Tensor {
    /// [O, I] -> [I, O] (test helper: dMerged = dy W_out as a Linear with the transposed weight).
    func transposedForTest() -> Tensor { permuted([1, 0]) }
}
