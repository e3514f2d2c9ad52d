import Feedback
import Foundation
import Support
import Training

/// The demo's numbers, as `summary.json` (machine-readable) and `report.html` (for people).
struct DemoReport {
    struct ModelRow: Encodable {
        let name: String
        let gold: Double
        /// Held-out prompts where the model's answer is better than SFT's by gold, worse, level.
        let wins: Int, losses: Int, ties: Int
        /// Share of prompts won, ties counting half.
        var winRate: Double { (Double(wins) + Double(ties) / 2) / Double(max(wins + losses + ties, 1)) }
        let kl: Double
        let proxy: Double
        let words: Double
        /// Answers that name the request's order number / another; that call the customer by
        /// their own name / another. The facts gold checks and a fluent answer can get wrong.
        let orderRight: Int, orderWrong: Int, nameRight: Int, nameWrong: Int
        /// Wall time of the stage that made the model (its own training or selection; the reward
        /// model's, shared by every method but DPO, is listed under Pipeline).
        let seconds: Double
        /// Gold and proxy of each held-out answer, in prompt order: for paired comparisons.
        let golds: [Double], proxies: [Double]
    }

    /// The mean of a − b over the same prompts, with its standard error: paired, so the
    /// prompts' own spread (some requests are easy for every model) cancels.
    struct PairedDifference: Encodable {
        let mean: Double
        let standardError: Double
        init(_ a: [Double], minus b: [Double]) {
            let d = zip(a, b).map { $0 - $1 }
            let n = Double(d.count)
            mean = d.reduce(0, +) / max(n, 1)
            let m = mean
            standardError = d.count > 1 ? (d.reduce(0) { $0 + ($1 - m) * ($1 - m) } / (n - 1) / n).squareRoot() : .nan
        }
    }

    /// Gold gain of a model over SFT on the held-out prompts.
    func gainOverSFT(_ m: ModelRow) -> PairedDifference? {
        models.first { $0.name == "sft" }.map { PairedDifference(m.golds, minus: $0.golds) }
    }

    /// PPO without the KL penalty against PPO with it (KL-free minus leashed).
    struct LeashComparison {
        /// Each final model's KL from SFT on the held-out prompts.
        let kl: Double, klFree: Double
        /// On the held-out prompts, the final models: what the leash buys. This decides the verdict.
        let gold: PairedDifference, proxy: PairedDifference
        /// Iterations each run trained (the KL-free twin twice PPO's, `Budget.klFreeSteps`).
        let iterations: Int, klFreeIterations: Int
        /// The rollouts' proxy and gold at the end of each run (the end points of the curves the
        /// report draws), and at the leashed run's last iteration, the same budget for both.
        let trainingProxy: Double, trainingGold: Double
        let sameIterationProxy: Double, sameIterationGold: Double
    }

    var leash: LeashComparison? {
        guard let ppo = models.first(where: { $0.name == "ppo" }), let free = models.first(where: { $0.name == "ppo β=0" }),
              let leashed = ppoRuns.first(where: { $0.name == "ppo" }), let unleashed = ppoRuns.first(where: { $0.name == "ppo-no-kl" }) else { return nil }
        let n = leashed.metrics.count
        // The 5-iteration moving averages the curves show, at the leashed run's last iteration.
        func at(_ r: PPORun, _ k: String, _ i: Int) -> Double {
            let sm = OveroptimizationOnset.smoothed(r.col(k), 5)
            return sm.indices.contains(i) ? sm[i] : .nan
        }
        func difference(_ k: String, at i: Int? = nil) -> Double {
            at(unleashed, k, i ?? unleashed.metrics.count - 1) - at(leashed, k, n - 1)
        }
        return LeashComparison(kl: ppo.kl, klFree: free.kl, gold: PairedDifference(free.golds, minus: ppo.golds), proxy: PairedDifference(free.proxies, minus: ppo.proxies),
                               iterations: n, klFreeIterations: unleashed.metrics.count,
                               trainingProxy: difference("objective/rm_score"), trainingGold: difference("objective/gold"),
                               sameIterationProxy: difference("objective/rm_score", at: n - 1), sameIterationGold: difference("objective/gold", at: n - 1))
    }

    /// First and last points of a PPO curve after the report's 5-iteration moving average.
    static func ends(_ x: [Double]) -> (first: Double, last: Double) {
        let sm = OveroptimizationOnset.smoothed(x, 5)
        return (sm.first ?? .nan, sm.last ?? .nan)
    }

