import Foundation
import Support

/// Reading and writing the tokenizer files of a Hugging Face model directory.
extension BPETokenizer {
    /// Loads from `tokenizer.json` when present, else `vocab.json` + `merges.txt` (with special
    /// tokens from `special_tokens_map.json` / `tokenizer_config.json`, and `<|endoftext|>` when
    /// the vocabulary has it, as GPT-2's tokenizer does).
    public static func load(directory: URL) throws -> BPETokenizer {
        let json = directory.appendingPathComponent("tokenizer.json")
        if FileManager.default.fileExists(atPath: json.path) { return try load(tokenizerJSON: json, directory: directory) }
        let vocabURL = directory.appendingPathComponent("vocab.json")
        let mergesURL = directory.appendingPathComponent("merges.txt")
        guard FileManager.default.fileExists(atPath: vocabURL.path) else {
            throw RLHFError.io(path: directory.path, message: "no tokenizer: expected tokenizer.json or vocab.json + merges.txt")
        }
        let vocab = try readVocab(vocabURL)
        let merges = try readMerges(mergesURL)
        let special = configuredTokens(in: directory)
        var added = special.all.filter { vocab[$0] != nil }.map { ($0, true) }
        if vocab["<|endoftext|>"] != nil && !added.contains(where: { $0.0 == "<|endoftext|>" }) { added.append(("<|endoftext|>", true)) }
        return try BPETokenizer(vocab: vocab, merges: merges, addedTokens: added, padToken: special.pad,
                                addPrefixSpace: special.addPrefixSpace, source: vocabURL.path)
    }

