// The official training loss (`MultiStepMultiMasksAndIous` with the fine-tuning config's weights)
// and its gradients against torch.autograd (Fixtures/training/loss.safetensors): three candidate
// masks (best-of-multimask), one mask, and an empty target (only the object-score term counts).
//
// Tolerance: relative L2 <= 1e-5 per tensor; loss values to 1e-5 relative. The fixture's logits
// go up to |12|, where the focal factor (1 - p_t)^2 varies over 10 orders of magnitude.

import XCTest
import Tensor
import TestSupport
@testable import Training

final class LossTests: XCTestCase {
    func testLossAndGradientsMatchTorch() throws {
        let r = try Fixtures.reference("training/loss.safetensors")
        for name in ["multi", "single", "empty"] {
            let logits = try r.tensor("\(name).logits")
            let target = try r.tensor("\(name).target").scalars.map { $0 > 0 ? UInt8(1) : 0 }
            let loss = MaskLoss.step(logits: logits, iou: try r.tensor("\(name).iou").scalars,
                                     objectScore: try r.tensor("\(name).score").scalars[0], target: target, objects: 1)
            func close(_ a: Double, _ key: String) throws {
                let e = Double(try r.tensor("\(name).\(key)").scalars[0])
                XCTAssertEqual(a, e, accuracy: 1e-5 * max(abs(e), 1e-3), "\(name) \(key)")
            }
            try close(loss.terms.focal, "focal")
            try close(loss.terms.dice, "dice")
            try close(loss.terms.iou, "iou_loss")
            try close(loss.terms.objectScore, "class")
            try close(loss.terms.total(LossWeights()), "total")
            assertTensorsClose(loss.dMasks, try r.tensor("\(name).dlogits"), relativeL2: 1e-5, "\(name) dlogits")
            let dIoU = try r.tensor("\(name).diou")
            if dIoU.scalars.contains(where: { $0 != 0 }) {
                assertTensorsClose(Tensor(shape: dIoU.shape, values: loss.dIoU), dIoU, relativeL2: 1e-5, "\(name) diou")
            } else {
                XCTAssertEqual(loss.dIoU, dIoU.scalars, "\(name) diou (zero)")
            }
            XCTAssertEqual(loss.dObjectScore, try r.tensor("\(name).dscore").scalars[0], accuracy: 1e-6, "\(name) dscore")
        }
    }
}
