import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import XCTest
@testable import LabelServer

final class ChatTests: XCTestCase {
    func testChatSamplesTwoResponsesFromTheModelForThatRaterOnly() async throws {
        let t = try TempLabelDB()
        let aliceToken = try t.store.addRater(name: "alice")
        let bobToken = try t.store.addRater(name: "bob")
        let sampler = try ModelSampler(directory: FixturePaths.url("tiny-gpt2-hub"), maxNewTokens: 8, seed: 1)
        try await t.withClient(LabelServerSettings(overlap: 2, sampler: sampler)) { client in
            let alice = try await signIn(client, token: aliceToken)
            let form = try await client.execute(uri: "/chat", method: .get, headers: alice.headers)
            XCTAssertEqual(form.status, .ok)
            let res = try await client.execute(uri: "/chat", method: .post, headers: alice.formHeaders,
                                               body: formBody([("csrf", alice.csrf), ("prompt", "Hello <b>there</b>\r\nAgent:")]))
            XCTAssertEqual(res.status, .seeOther, res.text)
            let page = try await client.execute(uri: "/", method: .get, headers: alice.headers).text
            XCTAssertTrue(page.contains("Hello &lt;b&gt;there&lt;/b&gt;"), page)
            let item = try XCTUnwrap(itemID(in: page))
            let noCSRF = try await client.execute(uri: "/chat", method: .post, headers: alice.formHeaders, body: formBody([("prompt", "x")]))
            XCTAssertEqual(noCSRF.status, .forbidden)

            let bob = try await signIn(client, token: bobToken)
            let bobPage = try await client.execute(uri: "/", method: .get, headers: bob.headers).text
            XCTAssertNil(itemID(in: bobPage), "a chat comparison belongs to the rater who asked")
            XCTAssertTrue(bobPage.contains("id=\"all-done\""))
            let vote = try await client.execute(uri: "/vote", method: .post, headers: alice.formHeaders,
                                                body: formBody([("csrf", alice.csrf), ("item", "\(item)"), ("choice", "right")]))
            XCTAssertEqual(vote.headers[HTTPField.Name("X-Vote")!], "recorded")
        }
        let votes = try t.store.allVotes()
        XCTAssertEqual(votes.count, 1)
        XCTAssertEqual(votes[0].prompt, "Hello <b>there</b>\nAgent:", "a browser's CRLF stored as the models' LF")
        XCTAssertFalse(votes[0].responseA.isEmpty && votes[0].responseB.isEmpty)
    }

    /// With `maxPending` requests waiting or sampling, one more is turned away with a 503 that
    /// says why, and nothing is stored; once a place frees, the next request is served.
    func testChatTurnsAwayRequestsBeyondTheSamplersLimit() async throws {
        let t = try TempLabelDB()
        let token = try t.store.addRater(name: "alice")
        let sampler = try ModelSampler(directory: FixturePaths.url("tiny-gpt2-hub"), maxNewTokens: 8, seed: 1, maxPending: 1)
        try await t.withClient(LabelServerSettings(overlap: 2, sampler: sampler)) { client in
            let alice = try await signIn(client, token: token)
            let ask = { try await client.execute(uri: "/chat", method: .post, headers: alice.formHeaders,
                                                 body: formBody([("csrf", alice.csrf), ("prompt", "Customer: hi\nAgent:")])) }
            try sampler.enter()  // the one place, as a request still sampling holds it
            let busy = try await ask()
            XCTAssertEqual(busy.status, .serviceUnavailable)
            XCTAssertTrue(busy.text.contains("answering 1 other prompt"), busy.text)
            sampler.leave()
            let served = try await ask()
            XCTAssertEqual(served.status, .seeOther, served.text)
        }
        XCTAssertEqual(try t.store.allVotes().count, 0)
        let items = try await t.store.db.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM item") }
        XCTAssertEqual(items, 1, "only the served request made a comparison")
    }

    func testChatIsOffWithoutAModel() async throws {
        let t = try TempLabelDB()
        let token = try t.store.addRater(name: "alice")
        try await t.withClient { client in
            let s = try await signIn(client, token: token)
            let res = try await client.execute(uri: "/chat", method: .get, headers: s.headers)
            XCTAssertEqual(res.status, .notFound)
            XCTAssertTrue(res.text.contains("without --model"))
        }
    }
}
