import Foundation

/// A demo run's `stages.json`: the seconds of each finished stage, and of the attempts at a stage
/// that were interrupted before it finished, so that `rlhf demo --resume` knows which stages to
/// load rather than run and the report counts every attempt's time.
///
/// The file is rewritten (to a temporary file, then renamed) as each stage finishes, and every
/// `heartbeat` seconds while one runs: a run killed in the middle of a stage loses at most that
/// much of its time. Before 2026-12-06 the file held finished stages only, and an interrupted
/// stage's time in the report counted from the resume; such files still load. The RL stages run
/// on two lanes at once, hence the lock.
public final class StageLog: @unchecked Sendable {
    private let url: URL
    private let lock = NSLock()
    private let now: () -> Date
    private let heartbeat: TimeInterval
    private var finished: [String: Double] = [:]
    /// Seconds of attempts that were interrupted, by stage; an attempt that finishes takes them in.
    private var interrupted: [String: Double] = [:]
    /// Attempts under way in this process, and when each began.
    private var running: [String: Date] = [:]
    private var timer: DispatchSourceTimer?
    private var heartbeatFailed = false

    private struct File: Codable {
        var finished: [String: Double]
        var interrupted: [String: Double]
    }

    /// A fresh log, or with `resuming` the one the run left (empty if it stopped before any stage
    /// began). `now` is the clock, for tests.
    public init(_ url: URL, resuming: Bool, heartbeat: TimeInterval = 10, now: @escaping () -> Date = Date.init) throws {
        self.url = url
        self.heartbeat = heartbeat
        self.now = now
        guard resuming, let data = FileManager.default.contents(atPath: url.path) else { return }
        if let file = try? JSONDecoder().decode(File.self, from: data) {
            finished = file.finished
            interrupted = file.interrupted
        } else if let old = try? JSONDecoder().decode([String: Double].self, from: data) {
            finished = old
        } else {
            throw RLHFError.invalidFile(path: url.path, message: "expected {\"finished\": {stage: seconds}, \"interrupted\": {stage: seconds}}, or an object of finished stages and seconds")
        }
    }

    deinit { timer?.cancel() }

    /// The seconds a finished stage took, or nil if it has not finished.
    public func seconds(_ stage: String) -> Double? {
        lock.lock(); defer { lock.unlock() }
        return finished[stage]
    }

    /// The seconds spent on `stage` by attempts that were interrupted before it finished.
    public func interruptedSeconds(_ stage: String) -> Double {
        lock.lock(); defer { lock.unlock() }
        return interrupted[stage] ?? 0
    }

    /// Starts timing an attempt at `stage`; its time is written with the heartbeat from now on.
    public func begin(_ stage: String) {
        lock.lock(); defer { lock.unlock() }
        running[stage] = now()
        guard timer == nil, heartbeat > 0 else { return }
        let t = DispatchSource.makeTimerSource(queue: .global(qos: .utility))
        t.schedule(deadline: .now() + heartbeat, repeating: heartbeat)
        t.setEventHandler { [weak self] in self?.beat() }
        timer = t
        t.resume()
    }

    /// Records `stage` as finished, and returns its seconds: `earlier` (a finished run this attempt
    /// continued), plus the interrupted attempts', plus this attempt's unless `countingThisAttempt`
    /// is false (it only loaded what an earlier attempt had trained).
    @discardableResult
    public func finish(_ stage: String, after earlier: Double = 0, countingThisAttempt: Bool = true) throws -> Double {
        lock.lock(); defer { lock.unlock() }
        var seconds = earlier + (interrupted[stage] ?? 0)
        if let t0 = running.removeValue(forKey: stage), countingThisAttempt { seconds += now().timeIntervalSince(t0) }
        finished[stage] = seconds
        interrupted[stage] = nil
        if running.isEmpty { timer?.cancel(); timer = nil }
        try write()
        return seconds
    }

    /// Writes the log now, the running attempts' time so far counted as interrupted (what the
    /// heartbeat does).
    public func flush() throws {
        lock.lock(); defer { lock.unlock() }
        try write()
    }

    private func beat() {
        do { try flush() } catch {
            lock.lock(); defer { lock.unlock() }
            guard !heartbeatFailed else { return }
            heartbeatFailed = true
            FileHandle.standardError.write(Data("warning: could not record the running stages' time in \(url.path): \(error)\n".utf8))
        }
    }

    /// Call with the lock held.
    private func write() throws {
        var file = File(finished: finished, interrupted: interrupted)
        let t = now()
        for (stage, t0) in running { file.interrupted[stage, default: 0] += t.timeIntervalSince(t0) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(file), to: url)
    }
}
