import Feedback
import Foundation
import Support
import XCTest
@testable import LabelServer

final class ImportExportTests: XCTestCase {
    func write(_ lines: [String], _ t: TempLabelDB, name: String = "pairs.jsonl") throws -> URL {
        let url = t.dir.appendingPathComponent(name)
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func testImportsAllThreeShapesAndSkipsWhatIsAlreadyThere() throws {
        let t = try TempLabelDB()
        let url = try write([
            #"{"prompt":"p1","completions":["c1","c2","c3","c4","c5"]}"#,
            #"{"prompt":"p2","chosen":"good","rejected":"bad","rater":"sim-3"}"#,
            #"{"prompt":"p3","response_a":"x","response_b":"y","gold":"tie"}"#,
            "",
        ], t)
        let items = try PairImport.read(url)
        XCTAssertEqual(items, [
            NewItem(prompt: "p1", responseA: "c1", responseB: "c2"),
            NewItem(prompt: "p1", responseA: "c3", responseB: "c4"),
            NewItem(prompt: "p2", responseA: "good", responseB: "bad"),
            NewItem(prompt: "p3", responseA: "x", responseB: "y", gold: .tie),
        ])
        XCTAssertEqual(try t.store.importItems(items).added, 4)
        let again = try t.store.importItems(items)
        XCTAssertEqual(again.added, 0)
        XCTAssertEqual(again.skipped, 4)
        XCTAssertEqual(again.goldNotApplied, 0)  // p3's gold answer is the one it has
        // The same pairs again as honeypots: skipped, and said so.
        let asGold = try t.store.importItems(items.map { var i = $0; i.gold = .a; return i })
        XCTAssertEqual(asGold.added, 0)
        XCTAssertEqual(asGold.goldNotApplied, 4)
        XCTAssertEqual(try t.store.itemCount(), 4)
        // (B, A) is the comparison (A, B) is: skipped; its gold answer counts as applied when it
        // is the existing one seen from the other side (p3's tie; p2 has none).
        let swapped = try t.store.importItems(items.map { NewItem(prompt: $0.prompt, responseA: $0.responseB, responseB: $0.responseA, gold: $0.gold) })
        XCTAssertEqual(swapped.added, 0)
        XCTAssertEqual(swapped.skipped, 4)
        XCTAssertEqual(swapped.goldNotApplied, 0)
        XCTAssertEqual(try t.store.importItems([NewItem(prompt: "p2", responseA: "bad", responseB: "good", gold: .b)]).goldNotApplied, 1)
        XCTAssertEqual(try t.store.itemCount(), 4)
    }

    func testReversedGoldAnswerIsTheSameHoneypot() throws {
        let t = try TempLabelDB()
        try t.store.importItems([NewItem(prompt: "p", responseA: "x", responseB: "y", gold: .a)])
        let r = try t.store.importItems([NewItem(prompt: "p", responseA: "y", responseB: "x", gold: .b),
                                         NewItem(prompt: "p", responseA: "y", responseB: "x", gold: .a)])
        XCTAssertEqual(r.added, 0)
        XCTAssertEqual(r.goldNotApplied, 1, "y over x contradicts the stored x over y")
    }

    func testSampledPairsOfIdenticalOrEmptyResponsesAreLeftOutAndCounted() throws {
        let t = try TempLabelDB()
        let url = try write([#"{"prompt":"p","completions":["a","b","c","c"," ","d"]}"#,
                             #"{"prompt":"q","response_a":"same","response_b":"same","gold":"tie"}"#], t)
        let (items, skipped) = try PairImport.readCounting(url)
        XCTAssertEqual(items, [NewItem(prompt: "p", responseA: "a", responseB: "b"),
                               NewItem(prompt: "q", responseA: "same", responseB: "same", gold: .tie)])  // an attention check
        XCTAssertEqual(skipped, 2)
    }

    func testGoldFlagMarksChosenAsTheKnownAnswer() throws {
        let t = try TempLabelDB()
        let url = try write([#"{"prompt":"p","chosen":"good","rejected":"bad"}"#], t)
        XCTAssertEqual(try PairImport.read(url, markGold: true), [NewItem(prompt: "p", responseA: "good", responseB: "bad", gold: .a)])
        let samples = try write([#"{"prompt":"p","completions":["a","b"]}"#], t, name: "samples.jsonl")
        XCTAssertThrowsError(try PairImport.read(samples, markGold: true))
    }

    func testBadLinesNameFileAndLineAndImportNothing() throws {
        let t = try TempLabelDB()
        let cases: [(String, String)] = [
            (#"{"prompt":"p","completions":["only one"]}"#, "needs at least 2 responses"),
            (#"{"prompt":"p","chosen":"c"}"#, "missing field \"rejected\""),
            (#"{"prompt":"p","response_a":"x","response_b":"y","gold":"maybe"}"#, "field \"gold\""),
            (#"{"prompt":"p"}"#, "expected exactly one of"),
            (#"{"completions":["a","b"]}"#, "missing field \"prompt\""),
            ("not json", "not valid JSON"),
            (#"{"prompt":"p","chosen":"same","rejected":"same"}"#, "\"chosen\" and \"rejected\" are identical"),
            (#"{"prompt":"p","response_a":" ","response_b":"y"}"#, "a response is empty"),
            // SQLite would cut it at the NUL: "same\0 one" and "same\0 two" become one text.
            (#"{"prompt":"p","response_a":"same\u0000 one","response_b":"same\u0000 two"}"#, "field \"response_a\" contains a NUL character"),
        ]
        for (bad, message) in cases {
            let url = try write([#"{"prompt":"ok","chosen":"a","rejected":"b"}"#, bad], t)
            XCTAssertThrowsError(try PairImport.read(url)) { error in
                let text = "\(error)"
                XCTAssertTrue(text.hasPrefix("\(url.path):2: "), text)
                XCTAssertTrue(text.contains(message), text)
            }
        }
        XCTAssertEqual(try t.store.itemCount(), 0)
    }

    /// An import larger than one transaction's chunk adds every item once, and skips the
    /// duplicates that straddle chunks.
    func testImportsInChunksWithoutLosingOrRepeatingItems() throws {
        let t = try TempLabelDB()
        let n = LabelStore.importChunk * 2 + 7
        var items = (0..<n).map { NewItem(prompt: "p\($0)", responseA: "a", responseB: "b") }
        items += [items[3], NewItem(prompt: "p\(LabelStore.importChunk + 1)", responseA: "b", responseB: "a")]
        let r = try t.store.importItems(items)
        XCTAssertEqual(r.added, n)
        XCTAssertEqual(r.skipped, 2)
        XCTAssertEqual(try t.store.itemCount(), n)
    }

    /// Rater names are one line each (raters, stats print one per line) and are found again as
    /// typed: surrounding spaces are trimmed in both add-rater and new-token.
    func testRaterNamesHaveNoControlCharactersAndAreTrimmedEverywhere() throws {
        let t = try TempLabelDB()
        XCTAssertThrowsError(try t.store.addRater(name: "eve\nmallory")) { XCTAssertTrue("\($0)".contains("control character"), "\($0)") }
        XCTAssertNoThrow(try t.store.addRater(name: "Mehr\u{200C}naz"))  // a zero-width non-joiner is part of the name
        _ = try t.store.addRater(name: "  spaced  ")
        XCTAssertEqual(try t.store.raters().map(\.name).sorted(), ["Mehr\u{200C}naz", "spaced"])
        XCTAssertNoThrow(try t.store.newToken(forRater: "  spaced  "))
    }

    /// Alice answers A, B, tie and both-bad on four items; Bob answers A on the first.
    func votedStore() async throws -> TempLabelDB {
        let t = try TempLabelDB()
        _ = try t.store.addRater(name: "alice")
        _ = try t.store.addRater(name: "bob")
        try t.store.importItems((1...4).map { NewItem(prompt: "p\($0)", responseA: "a\($0)", responseB: "b\($0)") })
        let alice = try t.store.raters()[0], bob = try t.store.raters()[1]
        for (i, side) in ["left", "left", "tie", "both_bad"].enumerated() {
            // Alice sees A on the right for item 2, so "left" there means B.
            let item = try await t.store.nextItem(for: alice, overlap: 2, aOnLeft: i != 1)!
            XCTAssertEqual(item.id, Int64(i + 1))
            _ = try await t.store.recordVote(rater: alice, itemID: item.id, side: side, reason: "")
        }
        let item = try await t.store.nextItem(for: bob, overlap: 2, aOnLeft: true)!
        _ = try await t.store.recordVote(rater: bob, itemID: item.id, side: "left", reason: "names the order")
        return t
    }

    func testExportWritesPreferencesRewardTrainingReads() async throws {
        let t = try await votedStore()
        let out = t.dir.appendingPathComponent("prefs.jsonl")
        XCTAssertEqual(try PreferenceExport.write(t.store, to: out, includeTies: false).written, 3)
        let records = try JSONL.read(PreferenceRecord.self, from: out)
        XCTAssertEqual(records, [
            PreferenceRecord(prompt: "p1", chosen: "a1", rejected: "b1", rater: "alice"),
            PreferenceRecord(prompt: "p2", chosen: "b2", rejected: "a2", rater: "alice"),
            PreferenceRecord(prompt: "p1", chosen: "a1", rejected: "b1", rater: "bob", reason: "names the order"),
        ])
        XCTAssertTrue(records.allSatisfy { PreferenceRecord.problem($0) == nil })
        let text = try String(contentsOf: out, encoding: .utf8)
        // No reason, no field; a reason is kept beside the preference it explains.
        XCTAssertTrue(text.hasPrefix(#"{"chosen":"a1","prompt":"p1","rater":"alice","rejected":"b1"}"#), text)
        XCTAssertTrue(text.contains(#"{"chosen":"a1","prompt":"p1","rater":"bob","reason":"names the order","rejected":"b1"}"#), text)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: t.dir.path).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [])
    }

    func testExportLeavesOutPairsRewardTrainingWouldRefuse() async throws {
        let t = try TempLabelDB()
        _ = try t.store.addRater(name: "alice")
        // A chat comparison whose two samples came out the same, and an ordinary pair.
        try t.store.importItems([NewItem(prompt: "p2", responseA: "a", responseB: "b")])
        let alice = try t.store.raters()[0]
        let chat = try await t.store.addChatItem(rater: alice, prompt: "p1", responseA: "same", responseB: "same", aOnLeft: true)
        _ = try await t.store.recordVote(rater: alice, itemID: chat, side: "left", reason: "")
        let item = try await t.store.nextItem(for: alice, overlap: 1, aOnLeft: true)!
        _ = try await t.store.recordVote(rater: alice, itemID: item.id, side: "left", reason: "")
        let out = t.dir.appendingPathComponent("prefs.jsonl")
        let result = try PreferenceExport.write(t.store, to: out, includeTies: true)
        XCTAssertEqual(result.written, 1)
        XCTAssertEqual(result.unusable, 1)
        XCTAssertEqual(try JSONL.read(PreferenceRecord.self, from: out).map(\.prompt), ["p2"])
    }

    func testExportCanLeaveOutRatersWhoFailTheGoldItems() async throws {
        let t = try TempLabelDB()
        for name in ["alice", "bob", "carol"] { _ = try t.store.addRater(name: name) }
        try t.store.importItems([NewItem(prompt: "g1", responseA: "right", responseB: "wrong", gold: .a),
                                 NewItem(prompt: "g2", responseA: "right", responseB: "wrong", gold: .a),
                                 NewItem(prompt: "p", responseA: "x", responseB: "y")])
        let raters = try t.store.raters()
        // alice answers gold right, bob wrong; carol answers only a chat comparison of her own.
        for (rater, goldSide) in [(raters[0], "left"), (raters[1], "right")] {
            while let item = try await t.store.nextItem(for: rater, overlap: 3, aOnLeft: true) {
                _ = try await t.store.recordVote(rater: rater, itemID: item.id, side: item.prompt.hasPrefix("g") ? goldSide : "left", reason: "")
            }
        }
        let chat = try await t.store.addChatItem(rater: raters[2], prompt: "c", responseA: "m", responseB: "n", aOnLeft: true)
        _ = try await t.store.recordVote(rater: raters[2], itemID: chat, side: "left", reason: "")
        let out = t.dir.appendingPathComponent("prefs.jsonl")
        let r = try PreferenceExport.write(t.store, to: out, includeTies: false, minGoldAccuracy: 0.5)
        XCTAssertEqual(r.ratersDropped, ["bob"])
        XCTAssertEqual(r.ratersUnchecked, ["carol"])
        let exported = try JSONL.read(PreferenceRecord.self, from: out)
        XCTAssertEqual(Set(exported.compactMap(\.rater)), ["alice", "carol"])
        XCTAssertEqual(LabelStats.gold(of: "bob", in: try t.store.allVotes()).accuracy, 0)
        // Gold items are attention checks, never preferences: not exported, even when answered
        // right, and not counted in the raters' agreement with each other.
        XCTAssertEqual(exported.map(\.prompt).sorted(), ["c", "p"])
        let stats = LabelStats(votes: try t.store.allVotes(), raterNames: try t.store.raters().map(\.name), items: try t.store.itemCount())
        XCTAssertEqual(stats.overlappingItems, 1)
        XCTAssertEqual(stats.pairs.first { $0.raterA == "alice" && $0.raterB == "bob" }?.sharedItems, 1)
    }

    /// A model can write a NUL byte, which the database cannot store: a sampled pair holding one
    /// is left out and counted, as an identical one is; an explicit pair holding one is refused.
    func testSampledPairsWithANulByteAreLeftOutAndCounted() throws {
        let t = try TempLabelDB()
        let url = t.dir.appendingPathComponent("pairs.jsonl")
        try #"{"prompt": "p", "completions": ["a\u0000b", "c", "d", "e"]}"#.write(to: url, atomically: true, encoding: .utf8)
        let read = try PairImport.readCounting(url)
        XCTAssertEqual(read.items.map { [$0.responseA, $0.responseB] }, [["d", "e"]])
        XCTAssertEqual(read.skippedPairs, 1)
        try #"{"prompt": "p", "chosen": "a\u0000b", "rejected": "c"}"#.write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try PairImport.read(url)) { XCTAssertTrue("\($0)".contains("NUL"), "\($0)") }
    }

    func testStatsCountProgressTowardTheTargetOverlap() async throws {
        let t = try await votedStore()  // four items; alice answered all, bob the first
        var stats = LabelStats(votes: try t.store.allVotes(), raterNames: try t.store.raters().map(\.name), items: try t.store.itemCount())
        stats.overlap = try t.store.overlapProgress(overlap: 2)
        XCTAssertEqual(stats.overlap, OverlapProgress(target: 2, items: 4, complete: 1, answersNeeded: 3))
        XCTAssertTrue(stats.text.contains("toward 2 answers each (--overlap): 1 of 4 ordinary comparisons done (25.0%), 3 answers still needed"), stats.text)
        XCTAssertEqual(try t.store.overlapProgress(overlap: 1), OverlapProgress(target: 1, items: 4, complete: 4, answersNeeded: 0))
    }

    func testExportWithTiesWritesBothOrders() async throws {
        let t = try await votedStore()
        let records = PreferenceExport.records(try t.store.allVotes(), includeTies: true)
        XCTAssertEqual(records.count, 7)
        XCTAssertEqual(records.filter { $0.prompt == "p3" }.map { [$0.chosen, $0.rejected] }, [["a3", "b3"], ["b3", "a3"]])
        XCTAssertEqual(records.filter { $0.prompt == "p4" }.count, 2)
    }
}