    let seed: UInt64
    let quick: Bool
    var stages: [(String, Double)] = []
    /// The RL stages ran two at a time, each on half the cores (the last one left on all), so
    /// their times overlap (see `Parallel.jobs`).
    var rlStagesSideBySide = false
    /// Wall time of the RL stages, DPO and every held-out evaluation, which overlap on the lanes
    /// (after a resume, every attempt's).
    var rlWallSeconds = Double.nan
    var totalSeconds = 0.0
    /// With `--resume`: the time earlier attempts spent on stages, finished (loaded from the run
    /// folder) or interrupted, which `totalSeconds` (this process's wall time) leaves out; the RL
    /// stages by the lanes' wall time, as they overlap.
    var loadedSeconds = 0.0
    /// How long the run took, said so that a resumed run's total is not read as the whole.
    var durationText: String {
        loadedSeconds > 0
            ? "\(Progress.formatDuration(totalSeconds)) since the resume, after \(Progress.formatDuration(loadedSeconds)) in earlier attempts"
            : Progress.formatDuration(totalSeconds)
    }
    var pretrainMetrics: [[String: Double]] = []
    var pretrainUnigram = 0.0
    var sftMetrics: [[String: Double]] = []
    var rmMetrics: [[String: Double]] = []
    var rmEpochs: [(Int, Double, Double)] = []
    var rmAccuracyPanel = 0.0
    var rmAccuracyGold = 0.0
    /// Whether the reward model reads its score at an appended EOS (`RewardModel.appendsEOS`).
    var rmAppendsEOS = false
    var panel: RaterPanel.Agreement?
    /// The reward model's and the panel's agreement with gold on pairs of two SFT answers, when
    /// some answers the raters compared came from the base model or the world's writers.
    var rmAccuracyGoldSFTPairs: Double?
    /// The reward model's and one rater's agreement with gold on the same held-out pairs that
    /// differ in one fact.
    struct FactCheck {
        let kind: FactContrast
        /// Held-out pairs of this kind that gold tells apart: those the reward model is measured on.
        let heldOutPairs: Int
        /// One rater's agreement with gold on those pairs (every rater judges each).
        let panel: Double
        let rewardModel: Double
        /// Both measures exist: the run held out pairs of this kind that gold tells apart.
        var measured: Bool { rewardModel.isFinite && panel.isFinite }
        /// The reward model is more than two binomial standard errors below one rater on at least
        /// 20 pairs: if it chose as a rater does, so low a share would be rarer than 1 in 40.
        var checksLessThanRaters: Bool {
            guard heldOutPairs >= 20 else { return false }
            return rewardModel < panel - 2 * (panel * (1 - panel) / Double(heldOutPairs)).squareRoot()
        }
    }
    var factChecks: [FactCheck] = []
    /// Answers the raters compared per prompt, by who wrote them.
    var answersPerPrompt = (sft: 0, base: 0, world: 0)
    var panelSFTPairs: RaterPanel.Agreement?
    var panelTaste: RaterPanel.Taste = .soundsGood
    /// One template style's scores on the style check's held-out requests.
    struct StyleScores {
        let style: String
        /// Mean gold, the panel's mean utility and the reward model's mean normalised score.
        let gold: Double, panel: Double, proxy: Double
        /// The reward model's normalised score per request, in the check's request order: every
        /// style answers the same requests, so two styles' scores are compared pairwise.
        let proxies: [Double]
    }
    var styles: [StyleScores] = []

    /// Each style against the next one down in gold's order: gold's gap, and the reward model's,
    /// with its standard error over the requests. A negative reward-model gap is gold's order
    /// reversed; within two standard errors it may be the draw of requests alone.
    var styleGaps: [(above: StyleScores, below: StyleScores, gold: Double, rewardModel: PairedDifference)] {
        let byGold = styles.sorted { $0.gold > $1.gold }
        return zip(byGold, byGold.dropFirst()).map { ($0, $1, $0.gold - $1.gold, PairedDifference($0.proxies, minus: $1.proxies)) }
    }
    var models: [ModelRow] = []
    var samples: [(String, [(String, String, Double)])] = []
    /// Each PPO run: its β, per-iteration metrics and time split.
    struct PPORun {
        let name: String
        let beta: Double
        let estimator: PPOConfig.AdvantageEstimator
        let metrics: [[String: Double]]
        let timeSplit: String
        var onset: OveroptimizationOnset? {
            OveroptimizationOnset.detect(steps: col("step"), proxy: col("objective/rm_score"), gold: col("objective/gold"), kl: col("objective/kl"))
        }
        func col(_ k: String) -> [Double] { metrics.map { $0[k] ?? .nan } }
    }
    var ppoRuns: [PPORun] = []
    var dpoMetrics: [[String: Double]] = []
    /// (analytic KL, held-out gold) of best-of-N for N = 1, 2, 4, …
    var bestOfNFrontier: [(Double, Double)] = []

    init(seed: UInt64, quick: Bool) { self.seed = seed; self.quick = quick }

