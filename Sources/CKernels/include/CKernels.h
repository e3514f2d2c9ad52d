#ifndef CKERNELS_H
#define CKERNELS_H

/// Whether this CPU runs the AVX2+FMA kernels below (checked once, at run time, so the package
/// builds for baseline x86-64 and still uses the vector units it finds).
int ck_has_avx2_fma(void);

/// Whether this CPU (and the OS, which must save the registers) has AVX-512F, which the few-row
/// kernel's 16-lane variant needs.
int ck_has_avx512f(void);

/// Whether this CPU (and the OS, which must save the registers) has the AVX-512 subsets
/// OpenBLAS's SkylakeX kernels use: F, CD, BW, DQ and VL.
int ck_has_avx512_skylakex(void);

/// C[m×n] = alpha · A[m×k] · op(B) + beta · C for a few rows of A (a decoding step; any m works,
/// 1–8 is what it is for), row-major, reading B once without packing it. op(B) is B (k×n, row stride ldb) when
/// transB is 0, Bᵀ (B stored n×k) when it is 1. With beta = 0, C is only written.
/// Needs ck_has_avx2_fma(). Uses AVX-512 where the CPU has it, else AVX2 (see ck_skinny_set_lanes).
void ck_skinny_sgemm(int transB, int m, int n, int k, float alpha, const float *a, int lda,
                     const float *b, int ldb, float beta, float *c, int ldc);

/// Chooses the vector width of ck_skinny_sgemm: 16 lanes (AVX-512, if the CPU has it) or 8 (AVX2);
/// any other value keeps the current choice. Returns the width in effect (0 off x86-64). The
/// default is the widest the CPU has; tests use this to check both.
int ck_skinny_set_lanes(int lanes);

/// One iteration of a parallel loop: fn(ctx, i).
typedef void (*ck_task)(void *ctx, long i);

/// Starts worker threads so that loops run on `threads` threads in all, the caller included
/// (never fewer than already started). Returns the number in effect.
int ck_pool_start(int threads);

/// Runs fn(ctx, i) for i in 0..<n on at most `threads` threads, the calling thread and the pool's
/// workers, each taking the next iteration as it becomes free; returns when all have finished.
/// Called from inside an iteration, or while another thread's loop runs, it runs the iterations
/// on the calling thread, in order.
void ck_parallel_for(long n, int threads, ck_task fn, void *ctx);

/// A long that threads read and change atomically (relaxed order: a count, not a lock).
typedef struct ck_counter ck_counter;
/// A new counter holding `value`, or NULL if out of memory.
ck_counter *ck_counter_new(long value);
long ck_counter_load(const ck_counter *c);
/// Adds `delta` and returns the new value.
long ck_counter_add(ck_counter *c, long delta);
void ck_counter_free(ck_counter *c);

/// The sum of n floats, read at the widest vector width the CPU has, in no particular order: the
/// inner loop of the memory read bandwidth benchmark, not for values that must be reproducible.
float ck_stream_sum(const float *x, long n);

#endif
