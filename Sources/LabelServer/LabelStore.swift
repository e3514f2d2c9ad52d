import Foundation
import GRDB

/// A signed-in rater.
public struct Rater: Sendable, Equatable {
    public let id: Int64
    public let name: String
}

/// A comparison as one rater sees it: responses already placed left and right.
public struct ShownItem: Sendable, Equatable {
    public let id: Int64
    public let prompt: String
    public let left: String
    public let right: String
    public let aOnLeft: Bool
}

/// A comparison to add: a prompt, two responses and, for a honeypot, the known answer.
public struct NewItem: Sendable, Equatable {
    public var prompt: String
    public var responseA: String
    public var responseB: String
    public var gold: Choice?
    public init(prompt: String, responseA: String, responseB: String, gold: Choice? = nil) {
        self.prompt = prompt; self.responseA = responseA; self.responseB = responseB; self.gold = gold
    }
}

/// One stored vote with the comparison it answers (for statistics and export).
public struct VoteRow: Sendable, Equatable {
    public let itemID: Int64
    public let rater: String
    public let choice: Choice
    public let prompt: String
    public let responseA: String
    public let responseB: String
    public let gold: Choice?
    public let reason: String
    public let createdAt: String
}

/// What happened to a submitted vote.
public enum VoteOutcome: Sendable, Equatable {
    /// Stored now.
    case recorded
    /// The rater had already answered this comparison; the first answer stands.
    case duplicate
}

/// Every read and write of the labeling data. Each method is one transaction (`importItems`, one
/// per chunk of items).
public struct LabelStore: Sendable {
    public let db: DatabasePool
    /// How long an unanswered assignment holds one of an item's K places before the item may go
    /// to someone else (a rater who closes the tab must not block the item forever).
    public var assignmentTimeout: TimeInterval = 30 * 60
    /// How long a browser session lasts.
    public var sessionLifetime: TimeInterval = 12 * 3600

    public init(db: DatabasePool) { self.db = db }

    // MARK: raters and sessions

