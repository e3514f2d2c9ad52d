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
public struct PreferenceRecord: Codable, Equatable, Sendable {
    public var prompt: String
    public var chosen: String
    public var rejected: String
    public var rater: String?
    public var margin: Double?

    public init(prompt: String, chosen: String, rejected: String, rater: String? = nil, margin: Double? = nil) {
        self.prompt = prompt; self.chosen = chosen; self.rejected = rejected; self.rater = rater; self.margin = margin
    }

    /// Why this line cannot train a reward model, or nil if it can.
    public static func problem(_ r: PreferenceRecord) -> String? {
        if r.chosen.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return "field \"chosen\" is empty" }
        if r.rejected.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return "field \"rejected\" is empty" }
        if r.chosen == r.rejected { return "\"chosen\" and \"rejected\" are identical" }
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
