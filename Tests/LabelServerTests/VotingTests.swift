import GRDB
import HTTPTypes
import Hummingbird
import XCTest
@testable import LabelServer

/// Posts a vote with the browser session; returns the response.
func vote(_ client: RouterClient, _ s: BrowserSession, item: Int64, choice: String, reason: String = "") async throws -> TestResponse {
    try await client.execute(uri: "/vote", method: .post, headers: s.formHeaders,
                             body: formBody([("csrf", s.csrf), ("item", "\(item)"), ("choice", choice), ("reason", reason)]))
}

final class VotingTests: XCTestCase {
    func testComparePageShowsPromptBothResponsesProgressAndShortcuts() async throws {
        let t = try TempLabelDB()
        let token = try t.store.addRater(name: "alice")
        try t.store.importItems(sampleItems(3))
        try await t.withClient { client in
            let s = try await signIn(client, token: token)
            let page = try await client.execute(uri: "/", method: .get, headers: s.headers).text
            XCTAssertTrue(page.contains("<div class=\"text\" id=\"prompt\">prompt 1</div>"))
            let left = try XCTUnwrap(capture(#"id="response-left">([^<]*)<"#, in: page))
            let right = try XCTUnwrap(capture(#"id="response-right">([^<]*)<"#, in: page))
            XCTAssertEqual(Set([left, right]), ["answer A1", "answer B1"])
            XCTAssertTrue(page.contains("Answered <b>0</b> · <b>3</b> left for you"), page)
            for key in 1...4 { XCTAssertTrue(page.contains("data-key=\"\(key)\"")) }
            XCTAssertTrue(page.contains("src=\"/static/app.js\""))
            let js = try await client.execute(uri: "/static/app.js", method: .get)
            XCTAssertTrue(js.text.contains("keydown"))
            // Reloading shows the same item in the same order (the assignment is recorded).
            let again = try await client.execute(uri: "/", method: .get, headers: s.headers).text
            XCTAssertEqual(capture(#"id="response-left">([^<]*)<"#, in: again), left)
            let guide = try await client.execute(uri: "/guidelines", method: .get, headers: s.headers)
            XCTAssertEqual(guide.status, .ok)
            XCTAssertTrue(guide.text.contains("Both bad"))
        }
    }

    func testVoteIsStoredInTermsOfAAndBWithTheShownOrder() async throws {
        let t = try TempLabelDB()
        let token = try t.store.addRater(name: "alice")
        try t.store.importItems(sampleItems(2))
        try await t.withClient { client in
            let s = try await signIn(client, token: token)
            let page = try await client.execute(uri: "/", method: .get, headers: s.headers).text
            let item = try XCTUnwrap(itemID(in: page))
            let leftText = try XCTUnwrap(capture(#"id="response-left">([^<]*)<"#, in: page))
            let res = try await vote(client, s, item: item, choice: "left", reason: "clearer")
            XCTAssertEqual(res.status, .seeOther)
            XCTAssertEqual(res.headers[.location], "/")
            XCTAssertEqual(res.headers[HTTPField.Name("X-Vote")!], "recorded")
            let votes = try t.store.allVotes()
            XCTAssertEqual(votes.count, 1)
            // Clicking "left" chose whichever response was on the left.
            XCTAssertEqual(votes[0].choice, leftText == "answer A1" ? .a : .b)
            XCTAssertEqual(votes[0].reason, "clearer")
            XCTAssertEqual(votes[0].rater, "alice")
            XCTAssertFalse(votes[0].createdAt.isEmpty)
            let aOnLeft = try await t.store.db.read { db in try Bool.fetchOne(db, sql: "SELECT a_on_left FROM vote")! }
            XCTAssertEqual(aOnLeft, leftText == "answer A1")
            let next = try await client.execute(uri: "/", method: .get, headers: s.headers).text
            XCTAssertNotEqual(itemID(in: next), item)
            XCTAssertTrue(next.contains("Answered <b>1</b> · <b>1</b> left for you"), next)
        }
    }

    func testDuplicateVoteCountsOnceAndFirstAnswerStands() async throws {
        let t = try TempLabelDB()
        let token = try t.store.addRater(name: "alice")
        try t.store.importItems(sampleItems(2))
        try await t.withClient { client in
            let s = try await signIn(client, token: token)
            let home = try await client.execute(uri: "/", method: .get, headers: s.headers)
            let item = try XCTUnwrap(itemID(in: home.text))
            let first = try await vote(client, s, item: item, choice: "tie")
            let second = try await vote(client, s, item: item, choice: "both_bad")
            XCTAssertEqual(first.headers[HTTPField.Name("X-Vote")!], "recorded")
            XCTAssertEqual(second.status, .seeOther)
            XCTAssertEqual(second.headers[HTTPField.Name("X-Vote")!], "duplicate")
        }
        let votes = try t.store.allVotes()
        XCTAssertEqual(votes.map(\.choice), [.tie])
    }

    func testConcurrentDoubleSubmitsCountOnce() async throws {
        let t = try TempLabelDB()
        let alice = Rater(id: 1, name: "alice")
        _ = try t.store.addRater(name: "alice")
        try t.store.importItems(sampleItems(1))
        let item = try await t.store.nextItem(for: alice, overlap: 1, aOnLeft: true)!
        let store = t.store
        let outcomes = try await withThrowingTaskGroup(of: VoteOutcome.self) { group in
            for _ in 0..<20 { group.addTask { try await store.recordVote(rater: alice, itemID: item.id, side: "right", reason: "") } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(outcomes.filter { $0 == .recorded }.count, 1)
        XCTAssertEqual(try t.count("vote"), 1)
    }

    func testRaterIsolation() async throws {
        let t = try TempLabelDB()
        let aliceToken = try t.store.addRater(name: "alice")
        let bobToken = try t.store.addRater(name: "bob")
        try t.store.importItems(sampleItems(2))
        try await t.withClient(LabelServerSettings(overlap: 1)) { client in
            let alice = try await signIn(client, token: aliceToken)
            let bob = try await signIn(client, token: bobToken)
            let alicePage = try await client.execute(uri: "/", method: .get, headers: alice.headers)
            let aliceItem = try XCTUnwrap(itemID(in: alicePage.text))
            let aliceVote = try await vote(client, alice, item: aliceItem, choice: "left", reason: "alice's secret reason")
            XCTAssertEqual(aliceVote.status, .seeOther)
            // With overlap 1 Bob gets the other item, and cannot answer Alice's.
            let bobPage = try await client.execute(uri: "/", method: .get, headers: bob.headers).text
            let bobItem = try XCTUnwrap(itemID(in: bobPage))
            XCTAssertNotEqual(bobItem, aliceItem)
            XCTAssertFalse(bobPage.contains("alice"))
            let stolen = try await vote(client, bob, item: aliceItem, choice: "right")
            XCTAssertEqual(stolen.status, .notFound)
            XCTAssertTrue(stolen.text.contains("not assigned to you"))
            let nonexistent = try await vote(client, bob, item: 999, choice: "right")
            XCTAssertEqual(nonexistent.status, .notFound)
            // No page Bob can reach shows Alice's answer.
            for uri in ["/", "/guidelines"] {
                let text = try await client.execute(uri: uri, method: .get, headers: bob.headers).text
                XCTAssertFalse(text.contains("secret reason"), uri)
            }
        }
        XCTAssertEqual(try t.store.allVotes().map(\.rater), ["alice"])
    }

    func testOverlapKGivesEachItemToKDistinctRatersAndGoldToEveryone() async throws {
        let t = try TempLabelDB()
        let names = ["r1", "r2", "r3"]
        for n in names { _ = try t.store.addRater(name: n) }
        try t.store.importItems(sampleItems(2) + [NewItem(prompt: "gold", responseA: "good", responseB: "bad", gold: .a)])
        let raters = try t.store.raters()
        var seen: [String: [Int64]] = [:]
        for r in raters {
            while let item = try await t.store.nextItem(for: r, overlap: 2, aOnLeft: Bool.random()) {
                XCTAssertFalse(seen[r.name, default: []].contains(item.id), "item \(item.id) given twice to \(r.name)")
                seen[r.name, default: []].append(item.id)
                _ = try await t.store.recordVote(rater: r, itemID: item.id, side: "left", reason: "")
            }
        }
        var perItem: [Int64: Int] = [:]
        for ids in seen.values { for id in ids { perItem[id, default: 0] += 1 } }
        XCTAssertEqual(perItem[1], 2)
        XCTAssertEqual(perItem[2], 2)
        XCTAssertEqual(perItem[3], 3, "gold items go to every rater")
        XCTAssertEqual(seen["r3"]?.count, 1, "the last rater finds ordinary items full")
        let progress = try await t.store.progress(for: raters[2], overlap: 2)
        XCTAssertEqual(progress.done, 1)
        XCTAssertEqual(progress.remaining, 0)
    }

    func testDatabaseIsWALAndVotesSurviveReopening() async throws {
        let t = try TempLabelDB()
        _ = try t.store.addRater(name: "alice")
        try t.store.importItems(sampleItems(1))
        let alice = try t.store.raters()[0]
        let item = try await t.store.nextItem(for: alice, overlap: 1, aOnLeft: false)!
        _ = try await t.store.recordVote(rater: alice, itemID: item.id, side: "left", reason: "r")
        let mode = try await t.store.db.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
        XCTAssertEqual(mode, "wal")
        let reopened = LabelStore(db: try LabelDatabase.open(path: t.dir.appendingPathComponent("labels.sqlite").path))
        XCTAssertEqual(try reopened.allVotes().map(\.choice), [.b], "left was B (a_on_left false)")
    }

    func testUndoTakesBackTheLastAnswerAndShowsItsComparisonAgain() async throws {
        let t = try TempLabelDB()
        let token = try t.store.addRater(name: "alice")
        try t.store.importItems(sampleItems(3))
        try await t.withClient(LabelServerSettings(overlap: 1)) { client in
            let s = try await signIn(client, token: token)
            let first = try await client.execute(uri: "/", method: .get, headers: s.headers).text
            XCTAssertFalse(first.contains("id=\"undo\""), "nothing to undo before the first answer")
            let item1 = try XCTUnwrap(itemID(in: first))
            _ = try await vote(client, s, item: item1, choice: "left")
            let second = try await client.execute(uri: "/", method: .get, headers: s.headers).text
            let item2 = try XCTUnwrap(itemID(in: second))
            let left2 = try XCTUnwrap(capture(#"id="response-left">([^<]*)<"#, in: second))
            XCTAssertTrue(second.contains("action=\"/undo\""), second)
            _ = try await vote(client, s, item: item2, choice: "tie")
            // Item 3 is now open (shown); undo brings back item 2, before it, on the same sides.
            let third = try await client.execute(uri: "/", method: .get, headers: s.headers).text
            XCTAssertNotEqual(itemID(in: third), item2)
            XCTAssertTrue(third.contains("name=\"item\" value=\"\(item2)\"><button type=\"submit\" id=\"undo\""), "the undo form names the last answer")
            func undo(_ item: Int64, csrf: String? = nil) async throws -> TestResponse {
                try await client.execute(uri: "/undo", method: .post, headers: s.formHeaders, body: formBody([("csrf", csrf ?? s.csrf), ("item", "\(item)")]))
            }
            let wrongCSRF = try await undo(item2, csrf: "0")
            XCTAssertEqual(wrongCSRF.status, .forbidden)
            let noItem = try await client.execute(uri: "/undo", method: .post, headers: s.formHeaders, body: formBody([("csrf", s.csrf)]))
            XCTAssertEqual(noItem.status, .badRequest)
            let undone = try await undo(item2)
            XCTAssertEqual(undone.status, .seeOther)
            XCTAssertEqual(undone.headers[HTTPField.Name("X-Undone")!], "\(item2)")
            // The same request again (a double click, a retry) takes back nothing more.
            let twice = try await undo(item2)
            XCTAssertEqual(twice.headers[HTTPField.Name("X-Undone")!], "none")
            let back = try await client.execute(uri: "/", method: .get, headers: s.headers).text
            XCTAssertEqual(itemID(in: back), item2)
            XCTAssertEqual(capture(#"id="response-left">([^<]*)<"#, in: back), left2)
            XCTAssertTrue(back.contains("Answered <b>1</b> · <b>2</b> left for you"), back)
            XCTAssertEqual(try t.store.allVotes().map(\.itemID), [item1])
            let counts = try await t.store.db.read { db in try Int.fetchAll(db, sql: "SELECT vote_count FROM item ORDER BY id") }
            XCTAssertEqual(counts.reduce(0, +), 1)
            // A new answer to the same comparison counts; a second undo, then a third, walk back
            // to nothing, and then there is nothing to take back.
            let again = try await vote(client, s, item: item2, choice: "right")
            XCTAssertEqual(again.headers[HTTPField.Name("X-Vote")!], "recorded")
            for (item, expected) in [(item2, "\(item2)"), (item1, "\(item1)"), (item1, "none")] {
                let r = try await undo(item)
                XCTAssertEqual(r.headers[HTTPField.Name("X-Undone")!], expected)
            }
            XCTAssertEqual(try t.store.allVotes().count, 0)
            let open = try await t.store.db.read { db in try Int.fetchOne(db, sql: "SELECT n FROM item_count_by_votes WHERE vote_count = 0") }
            XCTAssertEqual(open, 3, "the per-count tally the progress line reads follows the undo")
        }
    }

    func testUndoTakesBackOnlyTheRatersOwnAnswerIncludingGoldAndChat() async throws {
        let t = try TempLabelDB()
        _ = try t.store.addRater(name: "alice")
        _ = try t.store.addRater(name: "bob")
        try t.store.importItems([NewItem(prompt: "p", responseA: "x", responseB: "y"),
                                 NewItem(prompt: "g", responseA: "good", responseB: "bad", gold: .a)])
        let alice = try t.store.raters()[0], bob = try t.store.raters()[1]
        func tally() async throws -> [Int] { try await t.store.db.read { db in try Int.fetchAll(db, sql: "SELECT n FROM item_count_by_votes ORDER BY vote_count") } }
        for r in [alice, bob] {
            let item = try await t.store.nextItem(for: r, overlap: 2, aOnLeft: true)!
            XCTAssertEqual(item.prompt, "p")
            _ = try await t.store.recordVote(rater: r, itemID: item.id, side: "left", reason: "")
        }
        // Alice cannot name Bob's newest answer as hers; her own goes, his stays.
        let gold = try await t.store.nextItem(for: bob, overlap: 2, aOnLeft: true, preferGold: true)!
        _ = try await t.store.recordVote(rater: bob, itemID: gold.id, side: "right", reason: "")
        let talliedBefore = try await tally()
        let notHers = try await t.store.undoLastVote(rater: alice, item: gold.id)
        XCTAssertNil(notHers)
        let hers = try await t.store.undoLastVote(rater: alice, item: 1)
        XCTAssertEqual(hers, 1)
        XCTAssertEqual(try t.store.allVotes().map(\.rater), ["bob", "bob"])
        // Bob's gold answer: taken back without touching the ordinary items' tally.
        let afterAlice = try await tally()
        let bobs = try await t.store.undoLastVote(rater: bob, item: gold.id)
        XCTAssertEqual(bobs, gold.id)
        let afterBob = try await tally()
        XCTAssertEqual(afterBob, afterAlice)
        XCTAssertNotEqual(afterAlice, talliedBefore, "alice's undo moved item 1 from 2 answers to 1")
        let bobNext = try await t.store.nextItem(for: bob, overlap: 2, aOnLeft: false)
        XCTAssertEqual(bobNext?.id, gold.id, "the gold item comes back")
        XCTAssertEqual(bobNext?.aOnLeft, true, "on the sides it was first shown on")
        // A chat answer comes back too.
        let chat = try await t.store.addChatItem(rater: alice, prompt: "c", responseA: "m", responseB: "n", aOnLeft: true)
        _ = try await t.store.nextItem(for: alice, overlap: 2, aOnLeft: true)  // the chat item, newest
        _ = try await t.store.recordVote(rater: alice, itemID: chat, side: "tie", reason: "")
        let chatUndone = try await t.store.undoLastVote(rater: alice, item: chat)
        XCTAssertEqual(chatUndone, chat)
        let aliceNext = try await t.store.nextItem(for: alice, overlap: 2, aOnLeft: false)
        XCTAssertEqual(aliceNext?.id, chat)
    }
}
