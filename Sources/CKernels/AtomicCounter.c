// A counter threads share, for Swift code that cannot use the Synchronization module's Atomic
// (it needs macOS 15; the package supports 14): Parallel.jobs' count of running lanes.
#include "CKernels.h"

#include <stdatomic.h>
#include <stdlib.h>

struct ck_counter { _Atomic long value; };

ck_counter *ck_counter_new(long value) {
    ck_counter *c = malloc(sizeof *c);
    if (c) atomic_init(&c->value, value);
    return c;
}

long ck_counter_load(const ck_counter *c) {
    return atomic_load_explicit(&((ck_counter *)c)->value, memory_order_relaxed);
}

long ck_counter_add(ck_counter *c, long delta) {
    return atomic_fetch_add_explicit(&c->value, delta, memory_order_relaxed) + delta;
}

void ck_counter_free(ck_counter *c) { free(c); }
