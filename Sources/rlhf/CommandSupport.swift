import ArgumentParser
import Feedback
import Foundation
import Models
import Support
import Tokenizers
import Training

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

/// `--seed` of every command: a whole number from 0 to 2⁶⁴ − 1. Every `--seed` reads its value
/// with `parsing: .unconditional`, so that `--seed -1` is read as a value and refused as one,
/// rather than taken for a flag and reported as a missing value. (A transformed option's help
/// shows no default, so each says "(default: 0)" itself.)
func parseSeed(_ text: String) throws -> UInt64 {
    guard let seed = UInt64(text) else { throw ValidationError("a seed is a whole number from 0 to \(UInt64.max), found \"\(text)\"") }
    return seed
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
    // Documents end at blank lines: empty or whitespace-only, with LF or CRLF endings (a file
    // from Windows split only at "\n\n" was one document, "\r" and all).
    var docs: [String] = [], current: [Substring] = []
    // (Swift reads "\r\n" as one Character, so it is replaced before splitting at "\n".)
    for line in text.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false) {
        if line.allSatisfy(\.isWhitespace) {
            if !current.isEmpty { docs.append(current.joined(separator: "\n")); current = [] }
        } else {
            current.append(line)
        }
    }
    if !current.isEmpty { docs.append(current.joined(separator: "\n")) }
    return docs
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
/// With `defaults` (the config the command gives when no optional flag is set), a resume also
/// refuses a flag given now with another value than the saved run's: `rlhf ppo … --resume`
/// alone continues the run, `--lr 1e-3 --resume` on a run at 2e-4 is an error, not ignored.
/// A flag counts as given when its value is not the default or when it is on the command line
/// (`flags`: a config key's spellings, the key in kebab case when absent). How often to save or
/// evaluate may change, and the keys `extendable` names for the saved run may grow (a constant-rate
/// PPO run's iteration count): given, they are used, and `onExtend` hears of the grown ones
/// ("--steps 100"), for the caller to save with `saveRunConfiguration` once the run's checkpoint
/// has accepted them. Keys a run's file lacks (it predates them) are not compared,
/// unless `absentMeans` gives the value such a run had in effect, which is then compared and used.
func runConfiguration<C: Codable>(_ config: C, defaults: C? = nil, flags: [String: [String]] = [:], in out: URL, resume: Bool,
                                  absentMeans: [String: JSONValue] = [:], extendable: (C) -> Set<String> = { _ in [] },
                                  onExtend: ([String]) -> Void = { _ in }) throws -> C {
    let url = out.appendingPathComponent("run_config.json")
    if resume {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw RLHFError.io(path: url.path, message: "no run configuration to resume from")
        }
        var saved: C
        do { saved = try JSONDecoder().decode(C.self, from: data) } catch {
            throw RLHFError.invalidFile(path: url.path, message: "cannot decode the run configuration (\(error))")
        }
        if let defaults {
            let given = try JSONValue.fields(of: config) ?? [:], unset = try JSONValue.fields(of: defaults) ?? [:]
            var kept = try JSONValue.fields(of: saved) ?? [:]
            // A setting newer than the saved run: the value the run had in effect.
            for (key, value) in absentMeans where kept[key] == nil || kept[key] == .null { kept[key] = value }
            let onCommandLine = Set(CommandLine.arguments.filter { $0.hasPrefix("--") }.map { arg -> String in
                let name = String(arg.prefix { $0 != "=" })
                return name.hasPrefix("--no-") ? "--" + name.dropFirst(5) : name
            })
            func spellings(_ key: String) -> [String] {
                flags[key] ?? ["--" + key.reduce(into: "") { $0 += $1.isUppercase ? "-" + $1.lowercased() : String($1) }]
            }
            func wasGiven(_ key: String) -> Bool { given[key] != unset[key] || spellings(key).contains(where: onCommandLine.contains) }
            for key in TrainingCheckpoint.cadenceKeys where kept[key] != nil && given[key] != nil && wasGiven(key) { kept[key] = given[key] }
            // Only upwards: a smaller count could end a run before the step its checkpoint holds
            // (refused below as any other change).
            func larger(_ key: String) -> Bool {
                if case .number(let g)? = given[key], case .number(let k)? = kept[key] { return g > k }
                return false
            }
            let extended = extendable(saved).filter { wasGiven($0) && larger($0) }
            for key in extended { kept[key] = given[key] }
            let conflicts = given.keys.sorted().filter { kept[$0] != nil && wasGiven($0) && given[$0] != kept[$0] }
            if !conflicts.isEmpty {
                let list = conflicts.map { "\(spellings($0)[0]) \(given[$0]!) now, \(kept[$0]!) in the run" }.joined(separator: "; ")
                throw RLHFError.invalidArgument("--resume continues the run in \(out.path) with the settings saved in run_config.json, "
                                                + "and flags given now differ from them (\(list)). Resume without those flags, or start a new run in another --out")
            }
            saved = try JSONDecoder().decode(C.self, from: JSONEncoder().encode(JSONValue.object(kept)))
            if !extended.isEmpty { onExtend(extended.sorted().map { "\(spellings($0)[0]) \(kept[$0]!)" }) }
        }
        note("resuming with the configuration saved in \(url.path)")
        return saved
    }
    try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
    try saveRunConfiguration(config, in: out)
    try? FileManager.default.removeItem(at: out.appendingPathComponent("metrics.jsonl"))
    return config
}

/// Writes `out/run_config.json` (sorted keys, indented) by a temporary file and a rename.
func saveRunConfiguration<C: Encodable>(_ config: C, in out: URL) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try AtomicFile.write(try encoder.encode(config), to: out.appendingPathComponent("run_config.json"))
}

