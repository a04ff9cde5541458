// MaskLoss: the official training loss of one prediction step (`training/loss_fns.py:
// MultiStepMultiMasksAndIous._update_losses`) with its gradients, computed directly on the
// image-size logits:
//
//   focal (alpha 0.25, gamma 2, mean over pixels) and Dice on every output mask; the mask with the
//   lowest 20 focal + Dice is the one back-propagated ("best of multimask"); an L1 loss between
//   each predicted IoU and the actual IoU of (logits > 0) with the target, averaged over all
//   masks (supervise_all_iou); the mask, Dice and IoU terms only count when the target is not
//   empty; binary cross-entropy of the object-score logit against "target not empty" (focal with
//   gamma 0 and no alpha). Every term is divided by the number of objects in the batch, and the
//   total is 20 focal + Dice + IoU + object score (the weights of the official fine-tuning
//   config, `sam2.1_hiera_b+_MOSE_finetune.yaml`).
//
// Legend: M masks, S x S image-size logits, target S x S of 0/1.

import Foundation
import Tensor

/// Weights of the loss terms.
public struct LossWeights: Sendable, Equatable, Codable {
    public var mask: Float = 20
    public var dice: Float = 1
    public var iou: Float = 1
    public var objectScore: Float = 1
    public init() {}
}

/// The loss terms of one or more steps (already divided by the number of objects).
public struct LossTerms: Sendable, Equatable {
    public var focal = 0.0, dice = 0.0, iou = 0.0, objectScore = 0.0
    public init() {}

    public func total(_ w: LossWeights) -> Double {
        Double(w.mask) * focal + Double(w.dice) * dice + Double(w.iou) * iou + Double(w.objectScore) * objectScore
    }

    public static func += (a: inout LossTerms, b: LossTerms) {
        a.focal += b.focal; a.dice += b.dice; a.iou += b.iou; a.objectScore += b.objectScore
    }
}

/// The loss of one step and the gradients of its total.
public struct StepLoss: Sendable {
    public var terms: LossTerms
    /// d total / d logits [1, M, S, S] (non-zero only in the back-propagated mask).
    public var dMasks: Tensor
    /// d total / d predicted IoU [M].
    public var dIoU: [Float]
    /// d total / d object-score logit.
    public var dObjectScore: Float
    /// The mask whose focal + Dice loss was back-propagated.
    public var bestIndex: Int
}

public enum MaskLoss {
    public static let focalAlpha = 0.25
    public static let focalGamma = 2.0

