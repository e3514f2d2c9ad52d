import ArgumentParser
import Foundation
import Support
import Tokenizers

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids of a text as a JSON array.",
        discussion: "Uses the model directory's tokenizer.json (or vocab.json + merges.txt), exactly as Hugging Face tokenizers would.")

    @Option(help: "Model directory holding the tokenizer files.") var model: String
    @Option(help: "Text to encode.") var text: String

    func run() throws {
        let tok = try BPETokenizer.load(directory: URL(fileURLWithPath: model))
        print("[" + tok.encode(text).map(String.init).joined(separator: ", ") + "]")
    }
}

struct TrainTokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-tokenizer",
        abstract: "Train a GPT-2-style byte-level BPE tokenizer on a corpus.",
        discussion: "Writes tokenizer.json, vocab.json, merges.txt, tokenizer_config.json and special_tokens_map.json, which Hugging Face tokenizers and transformers load.")

    @Option(help: "Corpus: JSONL with a \"text\" field, or plain text (documents separated by blank lines).") var data: String
    @Option(help: "Vocabulary size including 256 byte tokens and special tokens.") var vocabSize = 2048
    @Option(help: "Output directory.") var out: String
    @Option(help: "Special tokens (first ids), comma-separated.") var specialTokens = "<|endoftext|>,<|pad|>"
    @Flag(help: "Keep every digit its own token (no merges inside numbers), as LLaMA's tokenizer does; the files stay GPT-2 BPE.")
    var splitDigits = false
    @Option(help: "Padding token, added after the special tokens if not among them; it must not be EOS (the first special token), so models learn to stop. Empty: none.") var padToken = "<|pad|>"

    func validate() throws {
        let specials = specialTokens.split(separator: ",").map(String.init)
        guard let eos = specials.first else {
            throw ValidationError("--special-tokens needs at least one token: the first is end-of-text (EOS)")
        }
        if !padToken.isEmpty {
            guard padToken != eos else {
                throw ValidationError("--pad-token \(padToken) is the EOS token (the first special token): a pad equal to EOS is masked wherever it appears, so a model never learns to stop. Add a token such as <|pad|>")
            }
        }
    }

    func run() throws {
        let texts = try readCorpus(data)
        guard !texts.isEmpty else { throw RLHFError.invalidFile(path: data, message: "has no documents to train a tokenizer on") }
        let tok = try BPETokenizer.train(texts: texts, vocabSize: vocabSize, specialTokens: specialTokens.split(separator: ",").map(String.init),
                                         padToken: padToken.isEmpty ? nil : padToken, splitDigits: splitDigits, showProgress: true)
        try tok.save(to: URL(fileURLWithPath: out))
        if tok.vocabSize < vocabSize {
            note("warning: the corpus ran out of pairs to merge at \(tok.vocabSize) tokens, short of --vocab-size \(vocabSize)")
        }
        note("wrote \(tok.vocabSize)-token tokenizer to \(out)")
    }
}
