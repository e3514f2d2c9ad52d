import Support
import Tensors

/// GPT-2 as `transformers` defines it (`GPT2Model` + tied LM head): learned token and position
/// embeddings, pre-LayerNorm blocks (ln_1 → attention → residual, ln_2 → MLP with gelu_new →
/// residual), final ln_f. Weights use Conv1D's `[in, out]` layout so checkpoints load unchanged.
public final class GPT2 {
    /// One transformer block's parameters, named as in Hugging Face checkpoints.
    public final class Block {
        public let ln1Gain, ln1Bias: Tensor
        public let attnWeight, attnBias: Tensor        // c_attn: [C, 3C]
        public let attnProjWeight, attnProjBias: Tensor // attn.c_proj: [C, C]
        public let ln2Gain, ln2Bias: Tensor
        public let fcWeight, fcBias: Tensor             // mlp.c_fc: [C, inner]
        public let mlpProjWeight, mlpProjBias: Tensor   // mlp.c_proj: [inner, C]

        init(c: Int, inner: Int) {
            ln1Gain = Tensor.full([c], 1); ln1Bias = Tensor(zeros: [c])
            attnWeight = Tensor(zeros: [c, 3 * c]); attnBias = Tensor(zeros: [3 * c])
            attnProjWeight = Tensor(zeros: [c, c]); attnProjBias = Tensor(zeros: [c])
            ln2Gain = Tensor.full([c], 1); ln2Bias = Tensor(zeros: [c])
            fcWeight = Tensor(zeros: [c, inner]); fcBias = Tensor(zeros: [inner])
            mlpProjWeight = Tensor(zeros: [inner, c]); mlpProjBias = Tensor(zeros: [c])
        }

        func named(_ prefix: String) -> [(String, Tensor)] {
            [("\(prefix).ln_1.weight", ln1Gain), ("\(prefix).ln_1.bias", ln1Bias),
             ("\(prefix).attn.c_attn.weight", attnWeight), ("\(prefix).attn.c_attn.bias", attnBias),
             ("\(prefix).attn.c_proj.weight", attnProjWeight), ("\(prefix).attn.c_proj.bias", attnProjBias),
             ("\(prefix).ln_2.weight", ln2Gain), ("\(prefix).ln_2.bias", ln2Bias),
             ("\(prefix).mlp.c_fc.weight", fcWeight), ("\(prefix).mlp.c_fc.bias", fcBias),
             ("\(prefix).mlp.c_proj.weight", mlpProjWeight), ("\(prefix).mlp.c_proj.bias", mlpProjBias)]
        }
    }

    public let config: GPT2Config
    /// Extra `config.json` keys to write with this model (e.g. reward normalisation).
    public var configOverride: [String: JSONValue] = [:]
    public let tokenEmbedding: Tensor     // wte: [V, C], also the LM head when tied
    public let positionEmbedding: Tensor  // wpe: [n_positions, C]
    public let blocks: [Block]
    public let finalGain, finalBias: Tensor
    /// Present only when `tie_word_embeddings` is false.
    public let untiedHead: Tensor?

    /// Dropout is applied only while `training` is true (pretraining, SFT, reward training).
    public var training = false

    /// Runs `body` with dropout off, restoring `training` after. The flag is written only when it
    /// is on: a model that inference shares between threads (the demo's SFT and reward models,
    /// read by two lanes at once) is then never written to by them.
    public func withDropoutOff<T>(_ body: () throws -> T) rethrows -> T {
        guard training else { return try body() }
        training = false
        defer { training = true }
        return try body()
    }
    /// Draws dropout masks; part of a checkpoint's state so a resumed run matches.
    public var dropoutRNG = RNG(seed: 0, stream: 11)

