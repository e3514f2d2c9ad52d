import ArgumentParser
import Feedback
import Foundation
import Models
import Support
import Tokenizers

/// Reads a corpus: JSONL with a `text` field per line (by extension `.jsonl`/`.json`), or plain
/// text split into documents at blank lines.
func readCorpus(_ path: String) throws -> [String] {
    let url = URL(fileURLWithPath: path)
    if ["jsonl", "json"].contains(url.pathExtension.lowercased()) {
        return try JSONL.read(TextRecord.self, from: url).map(\.text)
    }
    guard let data = FileManager.default.contents(atPath: url.path) else {
        throw RLHFError.io(path: url.path, message: "cannot read corpus")
    }
    guard let text = String(data: data, encoding: .utf8) else {
        throw RLHFError.invalidFile(path: url.path, message: "not valid UTF-8 text")
    }
    return text.components(separatedBy: "\n\n").filter { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
}

/// A model directory's model and tokenizer, with one error naming the directory if either fails.
func loadModelAndTokenizer(_ path: String) throws -> (GPT2, BPETokenizer) {
    let dir = URL(fileURLWithPath: path)
    guard FileManager.default.fileExists(atPath: dir.path) else {
        throw RLHFError.io(path: dir.path, message: "model directory does not exist")
    }
    return (try GPT2.load(directory: dir), try BPETokenizer.load(directory: dir))
}

/// Prints a line to standard error (progress and notes never mix with machine-readable stdout).
func note(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
