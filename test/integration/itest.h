/* SPDX-License-Identifier: BSD-3-Clause */
/* Helpers shared by the integration tests (they run inside the VM). */
#ifndef ITEST_H
#define ITEST_H

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <cmocka.h>

#include <fusd.h>

/* Where the example daemons live (env FUSD_BIN, default /fusd/bin). */
const char *itest_bindir(void);

/* Milliseconds on the monotonic clock. */
int64_t itest_now_ms(void);

/* Wait until 'path' exists (want=1) or is gone (want=0); 0 on success. */
int itest_wait_path(const char *path, int want, int timeout_ms);

/* Start an example daemon from the bin dir and wait for its node. */
pid_t itest_start_example(const char *prog, const char *node);

/* Fork a child that serves 'name' with 'fops' until killed; waits for
 * /dev/'name' to appear.
 */
pid_t itest_fork_daemon(const char *name, struct fusd_file_operations *fops);

/* SIGKILL a daemon, reap it, and wait for its node to go. */
void itest_kill_daemon(pid_t pid, const char *node);

/* Run a shell command; returns its exit status (or -1). */
int itest_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Read a whole (small) file into buf, NUL-terminated; returns length. */
ssize_t itest_slurp(const char *path, char *buf, size_t cap);

/* Open 'node', read once into buf (NUL-terminated), close; asserts. */
void itest_read_node(const char *node, char *buf, size_t cap);

/* Read /sys/class/fusd/DEV/ATTR as a number; -1 if unreadable. */
long long itest_sysfs(const char *dev, const char *attr);

/* Wait until that attribute equals 'want'; 0 on success. */
int itest_wait_sysfs(const char *dev, const char *attr, long long want,
		     int timeout_ms);

/*
 * How many times slower than usual this kernel is: env FUSD_TIMEOUT_SCALE
 * (run-vm --timeout-scale N exports it for slow debug kernels), an integer
 * >= 1, default 1.  Time limits are multiplied by it; long stress loops
 * divide their counts by it (itest_scaled_count) to keep their run time.
 */
int itest_scale(void);

/* n / itest_scale(), but at least 'min'. */
int itest_scaled_count(int n, int min);

/* Time limit of one case (its setup, body and teardown), before scaling. */
#define ITEST_CASE_LIMIT_S 60

/*
 * The same as cmocka_run_group_tests(tests, setup, teardown), with one
 * difference: each case runs, with its own setup and teardown, in a
 * process of its own under a time limit of ITEST_CASE_LIMIT_S seconds
 * times itest_scale().  A case that overruns it is killed (with its
 * process group) and reported as a failed case by its name; the next
 * case runs as usual.  The group setup and teardown run once, in this
 * process, so what they leave (daemons, descriptors, memory) is what
 * every case sees; what a case changes in its process (signal handlers,
 * variables) dies with it.  A case that exits 77 skips the whole program,
 * as before.  The output is cmocka's, line for line.
 */
#define itest_run(tests, setup, teardown)                                  \
	itest_run_limit(tests, setup, teardown, ITEST_CASE_LIMIT_S)
/* The same with a limit of 'seconds' (times itest_scale()) per case. */
#define itest_run_limit(tests, setup, teardown, seconds)                   \
	itest_run_group(tests, sizeof(tests) / sizeof((tests)[0]), setup,   \
			teardown, seconds)
int itest_run_group(const struct CMUnitTest *tests, size_t count,
		    CMFixtureFunction group_setup,
		    CMFixtureFunction group_teardown, int limit_s);

/* The kernel log from now on: a /dev/kmsg descriptor at its end. */
int itest_kmsg_open(void);

/* The fusd module parameter 'name' (/sys/module/fusd/parameters/), or
 * -1 if it cannot be read.
 */
long itest_param_get(const char *name);
/* Set it (the guest runs as root) and check that it took. */
void itest_param_set(const char *name, long v);

/* A byte pattern that differs with position and seed; the check looks at
 * 'len' bytes that start at byte 'from' of such a pattern.
 */
void itest_pattern(unsigned char *p, size_t len, unsigned int seed);
int itest_is_pattern(const unsigned char *p, size_t len, unsigned int seed,
		     size_t from);

/*
 * A read() in a thread of its own, so that a test can watch it block:
 * itest_reader_start() reads 'len' bytes (0: the buffer less one) from
 * 'fd'; 'ret', 'err' and the NUL-ended 'buf' hold the outcome once
 * itest_reader_done(); itest_reader_join() waits for it (asserts it ends
 * within 10 s times itest_scale()).
 */
struct itest_reader {
	int fd;
	size_t len;
	ssize_t ret;
	int err;
	int done;
	char buf[8192];
	pthread_t t;
};

void itest_reader_start(struct itest_reader *r, int fd, size_t len);
int itest_reader_done(struct itest_reader *r);
void itest_reader_join(struct itest_reader *r);

/* A /proc/meminfo figure in kB ("MemFree", "Shmem" ...; asserts). */
long itest_meminfo_kb(const char *key);

/* Fresh private anonymous read-write memory (asserts). */
void *itest_map(size_t len);

/* fusd logged nothing since itest_kmsg_open() (the kernel itself may:
 * under emulation it notes slow timer interrupts); closes 'fd'.  Returns
 * the first offending record in 'rec' (NUL-ended), or "" when quiet.
 */
void itest_kmsg_fusd_lines(int fd, char *rec, size_t cap);

#endif /* ITEST_H */
