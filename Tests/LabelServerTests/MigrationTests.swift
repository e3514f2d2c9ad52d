import Foundation
import GRDB
import XCTest
@testable import LabelServer

final class MigrationTests: XCTestCase {
    func testV2CountsTheAnswersAVersion1DatabaseAlreadyHolds() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("label-migration-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("old.sqlite").path
        do {
            let old = try DatabasePool(path: path)
            try LabelDatabase.migrator.migrate(old, upTo: "v1: raters, sessions, items, assignments, votes")
            try await old.write { db in
                try db.execute(sql: """
                    INSERT INTO rater (id, name, token_sha256) VALUES (1, 'r1', 'h1'), (2, 'r2', 'h2');
                    INSERT INTO item (id, prompt, response_a, response_b, source) VALUES (1, 'p', 'a', 'b', 'import'), (2, 'q', 'a', 'b', 'import');
                    INSERT INTO assignment (item_id, rater_id, a_on_left) VALUES (1, 1, 1), (1, 2, 0);
                    INSERT INTO vote (item_id, rater_id, choice, a_on_left) VALUES (1, 1, 'a', 1), (1, 2, 'b', 0);
                    """)
            }
        }
        let store = LabelStore(db: try LabelDatabase.open(path: path))
        let counts = try await store.db.read { db in try Int.fetchAll(db, sql: "SELECT vote_count FROM item ORDER BY id") }
        XCTAssertEqual(counts, [2, 0])
        XCTAssertEqual(try store.allVotes().count, 2, "votes kept through the migration")
        try store.importItems([NewItem(prompt: "new", responseA: "x", responseB: "y")])
        let r2 = Rater(id: 2, name: "r2")
        let next = try await store.nextItem(for: r2, overlap: 3, aOnLeft: true)
        XCTAssertEqual(next?.id, 2)
        _ = try await store.recordVote(rater: r2, itemID: 2, side: "left", reason: "")
        let levels = try await store.db.read { db in
            try Row.fetchAll(db, sql: "SELECT vote_count, n FROM item_count_by_votes WHERE n > 0 ORDER BY vote_count")
                .map { [$0["vote_count"] as Int, $0["n"] as Int] }
        }
        XCTAssertEqual(levels, [[0, 1], [1, 1], [2, 1]], "items 3 (new), 2 (one answer), 1 (two answers)")
    }

    /// Another program's SQLite file (a mistyped --db) is refused and left as it was: not turned
    /// to WAL mode, no tables added. An empty file is a new database.
    func testAnotherProgramsDatabaseIsRefusedAndUntouched() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("label-foreign-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("shop.sqlite").path
        try DatabaseQueue(path: path).write { db in try db.execute(sql: "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)") }
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try LabelDatabase.open(path: path)) { XCTAssertTrue("\($0)".contains("not a label database"), "\($0)") }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before)
        let empty = dir.appendingPathComponent("empty.sqlite").path
        FileManager.default.createFile(atPath: empty, contents: nil)
        XCTAssertNoThrow(try LabelDatabase.open(path: empty))
    }
}
