import ArgumentParser
import Foundation
import Tensors
import Models
import Support
import Tokenizers
import Training

/// `rlhf bench …`: performance measurements printed as tables, with the ceiling or peer beside.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure throughput: GEMM against raw OpenBLAS, and the non-GEMM kernels.",
        discussion: "Benchmarks are commands, not tests: run them on an idle machine. Thread count follows RLHF_THREADS (default: all cores).",
        subcommands: [GEMM.self, Decode.self, Memory.self, Kernels.self, Tokenizer.self, Model.self]
    )

    struct GEMM: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "GFLOP/s of matmul and linear at GPT-2 shapes next to cblas_sgemm called directly.")
        @Option(help: "Seconds to repeat each measurement.") var seconds: Double = 0.5

        func run() throws {
            print("OpenBLAS threads: \(BLAS.threads), kernels: \(OpenBLASCore.name)")
            print(pad("M×K×N", 18) + pad("raw sgemm", 12) + pad("matmul", 12) + pad("ratio", 8) + "linear fwd+bwd")
            for r in KernelBenchmark.gemm(seconds: seconds) {
                print(pad("\(r.m)×\(r.k)×\(r.n)", 18)
                      + pad(String(format: "%.1f", r.rawGFLOPS), 12)
                      + pad(String(format: "%.1f", r.bindingGFLOPS), 12)
                      + pad(String(format: "%.0f%%", r.ratio * 100), 8)
                      + String(format: "%.1f GFLOP/s", r.linearTrainGFLOPS))
            }
        }
    }

    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time and weight GB/s of a GPT-2 124M decoding step's products (1 and 8 rows) next to OpenBLAS called directly.",
            discussion: "Each weight is read once per product, as in generation; one this small stays in the last-level cache between repeats, which a real decoding step (all 124M weights, 500 MB) does not. The first line gives the ceiling, the machine's streaming read bandwidth (`rlhf bench memory`).")
        @Option(help: "Seconds to repeat each measurement.") var seconds: Double = 0.5

        func run() throws {
            print("threads: \(BLAS.threads), memory read ceiling: " + String(format: "%.1f GB/s", KernelBenchmark.readBandwidth()))
            print(pad("product", 22) + pad("rows", 6) + pad("K×N", 12) + pad("ms", 9) + pad("GB/s", 8)
                  + pad("OpenBLAS ms", 13) + pad("GB/s", 8) + "× OpenBLAS")
            for r in KernelBenchmark.decode(seconds: seconds) {
                print(pad(r.name, 22) + pad("\(r.rows)", 6) + pad("\(r.k)×\(r.n)", 12)
                      + pad(String(format: "%.3f", r.milliseconds), 9) + pad(String(format: "%.1f", r.gigabytesPerSecond), 8)
                      + pad(String(format: "%.3f", r.openBLASMilliseconds), 13) + pad(String(format: "%.1f", r.openBLASGigabytesPerSecond), 8)
                      + String(format: "%.2f", r.openBLASMilliseconds / r.milliseconds))
            }
        }
    }

    struct Memory: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Streaming read bandwidth from memory (GB/s), the ceiling of decoding at batch 1.",
            discussion: "Sums a buffer far larger than any cache on all cores (RLHF_THREADS), fastest pass. Decoding one token at a time reads every weight once per token, so GB/s ÷ the weights' bytes bounds its tokens/s; Scripts/bench/compare.sh prints that bound beside the generation rows.")
        @Option(help: "Buffer size in MiB.") var megabytes = 1024
        @Option(help: "Seconds to repeat the pass.") var seconds: Double = 1

        func run() throws {
            guard megabytes > 0, seconds > 0 else { throw ValidationError("--megabytes and --seconds must be positive, found \(megabytes) and \(seconds)") }
            print(String(format: "read bandwidth: %.1f GB/s (%d MiB buffer, %d threads)", KernelBenchmark.readBandwidth(megabytes: megabytes, seconds: seconds), megabytes, BLAS.threads))
        }
    }

    struct Kernels: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time and effective GB/s of the non-GEMM kernels at GPT-2 124M training shapes (4×64 tokens).")
        @Option(help: "Seconds to repeat each measurement.") var seconds: Double = 0.3

        func run() throws {
            print("threads: \(BLAS.threads)")
            print(pad("kernel", 28) + pad("shape", 30) + pad("ms", 10) + "GB/s")
            for r in KernelBenchmark.kernels(seconds: seconds) {
                print(pad(r.name, 28) + pad(r.shape, 30) + pad(String(format: "%.3f", r.milliseconds), 10)
                      + String(format: "%.1f", r.gigabytesPerSecond))
            }
        }
    }
}

