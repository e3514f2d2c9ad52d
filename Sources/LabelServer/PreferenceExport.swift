import Feedback
import Foundation
import Support

/// Turns votes into the preference lines `rlhf reward` trains on.
public enum PreferenceExport {
    /// One `PreferenceRecord` per A-or-B vote, with the rater's name and, when they gave one,
    /// their reason (`"reason"`, which reward training ignores). With `includeTies`, a tie or
    /// both-bad vote becomes two lines with chosen and rejected swapped: under the Bradley–Terry
    /// loss the pair pulls the two rewards together, which is what "no preference" means, while
    /// a single line would teach a preference the rater did not express.
    public static func records(_ votes: [VoteRow], includeTies: Bool) -> [PreferenceRecord] {
        var out: [PreferenceRecord] = []
        for v in votes {
            let reason = v.reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : v.reason
            func line(_ chosen: String, over rejected: String) -> PreferenceRecord {
                PreferenceRecord(prompt: v.prompt, chosen: chosen, rejected: rejected, rater: v.rater, reason: reason)
            }
            switch v.choice {
            case .a: out.append(line(v.responseA, over: v.responseB))
            case .b: out.append(line(v.responseB, over: v.responseA))
            case .tie, .bothBad:
                guard includeTies else { continue }
                out.append(line(v.responseA, over: v.responseB))
                out.append(line(v.responseB, over: v.responseA))
            }
        }
        return out
    }

    /// Writes the export atomically (temporary file, then rename); returns the number of lines,
    /// and of lines left out because `rlhf reward` would refuse them (an empty response or the
    /// same text twice, as a chat pair can be).
    ///
    /// Votes on gold items (attention checks) are never exported. With `minGoldAccuracy`, every
    /// vote of a rater who answered gold items and got less than that share right is left out
    /// (the usual use of honeypots: drop who fails them); raters with no gold answer yet are kept
    /// and named in `ratersUnchecked`.
    @discardableResult
    public static func write(_ store: LabelStore, to url: URL, includeTies: Bool, minGoldAccuracy: Double? = nil) throws
        -> (written: Int, unusable: Int, ratersDropped: [String], ratersUnchecked: [String]) {
        var votes = try store.allVotes()
        var dropped: [String] = [], unchecked: [String] = []
        if let minimum = minGoldAccuracy {
            for name in Set(votes.map(\.rater)).sorted() {
                guard let accuracy = LabelStats.gold(of: name, in: votes).accuracy else { unchecked.append(name); continue }
                if accuracy < minimum { dropped.append(name) }
            }
            votes.removeAll { dropped.contains($0.rater) }
        }
        // A gold item is an attention check: its votes say how a rater did, not what people
        // prefer (a wrong answer would train as a preference, and each gold pair would come once
        // per rater). Left out.
        votes.removeAll { $0.gold != nil }
        let all = records(votes, includeTies: includeTies)
        let lines = all.filter { PreferenceRecord.problem($0) == nil }
        try JSONL.write(lines, to: url)
        return (lines.count, all.count - lines.count, dropped, unchecked)
    }
}
