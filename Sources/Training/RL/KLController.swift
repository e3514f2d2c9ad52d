/// The coefficient β of the per-token KL penalty −β·(log π − log π_ref).
///
/// Fixed, or adaptive as in Ziegler et al. 2019 ("Fine-Tuning Language Models from Human
/// Preferences"): a proportional controller that raises β when the measured KL is above target
/// and lowers it when below, with the error clipped to ±0.2 so one noisy batch cannot swing β.
public struct KLController: Codable, Equatable, Sendable {
    public private(set) var beta: Double
    /// nil: β stays fixed.
    public let target: Double?
    /// Steps (samples) over which a sustained error changes β by about e^error.
    public let horizon: Double

    public static func fixed(_ beta: Double) -> KLController { KLController(beta: beta, target: nil, horizon: 1) }

    public static func adaptive(initial: Double, target: Double, horizon: Double) -> KLController {
        precondition(target > 0 && horizon > 0, "adaptive KL needs target > 0 and horizon > 0")
        return KLController(beta: initial, target: target, horizon: horizon)
    }

    /// Updates β after a batch of `samples` rollouts whose mean KL was `currentKL`.
    public mutating func update(currentKL: Double, samples: Int) {
        guard let target else { return }
        let error = min(max(currentKL / target - 1, -0.2), 0.2)
        beta *= 1 + error * Double(samples) / horizon
    }

    /// Puts back the β a checkpoint saved (an adaptive β depends on the whole run so far).
    public mutating func restore(beta: Double) { self.beta = beta }
}
