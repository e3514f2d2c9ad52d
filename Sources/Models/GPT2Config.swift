import Foundation
import Support

/// A Hugging Face GPT-2 `config.json`, with transformers' defaults for keys that are absent.
/// Keys this type does not model are kept and written back, so a round trip loses nothing.
/// `Codable` goes through the same JSON as `load`/`write`, so decoding validates too.
public struct GPT2Config: Codable, Equatable, Sendable {
    public var vocabSize = 50257
    public var nPositions = 1024
    public var nEmbd = 768
    public var nLayer = 12
    public var nHead = 12
    /// nil means 4·n_embd.
    public var nInner: Int? = nil
    public var activationFunction = "gelu_new"
    public var residPdrop = 0.1
    public var embdPdrop = 0.1
    public var attnPdrop = 0.1
    public var layerNormEpsilon = 1e-5
    public var tieWordEmbeddings = true
    public var bosTokenID: Int? = 50256
    public var eosTokenID: Int? = 50256
    public var padTokenID: Int? = nil
    public var architectures: [String] = ["GPT2LMHeadModel"]
    /// 1 for a reward model (`GPT2ForSequenceClassification`).
    public var numLabels: Int? = nil
    /// Keys of the file that are not modelled above, preserved verbatim.
    public var extra: [String: JSONValue] = [:]

    public init() {}

    public var headDim: Int { nEmbd / nHead }
    public var innerDim: Int { nInner ?? 4 * nEmbd }
    public var isRewardModel: Bool { architectures.contains("GPT2ForSequenceClassification") }
    public var epsilon: Float { Float(layerNormEpsilon) }

    /// Model sizes by name. `tiny` trains in minutes on two cores (the demo's base model);
    /// `small` is a 6-layer model; `gpt2` is the 124M configuration.
    public static let presetNames = ["tiny", "small", "gpt2"]

    public static func preset(_ name: String, vocabSize: Int, context: Int) throws -> GPT2Config {
        var c = GPT2Config()
        switch name {
        case "tiny": c.nLayer = 4; c.nEmbd = 128; c.nHead = 4
        case "small": c.nLayer = 6; c.nEmbd = 384; c.nHead = 6
        case "gpt2": c.nLayer = 12; c.nEmbd = 768; c.nHead = 12
        default:
            throw RLHFError.invalidArgument("unknown model preset \"\(name)\"; expected one of \(presetNames.joined(separator: ", "))")
        }
        c.vocabSize = vocabSize
        c.nPositions = context
        // GPT-2's 50256 means <|endoftext|> only in GPT-2's vocabulary; with another tokenizer the
        // caller sets the ids, and an id outside the vocabulary must not be written (load rejects it).
        if let b = c.bosTokenID, b >= vocabSize { c.bosTokenID = nil }
        if let e = c.eosTokenID, e >= vocabSize { c.eosTokenID = nil }
        return c
    }

