import ArgumentParser
import Feedback
import Foundation
import Models
import Support
import Tensors
import Tokenizers
import Training

struct RewardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reward",
        abstract: "Train a reward model from preference pairs (Bradley–Terry).",
        discussion: """
        Reads {"prompt","chosen","rejected"} JSONL (extra fields such as "rater" and "margin" \
        allowed; a line without "prompt", TRL's implicit prompt as hh-rlhf is published, is split \
        at the text chosen and rejected both start with). The trunk starts from --model (usually the SFT model) with a scalar head on the \
        last token of prompt + response (on an EOS appended to it with --append-eos, as TRL's \
        RewardTrainer trains), saved so transformers loads it as \
        GPT2ForSequenceClassification (num_labels 1). Reports held-out accuracy and loss per epoch \
        and stores the mean/std of its scores on the responses it saw, for RL's normalisation.

        Pairs with the same prompt (K responses to one prompt compared pairwise, as in \
        InstructGPT; `rlhf world label --all-pairs`) stay in one minibatch, where each distinct \
        response is scored once, and are held out together.
        """)

    @Option(help: "Starting model directory (usually the SFT model).") var model: String
    @Option(help: "Preference JSONL.") var data: String
    @Option(help: "Output reward-model directory.") var out: String
    @Option(help: "Passes over the training pairs.") var epochs = 1
    @Option(help: "Pairs per step (whole prompts: a prompt's pairs are never split).") var batchSize = 16
    @Option(name: [.customLong("lr"), .customLong("learning-rate")], help: "Peak learning rate (--learning-rate is the same flag, as in TRL and in ppo, dpo, grpo and rloo).") var lr: Float = 1e-4
    @Option(help: "Fraction of prompts whose pairs are held out (0: none).") var evalFraction = 0.1
    @Option(parsing: .unconditional, help: "Random seed. (default: 0)", transform: parseSeed) var seed: UInt64 = 0
    @Flag(help: "Use each line's \"margin\" in the loss: −log σ(r_c − r_r − margin).") var margin = false
    @Flag(help: "Append the end-of-text token to every prompt + response and read the score there, as TRL's RewardTrainer does (recorded in config.json, so rlhf score, ppo and best-of-n score the same way).")
    var appendEOS = false
    @Flag(help: "Skip invalid lines (reporting how many) instead of stopping at the first.") var skipInvalid = false
    @Option(help: "Steps between checkpoints (--out/checkpoint-last); every epoch's end is one too.") var saveEvery = 100
    @Flag(help: "Continue from --out/checkpoint-last with the same data and flags, as if never stopped.") var resume = false
    @OptionGroup var output: OutputOptions

    func validate() throws {
        try FlagCheck.atLeast(1, saveEvery, "--save-every")
        try FlagCheck.atLeast(1, epochs, "--epochs"); try FlagCheck.atLeast(1, batchSize, "--batch-size")
        try FlagCheck.heldOutFraction(evalFraction); try FlagCheck.positive(lr, "--lr")
    }

    func run() throws {
        let folder = try prepareRunFolder(out, resume: resume, overwrite: output.overwriteOutputDir, inputs: [("--model", model)])
        let (base, tok) = try loadModelAndTokenizer(model, allowRewardModel: true)
        let records = try readPreferences(data, skipInvalid: skipInvalid)
        if !resume { try folder.clearForNewRun() }
        let result = try RewardStage.run(base: base, tokenizer: tok, records: records, epochs: epochs, batchSize: batchSize, lr: lr,
                                         evalFraction: evalFraction, seed: seed, useMargins: margin, appendEOS: appendEOS, out: URL(fileURLWithPath: out),
                                         saveEvery: saveEvery, resume: resume,
                                         settingNames: RewardCommand.flagNames)
        note(result.heldOut.isEmpty ? "no pairs held out (--eval-fraction 0); reward model written to \(out)"
             : String(format: "held-out accuracy %.3f, loss %.4f; reward model written to %@", result.accuracy, result.loss, out))
    }
}

