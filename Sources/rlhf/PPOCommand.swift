import ArgumentParser
import Feedback
import Foundation
import Models
import Support
import Tensors
import Tokenizers
import Training

/// The flags every on-policy trainer shares (`ppo`, `grpo`, `rloo`), named after TRL's configs.
struct OnPolicyOptions: ParsableArguments {
    @Option(help: "Starting policy directory (usually the SFT model); also the frozen reference.") var policy: String
    @Option(help: "Reward model directory (GPT2ForSequenceClassification, num_labels 1).") var reward: String
    @Option(help: "JSONL with a \"prompt\" field.") var prompts: String
    @Option(help: "Output directory.") var out: String

    @Option(help: "Iterations (each samples --batch-size rollouts).") var steps = 100
    @Option(help: "Rollouts (samples) per iteration.") var batchSize = 64
    @Option(help: "Minibatches per pass (one optimiser step each).") var numMiniBatches = 1
    @Option(help: "Micro-batches accumulated per minibatch (memory only).") var gradAccum = 1
    @Option(help: "Spread each minibatch's --grad-accum micro-batches, and the rows of each reference pass, over N copies of the policy and critic that run side by side, each on its share of the cores (with --grad-accum 1 only the reference pass is split). Faster for small models (2 on 2 cores, with --grad-accum 2 or more); results depend on N, not on the core count.")
    var lanes = 1
    @Option(help: "Rows per generation/scoring forward pass.") var rolloutBatchSize = 64
    @Option(name: [.customLong("learning-rate"), .customLong("lr")], help: "Peak learning rate, --lr for short (TRL's default 3e-6 suits 124M+ models; the demo's 1M-parameter model uses 2e-4).") var learningRate: Float = 3e-6
    @Option(help: "Learning-rate schedule after the peak: linear (to 0, TRL's default), cosine or constant.")
    var lrSchedulerType: LearningRateSchedule.Decay = .linear

    @Option(help: "Sampling temperature (also applied in every training forward pass).") var temperature: Float = 0.7
    @Option(help: "Top-k sampling (default: off, as in TRL: the ratio and the KL use the full distribution, so truncating it makes the updates off-policy).") var topK: Int?
    @Option(help: "Nucleus sampling p (default: off, for the same reason as --top-k).") var topP: Float?
    @Option(name: [.customLong("max-new-tokens"), .customLong("response-length")], help: "Tokens generated per response at most.") var maxNewTokens = 53

    @Option(help: "Adaptive β: target KL per response, in nats (default: β fixed).") var klTarget: Double?
    @Option(help: "Adaptive β: horizon in rollouts.") var klHorizon: Double = 10_000
    @Option(help: "Subtracted from the score of responses cut off without EOS (0: off, which is TRL's default; on here so that a policy learns to end its answers).") var missingEosPenalty: Double = 1
    @Option(help: "Weight of the reward model's normalised score.") var rmWeight: Double = 1
    @Option(parsing: .singleValue, help: ArgumentHelp("Programmatic reward NAME or NAME:WEIGHT, added to the score (repeatable).",
            discussion: "Built in: \(ProgrammaticRewards.names.joined(separator: ", ")).")) var rewardFn: [String] = []
    @Option(parsing: .singleValue, help: "Reward function logged on every rollout but not rewarded (repeatable).") var monitorFn: [String] = []
    @Flag(help: RewardModelEOS.help) var rmAppendEOS = false
    @Option(help: "Policy ratio clip range ε.") var cliprange: Float = 0.2

    @Option(help: "Checkpoint every N iterations.") var checkpointEvery = 10
    @Option(parsing: .unconditional, help: "Random seed. (default: 0)", transform: parseSeed) var seed: UInt64 = 0
    @Flag(help: "Continue from --out/checkpoint-last with the run's saved configuration and the same inputs; a flag set to another value than the run's is refused.") var resume = false
    @OptionGroup var output: OutputOptions

    func validate() throws { try FlagCheck.atLeast(1, lanes, "--lanes") }

