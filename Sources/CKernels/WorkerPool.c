// A pool of worker threads for short parallel loops: ck_parallel_for.
//
// Why not GCD's concurrentPerform: on the 2-core Xeon (2026-12-06) two 1 ms iterations took
// 1.59 ms through it, 1.04 with a fresh pthread: its sleeping worker often woke after the caller
// had already run both iterations. A training step is thousands of loops of 0.1-3 ms (GEMM blocks,
// element-wise kernels), so that wake-up cost most of the second core. Here the workers spin
// for a while after each loop, waiting for the next one, and only then sleep.
//
// Protocol. One loop runs at a time (`owner_taken`; a call made while another runs, or from inside
// a loop, runs its iterations on the calling thread: with lanes of two or more cores each, as on a
// 4-core machine with two lanes, one lane's loops then run on one core; on two cores a lane has one
// core and splits only once the other lanes have ended, when it takes their cores). Every worker
// sees every loop, but only `threads` threads in all (the caller included) take its iterations: a
// loop split into more blocks than cores, so that a faster core can take more of them, must not
// spread a lane's work over the other lanes' cores. So on many cores a loop still wakes every
// worker. A loop is published in one of two slots, by generation; workers count themselves in
// `busy` before reading the generation, and the caller waits for `busy` to fall to zero before it
// rewrites a slot. So a worker that reads generation g finds slot g intact: slot g is rewritten
// only at g + 2, and that waits for the worker to leave.
#include "CKernels.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define RELAX() _mm_pause()
#else
#define RELAX() ((void)0)
#endif

typedef struct {
    ck_task fn;
    void *ctx;
    long n;
    _Atomic long next;  // the next iteration to hand out
    _Atomic long done;  // iterations finished
    _Atomic int seats;  // workers that may still join (the caller is not counted)
} loop_t;

enum { MAX_WORKERS = 255 };
static loop_t slots[2];
static _Atomic long generation;    // loops published so far; slot = generation % 2
static _Atomic int busy;           // workers between counting themselves in and out of a loop
static _Atomic int sleepers;       // workers blocked on `wake`
static _Atomic int owner_taken;    // 1 while a caller runs a loop
static _Atomic int workers;        // threads started (the caller is the extra one)
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static _Thread_local bool inside;  // this thread is running an iteration

// How long an idle worker keeps looking for the next loop before it sleeps. Long enough to span
// the serial code between two kernels of a training step, short enough that a finished step
// does not hold the core.
static const long spin_ns = 200000;

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

// The caller's waits for workers: short ones spin, and after 2048 pauses (tens of µs) it yields
// its core each time round, in case the worker it waits for was preempted and wants it (a loaded machine).
static void pause_or_yield(long spins) {
    if (spins < 2048) RELAX();
    else sched_yield();
}

static void run_iterations(loop_t *loop) {
    bool was = inside;
    inside = true;
    long i;
    while ((i = atomic_fetch_add_explicit(&loop->next, 1, memory_order_relaxed)) < loop->n) {
        loop->fn(loop->ctx, i);
        atomic_fetch_add_explicit(&loop->done, 1, memory_order_release);
    }
    inside = was;
}

static void *worker_main(void *unused) {
    (void)unused;
    long seen = 0;
    for (;;) {
        // Wait for a generation this worker has not joined: spin, then sleep.
        long start = now_ns(), spins = 0;
        while (atomic_load_explicit(&generation, memory_order_acquire) == seen) {
            RELAX();
            if (++spins % 256 == 0 && now_ns() - start > spin_ns) {
                pthread_mutex_lock(&lock);
                atomic_fetch_add(&sleepers, 1);
                while (atomic_load(&generation) == seen) pthread_cond_wait(&wake, &lock);
                atomic_fetch_sub(&sleepers, 1);
                pthread_mutex_unlock(&lock);
                break;
            }
        }
        // Counted in before reading the generation, and both sequentially consistent, as is the
        // caller's load of `busy` before it rewrites a slot: one of the two sees the other.
        atomic_fetch_add(&busy, 1);
        long g = atomic_load(&generation);
        if (g != seen) {
            seen = g;
            loop_t *loop = &slots[g % 2];
            if (atomic_fetch_sub_explicit(&loop->seats, 1, memory_order_relaxed) > 0) run_iterations(loop);
        }
        atomic_fetch_sub_explicit(&busy, 1, memory_order_release);
    }
    return NULL;
}

int ck_pool_start(int threads) {
    pthread_mutex_lock(&lock);
    int want = threads - 1 < MAX_WORKERS ? threads - 1 : MAX_WORKERS;
    while (workers < want) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        // Iterations run kernels only (no recursion into autograd), but OpenBLAS's GEMM wants
        // a few hundred KB of stack; 8 MB, as a main thread gets.
        pthread_attr_setstacksize(&attr, 8 << 20);
        int failed = pthread_create(&t, &attr, worker_main, NULL);
        pthread_attr_destroy(&attr);
        if (failed) break;
        pthread_detach(t);
        workers++;
    }
    int started = workers;
    pthread_mutex_unlock(&lock);
    return started + 1;
}

void ck_parallel_for(long n, int threads, ck_task fn, void *ctx) {
    if (n <= 0) return;
    int expected = 0;
    if (n == 1 || threads < 2 || atomic_load_explicit(&workers, memory_order_relaxed) == 0 || inside
        || !atomic_compare_exchange_strong(&owner_taken, &expected, 1)) {
        // Nested, concurrent with another caller's loop, or nothing to share: run here.
        for (long i = 0; i < n; i++) fn(ctx, i);
        return;
    }
    // Workers still counted in from an earlier loop may read the slot this one reuses.
    for (long spins = 1; atomic_load(&busy) != 0; spins++) pause_or_yield(spins);
    long g = atomic_load_explicit(&generation, memory_order_relaxed) + 1;
    loop_t *loop = &slots[g % 2];
    loop->fn = fn;
    loop->ctx = ctx;
    loop->n = n;
    atomic_store_explicit(&loop->next, 0, memory_order_relaxed);
    atomic_store_explicit(&loop->done, 0, memory_order_relaxed);
    atomic_store_explicit(&loop->seats, threads - 1, memory_order_relaxed);
    // Sequentially consistent, with the load of `sleepers` after it and the worker's increment of
    // `sleepers` before its load of `generation`: one of the two sees the other's write, so a
    // worker never sleeps through a loop it was not woken for.
    atomic_store(&generation, g);
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&lock);
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&lock);
    }
    run_iterations(loop);
    for (long spins = 1; atomic_load_explicit(&loop->done, memory_order_acquire) < n; spins++) pause_or_yield(spins);
    atomic_store_explicit(&owner_taken, 0, memory_order_release);
}
