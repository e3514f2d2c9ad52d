import ArgumentParser
import Foundation
import LabelServer
import Support

/// `rlhf label …`: the human-feedback web app and its admin commands. Thin: each subcommand
/// parses flags and calls LabelServer.
struct LabelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "label",
        abstract: "Collect human preferences: a labeling web app, its raters, statistics and export.",
        discussion: """
        Typical loop: `rlhf label add-rater alice` (prints her token once), `rlhf label import pairs.jsonl`,
        `rlhf label serve`, then `rlhf label stats` and `rlhf label export --out prefs.jsonl` for `rlhf reward`.
        """,
        subcommands: [Serve.self, AddRater.self, NewToken.self, Raters.self, Import.self, Stats.self, Export.self]
    )

    struct DatabaseOption: ParsableArguments {
        @Option(help: "SQLite database file (created and migrated by `serve`, `add-rater` and `import`; the other commands need it to exist).") var db = "labels.sqlite"
        func store() throws -> LabelStore { LabelStore(db: try LabelDatabase.open(path: db)) }
        /// For the commands that only read (stats, export): a mistyped path is an error, not a
        /// new empty database that reports zero votes.
        func existingStore() throws -> LabelStore {
            guard FileManager.default.fileExists(atPath: db) else {
                throw RLHFError.io(path: db, message: "no label database here (create it with `rlhf label add-rater --db \(db) NAME` or `rlhf label import --db \(db) FILE`)")
            }
            return try store()
        }
    }

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the labeling web app.")
        @OptionGroup var database: DatabaseOption
        @Option(help: "Address to listen on.") var host = "127.0.0.1"
        @Option(help: "Port to listen on.") var port = 8080
        @Option(help: "Model directory for chat mode (raters type a prompt, the model writes two responses).") var model: String?
        @Option(help: "Rating guidelines (Markdown or text) shown on /guidelines.") var guidelines: String?
        @Option(help: "Raters per comparison (gold items go to every rater).") var overlap = 1
        @Option(help: "Largest number of new tokens per chat response.") var maxNewTokens = 64
        @Option(help: "Sampling temperature for chat responses.") var temperature: Float = 1
        @Option(parsing: .unconditional, help: "Random seed for chat sampling. (default: 0)", transform: parseSeed) var seed: UInt64 = 0
        @Flag(help: "Mark the sign-in cookies Secure (browsers send them over HTTPS only): for a server behind a TLS proxy. Over plain HTTP raters could not stay signed in.")
        var secureCookies = false

        func validate() throws {
            try FlagCheck.atLeast(1, overlap, "--overlap")
            guard (1...65535).contains(port) else { throw ValidationError("--port must be in 1...65535") }
            // Chat samples two responses to compare: at temperature 0 they are the same answer.
            try FlagCheck.atLeast(1, maxNewTokens, "--max-new-tokens")
            try FlagCheck.positive(temperature, "--temperature", why: " (chat compares two sampled responses; at 0 they are the same)")
        }

        func run() async throws {
            var settings = LabelServerSettings(overlap: overlap)
            settings.secureCookies = secureCookies
            // Read before the database is opened (and created): a mistyped path leaves nothing behind.
            if let path = guidelines {
                guard FileManager.default.fileExists(atPath: path) else { throw RLHFError.io(path: path, message: "no guidelines file here") }
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                    throw RLHFError.io(path: path, message: "cannot read guidelines file as UTF-8 text")
                }
                settings.guidelines = text
            }
            let store = try database.store()
            if let model {
                settings.sampler = try ModelSampler(directory: URL(fileURLWithPath: model), maxNewTokens: maxNewTokens,
                                                    temperature: temperature, seed: seed)
            }
            let items = try store.itemCount(), raters = try store.raters().count
            note("rlhf label: \(items) comparison\(items == 1 ? "" : "s"), \(raters) rater\(raters == 1 ? "" : "s"), overlap \(overlap); starting on http://\(host):\(port)/")
            do {
                try await LabelApp.serve(store: store, settings: settings, host: host, port: port)
            } catch where "\(error)".contains("Address already in use") {
                // NIO's text names the system call, not the port.
                throw RLHFError.invalidArgument("port \(port) on \(host) is already in use: stop what is serving there, or choose another with --port")
            }
        }
    }

    struct AddRater: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-rater", abstract: "Create a rater and print their sign-in token (shown this once; only its hash is kept).")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "The rater's name (unique).") var name: String

        func run() throws {
            let token = try database.store().addRater(name: name)
            note("rater \"\(name.trimmingCharacters(in: .whitespacesAndNewlines))\" added; give them this token (it is not stored and cannot be shown again):")
            print(token)
        }
    }

    struct NewToken: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "new-token", abstract: "Replace a rater's lost or leaked token with a new one (printed this once); signs them out everywhere, keeps their votes.")
        @OptionGroup var database: DatabaseOption
        @Argument(help: "The rater's name.") var name: String

        func run() throws {
            let token = try database.existingStore().newToken(forRater: name)
            note("rater \"\(name)\" has a new token; the old one and their sessions no longer work. Give them this token (it cannot be shown again):")
            print(token)
        }
    }

    struct Raters: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the raters' names, one per line.")
        @OptionGroup var database: DatabaseOption

        func run() throws {
            for r in try database.existingStore().raters() { print(r.name) }
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import comparisons from JSONL.",
            discussion: """
            Lines: {"prompt","completions":[…]} (rlhf sample; paired 0–1, 2–3, …), {"prompt","chosen","rejected"}, \
            or {"prompt","response_a","response_b"}. A "gold" field (a, b, tie, both_bad) makes a line a honeypot \
            with a known answer. A file with any bad line imports nothing (a chosen/rejected or response_a/response_b pair of identical or empty texts without "gold" is one); sampled "completions" pairs of identical or empty responses are left out and counted. Already-imported pairs are skipped.
            """)
        @OptionGroup var database: DatabaseOption
        @Argument(help: "JSONL file of comparisons.") var file: String
        @Flag(help: "Make every chosen/rejected line a gold item whose answer is \"chosen\".") var gold = false

        func run() throws {
            let (items, unusable) = try PairImport.readCounting(URL(fileURLWithPath: file), markGold: gold)
            let (added, skipped, goldNotApplied) = try database.store().importItems(items)
            let goldCount = items.filter { $0.gold != nil }.count
            note("imported \(added) comparisons from \(file) (\(goldCount) gold in the file), skipped \(skipped) already present"
                 + (unusable > 0 ? " and \(unusable) sampled pair(s) of identical or empty responses" : ""))
            if goldNotApplied > 0 {
                note("warning: \(goldNotApplied) of the skipped pairs came with a gold answer, but were already present without it (or with another): they are not honeypots. Import honeypots as pairs raters have not been given before")
            }
        }
    }

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Progress per rater, gold accuracy, and agreement (percent, Fleiss' and Cohen's kappa, Krippendorff's alpha).")
        @OptionGroup var database: DatabaseOption
        @Flag(help: "Print JSON instead of a table.") var json = false
        @Option(help: "The answers each ordinary comparison should get (the --overlap the server runs with): prints how many comparisons have them and how many answers are still needed.")
        var overlap = 1

        func validate() throws { try FlagCheck.atLeast(1, overlap, "--overlap") }

        func run() throws {
            let store = try database.existingStore()
            var stats = LabelStats(votes: try store.allVotes(), raterNames: try store.raters().map(\.name), items: try store.itemCount())
            stats.overlap = try store.overlapProgress(overlap: overlap)
            print(json ? JSONL.line(stats) : stats.text, terminator: json ? "\n" : "")
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write votes as {\"prompt\",\"chosen\",\"rejected\",\"rater\"} JSONL for rlhf reward.")
        @OptionGroup var database: DatabaseOption
        @Option(help: "Output JSONL (written to a temporary file, then renamed).") var out: String
        @Flag(help: "Also write tie and both-bad votes, each as two lines with chosen and rejected swapped.") var includeTies = false
        @Option(help: "Leave out every vote of raters whose share of gold items answered right is below this (0…1); raters with no gold answer yet are kept, and named.") var minGoldAccuracy: Double?

        func validate() throws {
            if let m = minGoldAccuracy, !(0...1).contains(m) { throw ValidationError("--min-gold-accuracy must be between 0 and 1, found \(m)") }
        }

        func run() throws {
            // Renamed over the database (or its WAL), the export would replace every vote.
            let target = realPath(out)
            let db = realPath(database.db)
            guard ![db, db + "-wal", db + "-shm"].contains(target) else {
                throw RLHFError.invalidArgument("--out \(out) is the label database \(database.db) (or its journal); give another file for the JSONL")
            }
            let r = try PreferenceExport.write(try database.existingStore(), to: URL(fileURLWithPath: out), includeTies: includeTies, minGoldAccuracy: minGoldAccuracy)
            note("wrote \(r.written) preference lines to \(out)" + (r.unusable > 0 ? "; left out \(r.unusable) whose responses are empty or identical (rlhf reward refuses them)" : ""))
            if !r.ratersDropped.isEmpty { note("left out every vote of \(r.ratersDropped.joined(separator: ", ")): gold accuracy below \(minGoldAccuracy!)") }
            if !r.ratersUnchecked.isEmpty { note("kept \(r.ratersUnchecked.joined(separator: ", ")), who answered no gold item yet") }
        }
    }
}
