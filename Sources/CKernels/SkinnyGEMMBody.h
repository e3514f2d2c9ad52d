// The few-row GEMM's loops, written once for a vector of W floats. SkinnyGEMM.c includes this
// file once per instruction set, with W, TARGET and NAME(x) defined; nothing else includes it.
//
// Both products are bound by memory: a decoding step uses each weight m ≤ 8 times, so at the
// core's FMA rate the weights would have to arrive at ~2 bytes per FMA, about this machine's
// whole DRAM bandwidth. What matters is that the stream from DRAM never waits: rows of B are
// read contiguously, and the rows a few steps ahead are prefetched into L2 (locality 2, `prefetcht1`).
// Into L1 instead they evicted the rows in use; without them one core read 7–10 GB/s, with them
// 17–24 GB/s (measured on the shapes of GPT-2 124M at 8 rows, one core). One row is the
// exception: there the hardware prefetcher alone did better (nn_one and nt_one, below).

typedef float NAME(vec) __attribute__((vector_size(W * sizeof(float))));

TARGET static inline NAME(vec) NAME(load)(const float *p) { NAME(vec) v; memcpy(&v, p, sizeof v); return v; }
TARGET static inline void NAME(store)(float *p, NAME(vec) v) { memcpy(p, &v, sizeof v); }
TARGET static inline NAME(vec) NAME(splat)(float x) {
    NAME(vec) v;
    for (int l = 0; l < W; l++) v[l] = x;  // a broadcast (not `0 + x`, which is an add: -0 + 0 is +0)
    return v;
}
TARGET static inline NAME(vec) NAME(fma)(NAME(vec) x, NAME(vec) y, NAME(vec) acc) {
    return __builtin_elementwise_fma(x, y, acc);
}
// Lanes summed as a fixed tree, so that a dot product's value depends only on its inputs.
TARGET static inline float NAME(sum)(NAME(vec) v) {
    float t[W];
    memcpy(t, &v, sizeof t);
    for (int w = W / 2; w >= 1; w /= 2)
        for (int l = 0; l < w; l++) t[l] += t[l + w];
    return t[0];
}

// op(B) = B, k×n. Rows of B are read KB at a time across a panel of columns, each row
// contiguously; the KB vectors taken from them stay in registers while every row of C takes its
// KB products (A's values broadcast). Each entry of C is one chain of fused multiply-adds in the
// order of k, starting from beta·C, whether its column falls in a vector or in the tail: which
// one it falls in depends on how the product was split across cores, and must not change it.
TARGET static inline __attribute__((always_inline)) void NAME(nn_scaled)(
    const int scaled, int m, int n, int k, float alpha, const float *a, int lda,
    const float *b, int ldb, float beta, float *c, int ldc) {
    for (int r = 0; r < m; r++) {
        float *cr = c + (long)r * ldc;
        for (int j = 0; j < n; j++) cr[j] = beta == 0 ? 0 : beta * cr[j];
    }
    int nv = n - n % W;
    for (int jp = 0; jp < nv; jp += NN_PANEL) {
        int je = jp + NN_PANEL < nv ? jp + NN_PANEL : nv;
        int i = 0;
        for (; i + KB <= k; i += KB) {
            const float *bi = b + (long)i * ldb;
            int ahead = i + (NN_AHEAD + 1) * KB <= k;
            for (int v = jp; v < je; v += W) {
                NAME(vec) bq[KB];
                _Pragma("clang loop unroll(full)")
                for (int q = 0; q < KB; q++) bq[q] = NAME(load)(bi + (long)q * ldb + v);
                if (ahead)
                    _Pragma("clang loop unroll(full)")
                    for (int q = 0; q < KB; q++) __builtin_prefetch(bi + (long)(NN_AHEAD * KB + q) * ldb + v, 0, 2);
                for (int r = 0; r < m; r++) {
                    const float *ar = a + (long)r * lda + i;
                    float *cr = c + (long)r * ldc + v;
                    NAME(vec) acc = NAME(load)(cr);
                    _Pragma("clang loop unroll(full)")
                    for (int q = 0; q < KB; q++) acc = NAME(fma)(NAME(splat)(scaled ? alpha * ar[q] : ar[q]), bq[q], acc);
                    NAME(store)(cr, acc);
                }
            }
        }
        for (; i < k; i++) {  // the last k mod KB rows of B
            const float *bi = b + (long)i * ldb;
            for (int v = jp; v < je; v += W) {
                NAME(vec) bv = NAME(load)(bi + v);
                for (int r = 0; r < m; r++) {
                    float *cr = c + (long)r * ldc + v;
                    NAME(store)(cr, NAME(fma)(NAME(splat)(alpha * a[(long)r * lda + i]), bv, NAME(load)(cr)));
                }
            }
        }
    }
    for (int j = nv; j < n; j++)  // the last n mod W columns: the same chain, entry by entry
        for (int r = 0; r < m; r++) {
            float s = c[(long)r * ldc + j];
            for (int i = 0; i < k; i++) s = fmaf(alpha * a[(long)r * lda + i], b[(long)i * ldb + j], s);
            c[(long)r * ldc + j] = s;
        }
}