/// `--overwrite-output-dir` of the training commands (transformers' flag of that name).
struct OutputOptions: ParsableArguments {
    @Flag(help: "Train into a non-empty --out, replacing the run there (its checkpoint, metrics and model files).")
    var overwriteOutputDir = false
}

/// Checks a training command's `--out` before any work, so that no input and no finished run is
/// lost to a mistyped path:
/// - a file there, or an input folder (`inputs`: flag and path), is refused;
/// - `resume` needs the run's checkpoint-last/;
/// - otherwise the folder must be new or hold no run (a `run_config.json` alone is what a
///   start that failed on its inputs leaves), unless `overwrite`. Returns a `RunFolder` whose
///   `clearForNewRun` removes the previous run's checkpoint, metrics and model files: call it
///   once the inputs are loaded, so that a typo in one loses nothing.
func prepareRunFolder(_ out: String, resume: Bool, overwrite: Bool, inputs: [(flag: String, path: String?)]) throws -> RunFolder {
    let fm = FileManager.default
    let url = URL(fileURLWithPath: out)
    let real = realPath(out)
    for case let (flag, path?) in inputs {
        let input = realPath(path)
        if input == real { throw RLHFError.invalidArgument("--out \(out) is also \(flag): the run would write over its own input; give another --out") }
        if overwrite && !resume && input.hasPrefix(real + "/") {
            throw RLHFError.invalidArgument("\(flag) \(path) is inside --out \(out), which --overwrite-output-dir would clear; give another --out")
        }
    }
    var isDir: ObjCBool = false
    let exists = fm.fileExists(atPath: url.path, isDirectory: &isDir)
    if exists && !isDir.boolValue { throw RLHFError.invalidArgument("--out \(out) is a file; a run writes a folder there") }
    if resume {
        guard fm.fileExists(atPath: url.appendingPathComponent(TrainingCheckpoint.folderName).path) else {
            throw RLHFError.invalidArgument("--out \(out) holds no \(TrainingCheckpoint.folderName)/ to resume from")
        }
        return RunFolder(url: url, replacing: [])
    }
    let entries = exists ? ((try? fm.contentsOfDirectory(atPath: url.path)) ?? []).filter { !$0.hasPrefix(".") }.sorted() : []
    guard entries.contains(where: { $0 != "run_config.json" }) else { return RunFolder(url: url, replacing: entries) }
    guard overwrite else {
        let shown = entries.prefix(4).joined(separator: ", ") + (entries.count > 4 ? ", …" : "")
        throw RLHFError.invalidArgument("--out \(out) is not empty (\(shown)); --resume continues the run there, --overwrite-output-dir replaces it, or give a new folder")
    }
    return RunFolder(url: url, replacing: runArtifacts.filter(entries.contains))
}

/// A training command's --out, checked (`prepareRunFolder`); what a new run there replaces.
struct RunFolder {
    let url: URL
    let replacing: [String]

    /// Removes the previous run's files (with `--overwrite-output-dir`; nothing otherwise).
    func clearForNewRun() throws {
        for name in replacing { try FileManager.default.removeItem(at: url.appendingPathComponent(name)) }
    }
}

/// What a training command writes into its --out: removed by `--overwrite-output-dir`.
let runArtifacts = [TrainingCheckpoint.folderName, "metrics.jsonl", "run_config.json", "summary.json", "model.safetensors", "config.json",
                    "generation_config.json", "value_model", "tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json",
                    "special_tokens_map.json"]

/// A path with symlinks resolved and `.`/`..` removed: two spellings of one file compare equal.
func realPath(_ path: String) -> String { URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path }

/// Checks a JSONL `--out` before any work (sampling can take minutes): a folder there, one of
/// the command's input files (`inputs`: flag and path), or a parent that cannot be made, is an
/// error now rather than after the work is done (or after the input is gone).
func checkOutputFile(_ out: String, inputs: [(flag: String, path: String)]) throws {
    let url = URL(fileURLWithPath: out)
    for (flag, path) in inputs where realPath(path) == realPath(out) {
        throw RLHFError.invalidArgument("--out \(out) is also \(flag): the command would write over its own input; give another --out")
    }
    var isDir: ObjCBool = false
    if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue {
        throw RLHFError.invalidArgument("--out \(out) is a folder; give the path of the JSONL file to write")
    }
    try AtomicFile.makeFolder(url.deletingLastPathComponent())
}

/// `--append-eos` (`score`) and `--rm-append-eos` (`ppo`, `grpo`, `rloo`, `best-of-n`): read a
/// reward model's score at an end-of-text token appended to each text, for a model trained that
/// way elsewhere. One that `rlhf reward --append-eos` trained records it and needs no flag.
enum RewardModelEOS {
    static let help: ArgumentHelp = "Read the reward model's score at an end-of-text token appended to every text, as TRL's RewardTrainer trains reward models (use it for one TRL trained with a pad token of its own; one trained with pad = EOS is read without it). A model `rlhf reward --append-eos` trained says so in its config.json and is read this way without the flag."

    /// Refuses a model whose config.json records that it was trained without EOS appended:
    /// read at another token, its scores mean nothing.
    static func readAtAppendedEOS(_ rm: RewardModel, directory: URL, tokenizer: BPETokenizer, flag: String) throws {
        if rm.recordedAppendsEOS == false {
            throw RLHFError.invalidFile(path: directory.appendingPathComponent("config.json").path,
                                        message: "records rlhf_reward_appends_eos false: the model was trained without EOS appended; read it without \(flag)")
        }
        try rm.setAppendsEOS(true, tokenizer: tokenizer)
    }
}
