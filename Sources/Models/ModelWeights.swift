import Foundation
import Support
import Tensors

/// A model directory's weights: `model.safetensors`, or the shards that
/// `model.safetensors.index.json` maps each tensor to (what transformers' `save_pretrained`
/// writes for a model larger than `max_shard_size`). Each tensor is read from the file that
/// holds it; `path` is the single file or the index, for messages.
struct ModelWeights {
    let path: String
    /// Tensor name → its header record, over every file.
    let entries: [String: SafeTensors.Entry]
    private let files: [String: SafeTensors]

    var names: [String] { entries.keys.sorted() }
    func shape(_ name: String) -> [Int]? { entries[name]?.shape }

    func tensor(_ name: String) throws -> Tensor {
        guard let file = files[name] else { throw RLHFError.invalidFile(path: path, message: "no tensor \"\(name)\"") }
        return try file.tensor(name)
    }

    init(_ single: SafeTensors) {
        path = single.path
        entries = single.entries
        files = Dictionary(uniqueKeysWithValues: single.names.map { ($0, single) })
    }

    /// The weights in `directory`; an error says what is there instead when there are none.
    static func load(directory: URL) throws -> ModelWeights {
        let single = directory.appendingPathComponent("model.safetensors")
        if FileManager.default.fileExists(atPath: single.path) { return ModelWeights(try SafeTensors.load(single)) }
        let index = directory.appendingPathComponent("model.safetensors.index.json")
        if FileManager.default.fileExists(atPath: index.path) { return try sharded(index: index) }
        if FileManager.default.fileExists(atPath: directory.appendingPathComponent("pytorch_model.bin").path) {
            throw RLHFError.invalidFile(path: directory.path, message: "only pytorch_model.bin found; convert it to model.safetensors (transformers' save_pretrained writes it: by default from version 5, with safe_serialization=True in 4.x)")
        }
        throw RLHFError.io(path: single.path, message: "missing model weights (model.safetensors)")
    }

    /// Reads the index's `weight_map` (tensor → shard file name, beside the index) and maps
    /// every shard; a tensor the map puts in a shard that lacks it is an error naming both.
    static func sharded(index: URL) throws -> ModelWeights {
        guard let data = FileManager.default.contents(atPath: index.path) else { throw RLHFError.io(path: index.path, message: "cannot read") }
        guard case .object(let root)? = try? JSONDecoder().decode(JSONValue.self, from: data), case .object(let map)? = root["weight_map"] else {
            throw RLHFError.invalidFile(path: index.path, message: "expected a JSON object with a \"weight_map\" object (tensor name → shard file)")
        }
        var shards: [String: SafeTensors] = [:]
        var entries: [String: SafeTensors.Entry] = [:], files: [String: SafeTensors] = [:]
        for (name, value) in map.sorted(by: { $0.key < $1.key }) {
            // A shard is a file name beside the index, never a path that leaves the folder.
            guard let file = value.stringValue, !file.isEmpty, !file.contains("/"), file != "..", file != "." else {
                throw RLHFError.invalidFile(path: index.path, message: "weight_map[\"\(name)\"] should be the file name of a shard beside the index, found \(value)")
            }
            if shards[file] == nil { shards[file] = try SafeTensors.load(index.deletingLastPathComponent().appendingPathComponent(file)) }
            let shard = shards[file]!
            guard let entry = shard.entries[name] else {
                throw RLHFError.invalidFile(path: shard.path, message: "has no tensor \"\(name)\", which \(index.lastPathComponent) places in it")
            }
            entries[name] = entry
            files[name] = shard
        }
        return ModelWeights(path: index.path, entries: entries, files: files)
    }

    private init(path: String, entries: [String: SafeTensors.Entry], files: [String: SafeTensors]) {
        self.path = path
        self.entries = entries
        self.files = files
    }
}