    /// A GPT-2 with zeroed weights (`seed` nil: weights are about to be loaded) or initialised as
    /// transformers does for training from scratch: N(0, 0.02) weights, N(0, 0.02/√(2·n_layer))
    /// for the residual projections (GPT-2 paper's scaled init), zero biases, unit LayerNorm gains.
    public init(config: GPT2Config, seed: UInt64? = nil) {
        self.config = config
        let c = config.nEmbd, inner = config.innerDim
        tokenEmbedding = Tensor(zeros: [config.vocabSize, c])
        positionEmbedding = Tensor(zeros: [config.nPositions, c])
        blocks = (0..<config.nLayer).map { _ in Block(c: c, inner: inner) }
        finalGain = Tensor.full([c], 1)
        finalBias = Tensor(zeros: [c])
        untiedHead = config.tieWordEmbeddings ? nil : Tensor(zeros: [config.vocabSize, c])
        if let seed {
            var r = RNG(seed: seed, stream: 1)
            let std: Float = 0.02, proj = 0.02 / Float(2 * config.nLayer).squareRoot()
            func fill(_ t: Tensor, _ s: Float) { for i in 0..<t.count { t.pointer[i] = r.normal() * s } }
            fill(tokenEmbedding, std)
            fill(positionEmbedding, std)
            for b in blocks {
                fill(b.attnWeight, std); fill(b.attnProjWeight, proj)
                fill(b.fcWeight, std); fill(b.mlpProjWeight, proj)
            }
            if let h = untiedHead { fill(h, std) }
        }
        for (name, t) in parameters { t.name = name; t.requiresGrad = true }
    }

    /// Every parameter with its Hugging Face name (hub layout, without `transformer.`).
    public var parameters: [(String, Tensor)] {
        var out: [(String, Tensor)] = [("wte.weight", tokenEmbedding), ("wpe.weight", positionEmbedding)]
        for (i, b) in blocks.enumerated() { out += b.named("h.\(i)") }
        out += [("ln_f.weight", finalGain), ("ln_f.bias", finalBias)]
        if let h = untiedHead { out.append(("lm_head.weight", h)) }
        return out
    }