    func config(klCoef: Double, epochs: Int) -> PPOConfig {
        var c = PPOConfig()
        c.steps = steps; c.batchSize = batchSize; c.ppoEpochs = epochs; c.numMiniBatches = numMiniBatches
        c.gradientAccumulation = gradAccum; c.rolloutBatchSize = rolloutBatchSize; c.learningRate = learningRate; c.decay = lrSchedulerType
        c.temperature = temperature; c.topK = topK; c.topP = topP; c.maxNewTokens = maxNewTokens
        c.klCoef = klCoef; c.klTarget = klTarget; c.klHorizon = klHorizon; c.missingEOSPenalty = missingEosPenalty
        c.rewardModelWeight = rmWeight; c.clipRange = cliprange; c.checkpointEvery = checkpointEvery; c.seed = seed
        return c
    }

    /// The required flags alone: parsed again with these, a command gives its defaults.
    var requiredArguments: [String] { ["--policy", policy, "--reward", reward, "--prompts", prompts, "--out", out] }

    /// The run configuration's keys (PPOConfig's and `OnPolicyRun`'s) whose flags are not the key
    /// in kebab case (GRPO's and RLOO's own spellings first), so that a refused `--resume` names
    /// the flag the user typed.
    static func flagNames(_ c: PPOConfig) -> [String: [String]] {
        ["learningRate": ["--lr", "--learning-rate"], "decay": ["--lr-scheduler-type"], "maxNewTokens": ["--max-new-tokens", "--response-length"],
         "missingEOSPenalty": ["--missing-eos-penalty"], "rewardModelWeight": ["--rm-weight"], "clipRange": ["--cliprange"],
         "gradientAccumulation": ["--grad-accum"], "rmAppendEOS": ["--rm-append-eos"], "lambda": ["--lam"], "valueClipRange": ["--cliprange-value"], "valueCoef": ["--vf-coef"],
         "klCoef": c.advantageEstimator == .grpo ? ["--beta", "--kl-coef"] : ["--kl-coef"],
         "ppoEpochs": c.advantageEstimator == .grpo ? ["--num-iterations", "--ppo-epochs"] : ["--ppo-epochs"],
         "numGenerations": c.advantageEstimator == .rloo ? ["--rloo-k", "--num-generations"] : ["--num-generations"]]
    }

    /// - Parameter defaults: the config the command gives without optional flags; on `--resume`
    ///   a flag set to something else than both it and the saved run's value is refused.
    func run(_ config: PPOConfig, defaults: PPOConfig) throws {
        try config.validate()  // before anything is written to --out
        let folder = try prepareRunFolder(out, resume: resume, overwrite: output.overwriteOutputDir, inputs: [("--policy", policy), ("--reward", reward)])
        let outURL = URL(fileURLWithPath: out)
        var run = OnPolicyRun(config: config, rewardFn: rewardFn, monitorFn: monitorFn, rmAppendEOS: rmAppendEOS, lanes: lanes)
        var extended: [String] = []
        if resume {
            // A run saved before --lanes existed ran on one lane.
            let saved = try runConfiguration(run, defaults: OnPolicyRun(config: defaults, rewardFn: [], monitorFn: [], rmAppendEOS: false, lanes: 1),
                                             flags: Self.flagNames(config), in: outURL, resume: true, absentMeans: ["lanes": .number(1)],
                                             extendable: { PPOTrainer.extendable($0.config) }, onExtend: { extended = $0 })
            // A run saved before these were stored takes them as given now; its checkpoint's
            // record refuses reward functions, an EOS convention or lanes other than its own.
            run = OnPolicyRun(config: saved.config, rewardFn: saved.rewardFn ?? rewardFn, monitorFn: saved.monitorFn ?? monitorFn,
                              rmAppendEOS: saved.rmAppendEOS ?? rmAppendEOS, lanes: saved.lanes ?? lanes)
        }
        let trainer = try PPOStage.make(policyDir: policy, rewardDir: reward, prompts: try readPrompts(prompts),
                                        rewardFns: try PPOStage.rewardFunctions(run.rewardFn ?? []), monitors: try PPOStage.rewardFunctions(run.monitorFn ?? []),
                                        rmAppendEOS: run.rmAppendEOS ?? false, config: run.config, lanes: run.lanes ?? 1, out: outURL, resume: resume,
                                        beforeWriting: { [run] in
                                            try folder.clearForNewRun()
                                            _ = try runConfiguration(run, in: outURL, resume: false)
                                        })
        // Saved once the checkpoint has accepted the longer run: a refused resume leaves the folder as it was.
        if !extended.isEmpty {
            try saveRunConfiguration(run, in: outURL)
            note("the run goes on to \(extended.joined(separator: ", ")) (saved in run_config.json)")
        }
        trainer.label = config.advantageEstimator == .gae ? "ppo" : config.advantageEstimator.rawValue
        try PPOStage.run(trainer)
        note("policy written to \(out)")
    }
}

