// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: the cases that used to repeat calls, with real programs: a
 * shell loop writing 20 lines to a daemon that takes 150 ms per write is
 * stopped and continued every 150 ms, traced by strace -p again and
 * again, frozen and thawed by the cgroup freezer; a program under a 40 ms
 * SA_RESTART timer: the daemon performs each write exactly once, in order
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

#define NAME "eo-tools"
#define NODE "/dev/" NAME
#define LINES 20
#define SLOW_US 150000		/* the daemon's time per write */
#define CGROUP "/sys/fs/cgroup"

/* What the daemon performed, shared with the test. */
struct log {
	int n;
	char line[4 * LINES][16];
};

static struct log *lg;

static ssize_t slow_write(struct fusd_file_info *file, const char *buf,
			  size_t len, loff_t *offset)
{
	(void)file; (void)offset;
	usleep(SLOW_US);
	if (lg->n < 4 * LINES) {
		size_t n = len < 15 ? len : 15;

		memcpy(lg->line[lg->n], buf, n);
		lg->line[lg->n][n] = '\0';
	}
	lg->n++;
	return (ssize_t)len;
}

static struct fusd_file_operations slow_fops = { .write = slow_write };

static int setup(void **state)
{
	(void)state;
	lg = mmap(NULL, sizeof(*lg), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return lg == MAP_FAILED ? -1 : 0;
}

/* The daemon performed "line 1\n" .. "line 20\n", each once, in order. */
static void assert_each_once(void)
{
	char want[16];
	int i;

	print_message("the daemon performed %d writes\n", lg->n);
	assert_int_equal(lg->n, LINES);
	for (i = 0; i < LINES; i++) {
		snprintf(want, sizeof(want), "line %d\n", i + 1);
		assert_string_equal(lg->line[i], want);
	}
}

/* busybox sh: one open, write and close per line. */
static pid_t start_shell_loop(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl("/bin/sh", "sh", "-c",
		      "i=1; while [ $i -le 20 ]; do "
		      "echo \"line $i\" > " NODE " || exit 1; "
		      "i=$((i + 1)); done", (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int exited_ok(pid_t pid, int *done)
{
	int status;
	pid_t r = waitpid(pid, &status, WNOHANG);

	assert_true(r >= 0);
	if (r == 0)
		return 0;
	*done = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
	return 1;
}

static void test_shell_loop_stopped_and_continued(void **state)
{
	int rc = -1, stops = 0;
	pid_t d, sh;

	(void)state;
	memset(lg, 0, sizeof(*lg));
	d = itest_fork_daemon(NAME, &slow_fops);
	sh = start_shell_loop();
	while (!exited_ok(sh, &rc)) {
		usleep(SLOW_US);
		kill(sh, SIGSTOP);
		usleep(10000);
		kill(sh, SIGCONT);
		stops++;
	}
	print_message("%d stop/continue cycles\n", stops);
	assert_int_equal(rc, 0);
	assert_true(stops >= LINES / 2);
	assert_each_once();
	itest_kill_daemon(d, NODE);
}

static void test_shell_loop_under_strace(void **state)
{
	int rc = -1, attaches = 0;
	char pidstr[16];
	pid_t d, sh, st;

	(void)state;
	if (access("/fusd/bin/strace", X_OK))
		fail_msg("strace is missing from the payload");
	memset(lg, 0, sizeof(*lg));
	d = itest_fork_daemon(NAME, &slow_fops);
	sh = start_shell_loop();
	snprintf(pidstr, sizeof(pidstr), "%d", (int)sh);
	while (!exited_ok(sh, &rc)) {
		st = fork();
		assert_true(st >= 0);
		if (st == 0) {
			execl("/fusd/bin/strace", "strace", "-qq", "-o",
			      "/dev/null", "-p", pidstr, (char *)NULL);
			_exit(127);
		}
		usleep(SLOW_US / 2);
		kill(st, SIGINT);	/* strace detaches and exits */
		waitpid(st, NULL, 0);
		attaches++;
	}
	print_message("%d strace attach/detach cycles\n", attaches);
	assert_int_equal(rc, 0);
	assert_true(attaches >= LINES / 2);
	assert_each_once();
	itest_kill_daemon(d, NODE);
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

static void test_shell_loop_frozen_and_thawed(void **state)
{
	int rc = -1, freezes = 0;
	char pidstr[16];
	pid_t d, sh;

	(void)state;
	if (access(CGROUP "/cgroup.controllers", F_OK))
		assert_int_equal(mount("cgroup2", CGROUP, "cgroup2", 0, NULL),
				 0);
	if (mkdir(CGROUP "/eo", 0755))
		assert_int_equal(errno, EEXIST);
	memset(lg, 0, sizeof(*lg));
	d = itest_fork_daemon(NAME, &slow_fops);
	sh = start_shell_loop();
	snprintf(pidstr, sizeof(pidstr), "%d", (int)sh);
	assert_int_equal(write_file(CGROUP "/eo/cgroup.procs", pidstr), 0);
	while (!exited_ok(sh, &rc)) {
		usleep(SLOW_US);
		assert_int_equal(write_file(CGROUP "/eo/cgroup.freeze", "1"), 0);
		usleep(50000);
		assert_int_equal(write_file(CGROUP "/eo/cgroup.freeze", "0"), 0);
		freezes++;
	}
	print_message("%d freeze/thaw cycles\n", freezes);
	assert_int_equal(rc, 0);
	assert_true(freezes >= LINES / 2);
	assert_each_once();
	itest_kill_daemon(d, NODE);
	rmdir(CGROUP "/eo");
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* 20 writes under a 40 ms SA_RESTART timer: each write returns its
 * whole length and the daemon performs it once.
 */
static void test_writes_under_restart_timer(void **state)
{
	int status;
	pid_t d, c;

	(void)state;
	memset(lg, 0, sizeof(*lg));
	d = itest_fork_daemon(NAME, &slow_fops);
	c = fork();
	assert_true(c >= 0);
	if (c == 0) {
		struct sigaction sa = { .sa_handler = on_alarm,
					.sa_flags = SA_RESTART };
		struct itimerval it = { { 0, 40000 }, { 0, 40000 } };
		char line[16];
		int fd, i, n;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		sigemptyset(&sa.sa_mask);
		fd = open(NODE, O_WRONLY);
		if (fd < 0 || sigaction(SIGALRM, &sa, NULL) ||
		    setitimer(ITIMER_REAL, &it, NULL))
			_exit(2);
		for (i = 1; i <= LINES; i++) {
			n = snprintf(line, sizeof(line), "line %d\n", i);
			if (write(fd, line, (size_t)n) != n)
				_exit(3);
		}
		_exit(0);
	}
	assert_int_equal(waitpid(c, &status, 0), c);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_each_once();
	itest_kill_daemon(d, NODE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shell_loop_stopped_and_continued),
		cmocka_unit_test(test_shell_loop_under_strace),
		cmocka_unit_test(test_shell_loop_frozen_and_thawed),
		cmocka_unit_test(test_writes_under_restart_timer),
	};

	return itest_run(tests, setup, NULL);
}
