import Tensors

/// Direct Preference Optimisation losses on sequence log-probabilities (Rafailov et al. 2023),
/// with the variants TRL offers under the same names.
public enum DPOLossType: String, CaseIterable, Codable, Sendable {
    /// −log σ(β·h), h = (log π_c − log π_r) − (log ref_c − log ref_r). With label smoothing
    /// ε > 0 it is conservative DPO (cDPO, Mitchell 2023): −(1−ε)·log σ(βh) − ε·log σ(−βh),
    /// for labels that are wrong with probability ε.
    case sigmoid
    /// Identity preference optimisation (Azar et al. 2023): (h − 1/(2β))², which does not push
    /// the margin to infinity on deterministic preferences. As in the paper and TRL, h is built
    /// from length-averaged log-probabilities (the caller passes averages).
    case ipo
    /// Robust DPO (Chowdhury et al. 2024): (−(1−ε)·log σ(βh) + ε·log σ(−βh)) / (1 − 2ε), an
    /// unbiased estimate of the clean-label loss under label noise ε.
    case robust
}

public struct DPOLoss {
    public let loss: Tensor
    /// β·(log π_c − log ref_c) and β·(log π_r − log ref_r): DPO's implicit rewards.
    public let chosenRewards: [Float]
    public let rejectedRewards: [Float]
    public var margins: [Float] { zip(chosenRewards, rejectedRewards).map { $0 - $1 } }
    /// Share of pairs whose implicit reward ranks chosen above rejected.
    public var accuracy: Float {
        Float(margins.filter { $0 > 0 }.count) / Float(max(margins.count, 1))
    }

    /// - Parameters: `[B]` summed log-probabilities of each completion's tokens (prompt masked),
    ///   policy ones with gradient, reference ones constant.
    public init(policyChosen: Tensor, policyRejected: Tensor, referenceChosen: Tensor, referenceRejected: Tensor,
                beta: Float, type: DPOLossType = .sigmoid, labelSmoothing: Float = 0) {
        let h = (policyChosen - policyRejected) - (referenceChosen - referenceRejected)
        switch type {
        case .sigmoid:
            let e = labelSmoothing
            loss = e == 0 ? mean(-logSigmoid(h * beta)) : mean(-logSigmoid(h * beta) * (1 - e) - logSigmoid(h * -beta) * e)
        case .robust:
            let e = labelSmoothing
            precondition(e < 0.5, "robust DPO needs label smoothing below 0.5, got \(e)")
            loss = mean(-logSigmoid(h * beta) * (1 - e) + logSigmoid(h * -beta) * e) * (1 / (1 - 2 * e))
        case .ipo:
            loss = mean(square(h - 1 / (2 * beta)))
        }
        chosenRewards = (0..<policyChosen.count).map { beta * (policyChosen[$0] - referenceChosen[$0]) }
        rejectedRewards = (0..<policyRejected.count).map { beta * (policyRejected[$0] - referenceRejected[$0]) }
    }
}