struct PPOCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ppo",
        abstract: "Optimise a policy against a reward model with PPO under a KL penalty to the reference.",
        discussion: """
        The policy starts from --policy (usually the SFT model), which also becomes the frozen \
        reference. Each step samples --batch-size responses to prompts from --prompts \
        ({"prompt"} JSONL), scores them with the reward model (normalised by the mean/std stored \
        with it) plus any --reward-fn, subtracts β·(log π − log π_ref) per token, and runs \
        --ppo-epochs of clipped PPO updates with a value model. Flags are named after TRL's \
        PPOConfig. Writes the policy (a model folder) and value_model/ to --out, with \
        metrics.jsonl (TRL's metric names) and a resumable checkpoint-last/.
        """)

    @OptionGroup var common: OnPolicyOptions
    @Option(help: "β of the per-token KL penalty (initial β when --kl-target is set).") var klCoef: Double = 0.05
    @Option(help: "Passes over each iteration's rollouts.") var ppoEpochs = 4
    @Option(help: "GAE discount γ.") var gamma: Float = 1
    @Option(help: "GAE λ.") var lam: Float = 0.95
    @Option(help: "Value clip range.") var cliprangeValue: Float = 0.2
    @Option(help: "Value-loss coefficient.") var vfCoef: Float = 0.1
    @Flag(help: "Whiten per-token rewards (keeping their mean) before GAE.") var whitenRewards = false
    @Option(help: "Value model: 'separate' (own trunk from the reward model, as TRL) or 'shared' (head on the policy).")
    var valueModel: PPOConfig.ValueModel = .separate

    func makeConfig() -> PPOConfig {
        var c = common.config(klCoef: klCoef, epochs: ppoEpochs)
        c.gamma = gamma; c.lambda = lam; c.valueClipRange = cliprangeValue; c.valueCoef = vfCoef
        c.whitenRewards = whitenRewards; c.valueModel = valueModel
        return c
    }

    func run() throws { try common.run(makeConfig(), defaults: try Self.parse(common.requiredArguments).makeConfig()) }
}

struct GRPOCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grpo",
        abstract: "Optimise a policy with GRPO: group-relative advantages, no critic, KL to the reference as a loss term.",
        discussion: """
        Each iteration takes --batch-size / --num-generations prompts and samples each \
        --num-generations times; a sample's advantage is (score − group mean) / group std on \
        every token (a group whose scores are all equal teaches nothing: advantage 0). Loss: \
        clipped surrogate + β·k3 KL to the reference per token, averaged over the minibatch's \
        tokens (TRL's loss_type "dapo", its default in 0.29; with --grad-accum, the mean of each \
        micro-batch's token mean). Same reward model, --reward-fn, \
        checkpoints, --resume and metrics as `rlhf ppo` (without the critic's: no loss/value_avg, val/clipfrac_avg or val/explained_variance).
        """)

    @OptionGroup var common: OnPolicyOptions
    @Option(help: "Samples per prompt (the group).") var numGenerations = 4
    @Option(name: [.customLong("beta"), .customLong("kl-coef")], help: "β of the k3 KL loss term.") var beta: Double = 0.04
    @Option(name: [.customLong("num-iterations"), .customLong("ppo-epochs")], help: "Passes over each iteration's samples (TRL's μ).") var numIterations = 1

    func makeConfig() -> PPOConfig {
        var c = common.config(klCoef: beta, epochs: numIterations)
        c.advantageEstimator = .grpo; c.numGenerations = numGenerations
        return c
    }

    func run() throws { try common.run(makeConfig(), defaults: try Self.parse(common.requiredArguments).makeConfig()) }
}

