import ArgumentParser
import Feedback
import Foundation
import Models
import Support
import Tensors
import Tokenizers
import Training

struct DPOCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dpo",
        abstract: "Train a policy straight from preference pairs with DPO (or IPO, conservative or robust DPO).",
        discussion: """
        Reads {"prompt","chosen","rejected"} JSONL, the file `rlhf reward` reads (a line without \
        "prompt", TRL's implicit prompt, is split at the text both responses start with). The policy \
        starts from --policy (usually the SFT model), which is also the frozen reference unless \
        --ref-model names another; the reference's log-probabilities are computed once. Loss \
        on the completion tokens only (prompt masked, EOS appended, as SFT). Flags and metrics are \
        named after TRL's DPOConfig/DPOTrainer (rewards/chosen, rewards/margins, \
        rewards/accuracies, eval_…); eval_kl is the KL of the policy from the reference on its own \
        samples for held-out prompts. Writes the policy to --out with metrics.jsonl and a \
        resumable checkpoint-last/.
        """)

    @Option(help: "Starting policy directory (usually the SFT model).") var policy: String
    @Option(help: "Frozen reference model directory (default: --policy).") var refModel: String?
    @Option(help: "Preference JSONL ({\"prompt\",\"chosen\",\"rejected\"}).") var data: String
    @Option(help: "Held-out preference JSONL (default: --eval-fraction of --data).") var evalData: String?
    @Option(help: "Output directory.") var out: String

    @Option(help: "β: strength of the implicit KL constraint (larger stays closer to the reference).") var beta: Double = 0.1
    @Option(name: [.customLong("loss"), .customLong("loss-type")],
            help: "sigmoid (DPO; with --label-smoothing, conservative DPO, as TRL before 0.29 did: 0.29's sigmoid ignores it), ipo (length-averaged log-probs, as TRL; its rewards/* and logps/* metrics are then per-token means, where TRL logs sums), or robust.") var loss: DPOLossType = .sigmoid
    @Option(help: "Assumed share of flipped labels ε for conservative/robust DPO.") var labelSmoothing: Double = 0
    @Option(name: [.customLong("num-train-epochs"), .customLong("epochs")], help: "Passes over the training pairs.") var epochs = 1
    @Option(name: [.customLong("batch-size"), .customLong("per-device-train-batch-size")], help: "Pairs per step.") var batchSize = 8
    @Option(name: [.customLong("learning-rate"), .customLong("lr")], help: "Peak learning rate, --lr for short (TRL's default 1e-6 suits 124M+ models; the demo's tiny model uses 1e-4).")
    var learningRate: Float = 1e-6
    @Option(help: "Linear warm-up steps.") var warmupSteps = 0
    @Option(help: "Schedule after the peak: linear (to 0), cosine or constant.") var lrSchedulerType: LearningRateSchedule.Decay = .linear
    @Option(help: "Fraction of --data held out when --eval-data is not given (0: none).") var evalFraction = 0.1
    @Option(help: "Evaluate (held-out loss, accuracy, KL) every N steps.") var evalEvery = 25
    @Option(name: [.customLong("save-every"), .customLong("checkpoint-every")], help: "Checkpoint every N steps.") var checkpointEvery = 100
    @Option(help: "Held-out prompts sampled to measure KL from the reference (0: off).") var klPrompts = 64
    @Option(help: "Tokens sampled per held-out prompt for the KL.") var klMaxNewTokens = 64
    @Option(parsing: .unconditional, help: "Random seed. (default: 0)", transform: parseSeed) var seed: UInt64 = 0
    @Flag(help: "Skip invalid lines (reporting how many) instead of stopping at the first.") var skipInvalid = false
    @Flag(help: "Continue from --out/checkpoint-last with the run's saved configuration and the same inputs; a flag set to another value than the run's is refused.") var resume = false
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if evalData == nil { try FlagCheck.heldOutFraction(evalFraction) }
    }

    /// DPOTrainer.Config's keys whose flags are not the key in kebab case.
    static let flagNames = ["learningRate": ["--lr", "--learning-rate"], "loss": ["--loss", "--loss-type"], "epochs": ["--epochs", "--num-train-epochs"],
                            "batchSize": ["--batch-size", "--per-device-train-batch-size"], "decay": ["--lr-scheduler-type"],
                            "checkpointEvery": ["--save-every", "--checkpoint-every"]]

    func makeConfig() -> DPOTrainer.Config {
        var c = DPOTrainer.Config()
        c.beta = beta; c.loss = loss; c.labelSmoothing = labelSmoothing; c.epochs = epochs; c.batchSize = batchSize
        c.learningRate = learningRate; c.warmupSteps = warmupSteps; c.decay = lrSchedulerType; c.evalEvery = evalEvery
        c.checkpointEvery = checkpointEvery; c.klPrompts = klPrompts; c.klMaxNewTokens = klMaxNewTokens; c.seed = seed
        return c
    }

    func run() throws {
        var c = makeConfig()
        try c.validate()
        let folder = try prepareRunFolder(out, resume: resume, overwrite: output.overwriteOutputDir, inputs: [("--policy", policy), ("--ref-model", refModel)])
        if resume {
            // The run's own settings, read first: its seed split the data into training and
            // held-out pairs, and must split it the same way again.
            let defaults = try Self.parse(["--policy", policy, "--data", data, "--out", out]).makeConfig()
            c = try runConfiguration(c, defaults: defaults, flags: Self.flagNames, in: URL(fileURLWithPath: out), resume: true)
        }
        let records = try readPreferences(data, skipInvalid: skipInvalid)
        let (train, heldOut) = try evalData.map { (records, try readPreferences($0, skipInvalid: skipInvalid)) }
            ?? splitHeldOut(records, groupedBy: \.prompt, fraction: evalFraction, seed: c.seed)
        let (model, tok) = try loadModelAndTokenizer(policy)
        let (reference, refTok) = try loadModelAndTokenizer(refModel ?? policy)
        guard refTok.vocab == tok.vocab, refTok.merges.elementsEqual(tok.merges, by: { $0 == $1 }) else {
            throw RLHFError.invalidArgument("--ref-model \(refModel ?? policy) has another tokenizer than --policy \(policy); DPO compares log-probabilities of the same tokens")
        }
        let trainer = try DPOStage.make(policy: model, reference: reference, tokenizer: tok, train: train, heldOut: heldOut,
                                        config: c, out: URL(fileURLWithPath: out), resume: resume, beforeWriting: folder.clearForNewRun)
        try trainer.train()
        try trainer.saveFinal()
        note("policy written to \(out)")
    }
}

