// A GEMM for the few rows of a decoding step. OpenBLAS's sgemm packs all of B (the weight)
// into its blocked layout on every call; with 8 rows of A that packing was 57% of batch-8
// generation at 124M (perf), for a product that then uses each weight only 8 times. These
// loops stream B straight from memory, once (see SkinnyGEMMBody.h).
#include "CKernels.h"
#include <math.h>
#include <string.h>

// Rows of B held in registers per vector of columns (nn): 8 measured faster than 4, 12 or 16.
#define KB 8
// Columns of C per pass over a block of rows of B (nn): C's panel (≤ 64 KB at 8 rows) stays in L2.
#define NN_PANEL 2048
// How far ahead the next rows of B are prefetched: nn, in blocks of KB rows (1–4 measured
// alike, 2 kept); nt, in rows of B (8, about 24 KB at GPT-2's width).
#define NN_AHEAD 2
#define NT_AHEAD 8
// Rows of B in flight at once when A has one row (nt): 8 and 4 measured alike, 1 and 2 slower.
#define NT_COLS 8
// Rows of B per block when A has one row (nn): 16 and 8 measured alike, 4 a little and 2 much slower.
#define NN_ONE_ROWS 16

#if defined(__x86_64__)

#define W 8
#define TARGET __attribute__((target("avx2,fma")))
#define NAME(x) x##_avx2
#include "SkinnyGEMMBody.h"
#undef W
#undef TARGET
#undef NAME

// Twice the lanes and 32 registers; on Zen 4 the FMA rate per core is the same as with AVX2,
// but each load and FMA instruction carries twice the data.
#define W 16
#define TARGET __attribute__((target("avx512f")))
#define NAME(x) x##_avx512
#include "SkinnyGEMMBody.h"
#undef W
#undef TARGET
#undef NAME

// Lanes in use: 16 (AVX-512) or 8 (AVX2); 0 until first use. Read and written atomically: the
// cores' halves of a product may both be first.
static int widest = 0;

int ck_skinny_set_lanes(int lanes) {
    int chosen = __atomic_load_n(&widest, __ATOMIC_RELAXED);
    if (lanes == 8 || (lanes == 16 && ck_has_avx512f())) chosen = lanes;
    else if (chosen == 0) chosen = ck_has_avx512f() ? 16 : 8;
    __atomic_store_n(&widest, chosen, __ATOMIC_RELAXED);
    return chosen;
}

void ck_skinny_sgemm(int transB, int m, int n, int k, float alpha, const float *a, int lda,
                     const float *b, int ldb, float beta, float *c, int ldc) {
    int lanes = __atomic_load_n(&widest, __ATOMIC_RELAXED);
    if (lanes == 0) lanes = ck_skinny_set_lanes(0);
    if (lanes == 16) {
        if (transB) nt_avx512(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        else nn_avx512(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    } else {
        if (transB) nt_avx2(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        else nn_avx2(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }
}

#else

int ck_skinny_set_lanes(int lanes) { (void)lanes; return 0; }

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
