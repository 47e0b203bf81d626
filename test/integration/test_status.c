// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: sysfs attributes, /dev/fusd/status and fusdctl show each
 * device's node, owner, open files and pending requests as they change
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

#define DEV "statsdev"

static ssize_t held_read(struct fusd_file_info *file, char *buf, size_t len,
			 loff_t *offset)
{
	(void)file; (void)buf; (void)len; (void)offset;
	return -FUSD_NOREPLY;	/* stays pending until interrupted */
}

static int held_unblock(struct fusd_file_info *file)
{
	fusd_destroy(file);
	return 0;
}

static struct fusd_file_operations held_fops = {
	.read = held_read,
	.unblock = held_unblock,
};

static pid_t start_daemon(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (fusd_register("stats/dev", "test", DEV, 0666, NULL,
				  &held_fops) < 0)
			_exit(1);
		fusd_run();
		_exit(0);
	}
	assert_int_equal(itest_wait_path("/dev/stats/dev", 1, 10000), 0);
	return pid;
}

static void no_handler(int sig)
{
	(void)sig;
}

static volatile int reader_done;

static void *reader(void *arg)
{
	long ret;
	char c;

	ret = read(*(int *)arg, &c, 1);
	reader_done = 1;
	return (void *)ret;
}

static void test_sysfs_and_status(void **state)
{
	struct sigaction sa = { .sa_handler = no_handler };
	char buf[4096], want[128];
	long long total;
	int fd1, fd2;
	pthread_t t;
	pid_t d;

	(void)state;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
	d = start_daemon();
	assert_int_equal(itest_slurp("/sys/class/fusd/" DEV "/node", buf,
				     sizeof(buf)) > 0, 1);
	assert_string_equal(buf, "/dev/stats/dev\n");
	assert_int_equal(itest_sysfs(DEV, "owner_pid"), d);
	assert_int_equal(itest_sysfs(DEV, "open_files"), 0);
	assert_int_equal(itest_sysfs(DEV, "pending"), 0);

	fd1 = open("/dev/stats/dev", O_RDONLY);
	fd2 = open("/dev/stats/dev", O_RDONLY);
	assert_true(fd1 >= 0 && fd2 >= 0);
	assert_int_equal(itest_sysfs(DEV, "open_files"), 2);
	total = itest_sysfs(DEV, "total");
	assert_true(total >= 2);

	assert_int_equal(pthread_create(&t, NULL, reader, &fd1), 0);
	assert_int_equal(itest_wait_sysfs(DEV, "pending", 1, 5000), 0);
	assert_true(itest_sysfs(DEV, "total") > total);

	/* The classic table and fusdctl agree. */
	assert_true(itest_slurp("/dev/fusd/status", buf, sizeof(buf)) > 0);
	snprintf(want, sizeof(want), "%-8d %-6d %s\n", (int)d, 2, "stats/dev");
	assert_non_null(strstr(buf, want));
	assert_non_null(strstr(buf, "devices used by"));
	assert_int_equal(itest_sh("fusdctl list > /tmp/list.out"), 0);
	assert_true(itest_slurp("/tmp/list.out", buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, DEV));
	assert_non_null(strstr(buf, "/dev/stats/dev"));
	assert_int_equal(itest_sh("fusdctl stat /dev/stats/dev > /tmp/stat.out"), 0);
	assert_true(itest_slurp("/tmp/stat.out", buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "open_files: 2\n"));
	assert_non_null(strstr(buf, "pending: 1\n"));
	assert_int_equal(itest_sh("fusdctl stat nosuchdev 2>/dev/null"), 1);
	assert_int_equal(itest_sh("fusdctl frobnicate 2>/dev/null"), 2);

	/* Interrupt the read: nothing stays pending.  Again until it ends:
	 * a signal that lands while the read restarts (a SIGCHLD from
	 * system() can cause one) is handled outside the read.
	 */
	while (!reader_done) {
		pthread_kill(t, SIGUSR1);
		usleep(20 * 1000);
	}
	pthread_join(t, NULL);
	assert_int_equal(itest_wait_sysfs(DEV, "pending", 0, 5000), 0);
	close(fd1);
	close(fd2);
	assert_int_equal(itest_wait_sysfs(DEV, "open_files", 0, 5000), 0);
	itest_kill_daemon(d, "/dev/stats/dev");
	assert_int_equal(access("/sys/class/fusd/" DEV, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sysfs_and_status),
	};

	return itest_run(tests, NULL, NULL);
}
