import Foundation
import Models
import Support
import Tensors
import Tokenizers

/// PPO's critic: V(state) read at every position, through a linear head `[1, C]`.
///
/// `.separate` gives it its own trunk initialised from the reward model, TRL's layout: the critic
/// starts out already knowing what scores well, and its gradients never touch the policy.
/// `.shared` puts the head on the policy's trunk: one forward pass fewer per minibatch and no
/// second model in memory, at the price of the value loss also moving the policy's features.
public final class ValueFunction {
    /// Own trunk (`.separate`), or nil to read the policy's hidden states (`.shared`).
    public let trunk: GPT2?
    public let head: Tensor

    public var kind: PPOConfig.ValueModel { trunk == nil ? .shared : .separate }

    /// A critic initialised from the reward model (separate) or with a zero head (shared: the
    /// reward model's head means nothing on the policy's features, and zero predicts the mean).
    /// A reward model that reads other tokens (another tokenizer) or a shorter context cannot
    /// read the policy's rollouts; the separate critic then starts from the policy's trunk.
    /// `rewardModelWeight`: the weight of the reward model's normalised score in the reward
    /// (`PPOConfig.rewardModelWeight`), the scale the critic starts at.
    public init(kind: PPOConfig.ValueModel, rewardModel: RewardModel, policy: GPT2, rewardModelReadsPolicyTokens: Bool = true,
                rewardModelWeight: Double = 1) {
        switch kind {
        case .separate where rewardModelReadsPolicyTokens && rewardModel.trunk.config.nPositions >= policy.config.nPositions:
            let t = GPT2(config: rewardModel.trunk.config)
            t.copyWeights(from: rewardModel.trunk)
            trunk = t
            head = rewardModel.scoreWeight.copy()
            ValueFunction.startAtRewardedScale(head: head, finalBias: t.finalBias, rewardModel: rewardModel, weight: rewardModelWeight)
        case .separate:
            var c = policy.config
            c.architectures = ["GPT2ForSequenceClassification"]
            c.numLabels = 1
            let t = GPT2(config: c)
            t.copyWeights(from: policy)
            trunk = t
            head = Tensor(zeros: [1, c.nEmbd])
        case .shared:
            trunk = nil
            head = Tensor(zeros: [1, policy.config.nEmbd])
        }
        head.name = "score.weight"
        head.requiresGrad = true
    }

    /// A critic of `other`'s kind and shape, its weights zero until copied in (a lane's copy,
    /// `PPOTrainer.lanes`). A shared one reads the hidden states of whichever policy it is given.
    init(shapeOf other: ValueFunction) {
        trunk = other.trunk.map { GPT2(config: $0.config) }
        head = Tensor(zeros: other.head.shape)
        head.name = other.head.name
        head.requiresGrad = true
    }

    /// Maps the copied reward head from the reward model's raw score to the term the reward
    /// holds, `weight · (raw − mean) / std`, which is what the critic's returns are built from.
    /// Left raw, the critic started off by the normalisation (at seed 1 of the demo by +1.2 in
    /// offset and ×1.4 in scale), and its clipped loss moves it by about `cliprange_value`
    /// an iteration. The head has no bias (transformers' `GPT2ForSequenceClassification`), so the
    /// offset c goes into ln_f's bias along the head: w·(x + c·w/|w|²) = w·x + c.
    static func startAtRewardedScale(head: Tensor, finalBias: Tensor, rewardModel: RewardModel, weight: Double) {
        // `RewardModel.normalised` as scale and offset (the test holds the two together).
        let (mean, std) = rewardModel.normalization ?? (0, 1)
        let scale = weight / max(std, 1e-8)
        let w = head.buffer
        for i in w.indices { w[i] = Float(Double(w[i]) * scale) }
        let norm2 = w.reduce(0) { $0 + Double($1) * Double($1) }
        guard norm2 > 0 else { return }
        let offset = -mean * scale
        let b = finalBias.buffer
        for i in b.indices { b[i] += Float(offset * Double(w[i]) / norm2) }
    }

    /// Trainable parameters, named `value.…` so they never collide with the policy's in the
    /// optimiser's checkpoint.
    public var parameters: [(String, Tensor)] {
        (trunk?.parameters.map { ("value.transformer.\($0.0)", $0.1) } ?? []) + [("value.score.weight", head)]
    }

    /// Values `[responseSlots]` (rows × R) at each response slot's predicting position of the
    /// packed rows `layout`. `policyHidden` is the policy's hidden states for the same layout
    /// (used when shared).
    func values(_ layout: PPORollout.Packed, responseSlots: Int, policyHidden: Tensor?) -> Tensor {
        let h: Tensor
        if let trunk {
            h = trunk.hiddenStates(packed: layout.ids, lengths: layout.lengths)
        } else {
            guard let policyHidden else { fatalError("shared value head needs the policy's hidden states") }
            h = policyHidden
        }
        return linear(h.gatherRows(layout.predicting), head, transposedWeight: true).reshaped([responseSlots])
    }

    static let folderName = "value_model"
    static let headFile = "value_head.safetensors"

    /// Separate: a `GPT2ForSequenceClassification` folder (transformers loads it, as TRL's value
    /// model); shared: the head alone.
    public func save(in directory: URL) throws {
        if let trunk {
            let rm = RewardModel(trunk: trunk, scoreWeight: head)
            try rm.save(to: directory.appendingPathComponent(ValueFunction.folderName))
        } else {
            try SafeTensors.save([("score.weight", head)], metadata: ["format": "pt"], to: directory.appendingPathComponent(ValueFunction.headFile))
        }
    }

    /// Restores weights written by `save(in:)`.
    public func load(from directory: URL) throws {
        if let trunk {
            let rm = try RewardModel.load(directory: directory.appendingPathComponent(ValueFunction.folderName))
            trunk.copyWeights(from: rm.trunk)
            head.assign(rm.scoreWeight)
        } else {
            let st = try SafeTensors.load(directory.appendingPathComponent(ValueFunction.headFile))
            let t = try st.tensor("score.weight")
            guard t.shape == head.shape else {
                throw RLHFError.invalidFile(path: st.path, message: "score.weight has shape \(t.shape), expected \(head.shape)")
            }
            head.assign(t)
        }
    }
}