extension BenchCommand {
    struct Model: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "GPT-2 training tokens/s (fwd+bwd+AdamW) and generation tokens/s (KV cache, sampling) on random tokens.",
            discussion: "Prints one JSON line; Scripts/bench/compare.sh runs it beside the PyTorch peer with the same settings.")
        @Option(help: "Model preset: tiny, small, gpt2.") var preset = "gpt2"
        @Option(help: "Vocabulary size (GPT-2's by default).") var vocabSize = 50257
        @Option(help: "Sequences per training step.") var batch = 4
        @Option(help: "Tokens per training sequence.") var context = 64
        @Option(help: "Timed training steps.") var steps = 5
        @Option(help: "Train each step as N micro-batches of --batch / N sequences on N copies of the model side by side, as `rlhf pretrain --grad-accum N --lanes N` does (the same sequences and mean loss per step).")
        var lanes = 1
        @Option(help: "New tokens per generated sequence.") var newTokens = 64
        @Option(help: "Generation batch sizes, comma-separated.") var genBatches = "1,8"
        @Option(help: "Run only `train` or only `generate`, so that peakRSSMB is that workload's peak (default: both).") var only: String?

        func validate() throws {
            if let only, only != "train", only != "generate" {
                throw ValidationError("--only must be train or generate, found \(only)")
            }
            guard lanes >= 1, batch % lanes == 0 else { throw ValidationError("--lanes must be at least 1 and divide --batch \(batch), found \(lanes)") }
        }

        func run() throws {
            let config = try GPT2Config.preset(preset, vocabSize: vocabSize, context: max(context, 8 + newTokens, 128))
            let train = only == "generate" ? nil : ModelBenchmark.train(config: config, batch: batch, context: context, steps: steps, lanes: lanes)
            var gen: [String: Double]? = only == "train" ? nil : [:]
            if gen != nil {
                for b in genBatches.split(separator: ",").compactMap({ Int($0) }) {
                    gen?["batch_\(b)"] = ModelBenchmark.generate(config: config, batch: b, newTokens: newTokens)
                }
            }
            // Absent parts are left out of the JSON; peakRSSMB is the whole process's peak.
            struct Out: Encodable { let side: String; let preset: String; let threads: Int; let lanes: Int; let train: ModelBenchmark.TrainResult?; let generate_tokens_per_second: [String: Double]?; let peakRSSMB: Double }
            print(JSONL.line(Out(side: "swift-rlhf", preset: preset, threads: BLAS.threads, lanes: lanes, train: train, generate_tokens_per_second: gen,
                                 peakRSSMB: ModelBenchmark.peakResidentMegabytes())))
        }
    }

    struct Tokenizer: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Encoding throughput (MB/s of UTF-8) of a model directory's tokenizer on a corpus, one thread.")
        @Option(help: "Model or tokenizer directory.") var model: String
        @Option(help: "Corpus: JSONL with \"text\", or plain text.") var data: String

        func run() throws {
            let texts = try readCorpus(data)
            let bytes = texts.reduce(0) { $0 + $1.utf8.count }
            var tokens = 0
            // A fresh tokenizer per pass, so the word cache starts cold each time (as on a new corpus).
            let cold = try BPETokenizer.load(directory: URL(fileURLWithPath: model))
            let t0 = Date()
            for t in texts { tokens += cold.encodeIDs(t).count }
            let first = Date().timeIntervalSince(t0)
            let t1 = Date()
            for t in texts { _ = cold.encodeIDs(t) }
            let warm = Date().timeIntervalSince(t1)
            print(String(format: "%d documents, %.2f MB, %d tokens", texts.count, Double(bytes) / 1e6, tokens))
            print(String(format: "cold cache: %.2f MB/s   warm cache: %.2f MB/s", Double(bytes) / 1e6 / first, Double(bytes) / 1e6 / warm))
        }
    }
}

func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
}
