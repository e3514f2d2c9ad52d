import Foundation

/// Where optimising a proxy reward stopped paying in true reward (Gao et al. 2022, "Scaling Laws
/// for Reward Model Overoptimization"): after this point the proxy kept rising while gold
/// stalled or fell.
public struct OveroptimizationOnset: Codable, Equatable, Sendable {
    /// The step at which smoothed gold peaked.
    public let step: Double
    /// Smoothed KL from the reference at that step.
    public let kl: Double
    /// Smoothed proxy gained and gold lost from the peak to the end of the run.
    public let proxyGain: Double
    public let goldChange: Double

    enum CodingKeys: String, CodingKey {
        case step, kl, proxyGain = "proxy_gain", goldChange = "gold_change"
    }

    /// Finds the onset in per-step series, smoothed by a trailing mean over `window` steps so
    /// one noisy batch neither makes nor hides a peak. Returns nil when gold was still rising
    /// near the end, or when the proxy did not keep rising after gold's peak by `minProxyGain`.
    public static func detect(steps: [Double], proxy: [Double], gold: [Double], kl: [Double],
                              window: Int = 5, minProxyGain: Double = 0.05) -> OveroptimizationOnset? {
        let n = steps.count
        guard n >= 2 * window, proxy.count == n, gold.count == n, kl.count == n else { return nil }
        let p = smoothed(proxy, window), g = smoothed(gold, window), k = smoothed(kl, window)
        // Only peaks with at least a window of run after them count: a peak at the end is progress.
        let peak = (window - 1..<n - window).max { g[$0] < g[$1] }!
        guard g[peak] >= g[n - 1] else { return nil }
        let gain = p[n - 1] - p[peak]
        guard gain >= minProxyGain else { return nil }
        return OveroptimizationOnset(step: steps[peak], kl: k[peak], proxyGain: gain, goldChange: g[n - 1] - g[peak])
    }

    /// Trailing moving average (the first points average what exists so far).
    public static func smoothed(_ x: [Double], _ window: Int) -> [Double] {
        x.indices.map { i in
            let w = x[max(0, i - window + 1)...i].filter(\.isFinite)
            return w.isEmpty ? .nan : w.reduce(0, +) / Double(w.count)
        }
    }
}
