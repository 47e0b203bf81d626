// SPDX-License-Identifier: BSD-3-Clause
/* Helpers shared by the integration tests. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

const char *itest_bindir(void)
{
	const char *d = getenv("FUSD_BIN");

	return d ? d : "/fusd/bin";
}

int64_t itest_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int itest_wait_path(const char *path, int want, int timeout_ms)
{
	int64_t end = itest_now_ms() + timeout_ms;
	struct stat st;

	for (;;) {
		int exists = stat(path, &st) == 0;

		if (exists == want)
			return 0;
		if (itest_now_ms() > end)
			return -1;
		usleep(5000);
	}
}

pid_t itest_start_example(const char *prog, const char *node)
{
	char path[256];
	pid_t pid;

	snprintf(path, sizeof(path), "%s/%s", itest_bindir(), prog);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* Keep the test's output readable. */
		freopen("/dev/null", "w", stdout);
		execl(path, prog, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(itest_wait_path(node, 1, 10000), 0);
	return pid;
}

pid_t itest_fork_daemon(const char *name, struct fusd_file_operations *fops)
{
	char node[256];
	pid_t pid;

	snprintf(node, sizeof(node), "/dev/%s", name);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fusd_register(name, "test", NULL, 0666, NULL, fops) < 0) {
			perror("itest daemon: fusd_register");
			_exit(1);
		}
		fusd_run();
		_exit(0);
	}
	assert_int_equal(itest_wait_path(node, 1, 10000), 0);
	return pid;
}

void itest_kill_daemon(pid_t pid, const char *node)
{
	int status;

	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (node)
		assert_int_equal(itest_wait_path(node, 0, 5000), 0);
}

int itest_sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

ssize_t itest_slurp(const char *path, char *buf, size_t cap)
{
	ssize_t n, total = 0;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -1;
	while ((size_t)total < cap - 1 &&
	       (n = read(fd, buf + total, cap - 1 - (size_t)total)) > 0)
		total += n;
	close(fd);
	buf[total] = '\0';
	return total;
}

long long itest_sysfs(const char *dev, const char *attr)
{
	char path[256], buf[64];

	snprintf(path, sizeof(path), "/sys/class/fusd/%s/%s", dev, attr);
	if (itest_slurp(path, buf, sizeof(buf)) <= 0)
		return -1;
	return strtoll(buf, NULL, 10);
}

int itest_wait_sysfs(const char *dev, const char *attr, long long want,
		     int timeout_ms)
{
	int64_t end = itest_now_ms() + timeout_ms;

	while (itest_sysfs(dev, attr) != want) {
		if (itest_now_ms() > end)
			return -1;
		usleep(5000);
	}
	return 0;
}

void itest_read_node(const char *node, char *buf, size_t cap)
{
	int fd = open(node, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, cap - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	close(fd);
}
