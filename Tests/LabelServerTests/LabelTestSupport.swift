import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import XCTest
@testable import LabelServer

/// `Tests/Fixtures`, found from this file's path so tests run from any working directory.
enum FixturePaths {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }
}

/// A fresh database in a temporary directory, removed at deinit.
final class TempLabelDB: @unchecked Sendable {
    let dir: URL
    let store: LabelStore

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("label-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        store = LabelStore(db: try LabelDatabase.open(path: dir.appendingPathComponent("labels.sqlite").path))
    }

    deinit { try? FileManager.default.removeItem(at: dir) }

    /// Runs `test` with a client of the label app on this database.
    func withClient<T>(_ settings: LabelServerSettings = LabelServerSettings(), _ test: (RouterClient) async throws -> T) async throws -> T {
        try await test(RouterClient(responder: LabelApp.router(store: store, settings: settings).buildResponder()))
    }

    /// Number of rows in `table`.
    func count(_ table: String) throws -> Int {
        try store.db.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table)") ?? 0 }
    }
}

/// A URL-encoded form body.
func formBody(_ fields: [(String, String)]) -> ByteBuffer {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    let s = fields.map { k, v in
        "\(k.addingPercentEncoding(withAllowedCharacters: allowed)!)=\(v.addingPercentEncoding(withAllowedCharacters: allowed)!)"
    }.joined(separator: "&")
    return ByteBuffer(string: s)
}

let formType: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]

/// First capture of `pattern` in `text`.
func capture(_ pattern: String, in text: String) -> String? {
    guard let re = try? NSRegularExpression(pattern: pattern),
          let m = re.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
          let r = Range(m.range(at: 1), in: text) else { return nil }
    return String(text[r])
}

/// A browser-like session: the session cookie and the CSRF token of the pages.
struct BrowserSession {
    let cookie: String
    let csrf: String
    var headers: HTTPFields { [.cookie: "\(SessionCookie.name)=\(cookie)"] }
    var formHeaders: HTTPFields { [.cookie: "\(SessionCookie.name)=\(cookie)", .contentType: "application/x-www-form-urlencoded"] }
}

/// Signs in through the login form as a browser would; fails the test if any step does.
func signIn(_ client: RouterClient, token: String, file: StaticString = #filePath, line: UInt = #line) async throws -> BrowserSession {
    let page = try await client.execute(uri: "/login", method: .get)
    let loginCSRF = try XCTUnwrap(page.cookie(SessionCookie.loginCSRFName)?.value, file: file, line: line)
    XCTAssertEqual(capture(#"name="csrf" value="([0-9a-f]+)""#, in: page.text), loginCSRF, file: file, line: line)
    var headers = formType
    headers[.cookie] = "\(SessionCookie.loginCSRFName)=\(loginCSRF)"
    let res = try await client.execute(uri: "/login", method: .post, headers: headers,
                                       body: formBody([("csrf", loginCSRF), ("token", token)]))
    XCTAssertEqual(res.status, .seeOther, res.text, file: file, line: line)
    let cookie = try XCTUnwrap(res.cookie(SessionCookie.name)?.value, file: file, line: line)
    let home = try await client.execute(uri: "/", method: .get, headers: [.cookie: "\(SessionCookie.name)=\(cookie)"])
    let csrf = try XCTUnwrap(capture(#"name="csrf" value="([0-9a-f]+)""#, in: home.text), file: file, line: line)
    return BrowserSession(cookie: cookie, csrf: csrf)
}

/// The comparison id on a compare page, if one is shown.
func itemID(in page: String) -> Int64? {
    capture(#"name="item" value="([0-9]+)""#, in: page).flatMap { Int64($0) }
}

/// Three imported comparisons with plain text.
func sampleItems(_ n: Int = 3) -> [NewItem] {
    (1...n).map { NewItem(prompt: "prompt \($0)", responseA: "answer A\($0)", responseB: "answer B\($0)") }
}
