import XCTest
@testable import Support

final class StageLogTests: XCTestCase {
    /// A clock the test moves by hand.
    final class Clock: @unchecked Sendable {
        private let lock = NSLock()
        private var t = Date(timeIntervalSince1970: 1_000_000)
        var now: Date { lock.withLock { t } }
        func advance(_ seconds: Double) { lock.withLock { t = t.addingTimeInterval(seconds) } }
    }

    func file() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stagelog-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir.appendingPathComponent("stages.json")
    }

    /// A process killed after its last heartbeat: the log is dropped without a write of its own.
    func killed(_ body: (StageLog) throws -> Void, _ url: URL, _ clock: Clock, resuming: Bool = true) throws {
        let log = try StageLog(url, resuming: resuming, heartbeat: 0, now: { clock.now })
        try body(log)
        try log.flush()
    }

    func testInterruptedAttemptsAddUp() throws {
        let url = try file(), clock = Clock()
        // Pretraining finishes in 100 s; PPO runs 30 s, and the process is killed.
        try killed({ log in
            log.begin("pretrain"); clock.advance(100)
            XCTAssertEqual(try log.finish("pretrain"), 100)
            log.begin("ppo"); clock.advance(30)
        }, url, clock, resuming: false)
        // Resumed, PPO is killed again 20 s on.
        try killed({ log in
            XCTAssertEqual(log.seconds("pretrain"), 100)
            XCTAssertNil(log.seconds("ppo"))
            XCTAssertEqual(log.interruptedSeconds("ppo"), 30)
            log.begin("ppo"); clock.advance(20)
        }, url, clock)
        // The third run finishes it in 40 s: 30 + 20 + 40. Pretraining, only loaded, keeps its time.
        let log = try StageLog(url, resuming: true, heartbeat: 0, now: { clock.now })
        XCTAssertEqual(log.interruptedSeconds("ppo"), 50)
        log.begin("ppo"); clock.advance(40)
        XCTAssertEqual(try log.finish("ppo"), 90)
        XCTAssertEqual(try log.finish("pretrain"), 100)
        let reread = try StageLog(url, resuming: true, now: { clock.now })
        XCTAssertEqual(reread.seconds("ppo"), 90)
        XCTAssertEqual(reread.seconds("pretrain"), 100)
        XCTAssertEqual(reread.interruptedSeconds("ppo"), 0)
    }

    func testAContinuedStageAddsToItsFirstRun() throws {
        let url = try file(), clock = Clock()
        try killed({ log in
            log.begin("twin"); clock.advance(50)
            try log.finish("twin")
            // Continued to more iterations, and killed 25 s into that.
            log.begin("twin"); clock.advance(25)
        }, url, clock, resuming: false)
        // Until it finishes again, the first run's time stands.
        try killed({ log in
            XCTAssertEqual(log.seconds("twin"), 50)
            XCTAssertEqual(log.interruptedSeconds("twin"), 25)
            log.begin("twin"); clock.advance(10)
            XCTAssertEqual(try log.finish("twin"), 85)
        }, url, clock)
        // Loaded again later (not begun), it keeps 85 s, however long the loading takes.
        let log = try StageLog(url, resuming: true, heartbeat: 0, now: { clock.now })
        clock.advance(3)
        XCTAssertEqual(try log.finish("twin"), 85)
    }

    func testAFailedAttemptStopsCounting() throws {
        let url = try file(), clock = Clock()
        let log = try StageLog(url, resuming: false, heartbeat: 0, now: { clock.now })
        log.begin("grpo"); log.begin("rloo")
        clock.advance(10)
        log.abandon("grpo")
        // The other lane runs on; grpo's 10 s do not grow.
        clock.advance(80)
        try log.finish("rloo")
        let reread = try StageLog(url, resuming: true, heartbeat: 0, now: { clock.now })
        XCTAssertEqual(reread.interruptedSeconds("grpo"), 10)
        XCTAssertNil(reread.seconds("grpo"))
        XCTAssertEqual(reread.seconds("rloo"), 90)
    }

    func testRunFinishesOrAbandons() throws {
        let url = try file(), clock = Clock()
        let log = try StageLog(url, resuming: false, heartbeat: 0, now: { clock.now })
        struct Failure: Error {}
        XCTAssertThrowsError(try log.run("dpo") { clock.advance(7); throw Failure() })
        clock.advance(100)  // what the other lane does next is not dpo's time
        let (value, seconds) = try log.run("dpo") { clock.advance(5); return 42 }
        XCTAssertEqual(value, 42)
        XCTAssertEqual(seconds, 12)
        // Not begun here: only loaded, it keeps its time.
        XCTAssertEqual(try log.run("dpo", beginning: false) { clock.advance(9) }.seconds, 12)
    }

    func testTwoLanesAtOnce() throws {
        let url = try file()
        let log = try StageLog(url, resuming: false, heartbeat: 0.001)
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            for j in 0..<20 {
                log.begin("stage \(i).\(j)")
                do { try log.finish("stage \(i).\(j)") } catch { XCTFail("\(error)") }
            }
        }
        let reread = try StageLog(url, resuming: true, heartbeat: 0)
        for i in 0..<8 { for j in 0..<20 { XCTAssertNotNil(reread.seconds("stage \(i).\(j)")) } }
    }

    func testReadsTheOlderFormatAndNamesABadFile() throws {
        let url = try file(), dir = url.deletingLastPathComponent()
        let old = dir.appendingPathComponent("old.json")
        try Data(#"{"pretrain": 171.5, "sft": 20}"#.utf8).write(to: old)
        let log = try StageLog(old, resuming: true)
        XCTAssertEqual(log.seconds("pretrain"), 171.5)
        XCTAssertEqual(log.seconds("sft"), 20)
        XCTAssertEqual(log.interruptedSeconds("sft"), 0)
        // A fresh log ignores what the file holds.
        XCTAssertNil(try StageLog(old, resuming: false).seconds("pretrain"))
        // Either part may be missing.
        let half = dir.appendingPathComponent("half.json")
        try Data(#"{"interrupted": {"sft": 4}}"#.utf8).write(to: half)
        XCTAssertEqual(try StageLog(half, resuming: true).interruptedSeconds("sft"), 4)
        let bad = dir.appendingPathComponent("bad.json")
        try Data(#"{"finished": {"pretrain": "fast"}}"#.utf8).write(to: bad)
        XCTAssertThrowsError(try StageLog(bad, resuming: true)) { e in
            XCTAssertTrue("\(e)".hasPrefix("\(bad.path): expected {\"finished\""), "\(e)")
        }
    }

    func testTheHeartbeatWritesARunningStage() throws {
        let url = try file()
        let log = try StageLog(url, resuming: false, heartbeat: 0.01)
        log.begin("sft")
        // This checks that a beat comes, not how soon: a loaded machine may delay it.
        let deadline = Date().addingTimeInterval(30)
        var seen = 0.0
        while seen == 0 && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.01)
            if FileManager.default.fileExists(atPath: url.path) {
                seen = try StageLog(url, resuming: true, heartbeat: 0).interruptedSeconds("sft")
            }
        }
        XCTAssertGreaterThan(seen, 0)
        try log.finish("sft")
        let done = try StageLog(url, resuming: true, heartbeat: 0)
        XCTAssertNotNil(done.seconds("sft"))
        XCTAssertEqual(done.interruptedSeconds("sft"), 0)
    }
}
