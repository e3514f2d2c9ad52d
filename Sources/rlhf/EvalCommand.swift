import ArgumentParser
import Feedback
import Foundation
import Models
import Support

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Mean negative log-likelihood per predicted token of a JSONL file.",
        discussion: """
        Each line's "text" is encoded on its own with nothing added; every token after the first \
        is predicted; the mean is weighted by tokens over the whole file. Prints loss, perplexity \
        and token count.
        """)

    @Option(help: "Model directory.") var model: String
    @Option(help: "JSONL file with a \"text\" field per line.") var data: String
    @Option(help: "Sequences per forward pass.") var batchSize = 8
    @Flag(help: "Print {\"loss\": …, \"perplexity\": …, \"tokens\": …}.") var json = false

    func validate() throws {
        try FlagCheck.atLeast(1, batchSize, "--batch-size")
    }

    func run() throws {
        let (gpt, tok) = try loadModelAndTokenizer(model)
        let url = URL(fileURLWithPath: data)
        let texts = try JSONL.read(TextRecord.self, from: url).map(\.text)
        var sequences: [[Int32]] = []
        for (i, t) in texts.enumerated() {
            let ids = tok.encodeIDs(t)
            guard ids.count <= gpt.config.nPositions else {
                throw RLHFError.invalidLine(path: url.path, line: i + 1, message: "\(ids.count) tokens exceed the model's context of \(gpt.config.nPositions)")
            }
            if ids.count >= 2 { sequences.append(ids) }
        }
        var total = 0.0, tokens = 0
        let progress = Progress("eval", total: sequences.count, unit: "seq")
        for start in stride(from: 0, to: sequences.count, by: batchSize) {
            let chunk = Array(sequences[start..<min(start + batchSize, sequences.count)])
            let batch = LanguageModelBatch(sequences: chunk, lossFrom: Array(repeating: 1, count: chunk.count),
                                           maxLength: gpt.config.nPositions)
            let (s, n) = gpt.negativeLogLikelihood(batch)
            total += s; tokens += n
            progress.update(start + chunk.count)
        }
        guard tokens > 0 else { throw RLHFError.invalidFile(path: url.path, message: "no line has two or more tokens to predict from") }
        let loss = total / Double(tokens)
        if json {
            struct Out: Encodable { let loss: Double; let perplexity: Double; let tokens: Int }
            print(JSONL.line(Out(loss: loss, perplexity: Foundation.exp(loss), tokens: tokens)))
        } else {
            print(String(format: "loss %.6f  perplexity %.4f  tokens %d", loss, Foundation.exp(loss), tokens))
        }
    }
}
