// A GEMM for the few rows of a decoding step. OpenBLAS's sgemm packs all of B (the weight)
// into its blocked layout on every call; with 8 rows of A that packing was 57% of batch-8
// generation at 124M (perf), for a product that then uses each weight only 8 times. These
// loops stream B straight from memory, once, and keep the few rows of C in registers.
#include "CKernels.h"
#include <math.h>
#include <string.h>

typedef float v8 __attribute__((vector_size(32)));

#define TARGET __attribute__((target("avx2,fma")))

int ck_has_avx2_fma(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

#if defined(__x86_64__)

TARGET static inline v8 load8(const float *p) { v8 v; memcpy(&v, p, sizeof v); return v; }
TARGET static inline void store8(float *p, v8 v) { memcpy(p, &v, sizeof v); }
TARGET static inline v8 splat8(float x) { return (v8){x, x, x, x, x, x, x, x}; }
TARGET static inline float sum8(v8 v) {
    return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

TARGET static inline void put(float *c, float acc, float alpha, float beta) {
    *c = beta == 0 ? alpha * acc : alpha * acc + beta * *c;
}

// op(B) = B, k×n. B is read row by row, four rows at a time, each row contiguously (strips of
// columns walked down k would read one line per 9–12 KB row stride and stall on every load).
// C is done in panels of up to 512 columns, so a panel of C's rows (≤ 16 KB) and the four rows
// of B under it stay in L1 while two rows of C take their four products each per pass.
#define PANEL 512

// The last w mod 8 columns, rounded exactly as the vector lanes round theirs (four fused
// multiply-adds in order), so that where a column falls — in a vector or in the tail, which
// depends on how the product was split across cores — never changes its value.
TARGET static inline float chain4(float c, float x0, float x1, float x2, float x3,
                                  float p0, float p1, float p2, float p3) {
    return fmaf(x3, p3, fmaf(x2, p2, fmaf(x1, p1, fmaf(x0, p0, c))));
}
TARGET static void nn(int m, int n, int k, float alpha, const float *a, int lda,
                      const float *b, int ldb, float beta, float *c, int ldc) {
    for (int r = 0; r < m; r++) {
        float *cr = c + (long)r * ldc;
        for (int j = 0; j < n; j++) cr[j] = beta == 0 ? 0 : beta * cr[j];
    }
    for (int jp = 0; jp < n; jp += PANEL) {
        int w = n - jp < PANEL ? n - jp : PANEL, w8 = w & ~7;
        int i = 0;
        for (; i + 4 <= k; i += 4) {
            const float *b0 = b + (long)i * ldb + jp, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
            int r = 0;
            for (; r + 2 <= m; r += 2) {
                const float *x = a + (long)r * lda + i, *y = x + lda;
                v8 x0 = splat8(alpha * x[0]), x1 = splat8(alpha * x[1]), x2 = splat8(alpha * x[2]), x3 = splat8(alpha * x[3]);
                v8 y0 = splat8(alpha * y[0]), y1 = splat8(alpha * y[1]), y2 = splat8(alpha * y[2]), y3 = splat8(alpha * y[3]);
                float *c0 = c + (long)r * ldc + jp, *c1 = c0 + ldc;
                for (int v = 0; v < w8; v += 8) {
                    v8 p0 = load8(b0 + v), p1 = load8(b1 + v), p2 = load8(b2 + v), p3 = load8(b3 + v);
                    // Written as a chain: clang fuses each `+ x * p` into one multiply-add, in order.
                    store8(c0 + v, load8(c0 + v) + x0 * p0 + x1 * p1 + x2 * p2 + x3 * p3);
                    store8(c1 + v, load8(c1 + v) + y0 * p0 + y1 * p1 + y2 * p2 + y3 * p3);
                }
                for (int v = w8; v < w; v++) {
                    c0[v] = chain4(c0[v], x0[0], x1[0], x2[0], x3[0], b0[v], b1[v], b2[v], b3[v]);
                    c1[v] = chain4(c1[v], y0[0], y1[0], y2[0], y3[0], b0[v], b1[v], b2[v], b3[v]);
                }
            }
            if (r < m) {  // an odd last row
                const float *x = a + (long)r * lda + i;
                v8 x0 = splat8(alpha * x[0]), x1 = splat8(alpha * x[1]), x2 = splat8(alpha * x[2]), x3 = splat8(alpha * x[3]);
                float *c0 = c + (long)r * ldc + jp;
                for (int v = 0; v < w8; v += 8)
                    store8(c0 + v, load8(c0 + v) + x0 * load8(b0 + v) + x1 * load8(b1 + v) + x2 * load8(b2 + v) + x3 * load8(b3 + v));
                for (int v = w8; v < w; v++) c0[v] = chain4(c0[v], x0[0], x1[0], x2[0], x3[0], b0[v], b1[v], b2[v], b3[v]);
            }
        }
        for (; i < k; i++) {  // the last k mod 4 rows of B
            const float *bi = b + (long)i * ldb + jp;
            for (int r = 0; r < m; r++) {
                float s = alpha * a[(long)r * lda + i];
                float *cr = c + (long)r * ldc + jp;
                for (int v = 0; v < w; v++) cr[v] = fmaf(s, bi[v], cr[v]);
            }
        }
    }
}

// op(B) = Bᵀ, B stored n×k: each C entry is a dot product of a row of A with a row of B. One
// row of B at a time, streamed once, against the rows of A (which stay in L1) four at a time,
// vectorised along k; a second group of four re-reads the row from L1. At the LM head's
// 50257 × 768 with 8 rows on one core: 26 ms against OpenBLAS's SGEMM 28–33 ms. (All 8 rows in
// one group, or two rows of B against four of A, were no faster.)
TARGET static void nt(int m, int n, int k, float alpha, const float *a, int lda,
                      const float *b, int ldb, float beta, float *c, int ldc) {
    int k8 = k & ~7;
    for (int j = 0; j < n; j++) {
        const float *bj = b + (long)j * ldb;
        for (int r0 = 0; r0 < m; r0 += 4) {
            int rows = m - r0 < 4 ? m - r0 : 4;
            v8 acc[4] = {0};
            const float *ar = a + (long)r0 * lda;
            for (int i = 0; i < k8; i += 8) {
                v8 bv = load8(bj + i);
                for (int r = 0; r < rows; r++) acc[r] += load8(ar + (long)r * lda + i) * bv;
            }
            for (int r = 0; r < rows; r++) {
                float s = sum8(acc[r]);
                for (int i = k8; i < k; i++) s += ar[(long)r * lda + i] * bj[i];
                put(c + (long)(r0 + r) * ldc + j, s, alpha, beta);
            }
        }
    }
}

void ck_skinny_sgemm(int transB, int m, int n, int k, float alpha, const float *a, int lda,
                     const float *b, int ldb, float beta, float *c, int ldc) {
    if (transB) nt(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else nn(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

#else

// Not reached (ck_has_avx2_fma() is 0 here); correct all the same.
void ck_skinny_sgemm(int transB, int m, int n, int k, float alpha, const float *a, int lda,
                     const float *b, int ldb, float beta, float *c, int ldc) {
    for (int r = 0; r < m; r++)
        for (int j = 0; j < n; j++) {
            float acc = 0;
            for (int i = 0; i < k; i++) acc += a[(long)r * lda + i] * (transB ? b[(long)j * ldb + i] : b[(long)i * ldb + j]);
            c[(long)r * ldc + j] = beta == 0 ? alpha * acc : alpha * acc + beta * c[(long)r * ldc + j];
        }
}

#endif
