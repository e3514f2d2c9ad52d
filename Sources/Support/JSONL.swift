import Foundation

/// JSON Lines files: one JSON object per line, blank lines ignored. The one reader and writer
/// every dataset in the project goes through, so every format reports errors the same way.
public enum JSONL {
    /// Decodes every non-blank line as `T`; the first bad line throws `RLHFError.invalidLine`
    /// naming the file, the 1-based line number and the missing or mistyped field.
    public static func read<T: Decodable>(_ type: T.Type, from url: URL) throws -> [T] {
        let result = try readLenient(type, from: url)
        if let first = result.invalid.first { throw first }
        return result.records
    }

    /// A file's bytes; a pipe's too (`--data <(…)`, a FIFO), which `Data(contentsOf:)` cannot
    /// read on Linux. A pipe is opened once and read to its end: opening it a second time after
    /// a failed first read would wait for a writer that has already gone.
    public static func readAll(_ url: URL) throws -> Data {
        var st = stat()
        guard stat(url.path, &st) == 0 else { throw RLHFError.io(path: url.path, message: "no such file") }
        guard st.st_mode & S_IFMT != S_IFDIR else { throw RLHFError.io(path: url.path, message: "is a directory, not a file") }
        if st.st_mode & S_IFMT == S_IFREG {
            do { return try Data(contentsOf: url) } catch {
                throw RLHFError.io(path: url.path, message: "cannot read file (\(error.localizedDescription))")
            }
        }
        guard let handle = FileHandle(forReadingAtPath: url.path) else { throw RLHFError.io(path: url.path, message: "cannot open for reading") }
        defer { try? handle.close() }
        do { return try handle.readToEnd() ?? Data() } catch {
            throw RLHFError.io(path: url.path, message: "cannot read (\(error.localizedDescription))")
        }
    }

    /// Decodes what it can and returns the lines it could not decode as errors, for callers that
    /// offer `--skip-invalid` (they must report the count: nothing is skipped silently).
    /// `validate` may reject a decoded record with a message (e.g. an empty response).
    public static func readLenient<T: Decodable>(
        _ type: T.Type, from url: URL, validate: ((T) -> String?)? = nil
    ) throws -> (records: [T], invalid: [RLHFError]) {
        try decodeLenient(type, data: try readAll(url), path: url.path, validate: validate)
    }

    /// `readLenient` on bytes already read (`path` names them in errors).
    public static func decodeLenient<T: Decodable>(
        _ type: T.Type, data: Data, path: String, validate: ((T) -> String?)? = nil
    ) throws -> (records: [T], invalid: [RLHFError]) {
        let url = URL(fileURLWithPath: path)
        var records: [T] = []
        var invalid: [RLHFError] = []
        let decoder = JSONDecoder()
        var lineNumber = 0
        for rawLine in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = rawLine
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            guard String(data: Data(line), encoding: .utf8) != nil else {
                invalid.append(.invalidLine(path: url.path, line: lineNumber, message: "not valid UTF-8"))
                continue
            }
            do {
                let record = try decoder.decode(T.self, from: Data(line))
                if let message = validate?(record) {
                    invalid.append(.invalidLine(path: url.path, line: lineNumber, message: message))
                } else {
                    records.append(record)
                }
            } catch let error as DecodingError {
                invalid.append(.invalidLine(path: url.path, line: lineNumber, message: describe(error)))
            } catch {
                invalid.append(.invalidLine(path: url.path, line: lineNumber, message: "\(error)"))
            }
        }
        return (records, invalid)
    }

    /// Writes one compact JSON object per line, atomically (temporary file, then rename).
    public static func write<T: Encodable>(_ records: [T], to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var out = Data()
        for r in records {
            out.append(try encoder.encode(r))
            out.append(UInt8(ascii: "\n"))
        }
        try AtomicFile.write(out, to: url)
    }

    /// One line of JSON for `value` (for `--json` output on stdout).
    public static func line<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(value)) ?? Data("null".utf8), as: UTF8.self)
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ ctx: DecodingError.Context) -> String {
            ctx.codingPath.map { $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case let .keyNotFound(key, ctx):
            let p = path(ctx)
            return "missing field \"\(p.isEmpty ? key.stringValue : p + "." + key.stringValue)\""
        case let .typeMismatch(type, ctx):
            // Foundation says what it found as "… but found number instead."
            var found = ""
            if let r = ctx.debugDescription.range(of: "but found ") {
                var what = ctx.debugDescription[r.upperBound...]
                if let end = what.range(of: " instead") { what = what[..<end.lowerBound] }
                let plain = ["number": "a number", "bool": "true or false", "a dictionary": "an object", "an array": "a list", "a string": "a string"]
                found = ", found " + (plain[String(what)] ?? String(what))
            }
            let expected: String
            switch "\(type)" {
            case "String": expected = "a string"
            case "Int", "Int32", "Int64", "UInt64", "Double", "Float": expected = "a number"
            case "Bool": expected = "true or false"
            case let t where t.hasPrefix("Array"): expected = "a list"
            case let t where t.hasPrefix("Dictionary"): expected = "an object"
            case let t: expected = t
            }
            return ctx.codingPath.isEmpty ? "the line should be a JSON object\(found)" : "field \"\(path(ctx))\" should be \(expected)\(found)"
        case let .valueNotFound(type, ctx):
            return "field \"\(path(ctx))\" is null, expected \(type)"
        case let .dataCorrupted(ctx):
            return ctx.codingPath.isEmpty ? "not valid JSON" : "field \"\(path(ctx))\": \(ctx.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}
