import Foundation
import Support

/// A demo run's `stages.json`: each finished stage's name and seconds, rewritten (to a temporary
/// file, then renamed) as soon as a stage ends, so that `rlhf demo --resume` knows which stages
/// to load rather than run, and the report keeps their first run's times. The RL stages finish
/// on two lanes at once, hence the lock.
final class StageLog: @unchecked Sendable {
    private let url: URL
    private let lock = NSLock()
    private var finished: [String: Double]

    /// A fresh log, or with `resuming` the one the run left (empty if it stopped before any
    /// stage ended).
    init(_ url: URL, resuming: Bool) throws {
        self.url = url
        finished = [:]
        guard resuming, let data = FileManager.default.contents(atPath: url.path) else { return }
        do {
            finished = try JSONDecoder().decode([String: Double].self, from: data)
        } catch {
            throw RLHFError.invalidFile(path: url.path, message: "expected an object of stage names and seconds (\(error))")
        }
    }

    /// The seconds a finished stage took, or nil if it has not finished.
    func seconds(_ stage: String) -> Double? {
        lock.lock(); defer { lock.unlock() }
        return finished[stage]
    }

    func record(_ stage: String, _ seconds: Double) throws {
        lock.lock(); defer { lock.unlock() }
        finished[stage] = seconds
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(finished), to: url)
    }
}
