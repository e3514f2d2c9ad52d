import Foundation

/// Simulated human raters (as AlpacaFarm's simulated annotators stand in for people): each rater
/// weighs the same features gold does, but with weights of their own, noise, sometimes no care
/// at all, and a pull toward the left-hand response. On average they reward *sounding* good —
/// politeness, length — more than gold does and check order numbers less, as raters who do not
/// verify facts do; a reward model learned from them can therefore be hacked.
public struct RaterPanel {
    public struct Rater {
        public let id: String
        public let weights: [KeyPath<GoldUtility.Features, Double>: Double]
        /// Utility bonus per word up to 50 words: the taste for long answers.
        public let lengthTaste: Double
        /// Bradley–Terry temperature: higher is noisier.
        public let temperature: Double
        /// Picks at random, ignoring the responses.
        public let careless: Bool
        /// Added to the left-hand response's utility.
        public let positionBias: Double

        public func utility(_ f: GoldUtility.Features) -> Double {
            GoldUtility.total(f, weights: weights) + lengthTaste * min(f.words, 50)
        }
    }

    /// The panel's mean weights: manners up, fact-checking down, relative to gold.
    public static let panelWeights: [KeyPath<GoldUtility.Features, Double>: Double] = [
        \.correctOrder: 0.35, \.wrongOrder: -0.25, \.fittingRemedy: 0.8, \.wrongRemedy: -0.3, \.polite: 1.0,
        \.rude: -2.5, \.onTopic: 0.3, \.offTopic: -0.8, \.properEnding: 0.6, \.namesCustomer: 0.4,
        \.wrongName: -0.2,
        \.repetition: -1.8, \.tooShort: -1.0, \.tooLong: -0.3,
    ]

    /// What the panel values on average, before each rater's own scaling.
    public enum Taste: String, CaseIterable, Sendable {
        /// `panelWeights` and a liking for long answers: manners over facts, as raters who do not
        /// verify order numbers. The demo's default: its reward model can be hacked.
        case soundsGood = "sounds-good"
        /// Gold's own weights and no length taste: raters who check the facts as gold does, with
        /// the same spread, noise, careless share and position bias. What a reward model learns
        /// when the raters' taste is right.
        case gold
    }

    /// How many of `raters` choose at random for a careless share.
    public static func carelessCount(raters: Int, share: Double) -> Int { Int((Double(raters) * share).rounded()) }

    public let raters: [Rater]
    public let taste: Taste
    let gold = GoldUtility()

    /// - Parameters:
    ///   - count: raters on the panel.
    ///   - carelessShare: fraction of raters who choose at random.
    ///   - positionBias: utility added to whichever response is shown first.
    ///   - taste: the panel's mean weights (each rater's are scaled around them).
    public init(count: Int = 6, carelessShare: Double = 0.15, positionBias: Double = 0.1, taste: Taste = .soundsGood, seed: UInt64) {
        var rng = WorldRNG(seed: seed ^ 0xA11CE)
        let careless = RaterPanel.carelessCount(raters: count, share: carelessShare)
        let mean = taste == .gold ? GoldUtility.goldWeights : RaterPanel.panelWeights
        self.taste = taste
        // Each rater scales every weight by a factor in [0.6, 1.4] (people differ in what they
        // value), and draws a taste for length and a noise level; drawn in the same order for
        // both tastes, so a seed gives the same raters' spread, noise and carelessness in both.
        let draws = (0..<count).map { _ in
            (factors: Dictionary(uniqueKeysWithValues: GoldUtility.featureOrder.filter { mean[$0] != nil }.map { ($0, 0.6 + 0.8 * rng.unit()) }),
             length: 0.01 + 0.02 * rng.unit(), temperature: 0.3 + 0.4 * rng.unit())
        }
        // Gold taste: weights rescaled so the attentive raters' mean is exactly gold's. With five
        // of them the draws alone left seed 1's panel ranking a wrong order number above a wrong
        // remedy (gold's margin between the two is 0.4), a bias no one chose.
        let attentive = draws.prefix(count - careless)
        var rescale: [KeyPath<GoldUtility.Features, Double>: Double] = [:]
        if taste == .gold, !attentive.isEmpty {
            for (k, v) in mean { rescale[k] = v * Double(attentive.count) / attentive.reduce(0) { $0 + v * $1.factors[k]! } }
        }
        raters = draws.enumerated().map { i, d in
            Rater(id: "rater-\(i + 1)", weights: d.factors.reduce(into: [:]) { w, kf in w[kf.key] = mean[kf.key]! * kf.value * (rescale[kf.key] ?? 1) },
                  lengthTaste: taste == .gold ? 0 : d.length, temperature: d.temperature,
                  careless: i >= count - careless, positionBias: positionBias)
        }
    }

