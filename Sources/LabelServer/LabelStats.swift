import Foundation

/// Progress of the ordinary comparisons toward the answers each should get (the server's `--overlap`).
public struct OverlapProgress: Codable, Sendable, Equatable {
    /// Answers each ordinary comparison should get.
    public var target: Int
    /// Ordinary comparisons (imported, not gold), and how many have `target` answers or more.
    public var items: Int, complete: Int
    /// Answers still missing before every ordinary comparison has `target`.
    public var answersNeeded: Int

    public init(target: Int, items: Int, complete: Int, answersNeeded: Int) {
        self.target = target; self.items = items; self.complete = complete; self.answersNeeded = answersNeeded
    }
}

/// The numbers `rlhf label stats` prints: progress and gold accuracy per rater, and agreement on
/// the items several raters answered.
public struct LabelStats: Codable, Sendable, Equatable {
    public struct RaterLine: Codable, Sendable, Equatable {
        public var rater: String
        public var votes: Int
        public var goldAnswered: Int
        /// Share of gold items answered with the known answer; nil before the first gold answer.
        public var goldAccuracy: Double?
    }

    public struct PairLine: Codable, Sendable, Equatable {
        public var raterA: String
        public var raterB: String
        public var sharedItems: Int
        public var cohenKappa: Double?
    }

    public var items: Int
    public var votes: Int
    public var overlappingItems: Int
    public var raters: [RaterLine]
    public var percentAgreement: Double?
    public var fleissKappa: Double?
    public var krippendorffAlpha: Double?
    public var pairs: [PairLine]
    /// Toward the target overlap, when the caller gives it (`rlhf label stats --overlap`).
    public var overlap: OverlapProgress?

    /// How many gold items `rater` answered in `votes`, and the share answered with the known
    /// answer (nil before the first).
    public static func gold(of rater: String, in votes: [VoteRow]) -> (answered: Int, accuracy: Double?) {
        let gold = votes.filter { $0.rater == rater && $0.gold != nil }
        return (gold.count, gold.isEmpty ? nil : Double(gold.filter { $0.gold == $0.choice }.count) / Double(gold.count))
    }

    /// Statistics over `votes`; `raterNames` lists raters with no votes too, so progress shows them.
    public init(votes: [VoteRow], raterNames: [String], items: Int) {
        // Agreement is over ordinary comparisons: every rater gets every gold item, so with a
        // small overlap the shared items would be mostly attention checks, which measure raters
        // against a known answer (the gold columns), not against each other.
        var ratings: Agreement.Ratings = [:]
        for v in votes where v.gold == nil { ratings[v.itemID, default: [:]][v.rater] = v.choice }
        self.items = items
        self.votes = votes.count
        overlappingItems = ratings.values.filter { $0.count >= 2 }.count
        raters = raterNames.map { name in
            let g = LabelStats.gold(of: name, in: votes)
            return RaterLine(rater: name, votes: votes.lazy.filter { $0.rater == name }.count, goldAnswered: g.answered, goldAccuracy: g.accuracy)
        }
        percentAgreement = Agreement.percentAgreement(ratings)
        fleissKappa = Agreement.fleissKappa(ratings)
        krippendorffAlpha = Agreement.krippendorffAlpha(ratings)
        var pairs: [PairLine] = []
        for i in raterNames.indices {
            for j in raterNames.indices where j > i {
                let (k, n) = Agreement.cohenKappa(ratings, raterNames[i], raterNames[j])
                if n > 0 { pairs.append(PairLine(raterA: raterNames[i], raterB: raterNames[j], sharedItems: n, cohenKappa: k)) }
            }
        }
        self.pairs = pairs
    }

    /// A plain-text report for the terminal.
    public var text: String {
        func f(_ x: Double?) -> String { x.map { String(format: "%.3f", $0) } ?? "n/a" }
        func pct(_ x: Double?) -> String { x.map { String(format: "%.1f%%", 100 * $0) } ?? "n/a" }
        var s = "\(items) comparisons, \(votes) votes, \(overlappingItems) comparisons answered by 2+ raters\n"
        if let o = overlap {
            s += "toward \(o.target) answer\(o.target == 1 ? "" : "s") each (--overlap): \(o.complete) of \(o.items) ordinary comparisons done"
            s += o.items > 0 ? String(format: " (%.1f%%)", 100 * Double(o.complete) / Double(o.items)) : ""
            s += ", \(o.answersNeeded) answer\(o.answersNeeded == 1 ? "" : "s") still needed\n"
        }
        s += "\n"
        // As wide as the longest name: a cut name could be another rater's.
        let width = max(5, raters.map(\.rater.count).max() ?? 0)
        s += "rater".padding(toLength: width, withPad: " ", startingAt: 0) + "  votes  gold items answered  answered right\n"
        for r in raters {
            s += r.rater.padding(toLength: width, withPad: " ", startingAt: 0)
            s += String(format: "  %5d  %17d  ", r.votes, r.goldAnswered) + pct(r.goldAccuracy) + "\n"
        }
        s += "\nagreement on overlapping comparisons:\n"
        s += "  percent agreement     \(pct(percentAgreement))\n"
        s += "  Fleiss' kappa         \(f(fleissKappa))\n"
        s += "  Krippendorff's alpha  \(f(krippendorffAlpha))\n"
        if !pairs.isEmpty {
            s += "\nCohen's kappa per pair of raters:\n"
            for p in pairs { s += "  \(p.raterA) / \(p.raterB): \(f(p.cohenKappa)) on \(p.sharedItems) shared\n" }
        }
        return s
    }
}
