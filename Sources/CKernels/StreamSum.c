// A sum over a long buffer at the widest vector width the CPU has: the memory read bandwidth
// benchmark's inner loop. In C because Swift's SIMD8 loop (AVX2 at most, as the package builds)
// read 20 GB/s where this reads 25 on the 2-core AVX-512 Xeon (2026-12-06), and a ceiling should
// be the most the machine gives.
#include "CKernels.h"

// 16 floats, loadable from any address: one AVX-512 register, or two AVX2 ones.
typedef float v16 __attribute__((vector_size(64), aligned(4)));

// One body, compiled for each instruction set below. Four accumulators: one would wait on the
// add's latency, not on memory.
#define STREAM_SUM_BODY                                                                     \
    {                                                                                       \
        v16 a0 = {0}, a1 = a0, a2 = a0, a3 = a0;                                            \
        long i = 0;                                                                         \
        for (; i + 64 <= n; i += 64) {                                                      \
            a0 += *(const v16 *)(x + i);                                                    \
            a1 += *(const v16 *)(x + i + 16);                                               \
            a2 += *(const v16 *)(x + i + 32);                                               \
            a3 += *(const v16 *)(x + i + 48);                                               \
        }                                                                                   \
        v16 t = (a0 + a1) + (a2 + a3);                                                      \
        float s = 0;                                                                        \
        for (int l = 0; l < 16; l++) s += t[l];                                             \
        for (; i < n; i++) s += x[i];                                                       \
        return s;                                                                           \
    }

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static float sum_avx512(const float *x, long n) STREAM_SUM_BODY
__attribute__((target("avx2"))) static float sum_avx2(const float *x, long n) STREAM_SUM_BODY
#endif
static float sum_baseline(const float *x, long n) STREAM_SUM_BODY

float ck_stream_sum(const float *x, long n) {
#if defined(__x86_64__)
    if (ck_has_avx512f()) return sum_avx512(x, n);
    if (__builtin_cpu_supports("avx2")) return sum_avx2(x, n);
#endif
    return sum_baseline(x, n);
}
