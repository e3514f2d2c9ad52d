import Foundation
import Support

/// `metrics.jsonl`: one JSON object per step, appended and flushed as training goes, so a
/// report or a person can follow a run while it runs.
public final class Metrics {
    let url: URL
    let handle: FileHandle

    public init(_ url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: url.path) {
            _ = FileManager.default.createFile(atPath: url.path, contents: nil)  // a failure surfaces as FileHandle's error below
        }
        self.url = url
        do { handle = try FileHandle(forWritingTo: url) } catch {
            throw RLHFError.io(path: url.path, message: "cannot open for appending (\(error.localizedDescription))")
        }
        try handle.seekToEnd()
    }

    deinit { try? handle.close() }

    public func append(_ record: [String: Double]) throws {
        let keys = record.keys.sorted { a, b in a == "step" ? true : (b == "step" ? false : a < b) }
        let body = keys.map { k -> String in
            let v = record[k]!
            let s = v.isFinite ? (v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v)) : "null"
            return "\"\(k)\":\(s)"
        }.joined(separator: ",")
        try handle.write(contentsOf: Data("{\(body)}\n".utf8))
    }

    /// Drops lines whose step is after `step`: a resumed run rewrites them, so none appear twice.
    public static func truncate(_ url: URL, afterStep step: Int) throws {
        guard let data = FileManager.default.contents(atPath: url.path) else { return }
        let kept = String(decoding: data, as: UTF8.self).split(separator: "\n").filter { line in
            guard let d = line.data(using: .utf8),
                  let obj = try? JSONSerialization.jsonObject(with: d) as? [String: Any],
                  let s = obj["step"] as? Double ?? (obj["step"] as? Int).map(Double.init) else { return true }
            return Int(s) <= step
        }
        try AtomicFile.write(kept.map { $0 + "\n" }.joined(), to: url)
    }

    /// Reads every record back (for reports).
    public static func read(_ url: URL) -> [[String: Double]] {
        guard let data = FileManager.default.contents(atPath: url.path) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { line in
            guard let d = line.data(using: .utf8), let obj = try? JSONSerialization.jsonObject(with: d) as? [String: Any] else { return nil }
            var out: [String: Double] = [:]
            for (k, v) in obj { if let n = v as? NSNumber { out[k] = n.doubleValue } }
            return out
        }
    }
}