/// Preference lines, validated: empty responses and chosen == rejected are errors naming the line.
func readPreferences(_ path: String, skipInvalid: Bool) throws -> [PreferenceRecord] {
    let (records, invalid) = try JSONL.readLenient(PreferenceRecord.self, from: URL(fileURLWithPath: path), validate: PreferenceRecord.problem)
    if let first = invalid.first {
        guard skipInvalid else { throw first }
        note("skipped \(invalid.count) invalid line(s) of \(path); first: \(first)")
    }
    guard !records.isEmpty else { throw RLHFError.invalidFile(path: path, message: "no valid preference lines") }
    let implicit = records.lazy.filter(\.promptWasImplicit).count
    if implicit > 0 {
        note("\(path): \(implicit) of \(records.count) line(s) have no \"prompt\"; each one's prompt is the text its chosen and rejected both start with (TRL's implicit prompt)")
    }
    return records
}

/// The reward stage as one call, shared by `rlhf reward` and `rlhf demo`.
extension RewardCommand {
    /// The flag of each training setting a checkpoint records, for a refused `--resume`.
    static let flagNames = ["epochs": "--epochs", "batchSize": "--batch-size", "learningRate": "--lr", "seed": "--seed", "useMargins": "--margin",
                            "appends_eos": "--append-eos"]
}

enum RewardStage {
    /// Trains and saves a reward model in `out`, checkpointing to `out/checkpoint-last`; with
    /// `resume`, continues from that checkpoint (reporting the epochs it had finished through
    /// `onEpoch`, from its `metrics.jsonl`), and ends with the model an uninterrupted run gives.
    /// `settingNames`: the caller's flag for each training setting, named when a resume is refused.
    static func run(base: GPT2, tokenizer tok: BPETokenizer, records: [PreferenceRecord], epochs: Int, batchSize: Int, lr: Float,
                    evalFraction: Double, seed: UInt64, useMargins: Bool, appendEOS: Bool = false, out: URL, saveEvery: Int = 100, resume: Bool = false,
                    settingNames: [String: String] = [:],
                    onEpoch: ((Int, Double, Double) -> Void)? = nil) throws -> (model: RewardModel, accuracy: Double, loss: Double, heldOut: [PreferenceRecord]) {
        let rm = RewardModel(initializedFrom: base, seed: seed)
        try rm.setAppendsEOS(appendEOS, tokenizer: tok)
        var config = RewardTrainer.Config()
        config.epochs = epochs; config.batchSize = batchSize; config.learningRate = lr; config.seed = seed; config.useMargins = useMargins
        config.checkpointEvery = saveEvery
        let trainer = RewardTrainer(model: rm, config: config, runDirectory: out)
        trainer.tokenizer = tok
        trainer.settingNames = settingNames
        let (trainRecords, heldOut) = splitHeldOut(records, groupedBy: \.prompt, fraction: evalFraction, seed: seed)
        // Without training pairs the model would be saved untrained, with a normalisation of
        // std 1e-6 that multiplies every score RL sees by a million.
        guard !trainRecords.isEmpty else {
            throw RLHFError.invalidArgument("no preference pairs left to train on: --eval-fraction \(evalFraction) holds out all \(heldOut.count) pair(s) (their prompts are held out whole); lower it, or 0 to hold out none")
        }
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let metricsURL = out.appendingPathComponent("metrics.jsonl")
        var truncated = 0
        let trainPairs = RewardTrainer.pairs(trainRecords, for: rm, tokenizer: tok, truncated: &truncated)
        let heldOutPairs = RewardTrainer.pairs(heldOut, for: rm, tokenizer: tok, truncated: &truncated)
        if truncated > 0 { note("warning: \(truncated) prompt + response text(s) longer than the context of \(base.config.nPositions) tokens were cut from the left") }
        if resume {
            guard trainer.hasCheckpoint else {
                throw RLHFError.invalidArgument("\(out.path) holds no \(TrainingCheckpoint.folderName)/ to resume the reward model from")
            }
            try trainer.resume()
            try trainer.checkResumable(trainPairs)  // before the log is cut back to the checkpoint
            note("reward: resumed at step \(trainer.step)")
            try Metrics.truncate(metricsURL, afterStep: trainer.step)
            for (epoch, acc, loss) in epochEvaluations(metricsURL) { onEpoch?(epoch, acc, loss) }
        } else {
            try? FileManager.default.removeItem(at: metricsURL)
        }
        trainer.onEpoch = onEpoch
        try trainer.train(trainPairs, eval: heldOutPairs, metrics: try Metrics(metricsURL))
        trainer.setNormalization(from: Array(trainPairs.lazy.flatMap { [$0.chosen, $0.rejected] }.prefix(512)))
        try rm.save(to: out, tokenizer: tok)
        // The last epoch's held-out evaluation is of the final model (and, on a resume, may have
        // been logged before the stop): it is read from the log, not run again.
        let last = epochEvaluations(metricsURL).last
        return (rm, last?.accuracy ?? .nan, last?.loss ?? .nan, heldOut)
    }

