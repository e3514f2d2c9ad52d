import Foundation
import Support

// The dataset lines of the pipeline, with TRL's field names so files move between this toolkit
// and Hugging Face tooling unchanged. Every file is JSONL read through `Support.JSONL`.

/// Pretraining text: `{"text": …}`.
public struct TextRecord: Codable, Equatable, Sendable {
    public var text: String
    public init(text: String) { self.text = text }
}

/// A supervised fine-tuning demonstration: `{"prompt": …, "completion": …}`.
public struct SFTRecord: Codable, Equatable, Sendable {
    public var prompt: String
    public var completion: String
    public init(prompt: String, completion: String) { self.prompt = prompt; self.completion = completion }
}

/// An RL or evaluation prompt: `{"prompt": …}`.
public struct PromptRecord: Codable, Equatable, Sendable {
    public var prompt: String
    public init(prompt: String) { self.prompt = prompt }
}

/// A preference: `{"prompt", "chosen", "rejected"}` and optionally who rated it and by how much.
///
/// A line without `"prompt"` is TRL's preference format with an implicit prompt (as Anthropic's
/// hh-rlhf is published: each of `chosen` and `rejected` is the whole conversation). It is read
/// as TRL's `extract_prompt` reads it: the prompt is the text both start with, up to their
/// first difference, and a space just before that difference starts the responses.
public struct PreferenceRecord: Codable, Equatable, Sendable {
    public var prompt: String
    public var chosen: String
    public var rejected: String
    public var rater: String?
    public var margin: Double?
    /// The rater's own words on why (the label app's optional reason box): kept with the line
    /// for whoever reviews the labels; reward training does not read it.
    public var reason: String?
    /// Whether the line had no `"prompt"` and it was taken from the start of both responses
    /// (not written back: a record written out has its prompt explicit).
    public var promptWasImplicit = false

    enum CodingKeys: String, CodingKey { case prompt, chosen, rejected, rater, margin, reason }

    /// Equal when the lines say the same; whether the prompt was implicit is how it was read.
    public static func == (l: PreferenceRecord, r: PreferenceRecord) -> Bool {
        l.prompt == r.prompt && l.chosen == r.chosen && l.rejected == r.rejected && l.rater == r.rater && l.margin == r.margin && l.reason == r.reason
    }

    public init(prompt: String, chosen: String, rejected: String, rater: String? = nil, margin: Double? = nil, reason: String? = nil) {
        self.prompt = prompt; self.chosen = chosen; self.rejected = rejected; self.rater = rater; self.margin = margin; self.reason = reason
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let chosen = try c.decode(String.self, forKey: .chosen), rejected = try c.decode(String.self, forKey: .rejected)
        rater = try c.decodeIfPresent(String.self, forKey: .rater)
        margin = try c.decodeIfPresent(Double.self, forKey: .margin)
        reason = try c.decodeIfPresent(String.self, forKey: .reason)
        if let prompt = try c.decodeIfPresent(String.self, forKey: .prompt) {
            (self.prompt, self.chosen, self.rejected) = (prompt, chosen, rejected)
        } else {
            (self.prompt, self.chosen, self.rejected) = Self.splitImplicitPrompt(chosen: chosen, rejected: rejected)
            promptWasImplicit = true
        }
    }

    /// The shared start of two whole texts as the prompt, and the rest of each as its response.
    /// Compared by Unicode code points, as Python compares `str`. Where TRL's loop is an
    /// accident it is not copied: when one text is the start of the other TRL cuts one character
    /// early, and when they differ at the first character it looks at the last.
    public static func splitImplicitPrompt(chosen: String, rejected: String) -> (prompt: String, chosen: String, rejected: String) {
        let a = Array(chosen.unicodeScalars), b = Array(rejected.unicodeScalars)
        var i = 0
        while i < min(a.count, b.count), a[i] == b[i] { i += 1 }
        // "… Assistant: Yes" against "… Assistant: No": the space belongs to the responses, as
        // completions here start with one.
        if i > 0, i < min(a.count, b.count), a[i - 1] == " " { i -= 1 }
        func text(_ s: ArraySlice<Unicode.Scalar>) -> String { String(String.UnicodeScalarView(s)) }
        return (text(a[..<i]), text(a[i...]), text(b[i...]))
    }

    /// Why this line cannot train a reward model, or nil if it can.
    public static func problem(_ r: PreferenceRecord) -> String? {
        if r.chosen == r.rejected { return "\"chosen\" and \"rejected\" are identical" }
        for (field, text) in [("chosen", r.chosen), ("rejected", r.rejected)] where text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            // With an implicit prompt the field itself is not empty: the other response starts with all of it.
            return r.promptWasImplicit ? "nothing of \"\(field)\" is left after the text both responses start with (the other response begins with all of it), so there is no response to score"
                                       : "field \"\(field)\" is empty"
        }
        return nil
    }
}

/// Responses sampled for one prompt (`rlhf sample`): `{"prompt", "completions": […]}`.
public struct SampleRecord: Codable, Equatable, Sendable {
    public var prompt: String
    public var completions: [String]
    public init(prompt: String, completions: [String]) { self.prompt = prompt; self.completions = completions }

    /// The pairs to compare: completions 1–2, 3–4, …; or, with `all`, every two of them in order
    /// (1–2, 1–3, …, 2–3, …), the K(K−1)/2 comparisons a ranking of K responses gives.
    public func pairs(all: Bool) -> [(String, String)] {
        let c = completions
        guard all else { return stride(from: 0, to: c.count - 1, by: 2).map { (c[$0], c[$0 + 1]) } }
        return c.indices.flatMap { i in c.indices.dropFirst(i + 1).map { (c[i], c[$0]) } }
    }
}
