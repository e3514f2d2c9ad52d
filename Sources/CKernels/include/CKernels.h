#ifndef CKERNELS_H
#define CKERNELS_H

/// Whether this CPU runs the AVX2+FMA kernels below (checked once, at run time, so the package
/// builds for baseline x86-64 and still uses the vector units it finds).
int ck_has_avx2_fma(void);

/// C[m×n] = alpha · A[m×k] · op(B) + beta · C for a few rows of A (a decoding step; any m works,
/// 2–8 is what it is for), row-major, reading B once without packing it. op(B) is B (k×n, row stride ldb) when
/// transB is 0, Bᵀ (B stored n×k) when it is 1. With beta = 0, C is only written.
/// Needs ck_has_avx2_fma().
void ck_skinny_sgemm(int transB, int m, int n, int k, float alpha, const float *a, int lda,
                     const float *b, int ldb, float beta, float *c, int ldc);

#endif