    func summaryJSON() -> String {
        struct Stage: Encodable { let name: String; let seconds: Double }
        struct RM: Encodable { let accuracy_vs_panel: Double; let accuracy_vs_gold: Double; let panel_taste: String; let panel_agreement_with_gold: Double; let panel_agreement_among_raters: Double
            /// On pairs of two SFT answers, when some answers came from the base model or the world's writers (absent otherwise).
            let accuracy_vs_gold_sft_pairs: Double?; let panel_agreement_with_gold_sft_pairs: Double?
            /// The answers the raters compared per prompt, by who wrote them.
            let answers_per_prompt_sft: Int; let answers_per_prompt_base: Int; let answers_per_prompt_world: Int
            /// On held-out pairs that differ in one fact (FactContrast), by its raw value; a kind
            /// with no such pairs is left out.
            let fact_checks: [String: FactCheckJSON]
            /// Whether it reads its score at an appended EOS (`--rm-append-eos`).
            let appends_eos: Bool }
        struct FactCheckJSON: Encodable { let held_out_pairs: Int; let accuracy_vs_gold: Double; let panel_agreement_with_gold: Double }
        struct Model: Encodable {
            let gold_utility: Double; let win_rate_vs_sft: Double; let wins_vs_sft: Int; let losses_vs_sft: Int; let ties_vs_sft: Int; let kl_from_sft: Double; let proxy_score: Double; let mean_words: Double
            let order_number_right: Int; let order_number_wrong: Int; let customer_name_right: Int; let customer_name_wrong: Int
            let wall_seconds: Double; let gold_gain_per_kl: Double?; let gold_gain_per_minute: Double?
            /// Paired over the held-out prompts (absent for SFT itself).
            let gold_gain_vs_sft: Double?; let gold_gain_vs_sft_standard_error: Double?
        }
        /// PPO β = 0 minus PPO, on the held-out prompts.
        struct Leash: Encodable {
            let kl_from_sft_ppo: Double; let kl_from_sft_no_leash: Double
            let gold_difference: Double; let gold_difference_standard_error: Double
            let proxy_difference: Double; let proxy_difference_standard_error: Double
            /// The same at the end of each run's training, on the rollouts (5-iteration means):
            /// the KL-free run's last iteration (`iterations_no_leash`) against PPO's.
            let training_proxy_difference: Double; let training_gold_difference: Double
            /// The KL-free run trains longer (`iterations_no_leash`); these compare the two at
            /// the leashed run's last iteration, on the rollouts.
            let iterations_ppo: Int; let iterations_no_leash: Int
            let training_proxy_difference_at_ppo_end: Double; let training_gold_difference_at_ppo_end: Double
        }
        struct Style: Encodable { let style: String; let gold: Double; let panel: Double; let proxy: Double }
        struct StyleGap: Encodable {
            let above: String; let below: String; let gold_difference: Double
            let reward_model_difference: Double; let reward_model_difference_standard_error: Double
        }
        struct PPO: Encodable {
            let algorithm: String; let beta: Double; let steps: Int; let first_proxy: Double; let last_proxy: Double; let first_gold: Double; let last_gold: Double
            let last_kl: Double; let overoptimization: OveroptimizationOnset?; let time_split: String
        }
        struct Summary: Encodable {
            let seed: UInt64; let quick: Bool; let total_seconds: Double; let stages: [Stage]
            /// With `--resume`: the seconds earlier attempts spent on stages, finished (loaded from
            /// the run folder) or interrupted (`total_seconds` is the resumed process's wall time).
            let loaded_stages_seconds: Double
            /// The RL stages and evaluations side by side on the lanes: their wall time.
            let rl_wall_seconds: Double
            let models: [String: Model]; let reward_model: RM; let styles: [Style]
            /// Each style against the next one down in gold's order (`styleGaps`).
            let style_gaps: [StyleGap]; let pretrain_unigram_baseline: Double
            let ppo: [String: PPO]
            let kl_leash: Leash?
        }
        let ends = DemoReport.ends
        let ppo = Dictionary(uniqueKeysWithValues: ppoRuns.map { r -> (String, PPO) in
            let (p0, p1) = ends(r.col("objective/rm_score")), (g0, g1) = ends(r.col("objective/gold")), (_, k1) = ends(r.col("objective/kl"))
            return (r.name, PPO(algorithm: r.estimator == .gae ? "ppo" : r.estimator.rawValue, beta: r.beta, steps: r.metrics.count, first_proxy: p0, last_proxy: p1, first_gold: g0, last_gold: g1,
                                last_kl: k1, overoptimization: r.onset, time_split: r.timeSplit))
        })
        let s = Summary(seed: seed, quick: quick, total_seconds: totalSeconds, stages: stages.map { Stage(name: $0.0, seconds: $0.1) }, loaded_stages_seconds: loadedSeconds, rl_wall_seconds: rlWallSeconds,
                        models: Dictionary(uniqueKeysWithValues: models.map { m in
                            let e = efficiency(m), gain = m.name == "sft" ? nil : gainOverSFT(m)
                            return (m.name, Model(gold_utility: m.gold, win_rate_vs_sft: m.winRate, wins_vs_sft: m.wins, losses_vs_sft: m.losses, ties_vs_sft: m.ties, kl_from_sft: m.kl, proxy_score: m.proxy, mean_words: m.words,
                                                  order_number_right: m.orderRight, order_number_wrong: m.orderWrong, customer_name_right: m.nameRight, customer_name_wrong: m.nameWrong,
                                                  wall_seconds: m.seconds, gold_gain_per_kl: e?.perKL, gold_gain_per_minute: e?.perMinute,
                                                  gold_gain_vs_sft: gain?.mean, gold_gain_vs_sft_standard_error: gain?.standardError))
                        }),
                        reward_model: RM(accuracy_vs_panel: rmAccuracyPanel, accuracy_vs_gold: rmAccuracyGold, panel_taste: panelTaste.rawValue,
                                         panel_agreement_with_gold: panel?.withGold ?? .nan, panel_agreement_among_raters: panel?.amongRaters ?? .nan,
                                         accuracy_vs_gold_sft_pairs: rmAccuracyGoldSFTPairs, panel_agreement_with_gold_sft_pairs: panelSFTPairs?.withGold,
                                         answers_per_prompt_sft: answersPerPrompt.sft, answers_per_prompt_base: answersPerPrompt.base,
                                         answers_per_prompt_world: answersPerPrompt.world,
                                         fact_checks: Dictionary(uniqueKeysWithValues: factChecks.filter(\.measured).map {
                                             ($0.kind.rawValue, FactCheckJSON(held_out_pairs: $0.heldOutPairs, accuracy_vs_gold: $0.rewardModel, panel_agreement_with_gold: $0.panel))
                                         }), appends_eos: rmAppendsEOS),
                        styles: styles.map { Style(style: $0.style, gold: $0.gold, panel: $0.panel, proxy: $0.proxy) },
                        style_gaps: styleGaps.map { StyleGap(above: $0.above.style, below: $0.below.style, gold_difference: $0.gold,
                                                             reward_model_difference: $0.rewardModel.mean, reward_model_difference_standard_error: $0.rewardModel.standardError) },
                        pretrain_unigram_baseline: pretrainUnigram, ppo: ppo,
                        kl_leash: leash.map { Leash(kl_from_sft_ppo: $0.kl, kl_from_sft_no_leash: $0.klFree, gold_difference: $0.gold.mean, gold_difference_standard_error: $0.gold.standardError,
                                                    proxy_difference: $0.proxy.mean, proxy_difference_standard_error: $0.proxy.standardError,
                                                    training_proxy_difference: $0.trainingProxy, training_gold_difference: $0.trainingGold,
                                                    iterations_ppo: $0.iterations, iterations_no_leash: $0.klFreeIterations,
                                                    training_proxy_difference_at_ppo_end: $0.sameIterationProxy, training_gold_difference_at_ppo_end: $0.sameIterationGold) })
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: (try? enc.encode(s)) ?? Data(), as: UTF8.self) + "\n"
    }

    /// The aligned models (not base or SFT), with gold gain over SFT per nat of KL and per
    /// minute of their own stage's wall time: what each method buys, and for how much.
    /// A ratio is nil where it means nothing: KL estimated from a model's own samples (k1) is
    /// unbiased but not non-negative, so a model that barely moved can show KL ≤ 0.
    func efficiency(_ m: ModelRow) -> (gain: Double, perKL: Double?, perMinute: Double?)? {
        guard m.name != "base", m.name != "sft", let gain = gainOverSFT(m)?.mean else { return nil }
        return (gain, m.kl > 1e-6 ? gain / m.kl : nil, m.seconds > 0 ? gain / (m.seconds / 60) : nil)
    }

    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    func series(_ m: [[String: Double]], _ key: String) -> [(Double, Double)] {
        m.compactMap { r in r[key].flatMap { v in r["step"].map { ($0, v) } } }
    }

    func html() -> String {
        let P = SVGChart.palette
        var h = """
        <!doctype html><html lang="en"><head><meta charset="utf-8"><title>swift-rlhf demo report</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <style>
        body{font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#111827;max-width:1180px;margin:24px auto;padding:0 16px;background:#f9fafb}
        h1{font-size:26px;margin:0 0 4px} h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #e5e7eb;padding-bottom:4px}
        .sub{color:#6b7280;margin-bottom:16px} .grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:16px}
        .card{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:12px 14px}
        table{border-collapse:collapse;width:100%;background:#fff} th,td{border-bottom:1px solid #e5e7eb;padding:6px 8px;text-align:left;vertical-align:top}
        th{background:#f3f4f6;font-weight:600} td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
        .chart{width:100%;height:auto} .ct{font-weight:600;font-size:13px} .tk{font-size:11px;fill:#4b5563} .al{font-size:12px;fill:#374151}
        .lg{font-size:12px;fill:#111827} .grid{stroke:#eef0f3} .axis{stroke:#9ca3af}
        .kpi{display:flex;gap:12px;flex-wrap:wrap} .kpi div{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:10px 14px;min-width:170px}
        .kpi b{display:block;font-size:22px} .good{color:#15803d} .bad{color:#b91c1c} .resp{white-space:pre-wrap;font-size:13.5px}
        .note{color:#4b5563;font-size:13.5px}
        </style></head><body>
        <h1>swift-rlhf — demo report</h1>
        <div class="sub">Seed \(seed)\(quick ? " · quick (smoke-test budget: numbers are not meaningful)" : "") · \(ProcessInfo.processInfo.activeProcessorCount) cores · total \(durationText)</div>
        """
        h += """
        <p class="note"><b>What this run is.</b> A seeded, simulated customer-support world: each prompt is a customer \
        writing about an order (their name, an order number, an item, a problem), and an answer should greet them by \
        their own name, name the right order number, offer the remedy that fits the problem, and stay polite, on topic \
        and complete. <b>Gold</b> is the world's hidden measure of that, read from the text of any answer (about −4 for \
        rude or repetitive to +3.2 for a perfect one); it is only watched, never trained on. A panel of simulated raters \
        compared answers, a <b>reward model</b> learned their preferences, and its score — the <b>proxy</b>, normalised \
        by the mean and standard deviation of its scores on SFT's own answers — is what PPO, GRPO, RLOO and best-of-N \
        maximise, together with two programmatic verifiers (the order number and the customer's name) and, for the RL \
        methods, a KL penalty that keeps the policy near SFT. Reward hacking is proxy going up while gold does not.</p>
        """
        if let sft = models.first(where: { $0.name == "sft" }) {
            h += "<div class=\"kpi\">"
            for m in models where m.name != "sft" {
                let cls = m.gold > sft.gold ? "good" : "bad"
                h += String(format: "<div>%@<b class=\"%@\">%+.3f</b>gold vs SFT · win-rate %.1f%% · KL %.2f</div>", DemoReport.esc(m.name), cls, m.gold - sft.gold, m.winRate * 100, m.kl)
            }
            h += String(format: "<div>reward model<b>%.1f%%</b>of held-out pairs ordered as gold orders them; one rater of the panel: %.1f%%", rmAccuracyGold * 100, (panel?.withGold ?? .nan) * 100)
            if let a = rmAccuracyGoldSFTPairs, let p = panelSFTPairs {
                h += String(format: " (pairs of two SFT answers, where PPO starts: %.1f%% and %.1f%%)", a * 100, p.withGold * 100)
            }
            h += "</div>"
            h += "</div>"
        }
        h += "<h2>Models on held-out prompts</h2><p class=\"note\">Gold is the hidden true utility; proxy is the reward model's normalised score. Win-rate counts prompts where a model's response beats the SFT model's by gold, ties half; beside it, the prompts won, lost and tied. Where SFT's answer already has every feature gold rewards, a model can only tie, so a model that is perfect everywhere wins 50% plus half the share of prompts SFT gets wrong. KL from SFT is measured on each model's own samples at temperature 0.7; for best-of-N it is the analytic log N − (N−1)/N. The gain over SFT is the mean over the same prompts, with its paired standard error. The order-number and name columns count answers that name the request's order number, or call the customer by a name, rightly or wrongly: the held-out customers' names are in nothing the models trained on, so SFT guesses a wrong one, while the RL methods, rewarded by the name verifier, learn to greet them without a name.</p>"
        h += "<table><tr><th>model</th><th>gold utility</th><th>gain over SFT ± s.e.</th><th>win-rate vs SFT (won / lost / tied)</th><th>KL from SFT</th><th>proxy score</th><th>order number right / wrong</th><th>customer's name right / wrong</th><th>mean words</th><th>stage time</th></tr>"
        for m in models {
            let gain = m.name == "sft" ? nil : gainOverSFT(m)
            h += String(format: "<tr><td>%@</td><td class=\"n\">%.3f</td><td class=\"n\">%@</td><td class=\"n\">%.1f%% (%d / %d / %d)</td><td class=\"n\">%.3f</td><td class=\"n\">%+.3f</td><td class=\"n\">%d / %d</td><td class=\"n\">%d / %d</td><td class=\"n\">%.1f</td><td class=\"n\">%@</td></tr>",
                        DemoReport.esc(m.name), m.gold, gain.map { String(format: "%+.3f ± %.3f", $0.mean, $0.standardError) } ?? "", m.winRate * 100, m.wins, m.losses, m.ties, m.kl, m.proxy, m.orderRight, m.orderWrong, m.nameRight, m.nameWrong, m.words, m.seconds.isFinite ? Progress.formatDuration(m.seconds) : "–")
        }
        h += "</table><div class=\"grid2\" style=\"margin-top:12px\"><div class=\"card\">"
        h += SVGChart.bars(title: "Gold utility (higher is better)", items: models.enumerated().map { ($1.name, $1.gold, P[$0 % P.count]) }, format: "%.3f")
        h += "</div><div class=\"card\">"
        h += SVGChart.bars(title: "Reward-model proxy score (normalised)", items: models.enumerated().map { ($1.name, $1.proxy, P[$0 % P.count]) }, format: "%+.3f")
        h += "</div></div>"

        h += "<h2>Pretraining, SFT and the reward model</h2><div class=\"grid2\"><div class=\"card\">"
        h += SVGChart.line(title: "Pretraining loss", xLabel: "step", yLabel: "nats / token",
                           series: [.init(name: "train", points: series(pretrainMetrics, "loss"), color: P[0]),
                                    .init(name: "held-out", points: series(pretrainMetrics, "eval_loss"), color: P[1])],
                           references: [("unigram baseline", pretrainUnigram, "#6b7280")])
        h += "</div><div class=\"card\">"
        h += SVGChart.line(title: "SFT loss (completion tokens)", xLabel: "step", yLabel: "nats / token",
                           series: [.init(name: "train", points: series(sftMetrics, "loss"), color: P[0]),
                                    .init(name: "held-out", points: series(sftMetrics, "eval_loss"), color: P[1])])
        h += "</div><div class=\"card\">"
        let smoothed: [(Double, Double)] = {
            let pts = series(rmMetrics.filter { $0["accuracy"] != nil }, "accuracy")
            return pts.indices.map { i in
                let w = pts[max(0, i - 9)...i]
                return (pts[i].0, w.map(\.1).reduce(0, +) / Double(w.count))
            }
        }()
        h += SVGChart.line(title: "Reward model accuracy", xLabel: "step", yLabel: "accuracy",
                           series: [.init(name: "train batch vs panel (10-step mean)", points: smoothed, color: P[0]),
                                    .init(name: "held-out vs panel", points: series(rmMetrics, "eval_accuracy"), color: P[2])],
                           references: [("panel agreement with gold (ceiling)", panel?.withGold ?? .nan, "#dc2626"),
                                        ("held-out vs gold", rmAccuracyGold, "#9333ea")])
        // The raters, whose agreement the reward model is measured against.
        h += String(format: "<p class=\"note\">Raters: a simulated panel compared every two of %d answers per prompt (%d by SFT, %d by the base model%@). On the %d comparisons gold can tell apart, each judged by every rater, a rater agrees with gold on %.1f%% and with another rater on %.1f%%. The reward model can agree with gold more often than one rater does: it learns from all the raters' votes, whose noise partly averages out. %@</p>",
                    answersPerPrompt.sft + answersPerPrompt.base + answersPerPrompt.world, answersPerPrompt.sft, answersPerPrompt.base,
                    answersPerPrompt.world > 0 ? ", \(answersPerPrompt.world) by the world's writers in a style drawn evenly" : "",
                    panel?.pairs ?? 0, (panel?.withGold ?? .nan) * 100, (panel?.amongRaters ?? .nan) * 100,
                    rmAppendsEOS ? "It reads its score at an end-of-text token appended to every answer, as TRL's reward models do (--rm-append-eos), and every later stage scores it so."
                                 : "It reads its score at each answer's last token.")
        if !factChecks.isEmpty {
            h += "<table><tr><th>held-out pairs that…</th><th>pairs</th><th>one rater agrees with gold</th><th>reward model agrees with gold</th></tr>"
            for c in factChecks {
                h += c.measured
                    ? String(format: "<tr><td>%@</td><td class=\"n\">%d</td><td class=\"n\">%.1f%%</td><td class=\"n %@\">%.1f%%</td></tr>", c.kind.description, c.heldOutPairs,
                             c.panel * 100, c.checksLessThanRaters ? "bad" : "", c.rewardModel * 100)
                    : "<tr><td>\(c.kind.description)</td><td class=\"n\">\(c.heldOutPairs)</td><td class=\"n\">–</td><td class=\"n\">–</td></tr>"
            }
            h += "</table><p class=\"note\">Does the reward model check the facts? Held-out pairs that differ in one of the two facts an answer can get wrong while sounding right, as gold reads them. Manners, names and length may differ too, but gold prefers the answer with the fact right in nearly all of these pairs. Both columns are over the same held-out pairs, each judged by every rater. A reward model more than two standard errors below one rater (in red) does not check that fact as its raters do, and a policy optimised against it alone can get that fact wrong without losing reward; the order-number verifier is the demo's guard against that.</p>"
        }
        h += "</div><div class=\"card\">"
        func rank(_ key: KeyPath<StyleScores, Double>) -> [String: Int] {
            Dictionary(uniqueKeysWithValues: styles.sorted { $0[keyPath: key] > $1[keyPath: key] }.enumerated().map { ($1.style, $0 + 1) })
        }
        let (byGold, byPanel, byRM) = (rank(\.gold), rank(\.panel), rank(\.proxy))
        h += "<table><tr><th>response style</th><th>gold (rank)</th><th>panel's taste (rank)</th><th>reward model, normalised (rank)</th><th>reward model, gap to gold's next style</th></tr>"
        // In words: the table is read by people, not matched against the code's names.
        let styleNames = ["wrongRemedy": "polite, wrong remedy", "wrongOrder": "polite, wrong order number", "offTopic": "off-topic", "helpful": "helpful and correct"]
        let gaps = Dictionary(uniqueKeysWithValues: styleGaps.map { ($0.above.style, $0) })
        for s in styles {
            // Red: gold's order reversed by more than two standard errors, not by the draw alone.
            let gap = gaps[s.style].map { g in
                String(format: "<td class=\"n %@\">%+.2f ± %.2f<br><span class=\"note\">over %@</span></td>", g.rewardModel.mean < -2 * g.rewardModel.standardError ? "bad" : "",
                       g.rewardModel.mean, g.rewardModel.standardError, (styleNames[g.below.style] ?? g.below.style).replacingOccurrences(of: "polite, ", with: ""))
            } ?? "<td class=\"n\">–</td>"
            h += String(format: "<tr><td>%@</td><td class=\"n\">%+.2f (%d)</td><td class=\"n\">%+.2f (%d)</td><td class=\"n\">%+.2f (%d)</td>%@</tr>",
                        styleNames[s.style] ?? s.style, s.gold, byGold[s.style]!, s.panel, byPanel[s.style]!, s.proxy, byRM[s.style]!, gap)
        }
        h += "</table><p class=\"note\">Mean scores of templated responses in each style to the same \(styles.first?.proxies.count ?? 0) held-out prompts; a prompt's polite answers share their greeting, apology and closing. The last column is the reward model's mean gap between a style and the one gold ranks next below it, ± its standard error over the prompts; negative is gold's order reversed, and red where that is more than two standard errors, beyond what the draw of prompts explains. The panel's taste is its attentive raters' mean utility. " + (panelTaste == .soundsGood
            ? "This panel (--panel-taste sounds-good) checks order numbers less than gold and likes manners and length more, so it ranks some polite but wrong styles differently from gold, and a reward model learns the panel's ranking, not gold's. Where the reward model ranks a style above gold's order (e.g. polite but wrong order numbers), a policy optimised against it can gain proxy reward while losing gold: reward hacking."
            : "This panel (--panel-taste gold) weighs the features as gold does, with each rater's own spread, noise, careless raters and position bias.") + "</p></div></div>"

        h += ppoSection()
        h += methodsSection()

        h += "<h2>Sample responses</h2><table><tr><th style=\"width:22%\">prompt</th>"
        for (name, _, _) in samples.first?.1 ?? [] { h += "<th>\(DemoReport.esc(name))</th>" }
        h += "</tr>"
        for (prompt, outs) in samples {
            h += "<tr><td class=\"resp\">\(DemoReport.esc(prompt))</td>"
            // A completion starts with a space (it follows "Agent:"); shown without it.
            for (_, text, g) in outs { h += String(format: "<td><div class=\"resp\">%@</div><div class=\"note\">gold %+.2f</div></td>", DemoReport.esc(String(text.drop { $0 == " " })), g) }
            h += "</tr>"
        }
        h += "</table>"

        h += "<h2>Pipeline</h2><table style=\"width:auto\"><tr><th>stage</th><th>time</th></tr>"
        for (n, s) in stages { h += "<tr><td>\(DemoReport.esc(n))</td><td class=\"n\">\(Progress.formatDuration(s))</td></tr>" }
        h += "</table>"
        if rlStagesSideBySide {
            h += "<p class=\"note\">The RL stages ran two at a time, each on half the cores until the last one left took them all, so their times overlap and each is longer than it would be alone on all the cores; together with the evaluations they took \(Progress.formatDuration(rlWallSeconds)) of wall time, and the whole run took \(durationText).</p>"
        }
        h += "</body></html>\n"
        return h
    }

    /// A run's name as the models table has it ("ppo-no-kl" is its folder's name).
    static func shownName(_ run: String) -> String { run == "ppo-no-kl" ? "ppo β=0" : run }

    /// Each model keeps the colour of its bar in the charts at the top, through the page.
    func color(of name: String) -> String {
        SVGChart.palette[(models.firstIndex { $0.name == DemoReport.shownName(name) } ?? 0) % SVGChart.palette.count]
    }

    /// PPO curves per iteration (5-iteration moving averages of the rollouts' statistics), gold
    /// and proxy against √KL, and where proxy kept rising after gold stopped. Proxy and gold
    /// get charts of their own: on one axis the proxy (about 0.5–0.8) lies flat under gold
    /// (about 2–3), and its rise is what hacking looks like.
    func ppoSection() -> String {
        let ppoRuns = ppoRuns.filter { $0.estimator == .gae }
        guard !ppoRuns.isEmpty else { return "" }
        func sm(_ r: PPORun, _ k: String) -> [(Double, Double)] {
            Array(zip(r.col("step"), OveroptimizationOnset.smoothed(r.col(k), 5)))
        }
        func name(_ r: PPORun) -> String { DemoReport.shownName(r.name) }
        let anyOnset = ppoRuns.contains { $0.onset != nil }
        var h = "<h2>PPO and the KL leash</h2><p class=\"note\">Each iteration samples rollouts from the policy at temperature 0.7 and scores them. The curves show the proxy (the reward model's normalised score; the verifiers' rewards are not in it) and gold of those rollouts, and KL, the summed per-token log π − log π_ref of the sampled responses (nats per response), as 5-iteration moving averages. \(anyOnset ? "A dotted line marks where gold peaked while proxy kept rising (reward hacking)." : "Had gold peaked while proxy kept rising (reward hacking), a dotted line would mark it; in this run it did not.")</p>"
        for r in ppoRuns {
            let onset = r.onset
            h += String(format: "<p class=\"note\"><b>%@</b> (β = %g): %@.</p>", DemoReport.esc(name(r)), r.beta,
                        onset.map { String(format: "gold peaked at iteration %.0f (KL %.2f) while proxy kept rising by %+.2f; gold changed by %+.2f after it", $0.step, $0.kl, $0.proxyGain, $0.goldChange) }
                            ?? "no over-optimisation detected (gold did not peak before the end while proxy kept rising)")
        }
        if let l = leash {
            // The held-out comparison decides; the end of training (5 iterations of rollouts)
            // is noisier and only reported beside it.
            // Each difference is up, down or level by two paired standard errors.
            func sign(_ d: PairedDifference) -> Int { d.mean > 2 * d.standardError ? 1 : d.mean < -2 * d.standardError ? -1 : 0 }
            let verdict: String
            switch (sign(l.gold), sign(l.proxy)) {
            case (-1, 1): verdict = "Proxy up and gold down: without the leash the policy games the reward model."
            case (-1, _): verdict = "Gold down without more proxy: without the leash the policy drifted further for less true quality, but did not game the reward model."
            case (1, _): verdict = "Gold up: at this seed and budget the leash cost quality."
            case (0, 1): verdict = "Proxy up with gold level: without the leash the policy gained reward-model score that gold does not confirm."
            case (0, -1): verdict = "Gold level and proxy lower: without the leash the policy drifted further for no more reward."
            default: verdict = "Gold and proxy level within two standard errors: at this seed and budget the leash made no clear difference, and the unleashed policy did not visibly hack the reward model."
            }
            let budget = l.klFreeIterations == l.iterations ? "" : String(format: ", trained %d iterations against the leashed run's %d to show where the drift leads", l.klFreeIterations, l.iterations)
            h += String(format: "<p class=\"note\"><b>The KL leash</b>, on the held-out prompts: without it (β = 0%@) the policy ended at KL %.2f from SFT against %.2f with it; gold %+.3f ± %.3f and proxy %+.3f ± %.3f against the leashed run (paired standard errors). <b>%@</b> At the end of training, on the rollouts (the last 5 iterations, noisier than the held-out comparison): proxy %+.3f and gold %+.3f against the leashed run%@.</p>",
                          budget, l.klFree, l.kl, l.gold.mean, l.gold.standardError, l.proxy.mean, l.proxy.standardError, verdict, l.trainingProxy, l.trainingGold,
                          l.klFreeIterations == l.iterations ? "" : String(format: "; at the same iteration, the leashed run's last (%d): proxy %+.3f and gold %+.3f", l.iterations, l.sameIterationProxy, l.sameIterationGold))
        }
        let markers = ppoRuns.compactMap { r in r.onset.map { (label: "\(name(r)): gold peak", x: $0.step, color: color(of: r.name)) } }
        let kMarkers = ppoRuns.compactMap { r in r.onset.map { (label: "\(name(r)): gold peak", x: max($0.kl, 0).squareRoot(), color: color(of: r.name)) } }
        func perRun(_ key: String) -> [SVGChart.Series] { ppoRuns.map { SVGChart.Series(name: name($0), points: sm($0, key), color: color(of: $0.name)) } }
        // Gao et al. plot reward against d = √KL: gold rises then falls along it, proxy keeps rising.
        func againstRootKL(_ key: String) -> [SVGChart.Series] {
            ppoRuns.map { r in
                let d = OveroptimizationOnset.smoothed(r.col("objective/kl"), 5).map { $0.squareRoot() }
                return SVGChart.Series(name: name(r), points: Array(zip(d, OveroptimizationOnset.smoothed(r.col(key), 5))), color: color(of: r.name))
            }
        }
        h += "<div class=\"grid2\"><div class=\"card\">"
        h += SVGChart.line(title: "Proxy: the reward model's normalised score", xLabel: "PPO iteration", yLabel: "proxy", series: perRun("objective/rm_score"), markers: markers)
        h += "</div><div class=\"card\">"
        h += SVGChart.line(title: "Gold (watched, never rewarded)", xLabel: "PPO iteration", yLabel: "gold", series: perRun("objective/gold"), markers: markers)
        h += "</div><div class=\"card\">"
        h += SVGChart.line(title: "Proxy against √KL", xLabel: "√KL from the reference (√nats)", yLabel: "proxy", series: againstRootKL("objective/rm_score"), markers: kMarkers)
        h += "</div><div class=\"card\">"
        h += SVGChart.line(title: "Gold against √KL (Gao et al.'s axis of over-optimisation)", xLabel: "√KL from the reference (√nats)", yLabel: "gold", series: againstRootKL("objective/gold"), markers: kMarkers)
        h += "</div><div class=\"card\">"
        h += SVGChart.line(title: "KL from the reference (solid) and β × 10 (dashed)", xLabel: "PPO iteration", yLabel: "nats / response",
                           series: ppoRuns.flatMap { r in
                               [SVGChart.Series(name: "\(name(r)) KL", points: sm(r, "objective/kl"), color: color(of: r.name)),
                                SVGChart.Series(name: "\(name(r)) β×10", points: r.metrics.compactMap { m in m["objective/beta"].flatMap { b in m["step"].map { ($0, b * 10) } } },
                                                color: color(of: r.name), dashed: true)] },
                           markers: markers)
        h += "</div><div class=\"card\">"
        h += SVGChart.line(title: "PPO health: value fit (solid) and clipped share ×10 (dashed)", xLabel: "PPO iteration", yLabel: "fraction",
                           series: ppoRuns.flatMap { r in
                               [SVGChart.Series(name: "\(name(r)) explained variance", points: sm(r, "val/explained_variance"), color: color(of: r.name)),
                                SVGChart.Series(name: "\(name(r)) clip fraction ×10", points: sm(r, "policy/clipfrac_avg").map { ($0.0, $0.1 * 10) }, color: color(of: r.name), dashed: true)] })
        h += "</div></div><p class=\"note\">The value model's explained variance near 1 means it predicts returns well; the clipped share is the fraction of tokens whose probability ratio PPO's clip held back. Time split per run (rollout, scoring, reference, training): "
            + ppoRuns.map { "\(DemoReport.esc(name($0))): \(DemoReport.esc($0.timeSplit))" }.joined(separator: "; ") + ".</p>"
        return h
    }

    /// Every alignment method side by side: ranked by gold gain per nat of KL and per minute,
    /// gold gain against KL on held-out prompts (best-of-N traces its frontier over N), the
    /// on-policy methods' gold during training, and DPO's held-out preference accuracy and KL.
    func methodsSection() -> String {
        let rows = models.compactMap { m in efficiency(m).map { (m, $0) } }
        guard rows.count > 1, let sft = models.first(where: { $0.name == "sft" }) else { return "" }
        let P = SVGChart.palette
        var h = "<h2>Methods compared</h2><p class=\"note\">Same world, SFT model, held-out prompts and rewards: PPO, GRPO, RLOO and best-of-N optimise the reward model plus the verifiers of the order number and the customer's name; DPO learns from the panel's preferences alone. Gold gain is over SFT; KL is from SFT on each model's own samples (analytic for best-of-N); time is the method's own stage (the reward model, which all but DPO need, took \(Progress.formatDuration(stages.first { $0.0 == "reward model" }?.1 ?? .nan)))\(rlStagesSideBySide ? "; the RL and DPO stages ran two at a time, each on half the cores until the last one left took them all, which lengthens each one's time against best-of-N's" : "").</p>"
        h += "<div class=\"grid2\"><div class=\"card\"><table><tr><th>by gold gain per nat of KL</th><th>gain / KL</th><th>gold gain</th></tr>"
        // Undefined ratios (nil) go last and show as a dash.
        func cell(_ x: Double?) -> String { x.map { String(format: "%+.3f", $0) } ?? "—" }
        for (m, e) in rows.sorted(by: { ($0.1.perKL ?? -.infinity) > ($1.1.perKL ?? -.infinity) }) {
            h += String(format: "<tr><td>%@</td><td class=\"n\">%@</td><td class=\"n\">%+.3f</td></tr>", DemoReport.esc(m.name), cell(e.perKL), e.gain)
        }
        h += "</table></div><div class=\"card\"><table><tr><th>by gold gain per minute</th><th>gain / min</th><th>time</th></tr>"
        for (m, e) in rows.sorted(by: { ($0.1.perMinute ?? -.infinity) > ($1.1.perMinute ?? -.infinity) }) {
            h += String(format: "<tr><td>%@</td><td class=\"n\">%@</td><td class=\"n\">%@</td></tr>", DemoReport.esc(m.name), cell(e.perMinute), Progress.formatDuration(m.seconds))
        }
        h += "</table></div><div class=\"card\">"
        var points: [SVGChart.Series] = []
        for (m, e) in rows {
            if m.name.hasPrefix("best-of-"), !bestOfNFrontier.isEmpty {
                points.append(.init(name: "best-of-N (N = 1…)", points: bestOfNFrontier.map { ($0.0, $0.1 - sft.gold) }, color: color(of: m.name), dashed: true))
            } else {
                points.append(.init(name: m.name, points: [(m.kl, e.gain)], color: color(of: m.name)))
            }
        }
        h += SVGChart.line(title: "Gold gain over SFT against KL from SFT (held-out)", xLabel: "KL from SFT (nats / response)", yLabel: "gold gain", series: points,
                           references: [("SFT", 0, "#6b7280")])
        if !bestOfNFrontier.isEmpty {
            h += "<p class=\"note\">Best-of-N's points are N = " + bestOfNFrontier.indices.map { "\(1 << $0)" }.joined(separator: ", ")
                + " from left to right. N = 1 is one fresh SFT sample per prompt, so its distance from 0 is sampling noise, of the size of the standard errors in the models table.</p>"
        }
        h += "</div><div class=\"card\">"
        let onPolicy = ppoRuns.filter { $0.beta > 0 || $0.estimator != .gae }
        h += SVGChart.line(title: "Gold during training (rollouts, 5-iteration mean)", xLabel: "iteration", yLabel: "gold",
                           series: onPolicy.map { r in
                               SVGChart.Series(name: DemoReport.shownName(r.name), points: Array(zip(r.col("step"), OveroptimizationOnset.smoothed(r.col("objective/gold"), 5))), color: color(of: r.name))
                           })
        if !dpoMetrics.isEmpty {
            h += "</div><div class=\"card\">"
            h += SVGChart.line(title: "DPO on held-out preference pairs", xLabel: "step", yLabel: "share / nats",
                               series: [.init(name: "pairs where DPO prefers the chosen answer", points: series(dpoMetrics, "eval_rewards/accuracies"), color: P[0]),
                                        .init(name: "KL from SFT (nats, on held-out prompts)", points: series(dpoMetrics, "eval_kl"), color: P[1], dashed: true)])
            h += "<p class=\"note\">DPO prefers an answer when its log-probability rose more than the other's from SFT; at step 0 every pair is a tie, counted as not preferred. This KL is measured during training on a few held-out prompts; the table's is on DPO's answers to all of them.</p>"
        }
        h += "</div></div>"
        return h
    }
}