// One row of A (batch-1 decoding): the same chains as nn_scaled, over blocks of NN_ONE_ROWS
// rows of B, without software prefetch. With one row there is a single FMA per weight and the
// loop only has to keep DRAM busy: 16 row streams left to the hardware prefetcher read MLP down
// (3072×768) at 18.7 GB/s in a C harness, nn_scaled's 8 prefetched streams at 17.3. Its own
// loop, not nn_scaled with 16 rows and prefetch off: that was 10–20% slower on every one-row
// product (`rlhf bench decode`, interleaved), its A values broadcast again for every vector.
TARGET static void NAME(nn_one)(int n, int k, float alpha, const float *a, const float *b, int ldb,
                                float beta, float *c) {
    for (int j = 0; j < n; j++) c[j] = beta == 0 ? 0 : beta * c[j];
    int nv = n - n % W;
    for (int jp = 0; jp < nv; jp += NN_PANEL) {
        int je = jp + NN_PANEL < nv ? jp + NN_PANEL : nv;
        int i = 0;
        for (; i + NN_ONE_ROWS <= k; i += NN_ONE_ROWS) {
            const float *bi = b + (long)i * ldb;
            NAME(vec) as[NN_ONE_ROWS];
            for (int q = 0; q < NN_ONE_ROWS; q++) as[q] = NAME(splat)(alpha * a[i + q]);
            for (int v = jp; v < je; v += W) {
                NAME(vec) acc = NAME(load)(c + v);
                _Pragma("clang loop unroll(full)")
                for (int q = 0; q < NN_ONE_ROWS; q++) acc = NAME(fma)(as[q], NAME(load)(bi + (long)q * ldb + v), acc);
                NAME(store)(c + v, acc);
            }
        }
        for (; i < k; i++) {
            NAME(vec) ai = NAME(splat)(alpha * a[i]);
            for (int v = jp; v < je; v += W) NAME(store)(c + v, NAME(fma)(ai, NAME(load)(b + (long)i * ldb + v), NAME(load)(c + v)));
        }
    }
    for (int j = nv; j < n; j++) {
        float s = c[j];
        for (int i = 0; i < k; i++) s = fmaf(alpha * a[i], b[(long)i * ldb + j], s);
        c[j] = s;
    }
}

