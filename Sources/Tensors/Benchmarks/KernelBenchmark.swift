import CKernels
import COpenBLAS
import Foundation

/// Throughput of the numeric core, measured the same way every time so numbers compare across
/// commits: each case is warmed up once, then repeated until `seconds` have passed.
public enum KernelBenchmark {
    public struct GEMMRow: Sendable {
        public let m: Int, k: Int, n: Int
        /// `cblas_sgemm` called directly on preallocated buffers with OpenBLAS's own threads:
        /// the ceiling.
        public let rawGFLOPS: Double
        /// The same product through `matmul` (pooled output, op dispatch, shape checks).
        public let bindingGFLOPS: Double
        /// Forward + backward of `linear` (3 GEMMs), per FLOP.
        public let linearTrainGFLOPS: Double
        public var ratio: Double { bindingGFLOPS / rawGFLOPS }
    }

    public struct KernelRow: Sendable {
        public let name: String
        public let shape: String
        public let milliseconds: Double
        /// Bytes read and written once each (a lower bound on traffic) per second.
        public let gigabytesPerSecond: Double
    }

    /// Times `body` (warm-up, then at least `seconds` of repeats); returns seconds per call.
    public static func time(seconds: Double = 0.5, _ body: () -> Void) -> Double {
        body()
        var runs = 0
        let start = Date()
        repeat { body(); runs += 1 } while Date().timeIntervalSince(start) < seconds
        return Date().timeIntervalSince(start) / Double(runs)
    }

    /// The GPT-2 shapes of issue 2: attention QKV, MLP up, MLP down, LM head, at 256 rows.
    public static let gpt2Shapes: [(Int, Int, Int)] = [(256, 768, 2304), (256, 768, 3072), (256, 3072, 768), (256, 768, 50257)]

