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
        XCTAssertEqual(PreferenceRecord.problem(PreferenceRecord(prompt: p, chosen: c, rejected: r)), "field \"rejected\" is empty")
    }
}
