import Foundation
import Support
import Tensors
import Tokenizers

extension GPT2Config {
    /// Throws unless every id `tokenizer` can produce has a row in the embedding table. GPT-2's
    /// padded vocabularies are larger than their tokenizers, which is fine; the reverse ends in
    /// an out-of-range embedding lookup at the first such token.
    public func checkFits(_ tokenizer: BPETokenizer, directory: URL) throws {
        guard tokenizer.vocabSize <= vocabSize else {
            throw RLHFError.invalidFile(path: directory.path, message: "the tokenizer has \(tokenizer.vocabSize) tokens but the model's vocab_size is \(vocabSize): ids from \(vocabSize) up would have no embedding row")
        }
    }
}

/// Hugging Face model directories in and out: `config.json` + `model.safetensors` (or its
/// shards and `model.safetensors.index.json`, read; written as one file).
/// Parameter names are accepted with or without the `transformer.` prefix (hub checkpoints have
/// none; `save_pretrained` of `GPT2LMHeadModel` writes it); `lm_head.weight` missing means tied;
/// the attention-mask buffers old checkpoints carry (`attn.bias`, `attn.masked_bias`) are skipped.
extension GPT2 {
    public static func load(directory: URL) throws -> GPT2 {
        let config = try GPT2Config.load(directory.appendingPathComponent("config.json"))
        let model = GPT2(config: config)
        let weights = try ModelWeights.load(directory: directory)
        try model.loadParameters(from: weights, prefix: "transformer.", extraAllowed: config.isRewardModel ? ["score.weight"] : [])
        return model
    }

    /// A language model and its tokenizer from one directory, as every command that generates
    /// or trains a policy needs them. A reward model's directory is refused unless
    /// `allowRewardModel` (it would load as a trunk with an untrained language-model head, and
    /// what is written from it would keep the classifier's `architectures` without a score head).
    public static func loadWithTokenizer(directory: URL, allowRewardModel: Bool = false) throws -> (GPT2, BPETokenizer) {
        guard FileManager.default.fileExists(atPath: directory.path) else {
            throw RLHFError.io(path: directory.path, message: "model directory does not exist")
        }
        let model = try load(directory: directory), tok = try BPETokenizer.load(directory: directory)
        if model.config.isRewardModel && !allowRewardModel {
            throw RLHFError.invalidFile(path: directory.appendingPathComponent("config.json").path,
                                        message: "architectures \(model.config.architectures) is a reward model; this needs a language model (GPT2LMHeadModel), such as an SFT or pretrained model")
        }
        try model.config.checkFits(tok, directory: directory)
        return (model, tok)
    }

    /// Copies every parameter from `weights`, checking names and shapes against the config.
    /// `prefix` is the trunk's optional name prefix; `extraAllowed` are names another head owns.
    func loadParameters(from weights: ModelWeights, prefix: String, extraAllowed: Set<String>) throws {
        var used = Set<String>()
        for (name, p) in parameters {
            let candidates = [name, prefix + name]
            guard let found = candidates.first(where: { weights.entries[$0] != nil }) else {
                if name == "lm_head.weight" {
                    throw RLHFError.invalidFile(path: weights.path, message: "tie_word_embeddings is false but lm_head.weight is missing")
                }
                throw RLHFError.invalidFile(path: weights.path, message: "missing tensor \"\(prefix)\(name)\" (or \"\(name)\")")
            }
            let shape = weights.shape(found)!
            guard shape == p.shape else {
                throw RLHFError.invalidFile(path: weights.path, message: "tensor \"\(found)\" has shape \(shape) but config.json implies \(p.shape)")
            }
            p.assign(try weights.tensor(found))
            try Self.checkFinite(p, name: found, path: weights.path)
            used.insert(found)
        }
        for name in weights.names where !used.contains(name) && !extraAllowed.contains(name) {
            let bare = name.hasPrefix(prefix) ? String(name.dropFirst(prefix.count)) : name
            if bare.hasSuffix(".attn.bias") || bare.hasSuffix(".attn.masked_bias") { continue }
            // A tied head saved anyway (some exporters do) must equal wte. One that differs is
            // read two ways: transformers 5 unties them and uses it, 4.x ties it away to wte.
            if bare == "lm_head.weight" && config.tieWordEmbeddings {
                let wteName = [prefix + "wte.weight", "wte.weight"].first { weights.entries[$0] != nil } ?? "wte.weight"
                let head = try weights.tensor(name), wte = try weights.tensor(wteName)
                let how = head.shape != wte.shape ? "has shape \(head.shape), wte.weight \(wte.shape)"
                    : zip(head.buffer, wte.buffer).contains(where: { $0 != $1 }) ? "differs from wte.weight" : nil
                if let how {
                    throw RLHFError.invalidFile(path: weights.path, message: "config.json says tie_word_embeddings true, but lm_head.weight \(how): transformers 5 would use lm_head.weight, transformers 4 wte.weight. Set tie_word_embeddings false in config.json to use lm_head.weight, or leave it out of the file to use wte")
                }
                continue
            }
            throw RLHFError.invalidFile(path: weights.path, message: "unexpected tensor \"\(name)\" (not part of a GPT-2 with this config)")
        }
    }

    /// A NaN or infinity in a weight (a run that diverged) would only show later as empty
    /// samples or a NaN score: refused at load, naming the tensor.
    static func checkFinite(_ t: Tensor, name: String, path: String) throws {
        if let i = t.buffer.firstIndex(where: { !$0.isFinite }) {
            throw RLHFError.invalidFile(path: path, message: "tensor \"\(name)\" holds \(t.buffer[i]) at element \(i): the weights are broken (from a run that diverged?)")
        }
    }

    /// Writes `config.json` and `model.safetensors` (names as `save_pretrained` writes them,
    /// with the `transformer.` prefix; no lm_head when tied) into `directory`.
    /// With `tokenizer`, its files go beside the weights so the directory is a whole HF model.
    public func save(to directory: URL, tokenizer: BPETokenizer? = nil, extraTensors: [(String, Tensor)] = []) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var named = parameters.map { (name, t) in (name == "lm_head.weight" ? name : "transformer." + name, t) }
        named += extraTensors
        try SafeTensors.save(named, metadata: ["format": "pt"], to: directory.appendingPathComponent("model.safetensors"))
        var c = config
        for (k, v) in configOverride { c.extra[k] = v }
        try c.write(to: directory.appendingPathComponent("config.json"))
        try tokenizer?.save(to: directory, modelMaxLength: config.nPositions)
    }
}
