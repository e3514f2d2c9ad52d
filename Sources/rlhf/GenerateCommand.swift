import ArgumentParser
import Foundation
import Models
import Support
import Tensors

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Continue a prompt with a model; prints the completion only.",
        discussion: "Sampling with temperature / top-k / top-p from a seed, or greedy. Stops at <|endoftext|> or after --max-new-tokens.")

    @Option(help: "Model directory (config.json, model.safetensors, tokenizer).") var model: String
    @Option(help: "Prompt text.") var prompt: String
    @Option(help: "Largest number of new tokens.") var maxNewTokens = 64
    @Option(help: "Softmax temperature.") var temperature: Float = 1
    @Option(help: "Sample only among the k most likely tokens.") var topK: Int?
    @Option(help: "Sample from the smallest set of tokens with total probability ≥ p.") var topP: Float?
    @Option(parsing: .unconditional, help: "Random seed. (default: 0)", transform: parseSeed) var seed: UInt64 = 0
    @Flag(help: "Take the most likely token each step (ignores temperature, top-k, top-p).") var greedy = false
    @Flag(help: "Print {\"completion\": …, \"token_ids\": […]} instead of plain text.") var json = false

    func validate() throws {
        // Greedy decoding takes the argmax: no temperature applies, 0 included.
        if !greedy { try FlagCheck.positive(temperature, "--temperature", why: " (for greedy decoding, pass --greedy)") }
        try FlagCheck.atLeast(1, maxNewTokens, "--max-new-tokens")
        if let p = topP, !(p > 0 && p <= 1) { throw ValidationError("--top-p must be in (0, 1], found \(p) (leave it out for no nucleus sampling)") }
        if let k = topK { try FlagCheck.atLeast(1, k, "--top-k") }
    }

    func run() throws {
        let (gpt, tok) = try loadModelAndTokenizer(model)
        var ids = tok.encodeIDs(prompt)
        guard !ids.isEmpty else { throw RLHFError.invalidArgument("the prompt encodes to no tokens") }
        try FlagCheck.room(forNewTokens: maxNewTokens, context: gpt.config.nPositions)
        let room = gpt.config.nPositions - maxNewTokens
        if ids.count > room {
            note("warning: prompt of \(ids.count) tokens truncated from the left to \(room)")
            ids = Array(ids.suffix(room))
        }
        var rng = RNG(seed: seed, stream: 5)
        let options = SamplingOptions(temperature: temperature, topK: topK, topP: topP, greedy: greedy,
                                      maxNewTokens: maxNewTokens, eosTokenID: tok.eosTokenID.map(Int32.init))
        let out = gpt.generate(prompts: [ids], options: options, rng: &rng)
        var newIDs = out.tokens[0]
        if out.finished[0] { newIDs.removeLast() }
        let text = tok.decode(newIDs)
        if json {
            struct Out: Encodable { let completion: String; let token_ids: [Int32] }
            print(JSONL.line(Out(completion: text, token_ids: newIDs)))  // the completion's tokens, EOS not among them
        } else {
            print(text)
        }
    }
}