    /// The loss of logits [1, M, S, S], predicted IoUs [M] and the object-score logit against
    /// `target` (S x S, row-major, non-zero = object), for a batch of `objects` objects.
    public static func step(logits: Tensor, iou: [Float], objectScore: Float, target: [UInt8], objects: Int,
                            weights: LossWeights = LossWeights()) -> StepLoss {
        let m = logits.shape[1], n = logits.shape[2] * logits.shape[3]
        precondition(logits.rank == 4 && logits.shape[0] == 1 && target.count == n && iou.count == m,
                     "MaskLoss.step: logits \(logits.shape), target \(target.count), iou \(iou.count)")
        let count = Double(objects)
        let present = target.contains { $0 != 0 }
        var focal = [Double](repeating: 0, count: m), dice = [Double](repeating: 0, count: m)
        var actualIoU = [Double](repeating: 0, count: m)
        logits.withUnsafePointer { px in
            for k in 0..<m {
                let x = px + k * n
                var focalSum = 0.0, intersection = 0.0, probabilitySum = 0.0, targetSum = 0.0
                var hardIntersection = 0, hardUnion = 0
                for i in 0..<n {
                    let t = target[i] != 0 ? 1.0 : 0.0
                    let v = Double(x[i])
                    let p = 1 / (1 + exp(-v))
                    focalSum += focalTerm(v, p, t)
                    intersection += p * t
                    probabilitySum += p
                    targetSum += t
                    let predicted = x[i] > 0, truth = target[i] != 0
                    if predicted && truth { hardIntersection += 1 }
                    if predicted || truth { hardUnion += 1 }
                }
                focal[k] = focalSum / Double(n) / count
                dice[k] = (1 - (2 * intersection + 1) / (probabilitySum + targetSum + 1)) / count
                actualIoU[k] = Double(hardIntersection) / Double(max(hardUnion, 1))
            }
        }
        var best = 0
        for k in 1..<max(m, 1) where Double(weights.mask) * focal[k] + Double(weights.dice) * dice[k]
            < Double(weights.mask) * focal[best] + Double(weights.dice) * dice[best] { best = k }
        var terms = LossTerms()
        let targetObject = present ? 1.0 : 0.0
        terms.focal = focal[best] * targetObject
        terms.dice = dice[best] * targetObject
        var iouLoss = 0.0
        var dIoU = [Float](repeating: 0, count: m)
        for k in 0..<m {
            let difference = Double(iou[k]) - actualIoU[k]
            iouLoss += abs(difference)
            dIoU[k] = present ? Float(Double(weights.iou) * (difference > 0 ? 1 : difference < 0 ? -1 : 0) / Double(m) / count) : 0
        }
        terms.iou = iouLoss / Double(m) / count * targetObject
        let s = Double(objectScore)
        terms.objectScore = (max(s, 0) - s * targetObject + log1p(exp(-abs(s)))) / count
        let dObjectScore = Float(Double(weights.objectScore) * (1 / (1 + exp(-s)) - targetObject) / count)

        var dMasks = Tensor(zeros: logits.shape)
        if present {
            let focalScale = Double(weights.mask) / Double(n) / count
            var intersection = 0.0, denominator = 1.0
            logits.withUnsafePointer { px in
                let x = px + best * n
                for i in 0..<n {
                    let p = 1 / (1 + exp(-Double(x[i])))
                    intersection += p * (target[i] != 0 ? 1 : 0)
                    denominator += p + (target[i] != 0 ? 1 : 0)
                }
            }
            let numerator = 2 * intersection + 1
            logits.withUnsafePointer { px in
                dMasks.withUnsafeMutablePointer { pd in
                    let x = px + best * n, d = pd + best * n
                    for i in 0..<n {
                        let t = target[i] != 0 ? 1.0 : 0.0
                        let v = Double(x[i])
                        let p = 1 / (1 + exp(-v))
                        // Dice: L = 1 - num / den; dL/dp = -(2 t den - num) / den^2.
                        let dDice = -(2 * t * denominator - numerator) / (denominator * denominator) * p * (1 - p)
                        d[i] = Float(focalScale * focalDerivative(v, p, t) + Double(weights.dice) * dDice / count)
                    }
                }
            }
        }
        return StepLoss(terms: terms, dMasks: dMasks, dIoU: dIoU, dObjectScore: dObjectScore, bestIndex: best)
    }

    /// Focal loss of one logit v (p = sigmoid(v)) against t in {0, 1}.
    static func focalTerm(_ v: Double, _ p: Double, _ t: Double) -> Double {
        let ce = max(v, 0) - v * t + log1p(exp(-abs(v)))
        let pt = p * t + (1 - p) * (1 - t)
        let alphaT = focalAlpha * t + (1 - focalAlpha) * (1 - t)
        return alphaT * ce * (1 - pt) * (1 - pt)
    }

    /// d focalTerm / dv.
    static func focalDerivative(_ v: Double, _ p: Double, _ t: Double) -> Double {
        let ce = max(v, 0) - v * t + log1p(exp(-abs(v)))
        let pt = p * t + (1 - p) * (1 - t)
        let alphaT = focalAlpha * t + (1 - focalAlpha) * (1 - t)
        let oneMinus = 1 - pt
        let dOneMinus = -(2 * t - 1) * p * (1 - p)
        return alphaT * ((p - t) * oneMinus * oneMinus + ce * 2 * oneMinus * dOneMinus)
    }
}