    /// Adds a rater and returns the sign-in token; only its SHA-256 is stored, so this is the
    /// only time anyone sees it.
    public func addRater(name: String) throws -> String {
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw LabelError.invalidName("empty") }
        guard trimmed.count <= 100 else { throw LabelError.invalidName("longer than 100 characters") }
        // `raters` and `stats` print one name per line, and a name is typed again for new-token.
        // Control characters only (Cc, and the line and paragraph separators): format characters
        // such as the zero-width non-joiner belong to ordinary names (Persian, emoji sequences).
        guard !trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0 == "\u{2028}" || $0 == "\u{2029}" }) else {
            throw LabelError.invalidName("contains a control character (a newline, tab or NUL)")
        }
        let token = Secrets.randomToken()
        let hash = Secrets.sha256Hex(token)
        try db.write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM rater WHERE name = ?", arguments: [trimmed]) == true {
                throw LabelError.raterExists(trimmed)
            }
            try db.execute(sql: "INSERT INTO rater (name, token_sha256) VALUES (?, ?)", arguments: [trimmed, hash])
        }
        return token
    }

    /// Gives a rater a new sign-in token in place of a lost or leaked one, and ends their
    /// sessions; their votes stay theirs. Returns the token (only its hash is kept).
    public func newToken(forRater name: String) throws -> String {
        let name = name.trimmingCharacters(in: .whitespacesAndNewlines)  // as `addRater` stored it
        let token = Secrets.randomToken()
        try db.write { db in
            guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM rater WHERE name = ?", arguments: [name]) else {
                throw LabelError.noSuchRater(name)
            }
            try db.execute(sql: "UPDATE rater SET token_sha256 = ? WHERE id = ?", arguments: [Secrets.sha256Hex(token), id])
            try db.execute(sql: "DELETE FROM session WHERE rater_id = ?", arguments: [id])
        }
        return token
    }

    /// The rater whose token this is, if any.
    public func rater(token: String) async throws -> Rater? {
        let hash = Secrets.sha256Hex(token)
        return try await db.read { db in
            try Row.fetchOne(db, sql: "SELECT id, name FROM rater WHERE token_sha256 = ?", arguments: [hash])
                .map { Rater(id: $0["id"], name: $0["name"]) }
        }
    }

    /// All raters, by id.
    public func raters() throws -> [Rater] {
        try db.read { db in
            try Row.fetchAll(db, sql: "SELECT id, name FROM rater ORDER BY id").map { Rater(id: $0["id"], name: $0["name"]) }
        }
    }

    /// Starts a browser session; returns the session id (for the cookie) and its CSRF token.
    public func createSession(rater: Rater) async throws -> (id: String, csrf: String) {
        let id = Secrets.randomToken(), csrf = Secrets.randomToken()
        let expires = Self.timestamp(Date().addingTimeInterval(sessionLifetime))
        try await db.write { db in
            try db.execute(sql: "DELETE FROM session WHERE expires_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now')")
            try db.execute(sql: "INSERT INTO session (id_sha256, rater_id, csrf_token, expires_at) VALUES (?, ?, ?, ?)",
                           arguments: [Secrets.sha256Hex(id), rater.id, csrf, expires])
        }
        return (id, csrf)
    }

    /// The rater and CSRF token of a live session.
    public func session(id: String) async throws -> (rater: Rater, csrf: String)? {
        let hash = Secrets.sha256Hex(id)
        return try await db.read { db in
            try Row.fetchOne(db, sql: """
                SELECT r.id, r.name, s.csrf_token FROM session s JOIN rater r ON r.id = s.rater_id
                WHERE s.id_sha256 = ? AND s.expires_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                """, arguments: [hash]).map { row -> (rater: Rater, csrf: String) in
                    (Rater(id: row["id"], name: row["name"]), row["csrf_token"])
                }
        }
    }

    /// Ends a session (sign-out).
    public func deleteSession(id: String) async throws {
        try await db.write { db in
            try db.execute(sql: "DELETE FROM session WHERE id_sha256 = ?", arguments: [Secrets.sha256Hex(id)])
        }
    }

    // MARK: items

    /// Items per write transaction: a running server's votes wait for the write lock (up to the
    /// busy timeout) only as long as one chunk takes, not the whole import. An import stopped
    /// part way is completed by importing the file again (duplicates are skipped).
    static let importChunk = 500

    /// Adds comparisons, `importChunk` to a transaction; ones already imported (same prompt and
    /// responses, in either order: (B, A) is the comparison (A, B) is) are skipped, and stay as
    /// they were. Returns how many were new, how many were skipped, and how many of those came
    /// with a gold answer the existing item does not have (an admin who re-imports pairs as
    /// honeypots must hear that they did not become honeypots).
    @discardableResult
    public func importItems(_ items: [NewItem]) throws -> (added: Int, skipped: Int, goldNotApplied: Int) {
        var total = (added: 0, skipped: 0, goldNotApplied: 0)
        for start in stride(from: 0, to: items.count, by: Self.importChunk) {
            let r = try importChunk(items[start..<min(start + Self.importChunk, items.count)])
            total.added += r.added; total.skipped += r.skipped; total.goldNotApplied += r.goldNotApplied
        }
        return total
    }

    private func importChunk(_ items: ArraySlice<NewItem>) throws -> (added: Int, skipped: Int, goldNotApplied: Int) {
        try db.write { db in
            var added = 0, goldNotApplied = 0
            /// The gold answer of the imported item with these texts in this order: nil when there
            /// is no such item, .some(nil) when it has no gold answer.
            func existingGold(_ a: String, _ b: String, of prompt: String) throws -> Choice?? {
                guard let row = try Row.fetchOne(db, sql: "SELECT gold FROM item WHERE source = 'import' AND prompt = ? AND response_a = ? AND response_b = ?",
                                                 arguments: [prompt, a, b]) else { return nil }
                return .some((row["gold"] as String?).flatMap(Choice.init(rawValue:)))
            }
            for item in items {
                // The same order first (a database from before reversed pairs were caught may
                // hold both orders), then the other way round, its gold answer seen from this order.
                if let same = try existingGold(item.responseA, item.responseB, of: item.prompt) {
                    if let gold = item.gold, same != gold { goldNotApplied += 1 }
                    continue
                }
                if let reversed = try existingGold(item.responseB, item.responseA, of: item.prompt) {
                    if let gold = item.gold, reversed?.swappingSides != gold { goldNotApplied += 1 }
                    continue
                }
                try db.execute(sql: "INSERT INTO item (prompt, response_a, response_b, source, gold) VALUES (?, ?, ?, 'import', ?)",
                               arguments: [item.prompt, item.responseA, item.responseB, item.gold?.rawValue])
                added += 1
            }
            return (added, items.count - added, goldNotApplied)
        }
    }

    /// Stores a comparison a rater asked for in chat mode and assigns it to that rater only.
    public func addChatItem(rater: Rater, prompt: String, responseA: String, responseB: String, aOnLeft: Bool) async throws -> Int64 {
        try await db.write { db in
            try db.execute(sql: "INSERT INTO item (prompt, response_a, response_b, source, owner_rater_id) VALUES (?, ?, ?, 'chat', ?)",
                           arguments: [prompt, responseA, responseB, rater.id])
            let id = db.lastInsertedRowID
            try db.execute(sql: "INSERT INTO assignment (item_id, rater_id, a_on_left) VALUES (?, ?, ?)",
                           arguments: [id, rater.id, aOnLeft])
            return id
        }
    }

    /// The comparison this rater should answer now: an open assignment (newest first, so a chat
    /// item comes up at once), else a new one. A new ordinary item is one the rater has never been
    /// given, with fewer than `overlap` answers plus live assignments; items nearest to complete
    /// come first, so overlapping answers (which agreement statistics need) accumulate early.
    /// Gold items go to every rater: one comes when `preferGold` is set (the server sets it at
    /// random, so honeypots are spread among ordinary items) or when no ordinary item is left.
    /// `aOnLeft` decides the side of response A for a new assignment; it is recorded.
    public func nextItem(for rater: Rater, overlap: Int, aOnLeft: Bool, preferGold: Bool = false) async throws -> ShownItem? {
        // Most page loads find an open assignment: answer those from a read transaction, which
        // runs beside other readers instead of queueing behind every vote.
        if let open = try await db.read({ db in try Self.openAssignment(db, rater: rater) }) { return open }
        let cutoff = Self.timestamp(Date().addingTimeInterval(-assignmentTimeout))
        return try await db.write { db in
            if let open = try Self.openAssignment(db, rater: rater) { return open }
            let gold = try Int64.fetchOne(db, sql: """
                SELECT i.id FROM item i WHERE i.source = 'import' AND i.gold IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM assignment a WHERE a.item_id = i.id AND a.rater_id = ?)
                ORDER BY i.id LIMIT 1
                """, arguments: [rater.id])
            var pick: Int64? = preferGold ? gold : nil
            // One index range per answer count, fullest first; each walks items in id order.
            var answers = overlap - 1
            while pick == nil && answers >= 0 {
                pick = try Int64.fetchOne(db, sql: """
                    SELECT i.id FROM item i
                    WHERE i.source = 'import' AND i.gold IS NULL AND i.vote_count = ?
                      AND NOT EXISTS (SELECT 1 FROM assignment a WHERE a.item_id = i.id AND a.rater_id = ?)
                      AND i.vote_count + (SELECT COUNT(*) FROM assignment a WHERE a.item_id = i.id AND a.assigned_at > ?
                            AND NOT EXISTS (SELECT 1 FROM vote v WHERE v.item_id = a.item_id AND v.rater_id = a.rater_id)) < ?
                    ORDER BY i.id LIMIT 1
                    """, arguments: [answers, rater.id, cutoff, overlap])
                answers -= 1
            }
            guard let id = pick ?? gold else { return nil }
            try db.execute(sql: "INSERT INTO assignment (item_id, rater_id, a_on_left) VALUES (?, ?, ?)",
                           arguments: [id, rater.id, aOnLeft])
            return try Self.shown(db, item: id, aOnLeft: aOnLeft)
        }
    }

    private static func openAssignment(_ db: Database, rater: Rater) throws -> ShownItem? {
        guard let open = try Row.fetchOne(db, sql: """
            SELECT a.item_id, a.a_on_left FROM assignment a
            WHERE a.rater_id = ? AND NOT EXISTS (SELECT 1 FROM vote v WHERE v.item_id = a.item_id AND v.rater_id = a.rater_id)
            ORDER BY a.id DESC LIMIT 1
            """, arguments: [rater.id]) else { return nil }
        return try shown(db, item: open["item_id"], aOnLeft: open["a_on_left"])
    }

    private static func shown(_ db: Database, item: Int64, aOnLeft: Bool) throws -> ShownItem? {
        guard let row = try Row.fetchOne(db, sql: "SELECT prompt, response_a, response_b FROM item WHERE id = ?", arguments: [item]) else {
            return nil
        }
        let a: String = row["response_a"], b: String = row["response_b"]
        return ShownItem(id: item, prompt: row["prompt"], left: aOnLeft ? a : b, right: aOnLeft ? b : a, aOnLeft: aOnLeft)
    }

    /// How many comparisons the rater has answered, and how many more are open to them: their
    /// open assignments, gold items not yet given to them, and ordinary items short of `overlap`
    /// answers that they have not been given (an upper bound: others' live assignments may fill
    /// some of those first).
    public func progress(for rater: Rater, overlap: Int) async throws -> (done: Int, remaining: Int) {
        try await db.read { db in
            let done = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM vote WHERE rater_id = ?", arguments: [rater.id]) ?? 0
            let open = try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM assignment a WHERE a.rater_id = ?
                  AND NOT EXISTS (SELECT 1 FROM vote v WHERE v.item_id = a.item_id AND v.rater_id = a.rater_id)
                """, arguments: [rater.id]) ?? 0
            let unfinished = try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(n), 0) FROM item_count_by_votes WHERE vote_count < ?",
                                              arguments: [overlap]) ?? 0
            let unfinishedMine = try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM assignment a JOIN item i ON i.id = a.item_id
                WHERE a.rater_id = ? AND i.source = 'import' AND i.gold IS NULL AND i.vote_count < ?
                """, arguments: [rater.id, overlap]) ?? 0
            let gold = try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM item i WHERE i.source = 'import' AND i.gold IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM assignment a WHERE a.item_id = i.id AND a.rater_id = ?)
                """, arguments: [rater.id]) ?? 0
            return (done, open + unfinished - unfinishedMine + gold)
        }
    }

    // MARK: votes

    /// Records the rater's answer to an item assigned to them, committed before this returns.
    /// `side` is what was clicked: "left", "right", "tie" or "both_bad". A second answer to the
    /// same item is ignored (the unique constraint decides, so two racing submits count once).
    /// An answer to an assignment that outlived `assignmentTimeout` is still taken, even if the
    /// item has meanwhile reached `overlap` answers from others: losing a rater's work would be
    /// worse than one extra answer.
    public func recordVote(rater: Rater, itemID: Int64, side: String, reason: String) async throws -> VoteOutcome {
        try await db.write { db in
            guard let aOnLeft = try Bool.fetchOne(db, sql: "SELECT a_on_left FROM assignment WHERE item_id = ? AND rater_id = ?",
                                                  arguments: [itemID, rater.id]) else {
                throw LabelError.notAssigned(item: itemID)
            }
            guard let choice = Choice(side: side, aOnLeft: aOnLeft) else {
                throw LabelFormError("field \"choice\" must be left, right, tie or both_bad")
            }
            try db.execute(sql: """
                INSERT INTO vote (item_id, rater_id, choice, a_on_left, reason) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (item_id, rater_id) DO NOTHING
                """, arguments: [itemID, rater.id, choice.rawValue, aOnLeft, reason])
            guard db.changesCount == 1 else { return .duplicate }
            try db.execute(sql: "UPDATE item SET vote_count = vote_count + 1 WHERE id = ?", arguments: [itemID])
            return .recorded
        }
    }

    /// The comparison of the rater's most recent answer, or nil before their first.
    public func lastVotedItem(rater: Rater) async throws -> Int64? {
        try await db.read { db in try Self.lastVotedItem(db, rater: rater) }
    }

    private static func lastVotedItem(_ db: Database, rater: Rater) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT item_id FROM vote WHERE rater_id = ? ORDER BY id DESC LIMIT 1", arguments: [rater.id])
    }

    /// Takes back the rater's most recent answer (a slip of a key, a second thought), if it is
    /// the answer to `item` (the one the page offered to undo): the vote is deleted, its item
    /// counts one answer fewer, and the item comes up again at once on the same sides (its
    /// assignment becomes the rater's newest open one). A repeated request (a double click, a
    /// retry) then finds another newest answer and takes back nothing, as a vote submitted twice
    /// counts once; the page after an undo offers the answer before. Returns the item's id, or
    /// nil when nothing was taken back.
    public func undoLastVote(rater: Rater, item expected: Int64) async throws -> Int64? {
        try await db.write { db in
            guard let item = try Self.lastVotedItem(db, rater: rater), item == expected else { return nil }
            try db.execute(sql: "DELETE FROM vote WHERE item_id = ? AND rater_id = ?", arguments: [item, rater.id])
            try db.execute(sql: "UPDATE item SET vote_count = vote_count - 1 WHERE id = ?", arguments: [item])
            // The newest open assignment is the one shown: renumbering this one (and renewing its
            // time, so nobody else is given the item meanwhile) puts it before any the rater had open.
            try db.execute(sql: """
                UPDATE assignment SET id = (SELECT MAX(id) + 1 FROM assignment),
                                      assigned_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                WHERE item_id = ? AND rater_id = ?
                """, arguments: [item, rater.id])
            return item
        }
    }

    /// How far the ordinary comparisons (imported, not gold) are toward `overlap` answers each.
    public func overlapProgress(overlap: Int) throws -> OverlapProgress {
        try db.read { db in
            let row = try Row.fetchOne(db, sql: """
                SELECT COUNT(*) AS items, COALESCE(SUM(vote_count >= ?), 0) AS complete, COALESCE(SUM(MAX(0, ? - vote_count)), 0) AS needed
                FROM item WHERE source = 'import' AND gold IS NULL
                """, arguments: [overlap, overlap])!
            return OverlapProgress(target: overlap, items: row["items"], complete: row["complete"], answersNeeded: row["needed"])
        }
    }

    /// Every vote with its comparison, oldest first.
    public func allVotes() throws -> [VoteRow] {
        try db.read { db in
            try Row.fetchAll(db, sql: """
                SELECT v.item_id, r.name, v.choice, v.reason, v.created_at, i.prompt, i.response_a, i.response_b, i.gold
                FROM vote v JOIN rater r ON r.id = v.rater_id JOIN item i ON i.id = v.item_id
                ORDER BY v.id
                """).map { row in
                VoteRow(itemID: row["item_id"], rater: row["name"], choice: Choice(rawValue: row["choice"])!,
                        prompt: row["prompt"], responseA: row["response_a"], responseB: row["response_b"],
                        gold: (row["gold"] as String?).flatMap(Choice.init(rawValue:)),
                        reason: row["reason"], createdAt: row["created_at"])
            }
        }
    }

    /// Number of comparisons stored (imported and chat).
    public func itemCount() throws -> Int {
        try db.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM item") ?? 0 }
    }

    static func timestamp(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: date)
    }
}

/// A form or request field that is missing or wrong; becomes a 400 naming the field.
public struct LabelFormError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
