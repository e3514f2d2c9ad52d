import Foundation
import Support

/// Reads comparisons to label from JSONL. Each line is one of
/// - `{"prompt", "completions": [...]}` (`rlhf sample` output, two or more completions; they are
///   paired in order, 0–1, 2–3, …, so every completion is judged once and an odd last one is left out),
/// - `{"prompt", "chosen", "rejected"}` (a preference file; response A is `chosen`),
/// - `{"prompt", "response_a", "response_b"}`.
///
/// A line may carry `"gold": "a" | "b" | "tie" | "both_bad"` to make it a honeypot with a known
/// answer; with `markGold`, every chosen/rejected line is a honeypot whose answer is `chosen`.
public enum PairImport {
    struct Line: Decodable {
        var prompt: String
        var completions: [String]?
        var chosen: String?
        var rejected: String?
        var response_a: String?
        var response_b: String?
        var gold: String?
    }

    /// Every comparison in the file, or the file's first bad line as an error naming file and line
    /// (nothing is imported from a file with a bad line).
    public static func read(_ url: URL, markGold: Bool = false) throws -> [NewItem] {
        try readCounting(url, markGold: markGold).items
    }

    /// `read`, also counting the pairs of `completions` lines left out because their two
    /// responses are identical, one is empty or one holds a NUL byte (which the database cannot
    /// store): sampled answers often repeat (as `rlhf world label` skips them), and a model can
    /// write any byte, while an explicit pair like that is a mistake in the file.
    public static func readCounting(_ url: URL, markGold: Bool = false) throws -> (items: [NewItem], skippedPairs: Int) {
        let (lines, invalid) = try JSONL.readLenient(Line.self, from: url, validate: { problem($0, markGold: markGold) })
        if let first = invalid.first { throw first }
        let all = lines.flatMap { items($0, markGold: markGold) }
        let kept = all.filter { l in
            !(l.responseA == l.responseB || isBlank(l.responseA) || isBlank(l.responseB) || l.responseA.contains("\u{0}") || l.responseB.contains("\u{0}")) || l.gold != nil
        }
        return (kept, all.count - kept.count)
    }

    static func isBlank(_ s: String) -> Bool { s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }

    static func problem(_ l: Line, markGold: Bool) -> String? {
        // SQLite would keep such a text only up to the NUL: "a\0b" against "a\0c" would be
        // stored as an identical pair, past the checks below.
        // Sampled completions are the exception: a model can write a NUL byte, and such a pair is
        // left out by `readCounting`, as an identical or empty one is.
        for (field, texts) in [("prompt", [l.prompt]), ("chosen", [l.chosen].compactMap { $0 }),
                               ("rejected", [l.rejected].compactMap { $0 }), ("response_a", [l.response_a].compactMap { $0 }),
                               ("response_b", [l.response_b].compactMap { $0 })] where texts.contains(where: { $0.contains("\u{0}") }) {
            return "field \"\(field)\" contains a NUL character (U+0000), which the database cannot store"
        }
        let shapes = [l.completions != nil, l.chosen != nil || l.rejected != nil, l.response_a != nil || l.response_b != nil]
        guard shapes.filter({ $0 }).count == 1 else {
            return "expected exactly one of \"completions\", \"chosen\"/\"rejected\" or \"response_a\"/\"response_b\""
        }
        if let c = l.completions, c.count < 2 { return "field \"completions\" needs at least 2 responses, has \(c.count)" }
        if shapes[1] {
            if l.chosen == nil { return "missing field \"chosen\"" }
            if l.rejected == nil { return "missing field \"rejected\"" }
        }
        if shapes[2] {
            if l.response_a == nil { return "missing field \"response_a\"" }
            if l.response_b == nil { return "missing field \"response_b\"" }
        }
        // An explicit pair of identical or empty texts (without a gold answer, as an attention
        // check may be) is a mistake: a rater can only guess. Sampled `completions` pairs like
        // that are left out by `readCounting` instead.
        if l.completions == nil, l.gold == nil, let a = l.chosen ?? l.response_a, let b = l.rejected ?? l.response_b {
            let what = shapes[1] ? "\"chosen\" and \"rejected\"" : "\"response_a\" and \"response_b\""
            if a == b { return "\(what) are identical" }
            if isBlank(a) || isBlank(b) { return "\(what): a response is empty" }
        }
        if let g = l.gold, Choice(rawValue: g) == nil { return "field \"gold\" must be a, b, tie or both_bad" }
        if l.gold != nil && l.completions != nil { return "field \"gold\" needs a single pair, not \"completions\"" }
        if markGold && !shapes[1] && l.gold == nil { return "--gold needs chosen/rejected lines or a \"gold\" field" }
        return nil
    }

    static func items(_ l: Line, markGold: Bool) -> [NewItem] {
        let gold = l.gold.flatMap(Choice.init(rawValue:))
        if let c = l.completions {
            return stride(from: 0, to: c.count - 1, by: 2).map { NewItem(prompt: l.prompt, responseA: c[$0], responseB: c[$0 + 1]) }
        }
        if let chosen = l.chosen, let rejected = l.rejected {
            return [NewItem(prompt: l.prompt, responseA: chosen, responseB: rejected, gold: gold ?? (markGold ? .a : nil))]
        }
        return [NewItem(prompt: l.prompt, responseA: l.response_a!, responseB: l.response_b!, gold: gold)]
    }
}
