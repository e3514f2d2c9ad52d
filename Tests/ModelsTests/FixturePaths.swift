import Foundation

/// `Tests/Fixtures`, found from this file's path so tests run from any working directory.
enum FixturePaths {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }

    static func reference() throws -> [String: Any] {
        let data = try Data(contentsOf: url("model-reference/reference.json"))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }
}