extension DPOLossType: ExpressibleByArgument {}

/// The DPO stage as calls shared by `rlhf dpo` and `rlhf demo`.
enum DPOStage {
    static func make(policy: GPT2, reference: GPT2, tokenizer: BPETokenizer, train: [PreferenceRecord], heldOut: [PreferenceRecord],
                     config: DPOTrainer.Config, out: URL, resume: Bool, beforeWriting: () throws -> Void = {}) throws -> DPOTrainer {
        // A resumed run's settings are the caller's to read (`rlhf dpo` reads run_config.json
        // before it splits the data; the demo rebuilds the same ones); a new run's are written.
        if !resume { try beforeWriting() }
        let config = resume ? config : try runConfiguration(config, in: out, resume: false)
        note("dpo: \(train.count) training pairs, \(heldOut.count) held out; reference log-probabilities computed once")
        let trainer = try DPOTrainer(policy: policy, reference: reference, tokenizer: tokenizer, train: train, heldOut: heldOut,
                                     config: config, runDirectory: out)
        if trainer.truncatedPairs > 0 {
            note("warning: \(trainer.truncatedPairs) pair(s) longer than the context of \(policy.config.nPositions) were cut (the prompt at its start, once for both answers; each answer at its end)")
        }
        if resume {
            try trainer.resume()
            note("resumed at step \(trainer.step) of \(trainer.totalSteps)")
        }
        return trainer
    }
}
