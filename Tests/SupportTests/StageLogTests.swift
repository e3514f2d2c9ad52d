import XCTest
@testable import Support

final class StageLogTests: XCTestCase {
    /// A clock the test moves by hand.
    final class Clock: @unchecked Sendable {
        var t = Date(timeIntervalSince1970: 1_000_000)
        func advance(_ seconds: Double) { t = t.addingTimeInterval(seconds) }
    }

    func folder() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stagelog-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    func testInterruptedAttemptsAddUp() throws {
        let url = try folder().appendingPathComponent("stages.json")
        let clock = Clock()
        // The first run: pretraining finishes in 100 s, PPO runs 30 s and the process is killed
        // after the heartbeat wrote (no finish, no deinit write).
        do {
            let log = try StageLog(url, resuming: false, heartbeat: 0, now: { clock.t })
            log.begin("pretrain"); clock.advance(100)
            XCTAssertEqual(try log.finish("pretrain"), 100)
            log.begin("ppo"); clock.advance(30)
            try log.flush()
        }
        // The second run: PPO is interrupted again after 20 s more.
        do {
            let log = try StageLog(url, resuming: true, heartbeat: 0, now: { clock.t })
            XCTAssertEqual(log.seconds("pretrain"), 100)
            XCTAssertNil(log.seconds("ppo"))
            XCTAssertEqual(log.interruptedSeconds("ppo"), 30)
            log.begin("ppo"); clock.advance(20)
            try log.flush()
        }
        // The third run finishes PPO in 40 s: 30 + 20 + 40.
        let log = try StageLog(url, resuming: true, heartbeat: 0, now: { clock.t })
        XCTAssertEqual(log.interruptedSeconds("ppo"), 50)
        log.begin("ppo"); clock.advance(40)
        XCTAssertEqual(try log.finish("ppo"), 90)
        XCTAssertEqual(log.interruptedSeconds("ppo"), 0)
        let reread = try StageLog(url, resuming: true, now: { clock.t })
        XCTAssertEqual(reread.seconds("ppo"), 90)
        XCTAssertEqual(reread.seconds("pretrain"), 100)
        XCTAssertEqual(reread.interruptedSeconds("ppo"), 0)
    }

    func testAContinuedStageAddsToItsFirstRun() throws {
        let url = try folder().appendingPathComponent("stages.json")
        let clock = Clock()
        do {
            let log = try StageLog(url, resuming: false, heartbeat: 0, now: { clock.t })
            log.begin("twin"); clock.advance(50)
            try log.finish("twin")
        }
        // Continued to more iterations, interrupted after 25 s of it.
        do {
            let log = try StageLog(url, resuming: true, heartbeat: 0, now: { clock.t })
            log.begin("twin"); clock.advance(25)
            try log.flush()
        }
        // Continued again: 50 + 25 + 10. Until it finishes, the first run's time stands.
        let log = try StageLog(url, resuming: true, heartbeat: 0, now: { clock.t })
        XCTAssertEqual(log.seconds("twin"), 50)
        log.begin("twin"); clock.advance(10)
        XCTAssertEqual(try log.finish("twin", after: 50), 85)
        // Loading a finished stage again costs it nothing.
        let again = try StageLog(url, resuming: true, heartbeat: 0, now: { clock.t })
        again.begin("twin"); clock.advance(3)
        XCTAssertEqual(try again.finish("twin", after: 85, countingThisAttempt: false), 85)
    }

    func testReadsTheOlderFormatAndNamesABadFile() throws {
        let dir = try folder()
        let old = dir.appendingPathComponent("old.json")
        try Data(#"{"pretrain": 171.5, "sft": 20}"#.utf8).write(to: old)
        let log = try StageLog(old, resuming: true)
        XCTAssertEqual(log.seconds("pretrain"), 171.5)
        XCTAssertEqual(log.seconds("sft"), 20)
        XCTAssertEqual(log.interruptedSeconds("sft"), 0)
        // A fresh log ignores what the file holds.
        XCTAssertNil(try StageLog(old, resuming: false).seconds("pretrain"))
        let bad = dir.appendingPathComponent("bad.json")
        try Data(#"{"pretrain": "fast"}"#.utf8).write(to: bad)
        XCTAssertThrowsError(try StageLog(bad, resuming: true)) { e in
            XCTAssertTrue("\(e)".hasPrefix("\(bad.path): expected {\"finished\""), "\(e)")
        }
    }

    func testTheHeartbeatWritesARunningStage() throws {
        let url = try folder().appendingPathComponent("stages.json")
        let log = try StageLog(url, resuming: false, heartbeat: 0.01)
        log.begin("sft")
        // Wait for a beat (generously: this checks that it comes, not how soon).
        var seen = 0.0
        for _ in 0..<500 where seen == 0 {
            Thread.sleep(forTimeInterval: 0.01)
            seen = (try? StageLog(url, resuming: true, heartbeat: 0))?.interruptedSeconds("sft") ?? 0
        }
        XCTAssertGreaterThan(seen, 0)
        try log.finish("sft")
        let done = try StageLog(url, resuming: true, heartbeat: 0)
        XCTAssertNotNil(done.seconds("sft"))
        XCTAssertEqual(done.interruptedSeconds("sft"), 0)
    }
}
