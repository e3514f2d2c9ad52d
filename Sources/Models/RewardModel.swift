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
    /// transformers) and every scorer builds what the head reads with `sequence`. A TRL-trained
    /// model does not store it: set it when loading one (`rlhf score --append-eos`).
    public private(set) var appendsEOS = false
    /// What `config.json` said about appending EOS when the model was loaded: nil when it said
    /// nothing (a model from transformers or TRL).
    public private(set) var recordedAppendsEOS: Bool?

    /// Sets `appendsEOS`. Turning it on throws when transformers would read such a model
    /// elsewhere (`appendEOSProblem`).
    public func setAppendsEOS(_ on: Bool, tokenizer: BPETokenizer? = nil) throws {
        if on, let problem = appendEOSProblem(tokenizer: tokenizer) {
            throw RLHFError.invalidArgument("cannot read this reward model's score at an appended EOS: \(problem)")
        }
        appendsEOS = on
    }

    /// Why this model cannot be read at an appended EOS, or nil. transformers'
    /// `GPT2ForSequenceClassification` reads the score at the last token that is not
    /// `pad_token_id`, so with pad = EOS it reads the token before the appended EOS. (That is also
    /// where TRL's `RewardTrainer` reads its models when the tokenizer has no pad token and it pads
    /// with EOS: those are scored without appending EOS.) And the EOS appended must be the
    /// tokenizer's end-of-text token, the one TRL appends and a policy writes.
    public func appendEOSProblem(tokenizer: BPETokenizer? = nil) -> String? {
        guard let eos = trunk.config.eosTokenID else { return "config.json sets no eos_token_id" }
        if trunk.config.padTokenID == eos {
            return "its pad_token_id is its eos_token_id (\(eos)), and transformers reads the score at the last token that is not padding, the one before the EOS; a model trained that way needs a pad token of its own (the demo's tokenizer has <|pad|>)"
        }
        if let t = tokenizer?.eosTokenID, t != eos { return "the tokenizer's end-of-text token is \(t) but config.json's eos_token_id is \(eos)" }
        return nil
    }

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
        let weights = try ModelWeights.load(directory: directory)
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
        switch config.extra["rlhf_reward_appends_eos"] {
        case nil, .null?: break
        case .bool(let b)?:
            rm.recordedAppendsEOS = b
            if b, let problem = rm.appendEOSProblem() {
                throw RLHFError.invalidFile(path: configURL.path, message: "rlhf_reward_appends_eos is true, but \(problem)")
            }
            rm.appendsEOS = b
        case let other?:
            throw RLHFError.invalidFile(path: configURL.path, message: "rlhf_reward_appends_eos must be true or false, found \(other)")
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

    /// Scores `[B]` of token sequences, read where transformers' `GPT2ForSequenceClassification`
    /// reads them: at each one's last token that is not `pad_token_id` (with pad = EOS, a text
    /// ending in EOS is read at the token before it). Differentiable when gradients are on
    /// (reward-model training). The sequences go through the trunk packed end to end
    /// (`GPT2.hiddenStates(packed:lengths:)`), so pads cost nothing.
    public func scores(_ sequences: [[Int32]]) -> Tensor {
        let lengths = sequences.map(\.count)
        let h = trunk.hiddenStates(packed: sequences.flatMap { $0 }, lengths: lengths)
        let pad = trunk.config.padTokenID.map(Int32.init)
        var start = 0
        let last = h.gatherRows(sequences.map { seq in
            defer { start += seq.count }
            // Causal attention: a state is the same whatever tokens follow it. A text of pads
            // alone is read at its first token, as transformers' argmax over no match gives.
            return start + (seq.lastIndex { $0 != pad } ?? 0)
        })
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

    /// The tokens the head reads for a response to a prompt: `ids` (prompt + response, already
    /// encoded), then EOS when the model `appendsEOS` and the text does not already end with it
    /// (TRL's rule), cut from the left to the context, since the end is what the head reads;
    /// a text that had to be cut is counted in `truncated`.
    public func sequence(_ ids: [Int32], truncated: inout Int) -> [Int32] {
        var seq = ids
        if appendsEOS, let eos = trunk.config.eosTokenID.map(Int32.init), ids.last != eos { seq.append(eos) }
        if seq.count > trunk.config.nPositions { truncated += 1 }
        return Array(seq.suffix(trunk.config.nPositions))
    }

    /// `sequence(_:truncated:)`, not counting cut texts.
    public func sequence(_ ids: [Int32]) -> [Int32] {
        var cut = 0
        return sequence(ids, truncated: &cut)
    }

    /// `sequence(_:)` of the text `prompt + response` encoded with `tokenizer` as one text, as
    /// TRL's `RewardTrainer` encodes it (a prompt that ends mid-word, as an implicit one can, is
    /// then read as the whole word).
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