struct RLOOCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rloo",
        abstract: "Optimise a policy with RLOO: REINFORCE with a leave-one-out baseline, no critic.",
        discussion: """
        Each iteration takes --batch-size / --rloo-k prompts and samples each --rloo-k times; a \
        sample's reward is its score − β·Σ(log π − log π_ref), and its advantage that reward \
        minus the mean of the other samples of its prompt, on every token, optimised with the \
        clipped surrogate per token, as PPO (TRL's RLOOTrainer clips one ratio per sequence; the \
        two agree until the clip engages). Same reward model, --reward-fn, checkpoints, --resume and metrics as \
        `rlhf ppo` (without the critic's: no loss/value_avg, val/clipfrac_avg or val/explained_variance).
        """)

    @OptionGroup var common: OnPolicyOptions
    @Option(name: [.customLong("rloo-k"), .customLong("num-generations")], help: "Samples per prompt.") var rlooK = 4
    @Option(help: "β of the KL penalty in the sequence reward.") var klCoef: Double = 0.05
    @Option(help: "Passes over each iteration's samples.") var ppoEpochs = 4

    func makeConfig() -> PPOConfig {
        var c = common.config(klCoef: klCoef, epochs: ppoEpochs)
        c.advantageEstimator = .rloo; c.numGenerations = rlooK
        return c
    }

    func run() throws { try common.run(makeConfig(), defaults: try Self.parse(common.requiredArguments).makeConfig()) }
}

extension PPOConfig.ValueModel: ExpressibleByArgument {}
extension LearningRateSchedule.Decay: ExpressibleByArgument {}

/// What `run_config.json` holds for `ppo`, `grpo` and `rloo`: PPOConfig's fields and, beside
/// them, the reward functions, monitors and `--rm-append-eos`, so that `--resume` alone
/// continues a run that used them (as it does every other setting). nil: a run saved before
/// they were stored.
struct OnPolicyRun: Codable {
    var config: PPOConfig
    var rewardFn: [String]?
    var monitorFn: [String]?
    var rmAppendEOS: Bool?
    var lanes: Int?

    init(config: PPOConfig, rewardFn: [String]?, monitorFn: [String]?, rmAppendEOS: Bool?, lanes: Int? = nil) {
        self.config = config; self.rewardFn = rewardFn; self.monitorFn = monitorFn; self.rmAppendEOS = rmAppendEOS; self.lanes = lanes
    }

    private enum Keys: String, CodingKey { case rewardFn, monitorFn, rmAppendEOS, lanes }

    // One flat object, PPOConfig's keys and these, as the file was before they joined it.
    init(from decoder: Decoder) throws {
        config = try PPOConfig(from: decoder)
        let c = try decoder.container(keyedBy: Keys.self)
        rewardFn = try c.decodeIfPresent([String].self, forKey: .rewardFn)
        monitorFn = try c.decodeIfPresent([String].self, forKey: .monitorFn)
        rmAppendEOS = try c.decodeIfPresent(Bool.self, forKey: .rmAppendEOS)
        lanes = try c.decodeIfPresent(Int.self, forKey: .lanes)
    }

    func encode(to encoder: Encoder) throws {
        try config.encode(to: encoder)
        var c = encoder.container(keyedBy: Keys.self)
        try c.encodeIfPresent(rewardFn, forKey: .rewardFn)
        try c.encodeIfPresent(monitorFn, forKey: .monitorFn)
        try c.encodeIfPresent(rmAppendEOS, forKey: .rmAppendEOS)
        try c.encodeIfPresent(lanes, forKey: .lanes)
    }
}

/// The PPO stage as calls shared by `rlhf ppo` and `rlhf demo`.
enum PPOStage {
    /// Parses `NAME` or `NAME:WEIGHT` (weight 1 by default) into built-in reward functions.
    static func rewardFunctions(_ specs: [String]) throws -> [RewardFunction] {
        try specs.map { spec in
            let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
            guard let fn = ProgrammaticRewards.named(parts[0]) else {
                throw RLHFError.invalidArgument("unknown reward function '\(parts[0])'; built in: \(ProgrammaticRewards.names.joined(separator: ", "))")
            }
            let weight = parts.count > 1 ? Double(parts[1]) : 1
            guard let weight, weight.isFinite else { throw RLHFError.invalidArgument("reward function '\(spec)': weight '\(parts[1])' is not a number") }
            return RewardFunction(name: parts[0], weight: weight, function: fn)
        }
    }

