import Foundation

/// A demo run's `stages.json`: the seconds of each finished stage, and of the attempts at a stage
/// that were interrupted before it finished, so that `rlhf demo --resume` knows which stages to
/// load rather than run, and the report counts every attempt's time.
///
/// The file is rewritten (to a temporary file, then renamed) as each stage finishes or fails, and
/// every `heartbeat` seconds while one runs: a run killed in the middle of a stage loses at most
/// that much of its time. The RL stages run on two lanes at once, hence the lock.
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
    private var warnedOfFailedWrite = false

    private struct File: Codable {
        var finished: [String: Double]
        var interrupted: [String: Double]

        init(finished: [String: Double], interrupted: [String: Double]) {
            self.finished = finished
            self.interrupted = interrupted
        }

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            finished = try c.decodeIfPresent([String: Double].self, forKey: .finished) ?? [:]
            interrupted = try c.decodeIfPresent([String: Double].self, forKey: .interrupted) ?? [:]
        }
    }

    /// A fresh log, or with `resuming` the one the run left (empty if it stopped before any stage
    /// began). `now` is the clock, for tests.
    public init(_ url: URL, resuming: Bool, heartbeat: TimeInterval = 10, now: @escaping () -> Date = Date.init) throws {
        self.url = url
        self.heartbeat = heartbeat
        self.now = now
        guard resuming, let data = FileManager.default.contents(atPath: url.path) else { return }
        // Before 2026-12-06 the file was a flat object of finished stages and their seconds (and
        // an interrupted stage's time in the report counted from the resume). Tried first: the
        // present format, whose parts may each be missing, would read such a file as empty.
        if let flat = try? JSONDecoder().decode([String: Double].self, from: data) {
            finished = flat
            return
        }
        do {
            let file = try JSONDecoder().decode(File.self, from: data)
            (finished, interrupted) = (file.finished, file.interrupted)
        } catch {
            throw RLHFError.invalidFile(path: url.path, message: "expected {\"finished\": {stage: seconds}, \"interrupted\": {stage: seconds}} (\(error))")
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

    /// Starts timing an attempt at `stage` (a first run, a resumed one, or a finished stage
    /// continued further); from now on the heartbeat writes its time so far.
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

    /// Records `stage` as finished and returns its seconds: its earlier finished time if this
    /// attempt continued it, the interrupted attempts', and this attempt's since `begin`. A stage
    /// that was only loaded (never begun here) keeps its time, plus any interrupted attempt's.
    @discardableResult
    public func finish(_ stage: String) throws -> Double {
        lock.lock(); defer { lock.unlock() }
        var seconds = (finished[stage] ?? 0) + (interrupted[stage] ?? 0)
        if let t0 = running.removeValue(forKey: stage) { seconds += now().timeIntervalSince(t0) }
        finished[stage] = seconds
        interrupted[stage] = nil
        stopIfIdle()
        try write()
        return seconds
    }

    /// Ends an attempt at `stage` that failed: its time so far is recorded as interrupted, and
    /// stops counting (the other lane may run on for minutes).
    public func abandon(_ stage: String) {
        lock.lock(); defer { lock.unlock() }
        if let t0 = running.removeValue(forKey: stage) { interrupted[stage, default: 0] += now().timeIntervalSince(t0) }
        stopIfIdle()
        reportFailure { try write() }
    }

    /// Runs one attempt at `stage` and records it finished, or abandoned if `body` throws; returns
    /// what `body` returned and the stage's seconds (`finish`). With `beginning` false the attempt
    /// is not timed here: a finished stage that `body` only loads, or that begins itself once it
    /// knows it will continue further.
    public func run<T>(_ stage: String, beginning: Bool = true, _ body: () throws -> T) throws -> (result: T, seconds: Double) {
        if beginning { begin(stage) }
        let result: T
        do { result = try body() } catch { abandon(stage); throw error }
        return (result, try finish(stage))
    }

    /// Writes the log now, the running attempts' time so far counted as interrupted (what the
    /// heartbeat does).
    public func flush() throws {
        lock.lock(); defer { lock.unlock() }
        try write()
    }

    private func beat() {
        lock.lock(); defer { lock.unlock() }
        reportFailure { try write() }
    }

    /// The heartbeat's and `abandon`'s writes: a failure is said once on stderr and does not stop
    /// the run, which loses at most the times of stages that do not finish. Lock held.
    private func reportFailure(_ body: () throws -> Void) {
        do { try body() } catch {
            guard !warnedOfFailedWrite else { return }
            warnedOfFailedWrite = true
            FileHandle.standardError.write(Data("warning: could not record the running stages' time in \(url.path): \(error)\n".utf8))
        }
    }

    /// Lock held.
    private func stopIfIdle() {
        guard running.isEmpty else { return }
        timer?.cancel()
        timer = nil
    }

    /// Lock held.
    private func write() throws {
        var file = File(finished: finished, interrupted: interrupted)
        let t = now()
        for (stage, t0) in running { file.interrupted[stage, default: 0] += t.timeIntervalSince(t0) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(file), to: url)
    }
}
