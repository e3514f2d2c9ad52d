import Foundation
import GRDB

/// The labeling database: one SQLite file in WAL mode, opened through a GRDB pool so pages read
/// while a vote is being written, with the schema brought up to date by migrations on open.
public enum LabelDatabase {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    public static func open(path: String) throws -> DatabasePool {
        try checkIsLabelDatabase(path)
        var config = Configuration()
        // A CLI command (import, add-rater) may write while the server runs: wait for the lock
        // instead of failing at once.
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            // FULL: a commit is on disk (WAL fsynced) before the write returns, so a vote the
            // server acknowledged survives a crash of the process and of the machine.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA foreign_keys = ON")
        }
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: config)
        } catch {
            throw LabelError.database(path: path, message: "\(error)")
        }
        try migrator.migrate(pool)
        return pool
    }

    /// Opening a pool turns a file to WAL mode and migrating adds tables: done to another
    /// program's SQLite file (a mistyped --db), that would change it. So an existing file with
    /// tables must already be a label database (its first migration applied); it is read-only
    /// until then.
    static func checkIsLabelDatabase(_ path: String) throws {
        func size(_ p: String) -> Int { (try? FileManager.default.attributesOfItem(atPath: p))?[.size] as? Int ?? 0 }
        // An empty file is a new database, unless a write-ahead log lies beside it: SQLite would
        // drop that log on open (seen), and it is not ours, since ours write the main file first.
        if size(path) == 0 {
            guard size(path + "-wal") == 0 else {
                throw LabelError.database(path: path, message: "is empty but \(path)-wal holds \(size(path + "-wal")) bytes of another database; not opened, so that log is kept")
            }
            return
        }
        var config = Configuration()
        config.readonly = true
        let tables: [String], migrations: [String]
        do {
            let queue = try DatabaseQueue(path: path, configuration: config)
            (tables, migrations) = try queue.read { db in
                let t = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")
                let m = t.contains("grdb_migrations") ? try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") : []
                return (t, m)
            }
        } catch {
            throw LabelError.database(path: path, message: "not an SQLite database, or unreadable (\(error))")
        }
        guard tables.isEmpty || migrations.contains(firstMigration) else {
            throw LabelError.database(path: path, message: "is an SQLite file of another program (tables: \(tables.prefix(5).joined(separator: ", "))), not a label database; left untouched")
        }
    }

    static let firstMigration = "v1: raters, sessions, items, assignments, votes"

    /// The schema's history. A migration, once released, is never edited: add a new one.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration(firstMigration) { db in
            try db.execute(sql: """
                CREATE TABLE rater (
                    id INTEGER PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    token_sha256 TEXT NOT NULL UNIQUE,
                    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                );
                CREATE TABLE session (
                    id_sha256 TEXT PRIMARY KEY,
                    rater_id INTEGER NOT NULL REFERENCES rater(id) ON DELETE CASCADE,
                    csrf_token TEXT NOT NULL,
                    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                    expires_at TEXT NOT NULL
                );
                -- One comparison: a prompt and two responses. `source` is 'import' or 'chat'; a
                -- chat item belongs to the rater who typed its prompt. `gold` is the known answer
                -- of a honeypot item ('a', 'b', 'tie', 'both_bad'), NULL for ordinary items.
                CREATE TABLE item (
                    id INTEGER PRIMARY KEY,
                    prompt TEXT NOT NULL,
                    response_a TEXT NOT NULL,
                    response_b TEXT NOT NULL,
                    source TEXT NOT NULL CHECK (source IN ('import', 'chat')),
                    owner_rater_id INTEGER REFERENCES rater(id),
                    gold TEXT CHECK (gold IN ('a', 'b', 'tie', 'both_bad')),
                    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                );
                -- Re-importing a file adds nothing twice.
                CREATE UNIQUE INDEX item_imported_once ON item(prompt, response_a, response_b) WHERE source = 'import';
                -- An item shown to a rater, with the side response A was shown on.
                CREATE TABLE assignment (
                    id INTEGER PRIMARY KEY,
                    item_id INTEGER NOT NULL REFERENCES item(id),
                    rater_id INTEGER NOT NULL REFERENCES rater(id),
                    a_on_left INTEGER NOT NULL CHECK (a_on_left IN (0, 1)),
                    assigned_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                    UNIQUE (item_id, rater_id)
                );
                -- A rater's answer, in terms of responses A and B (not screen sides). The unique
                -- constraint makes a double-submitted vote count once.
                CREATE TABLE vote (
                    id INTEGER PRIMARY KEY,
                    item_id INTEGER NOT NULL REFERENCES item(id),
                    rater_id INTEGER NOT NULL REFERENCES rater(id),
                    choice TEXT NOT NULL CHECK (choice IN ('a', 'b', 'tie', 'both_bad')),
                    a_on_left INTEGER NOT NULL CHECK (a_on_left IN (0, 1)),
                    reason TEXT NOT NULL DEFAULT '',
                    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                    UNIQUE (item_id, rater_id)
                );
                CREATE INDEX vote_by_rater ON vote(rater_id);
                CREATE INDEX assignment_by_rater ON assignment(rater_id);
                """)
        }
        m.registerMigration("v2: answers counted per item") { db in
            // Choosing a rater's next item scanned every item and every assignment (45 ms at 20k
            // items, inside the single write transaction). A per-item answer count, kept in the
            // vote's transaction, lets that choice walk an index of the unfinished items only;
            // gold items get an index of their own for the same reason.
            try db.execute(sql: """
                ALTER TABLE item ADD COLUMN vote_count INTEGER NOT NULL DEFAULT 0;
                UPDATE item SET vote_count = (SELECT COUNT(*) FROM vote WHERE vote.item_id = item.id);
                CREATE INDEX item_open_by_votes ON item(vote_count, id) WHERE source = 'import' AND gold IS NULL;
                CREATE INDEX item_gold ON item(id) WHERE source = 'import' AND gold IS NOT NULL;
                -- How many ordinary items have each answer count, kept by triggers, so a page's
                -- "left for you" reads a few rows instead of counting every unfinished item.
                CREATE TABLE item_count_by_votes (vote_count INTEGER PRIMARY KEY, n INTEGER NOT NULL);
                INSERT INTO item_count_by_votes
                    SELECT vote_count, COUNT(*) FROM item WHERE source = 'import' AND gold IS NULL GROUP BY vote_count;
                CREATE TRIGGER item_counted AFTER INSERT ON item WHEN NEW.source = 'import' AND NEW.gold IS NULL BEGIN
                    INSERT OR IGNORE INTO item_count_by_votes VALUES (NEW.vote_count, 0);
                    UPDATE item_count_by_votes SET n = n + 1 WHERE vote_count = NEW.vote_count;
                END;
                CREATE TRIGGER item_recounted AFTER UPDATE OF vote_count ON item WHEN NEW.source = 'import' AND NEW.gold IS NULL BEGIN
                    UPDATE item_count_by_votes SET n = n - 1 WHERE vote_count = OLD.vote_count;
                    INSERT OR IGNORE INTO item_count_by_votes VALUES (NEW.vote_count, 0);
                    UPDATE item_count_by_votes SET n = n + 1 WHERE vote_count = NEW.vote_count;
                END;
                """)
        }
        return m
    }
}
