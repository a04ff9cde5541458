// LearningRateSchedule: the factor applied to every group's base learning rate at a step:
// a linear warm-up from 0, then cosine decay to 1/10 (the official fine-tuning config's
// `CosineParamScheduler(start, start / 10)`), a step decay, or a constant rate.

import Foundation

public enum LearningRateSchedule: String, Sendable, Codable, CaseIterable {
    /// Cosine from 1 to 0.1 over the steps after the warm-up.
    case cosine
    /// 1, then 0.1 after two thirds of the steps after the warm-up.
    case step
    /// 1 after the warm-up.
    case constant

    /// The factor at `step` (0-based) of `total`, with `warmup` warm-up steps.
    public func factor(step: Int, total: Int, warmup: Int) -> Double {
        if step < warmup { return Double(step + 1) / Double(warmup + 1) }
        let span = max(total - warmup, 1)
        let progress = min(max(Double(step - warmup) / Double(span), 0), 1)
        switch self {
        case .cosine: return 0.1 + 0.9 * 0.5 * (1 + cos(Double.pi * progress))
        case .step: return progress < 2.0 / 3.0 ? 1 : 0.1
        case .constant: return 1
        }
    }
}
