// SPDX-License-Identifier: BSD-3-Clause
/* See echo_checks.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "echo_checks.h"
#include "itest.h"

void echo_check_c_client(const char *node)
{
	const char msg[] = "what goes in comes out\n";
	char buf[128];
	int fd;

	fd = open(node, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, msg, strlen(msg)), strlen(msg));
	close(fd);

	fd = open(node, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), strlen(msg));
	assert_memory_equal(buf, msg, strlen(msg));
	assert_int_equal(read(fd, buf, sizeof(buf)), 0);

	/* Reading in small pieces walks the file position. */
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(read(fd, buf, 4), 4);
	assert_memory_equal(buf, "what", 4);
	assert_int_equal(read(fd, buf, 5), 5);
	assert_memory_equal(buf, " goes", 5);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 9);
	/* No size, so SEEK_END is refused (library default llseek). */
	assert_int_equal(lseek(fd, 0, SEEK_END), -1);
	assert_int_equal(errno, EINVAL);
	close(fd);
}

void echo_check_shell(const char *node)
{
	char buf[128];

	assert_int_equal(itest_sh("echo 'HI THERE' > %s", node), 0);
	assert_int_equal(itest_sh("cat %s > /tmp/echo.out", node), 0);
	assert_int_equal(itest_slurp("/tmp/echo.out", buf, sizeof(buf)), 9);
	assert_string_equal(buf, "HI THERE\n");
}

void echo_check_dd_binary_block(const char *node)
{
	/* 64 KiB of random bytes survive the round trip exactly. */
	assert_int_equal(itest_sh("dd if=/dev/urandom of=/tmp/rand bs=65536 "
				  "count=1 2>/dev/null"), 0);
	assert_int_equal(itest_sh("dd if=/tmp/rand of=%s bs=65536 "
				  "2>/dev/null", node), 0);
	assert_int_equal(itest_sh("dd if=%s of=/tmp/back bs=65536 "
				  "2>/dev/null", node), 0);
	assert_int_equal(itest_sh("cmp /tmp/rand /tmp/back"), 0);
}

void echo_check_large_write_is_chunked(const char *node)
{
	size_t big = FUSD_IO_MAX + 1000;
	char *buf = malloc(big), *back = malloc(big);
	int fd;

	assert_non_null(buf);
	assert_non_null(back);
	memset(buf, 'q', big);
	fd = open(node, O_RDWR);
	assert_true(fd >= 0);
	/* One request carries at most FUSD_IO_MAX bytes: a short write. */
	assert_int_equal(write(fd, buf, big), FUSD_IO_MAX);
	assert_int_equal(pread(fd, back, big, 0), FUSD_IO_MAX);
	assert_memory_equal(back, buf, FUSD_IO_MAX);
	close(fd);
	free(buf);
	free(back);
}
