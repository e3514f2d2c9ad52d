import ArgumentParser
import Feedback
import Foundation
import Support

struct WorldCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "world",
        abstract: "The embedded demo world: write its datasets, score responses by gold.",
        subcommands: [Write.self, Score.self])

    struct Write: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write pretrain.jsonl, sft.jsonl, prompts.jsonl, eval_prompts.jsonl and world.json to a folder.")
        @Option(help: "Output folder.") var out: String
        @Option(help: "Seed: the same seed writes byte-identical files.") var seed: UInt64 = 0
        @Option(help: "Pretraining documents.") var pretrain = 12_000
        @Option(help: "SFT demonstrations.") var sft = 3_000
        @Option(help: "RL prompts.") var prompts = 2_000
        @Option(help: "Held-out evaluation prompts (names not seen in training).") var evalPrompts = 200

        func run() throws {
            var sizes = DemoWorld.Sizes()
            sizes.pretrain = pretrain; sizes.sft = sft; sizes.prompts = prompts; sizes.evalPrompts = evalPrompts
            let files = DemoWorld.generate(seed: seed, sizes: sizes)
            let dir = URL(fileURLWithPath: out)
            try JSONL.write(files.pretrain, to: dir.appendingPathComponent("pretrain.jsonl"))
            try JSONL.write(files.sft, to: dir.appendingPathComponent("sft.jsonl"))
            try JSONL.write(files.prompts, to: dir.appendingPathComponent("prompts.jsonl"))
            try JSONL.write(files.evalPrompts, to: dir.appendingPathComponent("eval_prompts.jsonl"))
            struct Info: Encodable { let seed: UInt64; let sizes: DemoWorld.Sizes; let format: String }
            try AtomicFile.write(JSONL.line(Info(seed: seed, sizes: sizes, format: "prompt = \"Customer: …\\nAgent:\", completion starts with a space; scored text = prompt + completion")) + "\n",
                                 to: dir.appendingPathComponent("world.json"))
            note("wrote the demo world (seed \(seed)) to \(out)")
        }
    }

    struct Score: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Score {\"prompt\",\"completion\"} lines by the hidden gold utility.")
        @Option(help: "JSONL with prompt and completion fields.") var data: String
        @Flag(help: "Print one {\"gold\": …} JSON line per input line, then {\"mean\": …}.") var json = false

        func run() throws {
            let rows = try JSONL.read(SFTRecord.self, from: URL(fileURLWithPath: data))
            let gold = GoldUtility()
            var total = 0.0
            for r in rows {
                let s = gold.score(prompt: r.prompt, response: r.completion)
                total += s
                if json { print(JSONL.line(["gold": s])) } else { print(String(format: "%.3f", s)) }
            }
            let mean = rows.isEmpty ? 0 : total / Double(rows.count)
            if json { print(JSONL.line(["mean": mean])) } else { print(String(format: "mean %.4f over %d lines", mean, rows.count)) }
        }
    }
}
