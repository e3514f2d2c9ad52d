import Foundation

/// Linear warm-up from 0 to the peak rate, then cosine or linear decay to `minRatio` × peak
/// at `totalSteps` (transformers' `get_cosine_schedule_with_warmup` / `get_linear_…` shapes).
public struct LearningRateSchedule: Codable, Equatable, Sendable {
    public enum Decay: String, Codable, Sendable, CaseIterable { case cosine, linear, constant }

    public var peak: Float
    public var warmupSteps: Int
    public var totalSteps: Int
    public var decay: Decay
    public var minRatio: Float

    public init(peak: Float, warmupSteps: Int, totalSteps: Int, decay: Decay = .cosine, minRatio: Float = 0.1) {
        self.peak = peak; self.warmupSteps = warmupSteps; self.totalSteps = totalSteps
        self.decay = decay; self.minRatio = minRatio
    }

    /// The rate for 0-based `step`.
    public func rate(at step: Int) -> Float {
        if warmupSteps > 0 && step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
        if decay == .constant { return peak }
        let span = max(totalSteps - warmupSteps, 1)
        let progress = min(max(Float(step - warmupSteps) / Float(span), 0), 1)
        let floor = peak * minRatio
        switch decay {
        case .cosine: return floor + (peak - floor) * 0.5 * (1 + Float(Foundation.cos(Double.pi * Double(progress))))
        case .linear: return peak - (peak - floor) * progress
        case .constant: return peak
        }
    }
}
