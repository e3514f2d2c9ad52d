import ArgumentParser
import Feedback
import Foundation
import Models
import Support
import Tensors
import Tokenizers
import Training

struct SFTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sft",
        abstract: "Supervised fine-tuning on {\"prompt\",\"completion\"} demonstrations.",
        discussion: """
        The loss counts completion tokens only (prompt tokens are masked); EOS is appended to every \
        completion so the model learns to stop. A share of the examples is held out for evaluation. \
        Writes a model directory, metrics.jsonl and a resumable checkpoint-last/, like pretrain.
        """)

    @Option(help: "Starting model directory (usually a pretrained base).") var model: String
    @Option(help: "JSONL with \"prompt\" and \"completion\" fields.") var data: String
    @Option(help: "Output model directory.") var out: String
    @Option(help: "Optimiser steps; each draws its examples at random (with replacement), so steps, not epochs, set the budget.") var steps = 300
    @Option(help: "Examples per micro-batch.") var batchSize = 16
    @OptionGroup var accumulation: AccumulationOptions
    @OptionGroup var output: OutputOptions
    @Option(name: [.customLong("lr"), .customLong("learning-rate")], help: "Peak learning rate (--learning-rate is the same flag, as in TRL and in ppo, dpo, grpo and rloo).") var lr: Float = 3e-4
    @Option(help: "Warm-up steps.") var warmup = 20
    @Option(help: "AdamW weight decay.") var weightDecay: Float = 0.0
    @Option(help: "Evaluate every N steps.") var evalEvery = 50
    @Option(help: "Checkpoint every N steps.") var checkpointEvery = 100
    @Option(help: "Fraction of examples held out (0: none).") var evalFraction = 0.05
    @Option(parsing: .unconditional, help: "Random seed. (default: 0)", transform: parseSeed) var seed: UInt64 = 0
    @Flag(help: "Continue from --out/checkpoint-last, as if never stopped; give the same training flags (--eval-every and --checkpoint-every may change).") var resume = false

    func validate() throws {
        try FlagCheck.atLeast(1, steps, "--steps"); try FlagCheck.atLeast(1, batchSize, "--batch-size")
        try FlagCheck.atLeast(0, warmup, "--warmup")
        try FlagCheck.atLeast(1, evalEvery, "--eval-every"); try FlagCheck.atLeast(1, checkpointEvery, "--checkpoint-every")
        try FlagCheck.heldOutFraction(evalFraction); try FlagCheck.positive(lr, "--lr")
    }

    func run() throws {
        let folder = try prepareRunFolder(out, resume: resume, overwrite: output.overwriteOutputDir, inputs: [("--model", model)])
        let outURL = URL(fileURLWithPath: out)
        let records = try JSONL.read(SFTRecord.self, from: URL(fileURLWithPath: data))
        // --model on --resume too: the checkpoint records the starting weights and refuses to
        // continue a run that began from another model.
        let (gpt, tok) = try loadModelAndTokenizer(model)
        if !resume { try folder.clearForNewRun() }
        let result = try SFT.run(model: gpt, tokenizer: tok, records: records, steps: steps, batchSize: batchSize, gradAccum: accumulation.gradAccum, lanes: accumulation.lanes,
                                 lr: lr, warmup: warmup, weightDecay: weightDecay, evalEvery: evalEvery, checkpointEvery: checkpointEvery,
                                 evalFraction: evalFraction, seed: seed, out: outURL, resume: resume, settingNames: SFTCommand.flagNames)
        note(result.map { String(format: "held-out completion loss %.4f; model written to %@", $0, out) } ?? "no examples held out; model written to \(out)")
    }
}

/// The SFT stage as one call, shared by `rlhf sft` and `rlhf demo`. `settingNames`: the caller's
/// flag for each training setting, named when a resume is refused.
enum SFT {
    static func run(model: GPT2, tokenizer tok: BPETokenizer, records: [SFTRecord], steps: Int, batchSize: Int, gradAccum: Int = 1, lanes: Int = 1,
                    lr: Float, warmup: Int, weightDecay: Float, evalEvery: Int, checkpointEvery: Int, evalFraction: Double,
                    seed: UInt64, out: URL, resume: Bool, settingNames: [String: String] = [:]) throws -> Double? {
        guard records.count >= (evalFraction > 0 ? 2 : 1) else {
            throw RLHFError.invalidArgument(evalFraction > 0 ? "SFT needs at least 2 examples (one is held out; --eval-fraction 0 holds out none)" : "SFT needs at least 1 example")
        }
        let context = model.config.nPositions
        let (examples, truncated) = SFTData.examples(records, tokenizer: tok, contextLength: context)
        if truncated > 0 { note("warning: \(truncated) examples longer than the context of \(context) tokens were truncated") }
        let (trainSet, evalSet) = splitHeldOut(examples, fraction: evalFraction, seed: seed)
        var config = LanguageModelTrainingConfig()
        config.steps = steps; config.batchSize = batchSize; config.gradientAccumulation = gradAccum; config.contextLength = context
        config.learningRate = lr; config.warmupSteps = warmup; config.weightDecay = weightDecay
        config.evalEvery = evalEvery; config.checkpointEvery = checkpointEvery; config.seed = seed
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(config), to: out.appendingPathComponent("run_config.json"))
        let trainer = LanguageModelTrainer(
            model: model, tokenizer: tok, config: config,
            source: ExampleBatches(examples: trainSet, batchSize: batchSize, contextLength: context),
            evalBatches: SFTData.evalBatches(evalSet, batchSize: batchSize, contextLength: context), runDirectory: out)
        trainer.label = "sft"
        trainer.lanes = lanes
        trainer.settingNames = settingNames
        if resume {
            try trainer.resume()
            note("sft: resumed at step \(trainer.step) of \(steps)")
        }
        try trainer.train()
        try model.save(to: out, tokenizer: tok)
        return trainer.lastEvalLoss
    }
}

extension SFTCommand {
    /// The flag of each training setting a checkpoint records, for a refused `--resume`
    /// ("--lr 0.001 in the checkpoint, 0.002 now", not "learningRate").
    static let flagNames = ["steps": "--steps", "batchSize": "--batch-size", "gradientAccumulation": "--grad-accum", "lanes": "--lanes",
                            "learningRate": "--lr", "warmupSteps": "--warmup", "weightDecay": "--weight-decay", "seed": "--seed"]
}
