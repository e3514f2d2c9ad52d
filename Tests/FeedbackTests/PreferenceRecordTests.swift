import XCTest
import Feedback
import Support

final class PreferenceRecordTests: XCTestCase {
    func testImplicitPromptIsTheSharedStartAsTRLReadsIt() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("implicit-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: url) }
        try """
        {"chosen": "\\n\\nHuman: Is the sky blue?\\n\\nAssistant: Yes, it is.", "rejected": "\\n\\nHuman: Is the sky blue?\\n\\nAssistant: No."}
        {"chosen": "The sky is blue.", "rejected": "The sky is green."}
        {"prompt": "Q:", "chosen": " a", "rejected": " b", "rater": "r1"}

        """.write(to: url, atomically: true, encoding: .utf8)
        let r = try JSONL.read(PreferenceRecord.self, from: url)
        // The space before the first difference starts both responses.
        XCTAssertEqual(r[0].prompt, "\n\nHuman: Is the sky blue?\n\nAssistant:")
        XCTAssertEqual(r[0].chosen, " Yes, it is.")
        XCTAssertEqual(r[0].rejected, " No.")
        XCTAssertTrue(r[0].promptWasImplicit)
        // TRL's own example of the format.
        XCTAssertEqual(r[1].prompt, "The sky is")
        XCTAssertEqual(r[1].chosen, " blue.")
        XCTAssertEqual(r[1].rejected, " green.")
        XCTAssertEqual(r[2], PreferenceRecord(prompt: "Q:", chosen: " a", rejected: " b", rater: "r1"))
        XCTAssertFalse(r[2].promptWasImplicit)

        // Written back, the prompt is explicit and the flag is not a field.
        try JSONL.write([r[0]], to: url)
        let text = try String(contentsOf: url, encoding: .utf8)
        XCTAssertTrue(text.contains("\"prompt\""))
        XCTAssertFalse(text.contains("promptWasImplicit"))
    }

    func testOneResponseBeingTheStartOfTheOtherLeavesAnEmptyResponseForValidationToReport() {
        let (p, c, r) = PreferenceRecord.splitImplicitPrompt(chosen: "Hi there", rejected: "Hi")
        XCTAssertEqual(p, "Hi")
        XCTAssertEqual(c, " there")
        XCTAssertEqual(r, "")
        var record = PreferenceRecord(prompt: p, chosen: c, rejected: r)
        XCTAssertEqual(PreferenceRecord.problem(record), "field \"rejected\" is empty")
        record.promptWasImplicit = true
        XCTAssertTrue(PreferenceRecord.problem(record)!.hasPrefix("nothing of \"rejected\" is left"), PreferenceRecord.problem(record)!)
        XCTAssertEqual(PreferenceRecord.problem(PreferenceRecord(prompt: "", chosen: "same", rejected: "same")), "\"chosen\" and \"rejected\" are identical")
        // Code points, not grapheme clusters: "\r\n" is two, as in Python.
        XCTAssertEqual(PreferenceRecord.splitImplicitPrompt(chosen: "A\r\nB", rejected: "A\rC").prompt, "A\r")
    }
}
