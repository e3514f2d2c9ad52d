import Foundation
import Hummingbird
import NIOCore

/// A posted `application/x-www-form-urlencoded` body, read with a size cap, as field → value
/// (the last value wins if a field repeats).
public enum FormBody {
    /// Reads and parses the body. Too large: 413; wrong content type: 415; bad encoding: 400;
    /// each with a message saying what was wrong.
    public static func read(_ request: Request, limit: Int) async throws -> [String: String] {
        let type = request.headers[.contentType] ?? ""
        guard type.lowercased().hasPrefix("application/x-www-form-urlencoded") else {
            throw PageError(.unsupportedMediaType, "expected a form body (application/x-www-form-urlencoded), got \(type.isEmpty ? "none" : type)")
        }
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > limit {
            throw PageError(.contentTooLarge, "request body of \(declared) bytes is larger than the limit of \(limit) bytes")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw PageError(.contentTooLarge, "request body is larger than the limit of \(limit) bytes")
        }
        // String(buffer:) would replace invalid bytes with U+FFFD and store the vote anyway.
        guard let body = String(validating: buffer.readableBytesView, as: UTF8.self) else {
            throw PageError(.badRequest, "malformed form body: bytes that are not UTF-8")
        }
        return try parse(body)
    }

    /// Parses `a=1&b=x+y` with percent-decoding; rejects malformed escapes and non-UTF-8 bytes.
    public static func parse(_ body: String) throws -> [String: String] {
        var fields: [String: String] = [:]
        for part in body.split(separator: "&", omittingEmptySubsequences: true) {
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = decode(kv[0]), let value = decode(kv.count > 1 ? kv[1] : "") else {
                throw PageError(.badRequest, "malformed form body: bad percent-encoding in \"\(String(part.prefix(40)))\"")
            }
            fields[key] = value
        }
        return fields
    }

    static func decode(_ s: Substring) -> String? {
        s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}
