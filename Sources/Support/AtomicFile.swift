import Foundation

/// Writes files so that a reader never sees a half-written output: the bytes go to a temporary
/// file beside the target, are flushed, and the temporary is renamed over the target.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let dir = url.deletingLastPathComponent()
        try makeFolder(dir)
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue {
            throw RLHFError.io(path: url.path, message: "is a folder; expected the path of a file to write")
        }
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

    /// Creates `dir` and its parents if missing, with an error that names the path and says
    /// why (a file in the way, no permission) instead of Foundation's dump.
    public static func makeFolder(_ dir: URL) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw RLHFError.io(path: dir.path, message: "is a file; expected a folder") }
            return
        }
        do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
            let reason = (error as NSError).localizedFailureReason ?? (error as NSError).localizedDescription
            throw RLHFError.io(path: dir.path, message: "cannot create the folder (\(reason))")
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
        try makeFolder(parent)
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
