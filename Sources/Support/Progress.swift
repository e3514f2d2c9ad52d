import Foundation

/// A progress bar with rate and ETA on a terminal, and plain periodic log lines otherwise
/// (CI logs, pipes), so long work always says where it is.
public final class Progress {
    public let label: String
    public let total: Int
    public let unit: String
    /// Units already done before this process began (a resumed run): not in the rate.
    public let startingAt: Int
    private let start = Date()
    private var lastDraw = Date.distantPast
    private let isTTY: Bool
    private var lastLoggedFraction = -1.0
    /// Units done as last reported.
    private var done: Int
    private let stream: UnsafeMutablePointer<FILE>

    /// - Parameters:
    ///   - total: units of work (steps, tokens, prompts).
    ///   - unit: what one unit is called in the rate (e.g. "step", "tok").
    ///   - startingAt: units done before (a resumed run's step), so that the rate and ETA are
    ///     this run's pace, not the finished steps over the few seconds since the resume.
    public init(_ label: String, total: Int, unit: String = "it", startingAt: Int = 0) {
        self.label = label
        self.total = max(total, 1)
        self.unit = unit
        self.startingAt = startingAt
        self.done = startingAt
        self.stream = stderr
        self.isTTY = isatty(fileno(stderr)) != 0 && ProcessInfo.processInfo.environment["CI"] == nil
    }

    deinit { if isTTY { Progress.board.forget(self) } }

    /// Reports `done` units finished; `info` is appended (e.g. "loss 2.31").
    public func update(_ done: Int, _ info: String = "") {
        self.done = done
        let now = Date()
        let elapsed = now.timeIntervalSince(start)
        let fraction = min(Double(done) / Double(total), 1)
        let rate = elapsed > 0 ? Double(max(done - startingAt, 0)) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let tail = "\(done)/\(total) \(Progress.formatRate(rate)) \(unit)/s ETA \(Progress.formatDuration(eta))\(info.isEmpty ? "" : " | " + info)"
        if isTTY {
            guard now.timeIntervalSince(lastDraw) > 0.1 || done >= total else { return }
            lastDraw = now
            let width = 24
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            let short = "\(label) \(Int(fraction * 100))% ETA \(Progress.formatDuration(eta))"
            Progress.board.draw(self, full: "\(label) \(bar) \(tail)", short: short, to: stream)
        } else {
            // Plain lines at every 10% (and the end) keep CI logs short but alive.
            let decile = (fraction * 10).rounded(.down) / 10
            guard decile > lastLoggedFraction || done >= total else { return }
            lastLoggedFraction = decile
            fputs("\(label): \(tail)\n", stream)
        }
    }

    /// Ends the bar with a final summary line.
    public func finish(_ info: String = "") {
        let elapsed = Date().timeIntervalSince(start)
        // A finished run resumed does nothing; "done in 0.0s" would read as work that took no time.
        let line = done == startingAt && startingAt >= total
            ? "\(label): already finished (\(startingAt)/\(total)); nothing to run\n"
            : "\(label): done in \(Progress.formatDuration(elapsed))\(info.isEmpty ? "" : " | " + info)\n"
        if isTTY {
            Progress.board.finish(self, line: line, to: stream)
        } else {
            fputs(line, stream)
            fflush(stream)
        }
    }

    /// Bars that are live at the same time (the demo's RL stages run two at a time) share the
    /// terminal's last line, each as "label NN% ETA …", instead of overwriting each other.
    private static let board = Board()

    private final class Board: @unchecked Sendable {
        private let lock = NSLock()
        private var live: [(id: ObjectIdentifier, short: String)] = []

        func draw(_ bar: Progress, full: String, short: String, to stream: UnsafeMutablePointer<FILE>) {
            lock.lock(); defer { lock.unlock() }
            let id = ObjectIdentifier(bar)
            if let i = live.firstIndex(where: { $0.id == id }) { live[i].short = short } else { live.append((id, short)) }
            fputs("\r\u{1B}[2K" + (live.count == 1 ? full : live.map(\.short).joined(separator: "  │  ")), stream)
            fflush(stream)
        }

        /// A bar dropped without `finish` (its job threw) leaves the shared line.
        func forget(_ bar: Progress) {
            lock.lock(); defer { lock.unlock() }
            live.removeAll { $0.id == ObjectIdentifier(bar) }
        }

        func finish(_ bar: Progress, line: String, to stream: UnsafeMutablePointer<FILE>) {
            lock.lock(); defer { lock.unlock() }
            live.removeAll { $0.id == ObjectIdentifier(bar) }
            fputs("\r\u{1B}[2K" + line, stream)
            if !live.isEmpty { fputs(live.map(\.short).joined(separator: "  │  "), stream) }
            fflush(stream)
        }
    }

    public static func formatRate(_ r: Double) -> String {
        if r >= 1e6 { return String(format: "%.2fM", r / 1e6) }
        if r >= 1e3 { return String(format: "%.1fk", r / 1e3) }
        if r >= 10 { return String(format: "%.0f", r) }
        return String(format: "%.2f", r)
    }

    public static func formatDuration(_ s: Double) -> String {
        guard s.isFinite else { return "?" }
        let t = Int(s.rounded())
        if t >= 3600 { return String(format: "%dh%02dm", t / 3600, (t % 3600) / 60) }
        if t >= 60 { return String(format: "%dm%02ds", t / 60, t % 60) }
        return String(format: "%.1fs", s)
    }
}
