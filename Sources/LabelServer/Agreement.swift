/// Inter-rater agreement on nominal labels (here the four answers a, b, tie, both_bad).
/// `ratings[item][rater]` is one answer; items with fewer than two answers carry no agreement
/// information and are left out of every statistic. A statistic is nil when it is undefined
/// (no overlapping items, or every answer the same so chance agreement is already 1).
public enum Agreement {
    public typealias Ratings = [Int64: [String: Choice]]

    /// Items with at least two answers, each as counts per category.
    static func overlapping(_ ratings: Ratings) -> [[Choice: Int]] {
        ratings.values.filter { $0.count >= 2 }.map { byRater in
            var counts: [Choice: Int] = [:]
            for c in byRater.values { counts[c, default: 0] += 1 }
            return counts
        }
    }

    /// Share of agreeing rater pairs per item, averaged over items with two or more answers.
    public static func percentAgreement(_ ratings: Ratings) -> Double? {
        let items = overlapping(ratings)
        guard !items.isEmpty else { return nil }
        return items.map(itemAgreement).reduce(0, +) / Double(items.count)
    }

    static func itemAgreement(_ counts: [Choice: Int]) -> Double {
        let n = counts.values.reduce(0, +)
        let agreeing = counts.values.map { $0 * ($0 - 1) }.reduce(0, +)
        return Double(agreeing) / Double(n * (n - 1))
    }

    /// Fleiss' kappa, in the form that allows a different number of raters per item:
    /// κ = (P̄ − Pₑ) / (1 − Pₑ), P̄ the mean per-item pair agreement, Pₑ = Σⱼ pⱼ² with pⱼ the share
    /// of all answers in category j.
    public static func fleissKappa(_ ratings: Ratings) -> Double? {
        let items = overlapping(ratings)
        guard !items.isEmpty else { return nil }
        let pBar = items.map(itemAgreement).reduce(0, +) / Double(items.count)
        var totals: [Choice: Int] = [:]
        for item in items { for (c, k) in item { totals[c, default: 0] += k } }
        let all = Double(totals.values.reduce(0, +))
        let pE = totals.values.map { (Double($0) / all) * (Double($0) / all) }.reduce(0, +)
        guard pE < 1 else { return nil }
        return (pBar - pE) / (1 - pE)
    }

    /// Cohen's kappa for two raters on the items both answered: κ = (pₒ − pₑ) / (1 − pₑ), pₑ from
    /// each rater's own category shares. Returns the kappa and the number of shared items.
    public static func cohenKappa(_ ratings: Ratings, _ r1: String, _ r2: String) -> (kappa: Double?, items: Int) {
        var pairs: [(Choice, Choice)] = []
        for byRater in ratings.values {
            if let x = byRater[r1], let y = byRater[r2] { pairs.append((x, y)) }
        }
        guard !pairs.isEmpty else { return (nil, 0) }
        let n = Double(pairs.count)
        let pO = Double(pairs.filter { $0.0 == $0.1 }.count) / n
        var pE = 0.0
        for c in Choice.allCases {
            pE += (Double(pairs.filter { $0.0 == c }.count) / n) * (Double(pairs.filter { $0.1 == c }.count) / n)
        }
        guard pE < 1 else { return (nil, pairs.count) }
        return ((pO - pE) / (1 - pE), pairs.count)
    }

    /// Krippendorff's alpha for nominal data, any number of raters per item and missing answers:
    /// α = 1 − (n − 1) · Σ_{c≠k} o_ck / Σ_{c≠k} n_c n_k, with o the coincidence matrix (each item of
    /// m answers adds 1/(m − 1) per ordered pair of answers) and n_c its margins.
    public static func krippendorffAlpha(_ ratings: Ratings) -> Double? {
        let items = overlapping(ratings)
        guard !items.isEmpty else { return nil }
        var disagreeing = 0.0
        var margins: [Choice: Double] = [:]
        for item in items {
            let m = Double(item.values.reduce(0, +))
            for (c, nc) in item {
                margins[c, default: 0] += Double(nc)
                for (k, nk) in item where k != c { disagreeing += Double(nc * nk) / (m - 1) }
            }
        }
        let n = margins.values.reduce(0, +)
        var expected = 0.0
        for (c, nc) in margins { for (k, nk) in margins where k != c { expected += nc * nk } }
        guard expected > 0 else { return nil }
        return 1 - (n - 1) * disagreeing / expected
    }
}
