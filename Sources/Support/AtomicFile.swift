import Foundation

/// Writes files so that a reader never sees a half-written output: the bytes go to a temporary
/// file beside the target, are flushed, and the temporary is renamed over the target.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let dir = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        do {
            guard FileManager.default.createFile(atPath: tmp.path, contents: nil) else {
                throw RLHFError.io(path: tmp.path, message: "cannot create temporary file")
            }
            let handle = try FileHandle(forWritingTo: tmp)
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
            if rename(tmp.path, url.path) != 0 {
                throw RLHFError.io(path: url.path, message: "cannot rename temporary file into place (errno \(errno))")
            }
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw error
        }
    }

    public static func write(_ string: String, to url: URL) throws {
        try write(Data(string.utf8), to: url)
    }

    /// Builds a directory under a temporary name and renames it into place only when `build`
    /// succeeds, so a failed export never leaves a half-written model directory behind.
    /// An existing directory at `url` is replaced.
    public static func writeDirectory(_ url: URL, _ build: (URL) throws -> Void) throws {
        let fm = FileManager.default
        let parent = url.deletingLastPathComponent()
        try fm.createDirectory(at: parent, withIntermediateDirectories: true)
        let tmp = parent.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try fm.createDirectory(at: tmp, withIntermediateDirectories: true)
        do {
            try build(tmp)
            let old = parent.appendingPathComponent(".\(url.lastPathComponent).old-\(getpid())")
            if fm.fileExists(atPath: url.path) { try fm.moveItem(at: url, to: old) }
            try fm.moveItem(at: tmp, to: url)
            try? fm.removeItem(at: old)
        } catch {
            try? fm.removeItem(at: tmp)
            throw error
        }
    }
}
