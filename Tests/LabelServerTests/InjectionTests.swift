import GRDB
import HTTPTypes
import Hummingbird
import XCTest
@testable import LabelServer

/// SQL metacharacters and markup in every field a user controls: stored byte for byte, shown escaped.
final class InjectionTests: XCTestCase {
    let sql = #"Robert'); DROP TABLE vote; -- "quoted" \ %_"#
    let script = #"<script>alert("x")</script><img src=x onerror=alert(1)>"#

    func testMetacharactersAreStoredVerbatimAndRenderedEscaped() async throws {
        let t = try TempLabelDB()
        let name = "\(sql) \(script)"
        let token = try t.store.addRater(name: name)
        let prompt = "P \(sql) \(script)", a = "A \(script)", b = "B \(sql)"
        try t.store.importItems([NewItem(prompt: prompt, responseA: a, responseB: b)])
        let reason = "R \(sql) \(script)"
        try await t.withClient { client in
            let s = try await signIn(client, token: token)
            let page = try await client.execute(uri: "/", method: .get, headers: s.headers).text
            XCTAssertFalse(page.contains("<script>alert"), "raw markup reached the page")
            XCTAssertFalse(page.contains("<img src=x"), "raw markup reached the page")
            XCTAssertTrue(page.contains(HTML.escape(prompt)))
            XCTAssertTrue(page.contains(HTML.escape(a)))
            XCTAssertTrue(page.contains(HTML.escape(b)))
            XCTAssertTrue(page.contains("signed in as <b>\(HTML.escape(name))</b>"))
            let item = try XCTUnwrap(itemID(in: page))
            let res = try await client.execute(uri: "/vote", method: .post, headers: s.formHeaders,
                                               body: formBody([("csrf", s.csrf), ("item", "\(item)"), ("choice", "tie"), ("reason", reason)]))
            XCTAssertEqual(res.status, .seeOther)
        }
        let votes = try t.store.allVotes()
        XCTAssertEqual(votes.count, 1)
        XCTAssertEqual(votes[0].prompt, prompt)
        XCTAssertEqual(votes[0].responseA, a)
        XCTAssertEqual(votes[0].responseB, b)
        XCTAssertEqual(votes[0].rater, name)
        XCTAssertEqual(votes[0].reason, reason)
        XCTAssertEqual(try t.count("rater"), 1, "tables intact")
    }

    func testErrorPagesEscapeWhatTheyQuote() async throws {
        let t = try TempLabelDB()
        let token = try t.store.addRater(name: "alice")
        try await t.withClient { client in
            let s = try await signIn(client, token: token)
            let res = try await client.execute(uri: "/vote", method: .post, headers: s.formHeaders,
                                               body: ByteBuffer(string: "csrf=\(s.csrf)&%3Cscript%3E=%ZZ"))
            XCTAssertEqual(res.status, .badRequest)
            XCTAssertFalse(res.text.contains("<script>"))
        }
    }
}