TARGET static void NAME(nn)(int m, int n, int k, float alpha, const float *a, int lda,
                            const float *b, int ldb, float beta, float *c, int ldc) {
    if (m == 1) { NAME(nn_one)(n, k, alpha, a, b, ldb, beta, c); return; }
    // alpha · x is x when alpha is 1 (every linear layer): then A's values are broadcast
    // straight from memory into the FMAs, without a multiply each (0.29 against 0.35 ms at
    // 8 × 768 × 1536, one core).
    if (alpha == 1) NAME(nn_scaled)(0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else NAME(nn_scaled)(1, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// op(B) = Bᵀ, B stored n×k (the tied LM head): each entry of C is a dot product of a row of A
// with a row of B. B is read one row at a time, in order (one sequential stream), against R
// rows of A held in L1, with one accumulator per row of A. Rows past m repeat the last row, so
// every entry runs the same instructions and only `rows` are written.
TARGET static inline __attribute__((always_inline)) void NAME(nt_rows)(
    const int R, int rows, int n, int k, float alpha, const float *a, int lda,
    const float *b, int ldb, float beta, float *c, int ldc) {
    const float *ar[8];
    for (int r = 0; r < R; r++) ar[r] = a + (long)(r < rows ? r : rows - 1) * lda;
    int kv = k - k % W;
    for (int j = 0; j < n; j++) {
        const float *bj = b + (long)j * ldb;
        int ahead = j + NT_AHEAD < n;
        NAME(vec) acc[8];
        for (int r = 0; r < R; r++) acc[r] = NAME(splat)(0);
        for (int i = 0; i < kv; i += W) {
            if (ahead) __builtin_prefetch(bj + (long)NT_AHEAD * ldb + i, 0, 2);
            NAME(vec) bv = NAME(load)(bj + i);
            _Pragma("clang loop unroll(full)")
            for (int r = 0; r < R; r++) acc[r] = NAME(fma)(NAME(load)(ar[r] + i), bv, acc[r]);
        }
        for (int r = 0; r < rows; r++) {
            float s = NAME(sum)(acc[r]);
            for (int i = kv; i < k; i++) s = fmaf(ar[r][i], bj[i], s);
            float *out = c + (long)r * ldc + j;
            *out = beta == 0 ? alpha * s : alpha * s + beta * *out;
        }
    }
}

// One row of A (batch-1 decoding): NT_COLS rows of B at a time, one accumulator each, so that
// NT_COLS independent chains hide the FMA's latency. nt_rows on one row ran one chain (the other
// accumulators repeating it): it waited on each FMA, and read B at 28.0 GB/s against this loop's
// 30–33 on the 2-core EPYC (`rlhf bench decode`). Each entry is the same chain as in nt_rows.
// No software prefetch: B is one sequential stream, which the hardware prefetcher follows; with
// prefetches 8 or 16 rows ahead this loop was 5–15% slower.
TARGET static void NAME(nt_one)(int n, int k, float alpha, const float *a, const float *b, int ldb,
                                float beta, float *c) {
    int kv = k - k % W;
    int j = 0;
    for (; j < n; j += NT_COLS) {
        int cols = n - j < NT_COLS ? n - j : NT_COLS;
        const float *bj = b + (long)j * ldb;
        NAME(vec) acc[NT_COLS];
        for (int q = 0; q < NT_COLS; q++) acc[q] = NAME(splat)(0);
        if (cols == NT_COLS) {
            for (int i = 0; i < kv; i += W) {
                NAME(vec) av = NAME(load)(a + i);
                _Pragma("clang loop unroll(full)")
                for (int q = 0; q < NT_COLS; q++) acc[q] = NAME(fma)(av, NAME(load)(bj + (long)q * ldb + i), acc[q]);
            }
        } else {
            for (int q = 0; q < cols; q++)
                for (int i = 0; i < kv; i += W) acc[q] = NAME(fma)(NAME(load)(a + i), NAME(load)(bj + (long)q * ldb + i), acc[q]);
        }
        for (int q = 0; q < cols; q++) {
            float s = NAME(sum)(acc[q]);
            for (int i = kv; i < k; i++) s = fmaf(a[i], bj[(long)q * ldb + i], s);
            c[j + q] = beta == 0 ? alpha * s : alpha * s + beta * c[j + q];
        }
    }
}

TARGET static void NAME(nt)(int m, int n, int k, float alpha, const float *a, int lda,
                            const float *b, int ldb, float beta, float *c, int ldc) {
    if (m == 1) { NAME(nt_one)(n, k, alpha, a, b, ldb, beta, c); return; }
    for (int r0 = 0; r0 < m; r0 += 8) {
        int rows = m - r0 < 8 ? m - r0 : 8;
        const float *ar = a + (long)r0 * lda;
        float *cr = c + (long)r0 * ldc;
        // Four accumulators when four rows do: padding 2–4 rows to 8 would double their FMAs.
        if (rows <= 4) NAME(nt_rows)(4, rows, n, k, alpha, ar, lda, b, ldb, beta, cr, ldc);
        else NAME(nt_rows)(8, rows, n, k, alpha, ar, lda, b, ldb, beta, cr, ldc);
    }
}
