/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The daemons' side of the poll wake-up test: a thread that, once armed
 * for an open file, waits BENCH_POLL_DELAY_NS, records CLOCK_MONOTONIC and
 * calls the daemon's "make it readable" function for that file.
 */
#ifndef BENCH_NOTIFIER_H
#define BENCH_NOTIFIER_H

#include <stdint.h>

/* Start the thread; fire(target) makes target readable.  0 or -errno. */
int notifier_start(void (*fire)(void *target));
/* Fire for target after the delay (replaces an earlier arming). */
void notifier_arm(void *target);
/* target is going away: forget it; returns after a running fire ended. */
void notifier_cancel(void *target);
/* The timestamp of the last fire, CLOCK_MONOTONIC ns (0: none yet). */
uint64_t notifier_stamp(void);
/* CLOCK_MONOTONIC in ns. */
uint64_t notifier_now_ns(void);

#endif /* BENCH_NOTIFIER_H */
