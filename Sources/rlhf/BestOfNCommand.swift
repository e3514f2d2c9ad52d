import ArgumentParser
import Feedback
import Foundation
import Models
import Support
import Tensors
import Tokenizers
import Training

struct BestOfNCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "best-of-n",
        abstract: "Sample N responses per prompt and keep the reward model's best (rejection sampling).",
        discussion: """
        Writes {"prompt","completion","score"} JSONL (with --keep-candidates also "candidates" \
        and "scores"). The score is the reward model's normalised score plus any weighted \
        --reward-fn. At the end it prints the analytic KL of best-of-N from the policy, \
        log N − (N−1)/N, beside the gain of the kept responses over all candidates in score and \
        in every --monitor-fn (e.g. gold on the demo world).
        """)

    @Option(help: "Policy model directory.") var policy: String
    @Option(help: "Reward model directory.") var reward: String
    @Option(help: "JSONL with a \"prompt\" field.") var prompts: String
    @Option(help: "Responses sampled per prompt.") var n = 8
    @Option(help: "Output JSONL.") var out: String
    @Option(help: "Largest number of new tokens.") var maxNewTokens = 64
    @Option(help: "Sampling temperature.") var temperature: Float = 0.7
    @Option(help: "Sequences per generation batch.") var batchSize = 32
    @Option(help: "Weight of the reward model's normalised score.") var rmWeight: Double = 1
    @Option(parsing: .singleValue, help: "Programmatic reward NAME or NAME:WEIGHT added to the score (repeatable).") var rewardFn: [String] = []
    @Option(parsing: .singleValue, help: "Function reported for kept vs all responses but not used to choose (repeatable).") var monitorFn: [String] = []
    @Flag(help: RewardModelEOS.help) var rmAppendEOS = false
    @Flag(help: "Also write every candidate and its score.") var keepCandidates = false
    @Option(parsing: .unconditional, help: "Random seed. (default: 0)", transform: parseSeed) var seed: UInt64 = 0

    struct Line: Encodable { let prompt: String; let completion: String; let score: Double; let candidates: [String]?; let scores: [Double]? }

    func validate() throws {
        guard rmWeight.isFinite else { throw ValidationError("--rm-weight must be a finite number, found \(rmWeight)") }
        try FlagCheck.atLeast(1, n, "--n"); try FlagCheck.atLeast(1, maxNewTokens, "--max-new-tokens")
        try FlagCheck.atLeast(1, batchSize, "--batch-size")
        // At temperature 0 every candidate would be the same greedy answer: nothing to choose from.
        try FlagCheck.positive(temperature, "--temperature", why: " (best-of-N chooses among sampled candidates)")
    }

    func run() throws {
        try checkOutputFile(out, inputs: [("--prompts", prompts)])
        let (gpt, tok) = try loadModelAndTokenizer(policy)
        try FlagCheck.room(forNewTokens: maxNewTokens, context: gpt.config.nPositions)
        let (rm, rmTokenizer) = try PPOStage.loadRewardModel(reward, policy: gpt, tokenizer: tok, appendEOS: rmAppendEOS)
        let rmTok = rmTokenizer ?? tok
        let ps = try readPrompts(prompts)
        let fns = try PPOStage.rewardFunctions(rewardFn), monitors = try PPOStage.rewardFunctions(monitorFn)
        var rng = RNG(seed: seed, stream: 5)
        let candidates = Sampling.sample(gpt, tok, prompts: ps, n: n, maxNewTokens: maxNewTokens, temperature: temperature,
                                         batchSize: batchSize, rng: &rng, label: "best-of-\(n)")
        let choices = BestOfN.choose(prompts: ps, candidates: candidates, rewardModel: rm, tokenizer: rmTok,
                                     rewardModelWeight: rmWeight, rewardFunctions: fns)
        // A NaN would be "chosen" by no comparison and written as a score JSON cannot hold.
        for (i, c) in choices.enumerated() {
            if let j = c.scores.firstIndex(where: { !$0.isFinite }) {
                throw RLHFError.invalidArgument("candidate \(j + 1) of prompt \(i + 1) in \(prompts) scored \(c.scores[j]): the reward model at \(reward) or a --reward-fn gives non-finite scores")
            }
        }
        try JSONL.write(choices.map { c in
            Line(prompt: c.prompt, completion: c.response, score: c.scores[c.best],
                 candidates: keepCandidates ? c.candidates : nil, scores: keepCandidates ? c.scores : nil)
        }, to: URL(fileURLWithPath: out))
        func mean(_ x: [Double]) -> Double { x.reduce(0, +) / Double(max(x.count, 1)) }
        let kept = mean(choices.map { $0.scores[$0.best] }), all = mean(choices.flatMap(\.scores))
        note(String(format: "best-of-%d on %d prompts: analytic KL %.3f nats; score %+.3f kept vs %+.3f over all candidates (%+.3f)",
                    n, ps.count, BestOfN.analyticKL(n: n), kept, all, kept - all))
        for m in monitors {
            let k = mean(choices.map { m.function($0.prompt, $0.response) })
            let a = mean(choices.flatMap { c in c.candidates.map { m.function(c.prompt, $0) } })
            note(String(format: "  %@: %+.3f kept vs %+.3f over all candidates (%+.3f)", m.name, k, a, k - a))
        }
        note("wrote \(out)")
    }
}