    /// A reward model `run` finished before, read back from `out` for `rlhf demo --resume`: the
    /// model, the same held-out split, and the held-out accuracy of each epoch from its
    /// `metrics.jsonl` (appended to `epochs` as `(epoch, accuracy, .nan)`, as `run`'s callback does).
    static func load(_ out: URL, records: [PreferenceRecord], evalFraction: Double, seed: UInt64,
                     epochs: inout [(Int, Double, Double)]) throws -> (model: RewardModel, accuracy: Double, loss: Double, heldOut: [PreferenceRecord]) {
        let rm = try RewardModel.load(directory: out)
        let (_, heldOut) = splitHeldOut(records, groupedBy: \.prompt, fraction: evalFraction, seed: seed)
        let metricsURL = out.appendingPathComponent("metrics.jsonl")
        let rows = epochEvaluations(metricsURL)
        guard let last = rows.last else {
            throw RLHFError.invalidFile(path: metricsURL.path, message: "no line with \"epoch\" and \"eval_accuracy\": the reward model's run did not finish an epoch")
        }
        for r in rows { epochs.append((r.epoch, r.accuracy, .nan)) }
        return (rm, last.accuracy, last.loss, heldOut)
    }

    /// Each finished epoch's held-out accuracy and loss, from a reward run's `metrics.jsonl`.
    static func epochEvaluations(_ metricsURL: URL) -> [(epoch: Int, accuracy: Double, loss: Double)] {
        Metrics.read(metricsURL).compactMap { r in
            guard let e = r["epoch"], let a = r["eval_accuracy"] else { return nil }
            return (Int(e), a, r["eval_loss"] ?? .nan)
        }
    }
}

struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score texts, prompt/completion lines or preference pairs with a reward model.",
        discussion: """
        Lines with "text" or "prompt"+"completion" get one score each; preference lines get both \
        scores and, at the end, the accuracy (chosen above rejected). --json prints {"score": …} or \
        {"chosen": …, "rejected": …} per line and a final {"accuracy": …} for pairs.
        """)

    @Option(help: "Reward-model directory.") var model: String
    @Option(help: "JSONL input.") var data: String
    @Flag(help: "JSON lines output.") var json = false
    @Flag(help: RewardModelEOS.help) var appendEOS = false

    struct Line: Decodable { let text: String?; let prompt: String?; let completion: String?; let chosen: String?; let rejected: String? }

    func run() throws {
        let dir = URL(fileURLWithPath: model)
        let rm = try RewardModel.load(directory: dir)
        let tok = try BPETokenizer.load(directory: dir)
        try rm.trunk.config.checkFits(tok, directory: dir)
        if appendEOS { try RewardModelEOS.readAtAppendedEOS(rm, directory: dir, tokenizer: tok, flag: "--append-eos") }
        let url = URL(fileURLWithPath: data)
        // The first line decides the file's kind (pairs or texts); every line is checked against
        // it as it is read, so the error names the first bad line, whatever is wrong with it.
        var pairs: Bool?
        let read = try JSONL.readLenient(Line.self, from: url) { l in
            let isPair = pairs ?? (l.chosen != nil && l.rejected != nil)
            pairs = isPair
            if isPair {
                // Without "prompt" (TRL's implicit prompt) chosen and rejected are whole texts.
                guard let c = l.chosen, let r = l.rejected else {
                    return "preference lines need \"chosen\" and \"rejected\" (and \"prompt\", unless both hold the whole text)"
                }
                let p = l.prompt ?? ""
                if (p + c).isEmpty || (p + r).isEmpty { return "prompt and \((p + c).isEmpty ? "chosen" : "rejected") are both empty: there is no token to score" }
            } else {
                guard let t = l.text ?? l.prompt.flatMap({ p in l.completion.map { p + $0 } }) else { return "expected \"text\" or \"prompt\"+\"completion\"" }
                // The head reads the last token: a text with none has no score.
                if t.isEmpty { return "the text is empty: there is no token to score" }
            }
            return nil
        }
        if let first = read.invalid.first { throw first }
        let lines = read.records
        guard !lines.isEmpty else { throw RLHFError.invalidFile(path: url.path, message: "has no lines to score") }
        let ctx = rm.trunk.config.nPositions
        // Cut from the left, as the reward model was trained: its score reads the last token.
        var truncated = 0
        defer { if truncated > 0 { note("warning: \(truncated) text(s) longer than the reward model's context of \(ctx) tokens were cut from the left") } }
        func ids(_ s: String) -> [Int32] { rm.sequence(tok.encodeIDs(s), truncated: &truncated) }
        if pairs == true {
            let chosen = rm.score(lines.map { ids(($0.prompt ?? "") + $0.chosen!) })
            let rejected = rm.score(lines.map { ids(($0.prompt ?? "") + $0.rejected!) })
            var correct = 0
            for (c, r) in zip(chosen, rejected) {
                if c > r { correct += 1 }
                print(json ? JSONL.line(["chosen": c, "rejected": r]) : String(format: "%.4f\t%.4f", c, r))
            }
            let acc = Double(correct) / Double(max(lines.count, 1))
            print(json ? JSONL.line(["accuracy": acc]) : String(format: "accuracy %.4f over %d pairs", acc, lines.count))
        } else {
            let texts = lines.map { $0.text ?? $0.prompt! + $0.completion! }
            for s in rm.score(texts.map(ids)) { print(json ? JSONL.line(["score": s]) : String(format: "%.4f", s)) }
        }
    }
}

struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Sample N responses per prompt (JSONL {\"prompt\",\"completions\":[…]}) for raters.",
        discussion: "Prompts longer than the context are cut from the left, with a warning that counts them.")

    @Option(help: "Policy model directory.") var model: String
    @Option(help: "JSONL with a \"prompt\" field.") var prompts: String
    @Option(help: "Responses per prompt.") var n = 2
    @Option(help: "Output JSONL.") var out: String
    @Option(help: "Largest number of new tokens.") var maxNewTokens = 64
    @Option(help: "Temperature (0: greedy, every response the same).") var temperature: Float = 1
    @Option(help: "Prompts per generation batch.") var batchSize = 16
    @Option(parsing: .unconditional, help: "Random seed. (default: 0)", transform: parseSeed) var seed: UInt64 = 0

    func validate() throws {
        try FlagCheck.atLeast(1, n, "--n"); try FlagCheck.atLeast(1, maxNewTokens, "--max-new-tokens")
        try FlagCheck.atLeast(1, batchSize, "--batch-size")
        guard temperature >= 0, temperature.isFinite else { throw ValidationError("--temperature must be at least 0 (0: greedy), found \(temperature)") }
    }

    func run() throws {
        try checkOutputFile(out, inputs: [("--prompts", prompts)])
        let (gpt, tok) = try loadModelAndTokenizer(model)
        try FlagCheck.room(forNewTokens: maxNewTokens, context: gpt.config.nPositions)
        let ps = try readPrompts(prompts)
        var rng = RNG(seed: seed, stream: 5)
        let completions = Sampling.sample(gpt, tok, prompts: ps, n: n, maxNewTokens: maxNewTokens, temperature: max(temperature, 1e-6),
                                          batchSize: batchSize, greedy: temperature == 0, rng: &rng)
        try JSONL.write(zip(ps, completions).map { SampleRecord(prompt: $0, completions: $1) }, to: URL(fileURLWithPath: out))
        note("wrote \(ps.count) prompts × \(n) responses to \(out)")
    }
}