    /// The matrix whose rows score each vocabulary entry: wte when tied.
    public var headWeight: Tensor { untiedHead ?? tokenEmbedding }

    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.1.count } }

    /// Positions 0, 1, … for each row, or, with a left-padding `keyMask`, the count of real tokens
    /// before each position (pads get 1), which is what transformers' generate uses.
    public static func positions(batch: Int, length: Int, keyMask: [Float]?, offset: Int = 0) -> [Int32] {
        var out = [Int32](repeating: 0, count: batch * length)
        for b in 0..<batch {
            var seen = 0
            for t in 0..<length {
                if let keyMask {
                    let real = keyMask[b * length + t] != 0
                    out[b * length + t] = Int32(real ? seen : 1)
                    if real { seen += 1 }
                } else {
                    out[b * length + t] = Int32(offset + t)
                }
            }
        }
        return out
    }

    /// Final hidden states `[B·T, C]` (after ln_f) for `ids` laid out `[B, T]` row-major.
    /// `keyMask` (`[B·T]`, 0 = padding) hides pad tokens from attention; `positions` default to
    /// `GPT2.positions(…)`.
    public func hiddenStates(ids: [Int32], batch: Int, length: Int, keyMask: [Float]? = nil, positions: [Int32]? = nil) -> Tensor {
        let c = config.nEmbd
        guard ids.count == batch * length else {
            fatalError("GPT2: \(ids.count) ids for batch \(batch) × length \(length)")
        }
        guard length <= config.nPositions else {
            fatalError("GPT2: sequence of \(length) tokens exceeds n_positions \(config.nPositions)")
        }
        let pos = positions ?? GPT2.positions(batch: batch, length: length, keyMask: keyMask)
        return trunk(ids, positions: pos) { qkv, dropout in
            let q = qkv.reshaped([batch, length, 3 * c])
            let a = dropout > 0 ? causalSelfAttention(q, heads: config.nHead, keyMask: keyMask, dropout: dropout, rng: &dropoutRNG)
                                : causalSelfAttention(q, heads: config.nHead, keyMask: keyMask)
            return a.reshaped([batch * length, c])
        }
    }

    /// Final hidden states `[N, C]` for sequences packed end to end without padding: `ids` holds
    /// sequence 0's tokens, then sequence 1's, …, `lengths` summing to N. Each sequence attends
    /// only to itself and its positions count from 0, so its hidden states are those it has
    /// alone (up to rounding), and a batch of uneven sequences costs its real tokens only.
    public func hiddenStates(packed ids: [Int32], lengths: [Int]) -> Tensor {
        guard lengths.allSatisfy({ $0 > 0 && $0 <= config.nPositions }), lengths.reduce(0, +) == ids.count else {
            fatalError("GPT2: packed lengths \(lengths) must each be in 1...\(config.nPositions) and sum to the \(ids.count) ids")
        }
        return trunk(ids, positions: lengths.flatMap { (0..<Int32($0)).map { $0 } }) { qkv, dropout in
            dropout > 0 ? causalSelfAttention(packed: qkv, heads: config.nHead, lengths: lengths, dropout: dropout, rng: &dropoutRNG)
                        : causalSelfAttention(packed: qkv, heads: config.nHead, lengths: lengths)
        }
    }

    /// Embeddings, the blocks and ln_f over `[N]` tokens; `attend` maps a block's `[N, 3C]`
    /// projection to its `[N, C]` attention output, given the attention dropout to apply.
    private func trunk(_ ids: [Int32], positions: [Int32], attend: (Tensor, Float) -> Tensor) -> Tensor {
        var x = embedding(tokenEmbedding, ids) + embedding(positionEmbedding, positions)
        x = drop(x, config.embdPdrop)
        let attnDropout = training ? Float(config.attnPdrop) : 0
        for block in blocks {
            let h = layerNorm(x, block.ln1Gain, block.ln1Bias, eps: config.epsilon)
            let a = attend(linear(h, block.attnWeight, block.attnBias), attnDropout)
            x = x + drop(linear(a, block.attnProjWeight, block.attnProjBias), config.residPdrop)
            let h2 = layerNorm(x, block.ln2Gain, block.ln2Bias, eps: config.epsilon)
            let m = linear(gelu(linear(h2, block.fcWeight, block.fcBias)), block.mlpProjWeight, block.mlpProjBias)
            x = x + drop(m, config.residPdrop)
        }
        return layerNorm(x, finalGain, finalBias, eps: config.epsilon)
    }

    /// Logits `[N, V]` for hidden states `[N, C]`.
    public func logits(_ hidden: Tensor) -> Tensor {
        linear(hidden, headWeight, transposedWeight: true)
    }

    /// Log-probabilities (and optionally entropies) of `targets` given hidden states, through the
    /// fused LM head so the `[N, V]` logits need not be kept. Negative targets are ignored.
    public func tokenLogProbs(_ hidden: Tensor, targets: [Int32], temperature: Float = 1, entropy: Bool = false) -> TokenLogProbs {
        lmHeadLogProbs(hidden, weight: headWeight, targets: targets, temperature: temperature, entropy: entropy)
    }

    /// Hidden states `[B·Tn, C]` for `Tn` new tokens per row that follow the `cache.length`
    /// positions already in `cache`; appends their keys and values. Inference only.
    /// `keyMask` covers the cache's whole capacity (`[B · capacity]`).
    public func decode(ids: [Int32], positions: [Int32], batch: Int, length: Int, cache: KVCache, keyMask: [Float]?) -> Tensor {
        let c = config.nEmbd
        return withNoGrad {
            var x = embedding(tokenEmbedding, ids) + embedding(positionEmbedding, positions)
            for (l, block) in blocks.enumerated() {
                let h = layerNorm(x, block.ln1Gain, block.ln1Bias, eps: config.epsilon)
                let qkv = linear(h, block.attnWeight, block.attnBias).reshaped([batch, length, 3 * c])
                let a = cachedSelfAttention(qkv, heads: config.nHead, cache: cache, layer: l, keyMask: keyMask)
                x = x + linear(a.reshaped([batch * length, c]), block.attnProjWeight, block.attnProjBias)
                let h2 = layerNorm(x, block.ln2Gain, block.ln2Bias, eps: config.epsilon)
                x = x + linear(gelu(linear(h2, block.fcWeight, block.fcBias)), block.mlpProjWeight, block.mlpProjBias)
            }
            cache.advance(length)
            return layerNorm(x, finalGain, finalBias, eps: config.epsilon)
        }
    }

    /// A KV cache sized for this model.
    public func makeCache(batch: Int, capacity: Int) -> KVCache {
        KVCache(layers: config.nLayer, batch: batch, heads: config.nHead, headDim: config.headDim, capacity: capacity)
    }

    private func drop(_ x: Tensor, _ p: Double) -> Tensor {
        guard training, p > 0 else { return x }
        return dropout(x, p: Float(p), rng: &dropoutRNG)
    }

    /// Copies every parameter's values from `other` (same config): the frozen reference policy
    /// in RL, or a reward model's trunk initialised from the SFT model.
    public func copyWeights(from other: GPT2) {
        for ((n, a), (_, b)) in zip(parameters, other.parameters) {
            precondition(a.shape == b.shape, "copyWeights: \(n) shapes \(a.shape) and \(b.shape) differ")
            a.assign(b)
        }
    }
}