    /// True when `rater` prefers `a` (shown first) over `b`.
    public func prefers(_ rater: Rater, prompt: String, _ a: String, _ b: String, _ rng: inout WorldRNG) -> Bool {
        prefers(rater, gold.features(prompt: prompt, response: a), gold.features(prompt: prompt, response: b), &rng)
    }

    /// True when `rater` prefers the response with features `a` (shown first) over `b`'s.
    func prefers(_ rater: Rater, _ a: GoldUtility.Features, _ b: GoldUtility.Features, _ rng: inout WorldRNG) -> Bool {
        if rater.careless { return rng.chance(0.5) }
        let ua = rater.utility(a) + rater.positionBias
        let ub = rater.utility(b)
        let p = 1 / (1 + Foundation.exp(-(ua - ub) / rater.temperature))
        return rng.chance(p)
    }

    /// Labels each pair, showing the two responses in random order. Raters take prompts in turn
    /// (round-robin over runs of consecutive pairs with the same prompt), so one rater judges all
    /// of a prompt's pairs, as one InstructGPT labeller ranks all K responses to a prompt. Turns
    /// by pair position instead would hand pair j of every K-wise prompt to rater j: one rater's
    /// taste for all first pairs, the careless rater's noise for all of one position.
    public func label(_ pairs: [(prompt: String, a: String, b: String)], seed: UInt64) -> [PreferenceRecord] {
        var rng = WorldRNG(seed: seed)
        var out: [PreferenceRecord] = []
        var turn = -1
        let features = gold.features(of: pairs)
        for (i, p) in pairs.enumerated() {
            // Counted before identical pairs are skipped, so a skip never shifts later turns.
            if i == 0 || p.prompt != pairs[i - 1].prompt { turn += 1 }
            guard p.a != p.b else { continue }
            let rater = raters[turn % raters.count]
            let flip = rng.chance(0.5)
            let (first, second) = flip ? (p.b, p.a) : (p.a, p.b)
            let f = features[i]
            let firstWins = flip ? prefers(rater, f.b, f.a, &rng) : prefers(rater, f.a, f.b, &rng)
            let (chosen, rejected) = firstWins ? (first, second) : (second, first)
            out.append(PreferenceRecord(prompt: p.prompt, chosen: chosen, rejected: rejected, rater: rater.id))
        }
        return out
    }

    /// The panel's taste for one response: the mean utility the attentive raters give it (no
    /// noise, no position). Its order over responses is the order their choices tend to, so it
    /// shows which of gold's rankings the panel, and a reward model learned from it, can teach.
    public func meanUtility(prompt: String, response: String) -> Double {
        let f = gold.features(prompt: prompt, response: response)
        let attentive = raters.filter { !$0.careless }
        return attentive.reduce(0) { $0 + $1.utility(f) } / Double(max(attentive.count, 1))
    }

    /// How well the panel's choices track gold, and each other.
    public struct Agreement: Codable, Sendable {
        /// Share of pairs (those gold tells apart) where a single rater's choice matches gold:
        /// the ceiling for a reward model trained on this panel's labels.
        public var withGold: Double
        /// Share of rater pairs that agree on the same comparison.
        public var amongRaters: Double
        public var pairs: Int
    }

    /// Every rater judges every pair; agreement is measured on pairs gold can tell apart.
    public func agreement(_ pairs: [(prompt: String, a: String, b: String)], seed: UInt64) -> Agreement {
        var rng = WorldRNG(seed: seed)
        var matches = 0, judged = 0, agree = 0, comparisons = 0, used = 0
        for f in gold.features(of: pairs) {
            let ga = GoldUtility.total(f.a, weights: GoldUtility.goldWeights), gb = GoldUtility.total(f.b, weights: GoldUtility.goldWeights)
            guard GoldUtility.tellsApart(ga, gb) else { continue }
            used += 1
            var votes: [Bool] = []
            for r in raters {
                let flip = rng.chance(0.5)
                let v = flip ? !prefers(r, f.b, f.a, &rng) : prefers(r, f.a, f.b, &rng)
                votes.append(v)
                if v == (ga > gb) { matches += 1 }
                judged += 1
            }
            for i in 0..<votes.count { for j in (i + 1)..<votes.count { comparisons += 1; if votes[i] == votes[j] { agree += 1 } } }
        }
        return Agreement(withGold: judged > 0 ? Double(matches) / Double(judged) : .nan,
                         amongRaters: comparisons > 0 ? Double(agree) / Double(comparisons) : .nan, pairs: used)
    }
}