    /// Loads the models, checks their tokenizers agree (or re-tokenises, saying so), and builds
    /// the trainer; with `resume`, reads its checkpoint. `beforeWriting`: what a fresh run
    /// writes to `out` first (its run configuration), once the models are known to fit.
    static func make(policyDir: String, rewardDir: String, prompts: [String], rewardFns: [RewardFunction], monitors: [RewardFunction],
                     rmAppendEOS: Bool = false, config: PPOConfig, lanes: Int = 1, out: URL, resume: Bool,
                     beforeWriting: () throws -> Void = {}) throws -> PPOTrainer {
        let (policy, tok) = try loadModelAndTokenizer(policyDir)
        let (rm, rmTok) = try loadRewardModel(rewardDir, policy: policy, tokenizer: tok, appendEOS: rmAppendEOS)
        let trainer = try PPOTrainer(policy: policy, rewardModel: rm, tokenizer: tok, rewardTokenizer: rmTok, prompts: prompts,
                                     rewardFunctions: rewardFns, monitors: monitors, config: config, runDirectory: out)
        // Written only once the models are known to fit and the trainer accepts them (it writes
        // nothing itself): a refused run leaves --out as it was.
        if !resume { try beforeWriting() }
        trainer.lanes = lanes
        trainer.settingNames = ["reward_model_appends_eos": "--rm-append-eos", "reward_functions": "--reward-fn", "lanes": "--lanes"]
        if config.valueModel == .separate, rmTok != nil || rm.trunk.config.nPositions < policy.config.nPositions {
            note("note: the value model starts from the policy's trunk with a zero head, since the reward model cannot read the policy's rollouts")
        }
        if config.topK != nil || config.topP != nil {
            // TRL's PPO fixes top_k 0 and top_p 1 for the same reason.
            note("warning: --top-k / --top-p sample from a truncated distribution, but the ratio π/π_old and the KL are computed on the full one: the updates are off-policy")
        }
        if trainer.truncatedPrompts > 0 {
            note("warning: \(trainer.truncatedPrompts) prompt(s) longer than \(policy.config.nPositions - config.maxNewTokens) tokens were truncated from the left")
        }
        if resume {
            try trainer.resume()
            note(trainer.step >= config.steps
                 ? "resumed at step \(trainer.step) of \(config.steps): the run had finished; its final model is written again"
                 : "resumed at step \(trainer.step) of \(config.steps)")
        }
        return trainer
    }

    /// The reward model at `dir`, and its tokenizer when it is not the policy's (nil: the same,
    /// so responses are scored as sampled): another tokenizer means decoding and re-tokenizing,
    /// said in a note; none at all is assumed to be the policy's only if the vocabularies agree.
    /// `appendEOS`: `--rm-append-eos` (`RewardModelEOS`).
    static func loadRewardModel(_ dir: String, policy: GPT2, tokenizer tok: BPETokenizer, appendEOS: Bool = false) throws -> (RewardModel, BPETokenizer?) {
        let rmURL = URL(fileURLWithPath: dir)
        let rm = try RewardModel.load(directory: rmURL)
        if rm.normalization == nil {
            note("warning: \(dir) stores no reward normalisation (rlhf_reward_normalization); raw scores are used")
        }
        let rmTok: BPETokenizer?
        if let t = try? BPETokenizer.load(directory: rmURL) {
            if t.vocab == tok.vocab && t.merges.elementsEqual(tok.merges, by: { $0 == $1 }) {
                rmTok = nil
            } else {
                note("note: the reward model's tokenizer differs from the policy's; responses are decoded and re-tokenized for scoring")
                rmTok = t
            }
        } else {
            guard rm.trunk.config.vocabSize == policy.config.vocabSize else {
                throw RLHFError.invalidFile(path: rmURL.path, message: "has no tokenizer files and a vocabulary of \(rm.trunk.config.vocabSize), not the policy's \(policy.config.vocabSize); cannot score the policy's tokens")
            }
            note("note: \(dir) has no tokenizer files; assuming the policy's (same vocabulary size \(policy.config.vocabSize))")
            rmTok = nil
        }
        try rm.trunk.config.checkFits(rmTok ?? tok, directory: rmURL)
        if appendEOS { try RewardModelEOS.readAtAppendedEOS(rm, directory: rmURL, tokenizer: rmTok ?? tok, flag: "--rm-append-eos") }
        return (rm, rmTok)
    }

    static func run(_ trainer: PPOTrainer, stopAt: Int? = nil) throws {
        try trainer.train(stopAt: stopAt)
        if trainer.scoredTextsCut > 0 {
            note("warning: \(trainer.scoredTextsCut) prompt + response text(s) were longer than the reward model's context of \(trainer.rewardModel.trunk.config.nPositions) tokens and were cut from the left for scoring")
        }
        try trainer.saveFinal()
        note("time split: \(trainer.timeSplit)")
    }
}