    /// Reads and validates `config.json`.
    public static func load(_ url: URL) throws -> GPT2Config {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw RLHFError.io(path: url.path, message: "missing model config (config.json)")
        }
        guard case .object(let obj)? = try? JSONDecoder().decode(JSONValue.self, from: data) else {
            throw RLHFError.invalidFile(path: url.path, message: "not a JSON object")
        }
        return try GPT2Config(json: obj, path: url.path)
    }

    init(json obj: [String: JSONValue], path: String) throws {
        var rest = obj
        func take(_ key: String) -> JSONValue? { rest.removeValue(forKey: key) }
        func int(_ key: String, _ alias: String? = nil) throws -> Int? {
            let v = take(key) ?? alias.flatMap { take($0) }
            guard let v else { return nil }
            if case .null = v { return nil }
            guard let i = v.intValue else { throw RLHFError.invalidFile(path: path, message: "field \"\(key)\" should be an integer, found \(v)") }
            return i
        }
        func double(_ key: String) throws -> Double? {
            guard let v = take(key) else { return nil }
            guard let d = v.doubleValue else { throw RLHFError.invalidFile(path: path, message: "field \"\(key)\" should be a number, found \(v)") }
            return d
        }
        let modelType = take("model_type")?.stringValue
        guard modelType == "gpt2" else {
            throw RLHFError.invalidFile(path: path, message: "unsupported model_type \(modelType.map { "\"\($0)\"" } ?? "(missing)"), expected \"gpt2\"")
        }
        if let v = try int("vocab_size") { vocabSize = v }
        let ctx = try int("n_ctx")
        if let v = try int("n_positions") ?? ctx { nPositions = v }
        if let v = try int("n_embd") { nEmbd = v }
        if let v = try int("n_layer") { nLayer = v }
        if let v = try int("n_head") { nHead = v }
        nInner = try int("n_inner")
        if let v = take("activation_function") {
            guard let s = v.stringValue else { throw RLHFError.invalidFile(path: path, message: "activation_function should be a string") }
            activationFunction = s
        }
        if let v = try double("resid_pdrop") { residPdrop = v }
        if let v = try double("embd_pdrop") { embdPdrop = v }
        if let v = try double("attn_pdrop") { attnPdrop = v }
        if let v = try double("layer_norm_epsilon") { layerNormEpsilon = v }
        if let v = take("tie_word_embeddings") {
            guard let b = v.boolValue else { throw RLHFError.invalidFile(path: path, message: "field \"tie_word_embeddings\" should be true or false, found \(v)") }
            tieWordEmbeddings = b
        }
        // Absent, they are transformers' defaults (50256), which a smaller vocabulary does not
        // hold: then there is no such token, as transformers loads that config without one.
        if obj["bos_token_id"] != nil { bosTokenID = try int("bos_token_id") } else if vocabSize <= 50256 { bosTokenID = nil }
        if obj["eos_token_id"] != nil { eosTokenID = try int("eos_token_id") } else if vocabSize <= 50256 { eosTokenID = nil }
        padTokenID = try int("pad_token_id")
        if let v = take("architectures"), v != .null {
            guard case .array(let a) = v, a.allSatisfy({ $0.stringValue != nil }) else {
                throw RLHFError.invalidFile(path: path, message: "field \"architectures\" should be an array of strings, found \(v)")
            }
            architectures = a.compactMap(\.stringValue)
        }
        numLabels = try int("num_labels")
        if numLabels == nil, case .object(let labels)? = obj["id2label"] { numLabels = labels.count }
        extra = rest
        try validate(path: path)
    }

    func validate(path: String) throws {
        func fail(_ m: String) -> RLHFError { .invalidFile(path: path, message: m) }
        for (name, v) in [("vocab_size", vocabSize), ("n_positions", nPositions), ("n_embd", nEmbd), ("n_layer", nLayer), ("n_head", nHead)] where v <= 0 {
            throw fail("\(name) must be positive, found \(v)")
        }
        guard nEmbd % nHead == 0 else { throw fail("n_embd \(nEmbd) is not divisible by n_head \(nHead)") }
        if let n = nInner, n <= 0 { throw fail("n_inner must be positive or null (4·n_embd), found \(n)") }
        for (name, p) in [("resid_pdrop", residPdrop), ("embd_pdrop", embdPdrop), ("attn_pdrop", attnPdrop)] where !(p >= 0 && p < 1) {
            throw fail("\(name) must be in [0, 1), found \(p)")
        }
        guard layerNormEpsilon > 0, layerNormEpsilon.isFinite else { throw fail("layer_norm_epsilon must be positive, found \(layerNormEpsilon)") }
        for (name, id) in [("bos_token_id", bosTokenID), ("eos_token_id", eosTokenID), ("pad_token_id", padTokenID)] {
            if let id, !(0..<vocabSize).contains(id) { throw fail("\(name) \(id) is outside the vocabulary [0, \(vocabSize))") }
        }
        // transformers treats gelu_pytorch_tanh as the same tanh approximation as gelu_new.
        guard ["gelu_new", "gelu_pytorch_tanh"].contains(activationFunction) else {
            throw fail("unsupported activation_function \"\(activationFunction)\", expected \"gelu_new\" or \"gelu_pytorch_tanh\" (GPT-2's tanh GELU)")
        }
        if case .bool(false)? = extra["scale_attn_weights"] { throw fail("scale_attn_weights false is not supported") }
        if case .bool(true)? = extra["scale_attn_by_inverse_layer_idx"] { throw fail("scale_attn_by_inverse_layer_idx true is not supported") }
        // reorder_and_upcast_attn only upcasts half-precision attention to float32: here every
        // product is float32 already, so it changes nothing (transformers gives the same loss).
        if case .bool(true)? = extra["add_cross_attention"] {
            throw fail("add_cross_attention true is not supported (a GPT-2 with cross-attention layers, for an encoder-decoder)")
        }
        if isRewardModel, let n = numLabels, n != 1 {
            throw fail("a reward model needs num_labels 1, found \(n)")
        }
    }

    /// The JSON transformers writes, with this config's values over the preserved extra keys.
    public var json: [String: JSONValue] {
        var o = extra
        o["model_type"] = .string("gpt2")
        o["architectures"] = .array(architectures.map { .string($0) })
        o["vocab_size"] = .number(Double(vocabSize))
        o["n_positions"] = .number(Double(nPositions))
        o["n_embd"] = .number(Double(nEmbd))
        o["n_layer"] = .number(Double(nLayer))
        o["n_head"] = .number(Double(nHead))
        o["n_inner"] = nInner.map { .number(Double($0)) } ?? .null
        o["activation_function"] = .string(activationFunction)
        o["resid_pdrop"] = .number(residPdrop)
        o["embd_pdrop"] = .number(embdPdrop)
        o["attn_pdrop"] = .number(attnPdrop)
        o["layer_norm_epsilon"] = .number(layerNormEpsilon)
        o["tie_word_embeddings"] = .bool(tieWordEmbeddings)
        o["bos_token_id"] = bosTokenID.map { .number(Double($0)) } ?? .null
        o["eos_token_id"] = eosTokenID.map { .number(Double($0)) } ?? .null
        if let p = padTokenID { o["pad_token_id"] = .number(Double(p)) }
        if let n = numLabels {
            o["num_labels"] = .number(Double(n))
            o["id2label"] = .object(Dictionary(uniqueKeysWithValues: (0..<n).map { ("\($0)", JSONValue.string("LABEL_\($0)")) }))
            o["label2id"] = .object(Dictionary(uniqueKeysWithValues: (0..<n).map { ("LABEL_\($0)", JSONValue.number(Double($0))) }))
        }
        o["initializer_range"] = o["initializer_range"] ?? .number(0.02)
        o["scale_attn_weights"] = .bool(true)
        o["use_cache"] = o["use_cache"] ?? .bool(true)
        // The weights this project writes are float32. transformers 5 reads `dtype` (4.x
        // `torch_dtype`), so a `dtype` kept from a float16 input would load them at half precision.
        o["torch_dtype"] = .string("float32")
        o["dtype"] = .string("float32")
        o["transformers_version"] = o["transformers_version"] ?? .string("4.46.0")
        return o
    }

    /// Decodes the same JSON object `load` reads (and validates it the same way).
    public init(from decoder: Decoder) throws {
        guard case .object(let obj) = try JSONValue(from: decoder) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "GPT-2 config must be a JSON object"))
        }
        let origin = decoder.codingPath.isEmpty ? "config.json" : decoder.codingPath.map(\.stringValue).joined(separator: ".")
        try self.init(json: obj, path: origin)
    }

    /// Encodes the JSON object `write(to:)` writes.
    public func encode(to encoder: Encoder) throws {
        try JSONValue.object(json).encode(to: encoder)
    }

    /// Writes `config.json` atomically, pretty-printed with sorted keys.
    public func write(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try AtomicFile.write(try encoder.encode(JSONValue.object(json)), to: url)
    }
}
