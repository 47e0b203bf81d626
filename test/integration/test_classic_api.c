// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: the classic fusd_simple_register macro works, and fusd_run
 * serves a device whose channel descriptor is above select()'s 1024 limit
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "itest.h"

static ssize_t fixed_read(struct fusd_file_info *file, char *buf, size_t len,
			  loff_t *offset)
{
	const char *msg = file->device_info;
	size_t n = strlen(msg);

	if (*offset || len < n)
		return 0;
	memcpy(buf, msg, n);
	*offset = (loff_t)n;
	return (ssize_t)n;
}

static void test_simple_register(void **state)
{
	char buf[64];
	pid_t d;

	(void)state;
	d = fork();
	assert_true(d >= 0);
	if (d == 0) {
		fusd_simple_register("/dev/simple", "test", "simple", 0666,
				     "simple says hi\n", .read = fixed_read);
		fusd_run();
		_exit(0);
	}
	assert_int_equal(itest_wait_path("/dev/simple", 1, 10000), 0);
	itest_read_node("/dev/simple", buf, sizeof(buf));
	assert_string_equal(buf, "simple says hi\n");
	itest_kill_daemon(d, "/dev/simple");
}

static struct fusd_file_operations fixed_fops = { .read = fixed_read };

static void test_channel_above_fd_setsize(void **state)
{
	char buf[64];
	int report[2];
	pid_t d;

	(void)state;
	assert_int_equal(pipe(report), 0);
	d = fork();
	assert_true(d >= 0);
	if (d == 0) {
		struct rlimit rl = { 4096, 4096 };
		int i, fd;

		if (setrlimit(RLIMIT_NOFILE, &rl))
			_exit(1);
		for (i = 0; i < FD_SETSIZE + 50; i++)	/* fill low numbers */
			if (open("/dev/null", O_RDONLY) < 0)
				_exit(2);
		fd = fusd_register("bigfd", "test", NULL, 0666,
				   "served above 1024\n", &fixed_fops);
		if (write(report[1], &fd, sizeof(fd)) != sizeof(fd))
			_exit(3);
		fusd_run();
		_exit(0);
	}
	{
		int fd = -1;

		assert_int_equal(read(report[0], &fd, sizeof(fd)), sizeof(fd));
		assert_true(fd >= FD_SETSIZE);
	}
	assert_int_equal(itest_wait_path("/dev/bigfd", 1, 10000), 0);
	itest_read_node("/dev/bigfd", buf, sizeof(buf));
	assert_string_equal(buf, "served above 1024\n");
	close(report[0]);
	close(report[1]);
	itest_kill_daemon(d, "/dev/bigfd");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_register),
		cmocka_unit_test(test_channel_above_fd_setsize),
	};

	return itest_run(tests, NULL, NULL);
}
