// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: two daemons serve two devices at once, a device takes many
 * opens, and names with sub-directories make nested nodes
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "itest.h"

#define NOPENS 200

/* A device that answers every read with its name and the reader's fd. */
static ssize_t tag_read(struct fusd_file_info *file, char *buf, size_t len,
			loff_t *offset)
{
	int n;

	(void)offset;
	n = snprintf(buf, len, "%s:%ld", (const char *)file->device_info,
		     (long)file->private_data);
	return n < 0 ? -EIO : n;
}

static long next_tag;

static int tag_open(struct fusd_file_info *file)
{
	file->private_data = (void *)++next_tag;
	return 0;
}

static struct fusd_file_operations tag_fops = {
	.open = tag_open,
	.read = tag_read,
};

static pid_t fork_tag_daemon(const char *name)
{
	/* device_info carries the name so replies say who answered. */
	struct fusd_file_operations *fops = &tag_fops;
	char node[128];
	pid_t pid;

	snprintf(node, sizeof(node), "%s%s", name[0] == '/' ? "" : "/dev/",
		 name);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (fusd_register(name, "test", NULL, 0600, (void *)name,
				  fops) < 0)
			_exit(1);
		fusd_run();
		_exit(0);
	}
	assert_int_equal(itest_wait_path(node, 1, 10000), 0);
	return pid;
}

static void test_two_daemons_at_once(void **state)
{
	pid_t a, b;
	char buf[64];
	int i;

	(void)state;
	a = fork_tag_daemon("tag-a");
	b = fork_tag_daemon("tag-b");
	for (i = 0; i < 20; i++) {
		itest_read_node("/dev/tag-a", buf, sizeof(buf));
		assert_memory_equal(buf, "tag-a:", 6);
		itest_read_node("/dev/tag-b", buf, sizeof(buf));
		assert_memory_equal(buf, "tag-b:", 6);
	}
	/* Killing one leaves the other serving. */
	itest_kill_daemon(a, "/dev/tag-a");
	itest_read_node("/dev/tag-b", buf, sizeof(buf));
	assert_memory_equal(buf, "tag-b:", 6);
	itest_kill_daemon(b, "/dev/tag-b");
}

static void test_many_opens_of_one_device(void **state)
{
	static int fds[NOPENS];
	char buf[64], want[64];
	pid_t d;
	int i;

	(void)state;
	d = fork_tag_daemon("tag-many");
	for (i = 0; i < NOPENS; i++) {
		fds[i] = open("/dev/tag-many", O_RDONLY);
		assert_true(fds[i] >= 0);
	}
	/* Every open file keeps its own private_data in the daemon. */
	for (i = NOPENS - 1; i >= 0; i--) {
		ssize_t n = read(fds[i], buf, sizeof(buf) - 1);

		assert_true(n > 0);
		buf[n] = '\0';
		snprintf(want, sizeof(want), "tag-many:%d", i + 1);
		assert_string_equal(buf, want);
	}
	for (i = 0; i < NOPENS; i++)
		assert_int_equal(close(fds[i]), 0);
	itest_kill_daemon(d, "/dev/tag-many");
}

static void test_subdirectory_names(void **state)
{
	char buf[64];
	struct stat st;
	pid_t d;

	(void)state;
	d = fork_tag_daemon("/dev/drums/bam");
	assert_int_equal(stat("/dev/drums/bam", &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	itest_read_node("/dev/drums/bam", buf, sizeof(buf));
	assert_memory_equal(buf, "/dev/drums/bam:", 15);
	/* The sysfs name is derived: '/' becomes '!'. */
	assert_int_equal(stat("/sys/class/fusd/drums!bam", &st), 0);
	itest_kill_daemon(d, "/dev/drums/bam");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_daemons_at_once),
		cmocka_unit_test(test_many_opens_of_one_device),
		cmocka_unit_test(test_subdirectory_names),
	};

	return itest_run(tests, NULL, NULL);
}
