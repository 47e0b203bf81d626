/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the benchmark client and its two "zero" daemons (fusd and CUSE)
 * agree on: device names and ioctl commands.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdint.h>
#include <sys/ioctl.h>

#define BENCH_DEV_FUSD "bench-zero-fusd"
#define BENCH_DEV_CUSE "bench-zero-cuse"

/* Answered at once, no data: the ioctl round trip. */
#define BENCH_IOC_NOP _IO('Z', 1)
/*
 * Clears the file's POLLIN (with the answer), then, BENCH_POLL_DELAY_NS
 * later, a second daemon thread records CLOCK_MONOTONIC and sets POLLIN:
 * the client, asleep in poll() by then, measures its wake-up.
 */
#define BENCH_IOC_ARM_POLL _IO('Z', 2)
/* The CLOCK_MONOTONIC nanoseconds recorded just before that notify. */
#define BENCH_IOC_GET_STAMP _IOR('Z', 3, uint64_t)

/* zero-fusd's mmap: a zero-filled shmem region of this many bytes. */
#define BENCH_MAP_SIZE (64L * 1024 * 1024)

/* Long enough for the client to be asleep in poll() even under TCG. */
#define BENCH_POLL_DELAY_NS 10000000L

#endif /* BENCH_H */
