/* SPDX-License-Identifier: BSD-3-Clause */
/* fusd-bench's control of the daemons it measures: start, stop, CPU time. */
#ifndef BENCH_DAEMON_H
#define BENCH_DAEMON_H

#include <stdint.h>
#include <sys/types.h>

struct daemon {
	const char *prog;	/* executable */
	const char *node;	/* /dev/NAME it serves */
	pid_t pid;		/* 0: not running */
};

/* Run prog -t THREADS and wait for its node; 0, or -1 with a message. */
int daemon_start(struct daemon *d, int threads);
/* Run argv (argv[0] is the program) and wait for d->node, for at most
 * wait_ms; 0, or -1 with a message.
 */
int daemon_run(struct daemon *d, char *const argv[], int wait_ms);
/* SIGTERM, reap, wait for the node to go. */
void daemon_stop(struct daemon *d);
/* CPU time of all its threads so far, ns (0 when not running). */
uint64_t daemon_cpu_ns(const struct daemon *d);

#endif /* BENCH_DAEMON_H */