    static func readVocab(_ url: URL) throws -> [String: Int] {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw RLHFError.io(path: url.path, message: "cannot read vocabulary")
        }
        do { return try JSONDecoder().decode([String: Int].self, from: data) } catch {
            throw RLHFError.invalidFile(path: url.path, message: "not a JSON object of token → id (\(error.localizedDescription))")
        }
    }

    static func readMerges(_ url: URL) throws -> [(String, String)] {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw RLHFError.io(path: url.path, message: "cannot read merges")
        }
        var out: [(String, String)] = []
        for (i, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let l = line.hasSuffix("\r") ? line.dropLast() : line
            if l.isEmpty || (i == 0 && l.hasPrefix("#version")) { continue }
            let parts = l.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw RLHFError.invalidLine(path: url.path, line: i + 1, message: "a merge must be two tokens separated by one space, found \"\(l)\"")
            }
            out.append((String(parts[0]), String(parts[1])))
        }
        return out
    }

    /// The special tokens of `special_tokens_map.json` and `tokenizer_config.json`, the pad token
    /// among them, and `add_prefix_space` as transformers reads it: from `tokenizer_config.json`,
    /// false when it says nothing. Its GPT-2 tokenizer sets the pre-tokenizer's flag of
    /// `tokenizer.json` to this value on load (checked with transformers 5.25), so that file's own
    /// flag is not what counts.
    static func configuredTokens(in directory: URL) -> (all: [String], pad: String?, addPrefixSpace: Bool) {
        var all: [String] = []
        var pad: String? = nil
        var addPrefixSpace = false
        for file in ["special_tokens_map.json", "tokenizer_config.json"] {
            guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent(file).path),
                  case .object(let o)? = try? JSONDecoder().decode(JSONValue.self, from: data) else { continue }
            if file == "tokenizer_config.json" { addPrefixSpace = o["add_prefix_space"]?.boolValue ?? false }
            for key in ["bos_token", "eos_token", "unk_token", "pad_token"] {
                let value: String? = o[key]?.stringValue ?? o[key]?["content"]?.stringValue
                if let v = value {
                    if !all.contains(v) { all.append(v) }
                    if key == "pad_token" && pad == nil { pad = v }
                }
            }
        }
        return (all, pad, addPrefixSpace)
    }

    static func load(tokenizerJSON url: URL, directory: URL) throws -> BPETokenizer {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw RLHFError.io(path: url.path, message: "cannot read") }
        guard case .object(let root)? = try? JSONDecoder().decode(JSONValue.self, from: data) else {
            throw RLHFError.invalidFile(path: url.path, message: "not valid JSON")
        }
        guard case .object(let model)? = root["model"], model["type"]?.stringValue == "BPE" else {
            throw RLHFError.invalidFile(path: url.path, message: "model.type must be \"BPE\", found \(root["model"]?["type"]?.description ?? "nothing")")
        }
        if let pre = root["pre_tokenizer"] {
            let byteLevel: JSONValue?
            if pre["type"]?.stringValue == "ByteLevel" {
                byteLevel = pre
            } else if case .array(let list)? = pre["pretokenizers"] {
                byteLevel = list.first { $0["type"]?.stringValue == "ByteLevel" }
            } else {
                byteLevel = nil
            }
            guard let byteLevel else {
                throw RLHFError.invalidFile(path: url.path, message: "pre_tokenizer must be ByteLevel (GPT-2 style), found \(pre["type"]?.description ?? "?")")
            }
            // Without GPT-2's regex the text is not split into words before the merges.
            if byteLevel["use_regex"]?.boolValue == false {
                throw RLHFError.invalidFile(path: url.path, message: "pre_tokenizer ByteLevel with use_regex false is not supported (GPT-2 splits words with its regex first)")
            }
        }
        guard case .object(let v)? = model["vocab"] else { throw RLHFError.invalidFile(path: url.path, message: "model.vocab missing") }
        var vocab: [String: Int] = [:]
        for (k, id) in v {
            guard let i = id.intValue else { throw RLHFError.invalidFile(path: url.path, message: "model.vocab[\"\(k)\"] is not an integer id") }
            vocab[k] = i
        }
        var merges: [(String, String)] = []
        if case .array(let list)? = model["merges"] {
            for (n, m) in list.enumerated() {
                switch m {
                case .string(let s):
                    let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                    guard parts.count == 2 else { throw RLHFError.invalidFile(path: url.path, message: "model.merges[\(n)] \"\(s)\" is not two tokens") }
                    merges.append((String(parts[0]), String(parts[1])))
                case .array(let pair) where pair.count == 2:
                    guard let a = pair[0].stringValue, let b = pair[1].stringValue else {
                        throw RLHFError.invalidFile(path: url.path, message: "model.merges[\(n)] is not two strings")
                    }
                    merges.append((a, b))
                default:
                    throw RLHFError.invalidFile(path: url.path, message: "model.merges[\(n)] has an unknown form")
                }
            }
        }
        var added: [(String, Bool)] = []
        if case .array(let list)? = root["added_tokens"] {
            for t in list {
                guard let content = t["content"]?.stringValue, let id = t["id"]?.intValue else { continue }
                vocab[content] = id
                added.append((content, t["special"]?.boolValue ?? false))
            }
        }
        let special = configuredTokens(in: directory)
        return try BPETokenizer(vocab: vocab, merges: merges, addedTokens: added, padToken: special.pad,
                                addPrefixSpace: special.addPrefixSpace, source: url.path)
    }

    /// Writes `tokenizer.json`, `vocab.json`, `merges.txt`, `tokenizer_config.json` and
    /// `special_tokens_map.json`, each atomically, so both `tokenizers` and transformers'
    /// `GPT2Tokenizer(Fast)` load the directory.
    public func save(to directory: URL, modelMaxLength: Int? = nil) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Special tokens go in model.vocab too, as tokenizers' own trainer writes them: an added
        // token missing from the model's vocabulary is given a fresh id at the end on load.
        var modelVocab: [String: JSONValue] = [:]
        for (t, i) in vocab { modelVocab[t] = .number(Double(i)) }
        let byteLevel: JSONValue = .object(["type": .string("ByteLevel"), "add_prefix_space": .bool(addPrefixSpace),
                                            "trim_offsets": .bool(true), "use_regex": .bool(true)])
        let addedJSON: [JSONValue] = addedTokens.sorted { $0.id < $1.id }.map {
            .object(["id": .number(Double($0.id)), "content": .string($0.content), "single_word": .bool(false),
                     "lstrip": .bool(false), "rstrip": .bool(false), "normalized": .bool(false), "special": .bool($0.special)])
        }
        let root: JSONValue = .object([
            "version": .string("1.0"), "truncation": .null, "padding": .null,
            "added_tokens": .array(addedJSON), "normalizer": .null,
            "pre_tokenizer": byteLevel,
            "post_processor": .object(["type": .string("ByteLevel"), "add_prefix_space": .bool(true),
                                       "trim_offsets": .bool(false), "use_regex": .bool(true)]),
            "decoder": byteLevel,
            "model": .object(["type": .string("BPE"), "dropout": .null, "unk_token": .null,
                              "continuing_subword_prefix": .string(""), "end_of_word_suffix": .string(""),
                              "fuse_unk": .bool(false), "byte_fallback": .bool(false), "ignore_merges": .bool(false),
                              "vocab": .object(modelVocab),
                              "merges": .array(merges.map { .string("\($0.0) \($0.1)") })]),
        ])
        try AtomicFile.write(try encoder.encode(root), to: directory.appendingPathComponent("tokenizer.json"))
        try AtomicFile.write(try encoder.encode(vocab), to: directory.appendingPathComponent("vocab.json"))
        try AtomicFile.write("#version: 0.2\n" + merges.map { "\($0.0) \($0.1)\n" }.joined(), to: directory.appendingPathComponent("merges.txt"))
        let eos = eosTokenID.flatMap { token(for: $0) } ?? addedTokens.first?.content
        var special: [String: JSONValue] = [:]
        if let eos { for k in ["bos_token", "eos_token", "unk_token"] { special[k] = .string(eos) } }
        if let p = padTokenID.flatMap({ token(for: $0) }) { special["pad_token"] = .string(p) }
        try AtomicFile.write(try encoder.encode(JSONValue.object(special)), to: directory.appendingPathComponent("special_tokens_map.json"))
        var config = special
        config["tokenizer_class"] = .string("GPT2Tokenizer")
        config["add_prefix_space"] = .bool(addPrefixSpace)
        config["model_max_length"] = .number(Double(modelMaxLength ?? 1024))
        try AtomicFile.write(try encoder.encode(JSONValue.object(config)), to: directory.appendingPathComponent("tokenizer_config.json"))
    }
}
