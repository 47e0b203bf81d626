/* SPDX-License-Identifier: BSD-3-Clause */
/* Helpers shared by the integration tests (they run inside the VM). */
#ifndef ITEST_H
#define ITEST_H

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

#endif /* ITEST_H */
