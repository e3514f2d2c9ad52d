import ArgumentParser
import Feedback
import Foundation
import Models
import Support
import Tokenizers

struct WorldCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "world",
        abstract: "The embedded demo world: write its datasets, label pairs with its simulated rater panel, score responses by gold.",
        subcommands: [Write.self, Answer.self, Label.self, Score.self, Facts.self])

    struct Write: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write pretrain.jsonl, sft.jsonl, prompts.jsonl, eval_prompts.jsonl and world.json to a folder.")
        @Option(help: "Output folder.") var out: String
        @Option(parsing: .unconditional, help: "Seed: the same seed writes byte-identical files. (default: 0)", transform: parseSeed) var seed: UInt64 = 0
        @Option(help: "Pretraining conversations.") var pretrain = DemoWorld.Sizes().pretrain
        @Option(help: "Order notices mixed into the pretraining corpus (their order number and a code recur, which teaches a model to copy from its context).") var notices = DemoWorld.Sizes().notices
        @Option(help: "SFT demonstrations.") var sft = DemoWorld.Sizes().sft
        @Option(help: "RL prompts (from new customers: names not in the pretraining corpus or the demonstrations).") var prompts = DemoWorld.Sizes().prompts
        @Option(help: "Held-out evaluation prompts (customers' names in no other file).") var evalPrompts = DemoWorld.Sizes().evalPrompts

        func run() throws {
            var sizes = DemoWorld.Sizes()
            sizes.pretrain = pretrain; sizes.notices = notices; sizes.sft = sft; sizes.prompts = prompts; sizes.evalPrompts = evalPrompts
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

    struct Answer: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Answer the demo world's prompts as its own writers do, in its seven styles, for the rater panel.",
            discussion: """
            Reads {"prompt"} lines (the world's prompts.jsonl), `rlhf sample` output \
            ({"prompt","completions":[…]}) or {"prompt","completion"} lines, and writes sample lines \
            with --n answers per prompt added after the answers already there, each in a style drawn evenly from the world's \
            seven (helpful, wrong remedy, wrong order number, terse, off-topic, repetitive, rude). \
            `rlhf world label --all-pairs` on the result has the raters compare the styles with the \
            model's answers and with each other, as `rlhf demo --template-responses N` does; from \
            bare prompts, give --n 2 or more, since a pair needs two answers.
            """)
        @Option(help: "JSONL with a \"prompt\" field (and, kept first, \"completions\" from `rlhf sample` or a \"completion\").") var prompts: String
        @Option(help: "Output sample JSONL.") var out: String
        @Option(help: "World-written answers added per prompt.") var n = 1
        @Option(parsing: .unconditional, help: "Seed of the styles and wordings drawn. (default: 0)", transform: parseSeed) var seed: UInt64 = 0

        func validate() throws { try FlagCheck.atLeast(1, n, "--n") }

        func run() throws {
            struct Line: Decodable { var prompt: String; var completion: String?; var completions: [String]? }
            let url = URL(fileURLWithPath: prompts)
            let rows = try JSONL.read(Line.self, from: url)
            guard !rows.isEmpty else { throw RLHFError.invalidFile(path: url.path, message: "has no prompt lines to answer") }
            try checkOutputFile(out, inputs: [("--prompts", prompts)])
            var writers = DemoWorld.writers(seed: seed)
            let answered = try rows.enumerated().map { i, row -> SampleRecord in
                guard let added = DemoWorld.writtenAnswers(to: row.prompt, n: n, &writers) else {
                    throw RLHFError.invalidLine(path: url.path, line: i + 1, message: "the prompt is not one of the demo world's (a name, an order number, an item and a problem are needed to answer it)")
                }
                return SampleRecord(prompt: row.prompt, completions: (row.completion.map { [$0] } ?? []) + (row.completions ?? []) + added)
            }
            try JSONL.write(answered, to: URL(fileURLWithPath: out))
            note("wrote \(answered.count) prompt(s) with \(n) world-written answer(s) each to \(out)")
        }
    }

    struct Label: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Label response pairs with the simulated rater panel (the demo's stand-in for people).",
            discussion: """
            Reads `rlhf sample` output ({"prompt","completions":[…]}); completions 1 and 2 form a pair, \
            3 and 4 the next, and so on; with --all-pairs every two completions of a prompt form a \
            pair (K responses give K(K−1)/2 comparisons, as InstructGPT's rankings do, and as \
            `rlhf demo` labels them). Each pair goes to one rater (round-robin), shown in random \
            order; identical responses are skipped. Writes {"prompt","chosen","rejected","rater"} \
            lines for `rlhf reward`, and prints how often a single rater agrees with gold (the \
            ceiling a reward model trained on these labels can reach) and with each other.
            """)
        @Option(help: "Sample JSONL (rlhf sample --n 2 or more).") var pairs: String
        @Option(help: "Output preference JSONL.") var out: String
        @Option(parsing: .unconditional, help: "Seed of the panel (its raters' tastes) and of its choices. (default: 0)", transform: parseSeed) var seed: UInt64 = 0
        @Option(help: "Raters on the panel.") var raters = 6
        @Option(help: "Share of raters who choose at random.") var carelessShare = 0.15
        @Option(help: "Utility added to whichever response a rater sees first.") var positionBias = 0.1
        @Option(help: panelTasteHelp) var panelTaste: RaterPanel.Taste = .soundsGood
        @Flag(help: "Pair every two completions of a prompt, not 1–2, 3–4, ….") var allPairs = false

        func validate() throws {
            try FlagCheck.atLeast(1, raters, "--raters")
            guard (0...1).contains(carelessShare) else { throw ValidationError("--careless-share must be between 0 and 1, found \(carelessShare)") }
            guard RaterPanel.carelessCount(raters: raters, share: carelessShare) < raters else {
                throw ValidationError("--careless-share \(carelessShare) of \(raters) rater(s) leaves no attentive rater")
            }
        }

        func run() throws {
            try checkOutputFile(out, inputs: [("--pairs", pairs)])
            let url = URL(fileURLWithPath: pairs)
            let rows = try JSONL.read(SampleRecord.self, from: url)
            guard !rows.isEmpty else { throw RLHFError.invalidFile(path: url.path, message: "has no sample lines to label") }
            var triples: [(prompt: String, a: String, b: String)] = []
            var oddLines = 0
            for (i, r) in rows.enumerated() {
                guard r.completions.count >= 2 else {
                    throw RLHFError.invalidLine(path: url.path, line: i + 1, message: "\"completions\" has \(r.completions.count) response(s); a pair needs 2")
                }
                triples += r.pairs(all: allPairs).map { (r.prompt, $0.0, $0.1) }
                if !allPairs, r.completions.count % 2 == 1 { oddLines += 1 }
            }
            if oddLines > 0 {
                note("warning: \(oddLines) line(s) of \(pairs) have an odd number of completions; without --all-pairs each one's last completion is in no pair")
            }
            // The demo derives these two seeds the same way, so `rlhf demo --seed S` and
            // `rlhf world label --seed S --all-pairs` on its pairs.jsonl write the same preferences.
            let panel = RaterPanel(count: raters, carelessShare: carelessShare, positionBias: positionBias, taste: panelTaste, seed: seed)
            let prefs = panel.label(triples, seed: seed ^ 0x1ABE1)
            try JSONL.write(prefs, to: URL(fileURLWithPath: out))
            let a = panel.agreement(triples, seed: seed ^ 0xA9)
            note(String(format: "wrote %d preferences (%d identical pairs skipped) to %@; a rater agrees with gold on %.1f%% of %d pairs gold can tell apart, raters with each other on %.1f%%",
                        prefs.count, triples.count - prefs.count, out, a.withGold * 100, a.pairs, a.amongRaters * 100))
        }
    }

    struct Facts: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check preference labels, and optionally a reward model, against gold fact by fact.",
            discussion: """
            Reads preference lines ({"prompt","chosen","rejected"}, from `rlhf world label`, \
            `rlhf label export` or the demo's preferences.jsonl) whose prompts are the demo world's, \
            and prints how often the labels (chosen over rejected) agree with gold: on every pair gold \
            tells apart, and on the pairs whose answers differ in one fact, as the demo's report \
            does: the order number (both remedies fit), the remedy (both order numbers right), a \
            wrong remedy against a wrong order number. With --model, the same for a reward model's \
            scores of the same pairs. Raters, human or simulated, who check manners but not facts \
            show here; so does a reward model that learned them.
            """)
        @Option(help: "Preference JSONL.") var data: String
        @Option(help: "Reward-model directory: also check its scores of each pair.") var model: String?
        @Flag(help: "Skip invalid lines (reporting how many) instead of stopping at the first.") var skipInvalid = false
        @Flag(help: "Print one JSON line per kind of pair: {\"kind\", \"pairs\", \"labels\"[, \"reward_model\"]}, agreements with gold as shares, over the \"pairs\" gold tells apart (with no such pair, only \"kind\" and \"pairs\": 0).") var json = false

        func run() throws {
            // A line without "prompt" has as prompt the text both answers start with, which for
            // #4821 against #4822 ends inside the number; gold needs the world's prompt, which
            // ends at the first "\nAgent:".
            let read = try readPreferences(data, skipInvalid: skipInvalid).map { r -> PreferenceRecord in
                let whole = (r.prompt + r.chosen, r.prompt + r.rejected)
                guard r.promptWasImplicit, let end = whole.0.range(of: "\nAgent:")?.upperBound, whole.1.hasPrefix(whole.0[..<end]) else { return r }
                let prompt = String(whole.0[..<end])
                return PreferenceRecord(prompt: prompt, chosen: String(whole.0.dropFirst(prompt.count)), rejected: String(whole.1.dropFirst(prompt.count)))
            }
            // Gold reads a request's slots from its prompt: another prompt leaves it nothing to judge.
            let records = read.filter { DemoWorld.request(parsing: $0.prompt) != nil }
            if records.isEmpty {
                throw RLHFError.invalidFile(path: data, message: "no line has a prompt of the demo world (\"Customer: …\\nAgent:\"); gold cannot judge these pairs")
            }
            if records.count < read.count {
                note("\(data): skipped \(read.count - records.count) of \(read.count) line(s) whose prompt is not the demo world's; gold cannot judge them")
            }
            let pairs = records.map { (prompt: $0.prompt, a: $0.chosen, b: $0.rejected) }
            let rmPrefersChosen: [Bool]? = try model.map { dir in
                let url = URL(fileURLWithPath: dir)
                let rm = try RewardModel.load(directory: url)
                let tok = try BPETokenizer.load(directory: url)
                try rm.trunk.config.checkFits(tok, directory: url)
                let chosen = rm.score(prompts: records.map(\.prompt), responses: records.map(\.chosen), tokenizer: tok)
                let rejected = rm.score(prompts: records.map(\.prompt), responses: records.map(\.rejected), tokenizer: tok)
                return zip(chosen, rejected).map { $0 > $1 }
            }
            // Parsed once: every kind of pair below is a subset of these.
            let features = GoldUtility().features(of: pairs)
            let contrasts = features.map { FactContrast.of($0.a, $0.b) }
            let kinds: [(name: String, label: String, members: [Int])] = [("all", "all pairs gold tells apart", Array(pairs.indices))]
                + FactContrast.allCases.map { k in (k.rawValue, "pairs that \(k.description)", pairs.indices.filter { contrasts[$0] == k }) }
            if !json {
                print("pairs                                                         count  labels" + (model == nil ? "" : "  reward model"))
            }
            for kind in kinds {
                let subset = kind.members.map { features[$0] }
                let labels = GoldUtility.agreement(subset, prefersA: Array(repeating: true, count: subset.count))
                let rm = rmPrefersChosen.map { c in GoldUtility.agreement(subset, prefersA: kind.members.map { c[$0] }) }
                if json {
                    struct Row: Encodable { let kind: String; let pairs: Int; let labels: Double?; let reward_model: Double? }
                    print(JSONL.line(Row(kind: kind.name, pairs: labels.pairs, labels: labels.pairs > 0 ? labels.share : nil,
                                         reward_model: rm.flatMap { $0.pairs > 0 ? $0.share : nil })))
                } else {
                    func percent(_ a: (share: Double, pairs: Int)?) -> String { a.map { $0.pairs > 0 ? String(format: "%5.1f%%", $0.share * 100) : "    –" } ?? "" }
                    print(kind.label.padding(toLength: 60, withPad: " ", startingAt: 0) + String(format: " %6d  ", labels.pairs) + percent(labels) + (rm == nil ? "" : "  " + percent(rm)))
                }
            }
        }
    }

    struct Score: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Score {\"prompt\",\"completion\"} lines by the hidden gold utility.")
        @Option(help: "JSONL with prompt and completion fields.") var data: String
        @Flag(help: "Print one {\"gold\": …} JSON line per input line, then {\"mean\": …}.") var json = false

        func run() throws {
            let rows = try JSONL.read(SFTRecord.self, from: URL(fileURLWithPath: data))
            guard !rows.isEmpty else { throw RLHFError.invalidFile(path: data, message: "has no lines to score") }
            let gold = GoldUtility()
            var total = 0.0
            // Gold reads a request's slots from its prompt: another prompt leaves it nothing to
            // judge, and a number for it would mean nothing.
            if let i = rows.firstIndex(where: { DemoWorld.request(parsing: $0.prompt) == nil }) {
                throw RLHFError.invalidLine(path: data, line: i + 1, message: "the prompt is not one of the demo world's (\"Customer: …\\nAgent:\" with a name, an order number, an item and a problem); gold cannot judge it")
            }
            for r in rows {
                let s = gold.score(prompt: r.prompt, response: r.completion)
                total += s
                if json { print(JSONL.line(["gold": s])) } else { print(String(format: "%.3f", s)) }
            }
            let mean = total / Double(rows.count)
            if json { print(JSONL.line(["mean": mean])) } else { print(String(format: "mean %.4f over %d lines", mean, rows.count)) }
        }
    }
}
