import ArgumentParser
import Foundation
import Models
import Support
import Tensors
import Tokenizers
import Training

struct PretrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pretrain",
        abstract: "Pretrain a GPT-2 language model from a text corpus.",
        discussion: """
        Trains a byte-level BPE tokenizer first unless --tokenizer is given, then a GPT-2 of the \
        chosen size on random windows of the token stream, with a held-out split for evaluation. \
        Writes a Hugging Face model directory to --out (config.json, model.safetensors, tokenizer \
        files), metrics.jsonl, and a resumable checkpoint-last/ every --checkpoint-every steps.
        """)

    @Option(help: "Corpus: JSONL with a \"text\" field, or plain text (documents separated by blank lines).") var data: String
    @Option(help: "Output model directory.") var out: String
    @Option(help: "Use this directory's tokenizer instead of training one.") var tokenizer: String?
    @Option(help: "Vocabulary size when training a tokenizer.") var vocabSize = 2048
    @Option(help: "Model size: \(GPT2Config.presetNames.joined(separator: ", ")).") var preset = "tiny"
    @Option(help: "Override the preset's layer count.") var nLayer: Int?
    @Option(help: "Override the preset's embedding width.") var nEmbd: Int?
    @Option(help: "Override the preset's head count.") var nHead: Int?
    @Option(help: "Context length (tokens per training window and n_positions).") var context = 128
    @Option(help: "Optimiser steps.") var steps = 1000
    @Option(help: "Sequences per micro-batch.") var batchSize = 16
    @OptionGroup var accumulation: AccumulationOptions
    @OptionGroup var output: OutputOptions
    @Option(name: [.customLong("lr"), .customLong("learning-rate")], help: "Peak learning rate (--learning-rate is the same flag, as in TRL and in ppo, dpo, grpo and rloo).") var lr: Float = 1e-3
    @Option(help: "Warm-up steps.") var warmup = 50
    @Option(help: "AdamW weight decay (matrices only).") var weightDecay: Float = 0.1
    @Option(help: "Dropout (embeddings, attention probabilities, residual branches) during training.") var dropout: Double = 0.0
    @Option(help: "Evaluate every N steps.") var evalEvery = 100
    @Option(help: "Checkpoint every N steps.") var checkpointEvery = 200
    @Option(help: "Fraction of documents held out for evaluation (0: none).") var evalFraction = 0.05
    @Option(parsing: .unconditional, help: "Random seed (init, data order, dropout). (default: 0)", transform: parseSeed) var seed: UInt64 = 0
    @Flag(help: "Continue from --out/checkpoint-last, as if never stopped; give the same training flags (--eval-every and --checkpoint-every may change).") var resume = false

    func validate() throws {
        try FlagCheck.atLeast(2, context, "--context"); try FlagCheck.atLeast(1, steps, "--steps"); try FlagCheck.atLeast(1, batchSize, "--batch-size")
        try FlagCheck.atLeast(0, warmup, "--warmup")
        try FlagCheck.atLeast(1, evalEvery, "--eval-every"); try FlagCheck.atLeast(1, checkpointEvery, "--checkpoint-every")
        try FlagCheck.heldOutFraction(evalFraction); try FlagCheck.positive(lr, "--lr")
        guard (0..<1).contains(dropout) else { throw ValidationError("--dropout must be at least 0 and below 1, found \(dropout)") }
    }

    func run() throws {
        let folder = try prepareRunFolder(out, resume: resume, overwrite: output.overwriteOutputDir, inputs: [("--tokenizer", tokenizer)])
        let outURL = URL(fileURLWithPath: out)
        var config = LanguageModelTrainingConfig()
        config.steps = steps; config.batchSize = batchSize; config.gradientAccumulation = accumulation.gradAccum
        config.contextLength = context; config.learningRate = lr; config.warmupSteps = warmup
        config.weightDecay = weightDecay; config.evalEvery = evalEvery; config.checkpointEvery = checkpointEvery
        config.seed = seed

        let texts = try readCorpus(data)
        guard texts.count >= (evalFraction > 0 ? 2 : 1) else {
            throw RLHFError.invalidFile(path: data, message: evalFraction > 0 ? "needs at least 2 documents (one is held out; --eval-fraction 0 holds out none)" : "has no documents")
        }
        let (trainTexts, evalTexts) = splitHeldOut(texts, fraction: evalFraction, seed: seed)

        let checkpoint = outURL.appendingPathComponent(TrainingCheckpoint.folderName)
        let tok: BPETokenizer
        if let tokenizer { tok = try BPETokenizer.load(directory: URL(fileURLWithPath: tokenizer)) } else if resume {
            // The tokenizer this run trained, as its checkpoint holds it (training it again
            // would give the same one, slowly).
            tok = try BPETokenizer.load(directory: checkpoint)
        } else {
            tok = try BPETokenizer.train(texts: trainTexts, vocabSize: vocabSize, specialTokens: ["<|endoftext|>", "<|pad|>"],
                                         padToken: "<|pad|>", showProgress: true)
        }
        var c = try GPT2Config.preset(preset, vocabSize: tok.vocabSize, context: context)
        if let nLayer { c.nLayer = nLayer }
        if let nEmbd { c.nEmbd = nEmbd }
        if let nHead { c.nHead = nHead }
        guard c.nEmbd % c.nHead == 0 else { throw ValidationError("n_embd \(c.nEmbd) must be divisible by n_head \(c.nHead)") }
        c.residPdrop = dropout; c.embdPdrop = dropout; c.attnPdrop = dropout
        c.bosTokenID = tok.eosTokenID; c.eosTokenID = tok.eosTokenID; c.padTokenID = tok.padTokenID
        // Built from the flags on --resume too: the checkpoint records this starting point and
        // refuses to continue from another shape, seed or corpus (`LanguageModelTrainer.resume`).
        if resume {
            // Said in flags, before any tensor is compared (checkpoints from before the run's
            // model shape was recorded have only their config.json to say it).
            let saved = try GPT2Config.load(checkpoint.appendingPathComponent("config.json"))
            let flags = { (c: GPT2Config) in "--n-layer \(c.nLayer) --n-embd \(c.nEmbd) --n-head \(c.nHead) --context \(c.nPositions) --dropout \(c.residPdrop)" }
            guard flags(saved) == flags(c), saved.vocabSize == c.vocabSize else {
                throw RLHFError.invalidArgument("\(checkpoint.path) holds a model of \(flags(saved)) (vocabulary \(saved.vocabSize)); the flags given make \(flags(c)) (vocabulary \(c.vocabSize)). Resume with the flags the run began with")
            }
        }
        let model = GPT2(config: c, seed: seed)
        guard let eos = tok.eosTokenID else { throw RLHFError.invalidArgument("the tokenizer has no <|endoftext|> token to separate documents") }

        func stream(_ docs: [String]) -> [Int32] {
            var s: [Int32] = []
            for d in docs { s += tok.encodeIDs(d); s.append(Int32(eos)) }
            return s
        }
        let trainTokens = stream(trainTexts)
        let evalTokens = stream(evalTexts)
        let source = try TokenStream(tokens: trainTokens, batchSize: batchSize, contextLength: context)
        // Held-out windows, non-overlapping and fixed, so every evaluation sees the same tokens.
        var evalBatches: [LanguageModelBatch] = []
        var windows: [[Int32]] = []
        var i = 0
        while i + context + 1 <= evalTokens.count && windows.count < 64 {
            windows.append(Array(evalTokens[i..<i + context + 1])); i += context
        }
        for start in stride(from: 0, to: windows.count, by: batchSize) {
            let w = Array(windows[start..<min(start + batchSize, windows.count)])
            evalBatches.append(LanguageModelBatch(windows: w))
        }
        let unigram = unigramEntropy(trainTokens, vocab: tok.vocabSize)
        note(String(format: "model: %d layers, %d wide, %d heads, %.2fM parameters; %d train / %d eval tokens; unigram baseline loss %.3f",
                    model.config.nLayer, model.config.nEmbd, model.config.nHead, Double(model.parameterCount) / 1e6,
                    trainTokens.count, evalTokens.count, unigram))

        if !resume { try folder.clearForNewRun() }
        try FileManager.default.createDirectory(at: outURL, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(config), to: outURL.appendingPathComponent("run_config.json"))

        let trainer = LanguageModelTrainer(model: model, tokenizer: tok, config: config, source: source,
                                           evalBatches: evalBatches, runDirectory: outURL)
        trainer.label = "pretrain"
        trainer.lanes = accumulation.lanes
        trainer.settingNames = PretrainCommand.flagNames
        if resume { try trainer.resume(); note("resumed at step \(trainer.step)") }
        try trainer.train()
        try model.save(to: outURL, tokenizer: tok)
        struct Summary: Encodable { let eval_loss: Double?; let unigram_baseline: Double; let steps: Int; let parameters: Int }
        try AtomicFile.write(JSONL.line(Summary(eval_loss: trainer.lastEvalLoss, unigram_baseline: unigram, steps: trainer.step,
                                                parameters: model.parameterCount)) + "\n",
                             to: outURL.appendingPathComponent("summary.json"))
        note(trainer.lastEvalLoss.map { String(format: "eval loss %.4f (unigram baseline %.4f); model written to %@", $0, unigram, out) }
             ?? "nothing held out to evaluate; model written to \(out)")
    }
}

extension PretrainCommand {
    /// The flag of each training setting a checkpoint records, for a refused `--resume`.
    static let flagNames = SFTCommand.flagNames.merging(["contextLength": "--context"]) { a, _ in a }
}

/// Entropy (nats) of the token frequency distribution: the loss of a model that ignores context.
func unigramEntropy(_ tokens: [Int32], vocab: Int) -> Double {
    var counts = [Int](repeating: 0, count: vocab)
    for t in tokens { counts[Int(t)] += 1 }
    let n = Double(tokens.count)
    return -counts.filter { $0 > 0 }.reduce(0.0) { $0 + Double($1) / n * Foundation.log(Double($1) / n) }
}