    public static func gemm(shapes: [(Int, Int, Int)] = gpt2Shapes, seconds: Double = 0.5) -> [GEMMRow] {
        _ = BLAS.threads
        var rng = RNG(seed: 1)
        return shapes.map { (m, k, n) in
            let a = Tensor.randn([m, k], rng: &rng), b = Tensor.randn([k, n], rng: &rng)
            let c = Tensor(zeros: [m, n])
            let flops = 2.0 * Double(m) * Double(k) * Double(n)
            openblas_set_num_threads(Int32(BLAS.threads))
            let raw = time(seconds: seconds) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1,
                            a.pointer, Int32(k), b.pointer, Int32(n), 0, c.pointer, Int32(n))
            }
            openblas_set_num_threads(1)
            let binding = time(seconds: seconds) { _ = withNoGrad { matmul(a, b) } }
            let w = Tensor.randn([k, n], rng: &rng)
            w.requiresGrad = true
            let x = Tensor.randn([m, k], rng: &rng)
            x.requiresGrad = true
            let seed = Tensor.full([m, n], 1)
            let train = time(seconds: seconds) {
                let y = linear(x, w)
                y.backward(seed: seed)
            }
            return GEMMRow(m: m, k: k, n: n, rawGFLOPS: flops / raw / 1e9, bindingGFLOPS: flops / binding / 1e9,
                           linearTrainGFLOPS: 3 * flops / train / 1e9)
        }
    }

    /// Streaming read bandwidth from memory, GB/s: a buffer far larger than any cache (1 GiB by
    /// default; `megabytes` is in MiB) summed on all `Parallel.workers` cores, each its contiguous
    /// share; the fastest of the passes made in `seconds`. Decoding at batch 1 reads every weight
    /// once per token, so this divided by the weights' bytes bounds its tokens/s whatever the
    /// kernels do.
    public static func readBandwidth(megabytes: Int = 1024, seconds: Double = 1) -> Double {
        let count = max(megabytes, 1) << 18
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { buffer.deallocate() }
        // Every page touched first, so the passes time reads, not the kernel's page faults.
        Parallel.forRange(count) { r in (buffer + r.lowerBound).initialize(repeating: 1, count: r.count) }
        let parts = Parallel.workers
        var fastest = Double.infinity, total: Float = 0
        let start = Date()
        repeat {
            var sums = [Float](repeating: 0, count: parts)
            let t0 = Date()
            sums.withUnsafeMutableBufferPointer { out in
                Parallel.perform(iterations: parts) { p in
                    let lo = count * p / parts, hi = count * (p + 1) / parts
                    out[p] = ck_stream_sum(buffer + lo, hi - lo)
                }
            }
            fastest = min(fastest, Date().timeIntervalSince(t0))
            total += sums.reduce(0, +)
        } while Date().timeIntervalSince(start) < seconds
        // The sums are used, so the loads cannot be optimised away.
        precondition(total.isFinite, "readBandwidth: the buffer of ones summed to \(total)")
        return Double(count * 4) / fastest / 1e9
    }

    public struct DecodeRow: Sendable {
        public let name: String
        public let rows: Int, k: Int, n: Int
        /// Milliseconds per product through `BLAS.sgemm` (the few-row kernel, split across cores).
        public let milliseconds: Double
        /// The same product from OpenBLAS called directly with its own threads: `cblas_sgemv` for
        /// one row, `cblas_sgemm` for more.
        public let openBLASMilliseconds: Double
        /// Weight bytes read per second by each (the weight is read once per product).
        public var gigabytesPerSecond: Double { Double(k * n * 4) / milliseconds / 1e6 }
        public var openBLASGigabytesPerSecond: Double { Double(k * n * 4) / openBLASMilliseconds / 1e6 }
    }

    /// The products of one GPT-2 124M decoding step, at `rows` sequences: each weight (and the
    /// tied LM head, read transposed) against that many rows. Each call reads a different copy
    /// of the weight, with at least 160 MB of copies in the ring, so that the weight comes from
    /// DRAM as it does in generation and not from the 32 MB L3.
    public static func decode(rows: [Int] = [1, 8], seconds: Double = 0.5) -> [DecodeRow] {
        _ = BLAS.threads
        let shapes: [(String, Int, Int, Bool)] = [
            ("attention qkv", 768, 2304, false), ("attention proj", 768, 768, false), ("MLP up", 768, 3072, false),
            ("MLP down", 3072, 768, false), ("LM head (tied, Bᵀ)", 768, 50257, true),
        ]
        var out: [DecodeRow] = []
        for (name, k, n, transB) in shapes {
            let copies = max(1, (160 << 20) / (k * n * 4))
            let weights = (0..<copies).map { i -> Tensor in
                let w = Tensor(zeros: [k * n])
                w.pointer.update(repeating: 0.01 * Float(i % 7 + 1), count: k * n)  // touched: no shared zero pages
                return w
            }
            for m in rows {
                let a = Tensor.full([m, k], 0.5), c = Tensor(zeros: [m, n])
                let ldb = transB ? k : n
                var next = 0
                func nextWeight() -> UnsafePointer<Float> {
                    defer { next = (next + 1) % copies }
                    return UnsafePointer(weights[next].pointer)
                }
                let ours = time(seconds: seconds) {
                    BLAS.sgemm(transA: false, transB: transB, m: m, n: n, k: k, a: a.pointer, lda: k,
                               b: nextWeight(), ldb: ldb, beta: 0, c: c.pointer, ldc: n)
                }
                openblas_set_num_threads(Int32(BLAS.threads))
                let theirs = time(seconds: seconds) {
                    let b = nextWeight()
                    if m == 1 {
                        if transB {
                            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), 1, b, Int32(k), a.pointer, 1, 0, c.pointer, 1)
                        } else {
                            cblas_sgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(n), 1, b, Int32(n), a.pointer, 1, 0, c.pointer, 1)
                        }
                    } else {
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, transB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k), 1,
                                    a.pointer, Int32(k), b, Int32(ldb), 0, c.pointer, Int32(n))
                    }
                }
                openblas_set_num_threads(1)
                out.append(DecodeRow(name: name, rows: m, k: k, n: n, milliseconds: ours * 1e3, openBLASMilliseconds: theirs * 1e3))
            }
        }
        return out
    }

    /// Forward and backward throughput of the non-GEMM kernels at GPT-2 124M training shapes
    /// (batch 4 × 64 tokens, C = 768, 12 heads, V = 50257).
    public static func kernels(b: Int = 4, t: Int = 64, c: Int = 768, heads: Int = 12, vocab: Int = 50257, seconds: Double = 0.3) -> [KernelRow] {
        var rng = RNG(seed: 2)
        let n = b * t
        var rows: [KernelRow] = []
        func add(_ name: String, _ shape: String, bytes: Int, _ body: () -> Void) {
            let s = time(seconds: seconds, body)
            rows.append(KernelRow(name: name, shape: shape, milliseconds: s * 1e3, gigabytesPerSecond: Double(bytes) / s / 1e9))
        }
        let x = Tensor.randn([n, c], rng: &rng); x.requiresGrad = true
        let gamma = Tensor.full([c], 1), beta = Tensor(zeros: [c])
        gamma.requiresGrad = true; beta.requiresGrad = true
        let h = Tensor.randn([n, 4 * c], rng: &rng); h.requiresGrad = true
        let qkv = Tensor.randn([b, t, 3 * c], rng: &rng); qkv.requiresGrad = true
        let table = Tensor.randn([vocab, c], std: 0.02, rng: &rng); table.requiresGrad = true
        let ids = (0..<n).map { _ in Int32(rng.below(vocab)) }
        let hidden = Tensor.randn([n, c], rng: &rng); hidden.requiresGrad = true
        let logits = Tensor.randn([n, vocab], rng: &rng); logits.requiresGrad = true

        add("gelu fwd", "[\(n), \(4 * c)]", bytes: 8 * n * 4 * c) { _ = withNoGrad { gelu(h) } }
        add("gelu fwd+bwd", "[\(n), \(4 * c)]", bytes: 20 * n * 4 * c) { gelu(h).backward(seed: Tensor.full(h.shape, 1)) }
        add("layernorm fwd", "[\(n), \(c)]", bytes: 8 * n * c) { _ = withNoGrad { layerNorm(x, gamma, beta) } }
        add("layernorm fwd+bwd", "[\(n), \(c)]", bytes: 24 * n * c) { layerNorm(x, gamma, beta).backward(seed: Tensor.full(x.shape, 1)) }
        add("residual add fwd", "[\(n), \(c)]", bytes: 12 * n * c) { _ = withNoGrad { x + x } }
        add("attention fwd", "[\(b), \(t), \(3 * c)] h=\(heads)", bytes: 4 * (4 * n * c + b * heads * t * t)) { _ = withNoGrad { causalSelfAttention(qkv, heads: heads) } }
        add("attention fwd+bwd", "[\(b), \(t), \(3 * c)] h=\(heads)", bytes: 4 * (10 * n * c + 2 * b * heads * t * t)) {
            causalSelfAttention(qkv, heads: heads).backward(seed: Tensor.full([b, t, c], 1))
        }
        add("embedding fwd+bwd", "\(n) ids × \(c)", bytes: 16 * n * c) { embedding(table, ids).backward(seed: Tensor.full([n, c], 1)) }
        add("logsoftmax-gather fwd", "[\(n), \(vocab)]", bytes: 4 * n * vocab) { _ = withNoGrad { logSoftmaxGather(logits, targets: ids) } }
        add("logsoftmax-gather fwd+bwd", "[\(n), \(vocab)]", bytes: 12 * n * vocab) {
            logSoftmaxGather(logits, targets: ids).logProbs.backward(seed: Tensor.full([n], 1))
        }
        add("lm-head logprobs fwd+bwd", "[\(n), \(c)]·[\(vocab), \(c)]ᵀ", bytes: 4 * (3 * n * vocab + 2 * vocab * c)) {
            lmHeadLogProbs(hidden, weight: table, targets: ids).logProbs.backward(seed: Tensor.full([n], 1))
        }
        table.grad = nil; hidden.grad = nil; logits.grad = nil; x.grad = nil; h.grad = nil; qkv.grad = nil
        return rows
    }
}
