import Foundation
import Support
import Tensors
import Tokenizers

/// A reward model in the layout of transformers' `GPT2ForSequenceClassification` with
/// `num_labels: 1`: a GPT-2 trunk and a bias-free linear `score` head read at the last real
/// token of `prompt + response`.
public final class RewardModel {
    public let trunk: GPT2
    /// `score.weight`: `[1, C]`.
    public let scoreWeight: Tensor
    /// Mean and standard deviation of this model's scores on the SFT policy's own samples,
    /// stored in `config.json` (key `rlhf_reward_normalization`, ignored by transformers) so RL
    /// can normalise rewards to roughly unit scale.
    public var normalization: (mean: Double, std: Double)?
    /// Whether the model reads its score at an end-of-text token appended to every text, as
    /// TRL's `RewardTrainer` trains (it appends the tokenizer's EOS to plain-text chosen and
    /// rejected), rather than at the response's own last token. A model must be scored as it was
    /// trained, so this is stored in `config.json` (key `rlhf_reward_appends_eos`, ignored by
    /// transformers) and every scorer goes through `sequence(prompt:response:)`. A TRL-trained
    /// model does not store it: set it when loading one (`rlhf score --append-eos`).
    public var appendsEOS = false

    public var parameters: [(String, Tensor)] { trunk.parameters + [("score.weight", scoreWeight)] }

    /// A reward model whose trunk copies `base` (usually the SFT policy) and whose head starts at
    /// N(0, 1/(C+1))², the scale TRL's reward trainer uses.
    public init(initializedFrom base: GPT2, seed: UInt64) {
        var config = base.config
        config.architectures = ["GPT2ForSequenceClassification"]
        config.numLabels = 1
        config.padTokenID = config.padTokenID ?? config.eosTokenID
        trunk = GPT2(config: config)
        trunk.copyWeights(from: base)
        var rng = RNG(seed: seed, stream: 21)
        scoreWeight = Tensor.randn([1, config.nEmbd], std: 1 / Float(config.nEmbd + 1).squareRoot(), rng: &rng)
        scoreWeight.name = "score.weight"
        scoreWeight.requiresGrad = true
    }

    /// A reward model (or value model) from an existing trunk and head, sharing their storage.
    public init(trunk: GPT2, scoreWeight: Tensor) {
        self.trunk = trunk
        self.scoreWeight = scoreWeight
        scoreWeight.name = "score.weight"
        scoreWeight.requiresGrad = true
    }

    public static func load(directory: URL) throws -> RewardModel {
        let configURL = directory.appendingPathComponent("config.json")
        let config = try GPT2Config.load(configURL)
        guard config.isRewardModel else {
            throw RLHFError.invalidFile(path: configURL.path, message: "architectures \(config.architectures) is not a reward model (expected GPT2ForSequenceClassification)")
        }
        let trunk = GPT2(config: config)
        let weights = try SafeTensors.load(try GPT2.weightsFile(in: directory))
        try trunk.loadParameters(from: weights, prefix: "transformer.", extraAllowed: ["score.weight", "score.bias"])
        guard let shape = weights.shape("score.weight"), shape == [1, config.nEmbd] else {
            throw RLHFError.invalidFile(path: weights.path, message: "score.weight must have shape [1, \(config.nEmbd)], found \(weights.shape("score.weight").map { "\($0)" } ?? "nothing")")
        }
        if weights.entries["score.bias"] != nil {
            throw RLHFError.invalidFile(path: weights.path, message: "score.bias is present; GPT2ForSequenceClassification's score head has no bias")
        }
        let rm = RewardModel(trunk: trunk, scoreWeight: try weights.tensor("score.weight"))
        try GPT2.checkFinite(rm.scoreWeight, name: "score.weight", path: weights.path)
        if case .object(let n)? = config.extra["rlhf_reward_normalization"], let m = n["mean"]?.doubleValue, let s = n["std"]?.doubleValue {
            rm.normalization = (m, s)
        }
        if case .bool(let b)? = config.extra["rlhf_reward_appends_eos"] { rm.appendsEOS = b }
        if rm.appendsEOS && config.eosTokenID == nil {
            throw RLHFError.invalidFile(path: configURL.path, message: "rlhf_reward_appends_eos is true but eos_token_id is not set")
        }
        return rm
    }

    /// Writes the directory so that transformers loads it as `GPT2ForSequenceClassification`.
    public func save(to directory: URL, tokenizer: BPETokenizer? = nil) throws {
        if let n = normalization {
            trunk.configOverride["rlhf_reward_normalization"] = .object(["mean": .number(n.mean), "std": .number(n.std)])
        }
        trunk.configOverride["rlhf_reward_appends_eos"] = .bool(appendsEOS)
        try trunk.save(to: directory, tokenizer: tokenizer, extraTensors: [("score.weight", scoreWeight)])
    }

    /// Scores `[B]` of token sequences, read at each one's last token; differentiable when
    /// gradients are on (reward-model training). The sequences go through the trunk packed end
    /// to end (`GPT2.hiddenStates(packed:lengths:)`), so pads cost nothing.
    public func scores(_ sequences: [[Int32]]) -> Tensor {
        let lengths = sequences.map(\.count)
        let h = trunk.hiddenStates(packed: sequences.flatMap { $0 }, lengths: lengths)
        var end = 0
        let last = h.gatherRows(lengths.map { end += $0; return end - 1 })
        return linear(last, scoreWeight, transposedWeight: true).reshaped([sequences.count])
    }

    /// Scores of token sequences of any lengths, batched `batchSize` at a time, without gradient.
    public func score(_ sequences: [[Int32]], batchSize: Int = 16) -> [Float] {
        trunk.withDropoutOff {
            stride(from: 0, to: sequences.count, by: batchSize).flatMap { start in
                withNoGrad { scores(Array(sequences[start..<min(start + batchSize, sequences.count)])) }.toArray()
            }
        }
    }

    /// `ids` (prompt + response, already encoded), then EOS when the model `appendsEOS` and the
    /// text does not already end with it (TRL's rule), before any cut to the context.
    public func ended(_ ids: [Int32]) -> [Int32] {
        guard appendsEOS, let eos = trunk.config.eosTokenID.map(Int32.init), ids.last != eos else { return ids }
        return ids + [eos]
    }

    /// The tokens the head reads for a response to a prompt: `ended(ids)` cut from the left to
    /// the context, since the end of a response is what the head reads.
    public func sequence(_ ids: [Int32]) -> [Int32] {
        Array(ended(ids).suffix(trunk.config.nPositions))
    }

    /// `sequence(_:)` of the text `prompt + response` encoded with `tokenizer`: encoded as one
    /// text, as TRL's trainers and transformers' pipelines do.
    public func sequence(prompt: String, response: String, tokenizer: BPETokenizer) -> [Int32] {
        sequence(tokenizer.encodeIDs(prompt + response))
    }

    /// Scores of `prompt + response` texts (`sequence(prompt:response:tokenizer:)`), without gradient.
    public func score(prompts: [String], responses: [String], tokenizer: BPETokenizer, batchSize: Int = 16) -> [Float] {
        score(zip(prompts, responses).map { sequence(prompt: $0, response: $1, tokenizer: tokenizer) }, batchSize: batchSize)
    }

    /// A raw score in units of the standard deviation on the SFT model's samples, centred on
    /// their mean (the scale RL rewards use); raw when the checkpoint stores no normalisation.
    public func normalised(_ raw: Double) -> Double {
        normalization.map { (raw - $0.mean) / max($0.std, 1e-8) } ?? raw
    }
}
