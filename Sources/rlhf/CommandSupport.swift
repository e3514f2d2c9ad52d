import ArgumentParser
import Feedback
import Foundation
import Models
import Support
import Tokenizers

/// `--grad-accum` and `--lanes` of the language-model trainers (`rlhf pretrain`, `rlhf sft`),
/// checked together: every lane needs at least one micro-batch.
struct AccumulationOptions: ParsableArguments {
    @Option(help: "Micro-batches per optimiser step.") var gradAccum = 1
    @Option(help: "Spread each step's --grad-accum micro-batches over N copies of the model that run side by side, each on its share of the cores. Faster for small models (2 for the tiny preset on 2 cores); results depend on N, not on the core count.")
    var lanes = 1

    func validate() throws {
        guard gradAccum >= 1 else { throw ValidationError("--grad-accum must be at least 1, found \(gradAccum)") }
        guard (1...gradAccum).contains(lanes) else {
            throw ValidationError("--lanes must be between 1 and --grad-accum (\(gradAccum)): each lane runs at least one micro-batch; found \(lanes)")
        }
    }
}

/// Flag checks the commands share, so that the same mistake reads the same everywhere and is
/// caught as a usage error before any work starts (a zero batch size or interval otherwise
/// reaches a division or a `stride(by: 0)` deep in a trainer).
enum FlagCheck {
    static func atLeast(_ minimum: Int, _ value: Int, _ flag: String) throws {
        guard value >= minimum else { throw ValidationError("\(flag) must be at least \(minimum), found \(value)") }
    }
    /// A share of the data held out: 0 (none) up to, but not including, all of it.
    static func heldOutFraction(_ value: Double, _ flag: String = "--eval-fraction") throws {
        guard value >= 0, value < 1 else { throw ValidationError("\(flag) must be at least 0 and below 1 (some data must be left to train on), found \(value)") }
    }
    static func positive(_ value: Float, _ flag: String, why: String = "") throws {
        guard value > 0, value.isFinite else { throw ValidationError("\(flag) must be positive\(why), found \(value)") }
    }
    /// New tokens to sample, checked against the model's context once it is loaded.
    static func room(forNewTokens maxNewTokens: Int, context: Int) throws {
        guard maxNewTokens < context else {
            throw RLHFError.invalidArgument("--max-new-tokens \(maxNewTokens) leaves no room for a prompt in the model's context of \(context)")
        }
    }
}

/// `--panel-taste` of `rlhf demo` and `rlhf world label`.
extension RaterPanel.Taste: ExpressibleByArgument {}

/// The help text both commands show for `--panel-taste`.
let panelTasteHelp = ArgumentHelp(
    "What the simulated raters value on average: sounds-good (manners and length over order numbers, as raters who do not check facts; a reward model learned from them ranks a wrong order number above a wrong remedy) or gold (gold's own weights, each rater's spread, noise, careless share and position bias kept).",
    valueName: "taste")

/// Reads a corpus: JSONL with a `text` field per line, or plain text split into documents at
/// blank lines. `.jsonl`/`.json` files are JSONL and other named files plain text; a pipe
/// (`--data <(…)`, no extension) is JSONL if its first non-blank character is `{`.
func readCorpus(_ path: String) throws -> [String] {
    let url = URL(fileURLWithPath: path)
    let data = try JSONL.readAll(url)
    let ext = url.pathExtension.lowercased()
    let firstByte = data.first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
    if ["jsonl", "json"].contains(ext) || (ext.isEmpty && firstByte == UInt8(ascii: "{")) {
        let (records, invalid) = try JSONL.decodeLenient(TextRecord.self, data: data, path: url.path)
        if let first = invalid.first { throw first }
        return records.map(\.text)
    }
    guard let text = String(data: data, encoding: .utf8) else {
        throw RLHFError.invalidFile(path: url.path, message: "not valid UTF-8 text")
    }
    return text.components(separatedBy: "\n\n").filter { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
}

/// The prompts of a `{"prompt"}` JSONL file (sample, best-of-n, ppo, grpo, rloo): an empty one
/// gives the model nothing to continue, so it is an error naming its line, as `generate` refuses
/// an empty `--prompt`.
func readPrompts(_ path: String) throws -> [String] {
    let (records, invalid) = try JSONL.readLenient(PromptRecord.self, from: URL(fileURLWithPath: path),
                                                   validate: { $0.prompt.isEmpty ? "field \"prompt\" is empty" : nil })
    if let first = invalid.first { throw first }
    guard !records.isEmpty else { throw RLHFError.invalidFile(path: path, message: "no prompt lines") }
    return records.map(\.prompt)
}

/// A model directory's language model and tokenizer (see `GPT2.loadWithTokenizer`).
func loadModelAndTokenizer(_ path: String, allowRewardModel: Bool = false) throws -> (GPT2, BPETokenizer) {
    try GPT2.loadWithTokenizer(directory: URL(fileURLWithPath: path), allowRewardModel: allowRewardModel)
}

/// Prints a line to standard error (progress and notes never mix with machine-readable stdout).
func note(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// A run's `run_config.json`: written at the start of a fresh run; with `resume`, read back
/// instead of the flags, so a resumed run continues with exactly the settings it began with.
func runConfiguration<C: Codable>(_ config: C, in out: URL, resume: Bool) throws -> C {
    let url = out.appendingPathComponent("run_config.json")
    if resume {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw RLHFError.io(path: url.path, message: "no run configuration to resume from")
        }
        do {
            let saved = try JSONDecoder().decode(C.self, from: data)
            note("resuming with the configuration saved in \(url.path)")
            return saved
        } catch {
            throw RLHFError.invalidFile(path: url.path, message: "cannot decode the run configuration (\(error))")
        }
    }
    try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try AtomicFile.write(try encoder.encode(config), to: url)
    try? FileManager.default.removeItem(at: out.appendingPathComponent("metrics.jsonl"))
    return config
}
