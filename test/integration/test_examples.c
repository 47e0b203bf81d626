// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: the hello and echo examples answer byte for byte, through C
 * clients and through cat, dd and the shell
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "itest.h"

#define HELLO "/dev/hello-world"
#define ECHO "/dev/echo"
#define GREETING "Hello, world!\n"

static pid_t hello_pid, echo_pid;

static int start(void **state)
{
	(void)state;
	hello_pid = itest_start_example("helloworld", HELLO);
	echo_pid = itest_start_example("echo", ECHO);
	return 0;
}

static int stop(void **state)
{
	(void)state;
	itest_kill_daemon(hello_pid, HELLO);
	itest_kill_daemon(echo_pid, ECHO);
	return 0;
}

static void test_hello_c_client(void **state)
{
	char buf[100];
	int fd;

	(void)state;
	fd = open(HELLO, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), strlen(GREETING));
	assert_memory_equal(buf, GREETING, strlen(GREETING));
	assert_int_equal(read(fd, buf, sizeof(buf)), 0);	/* then EOF */
	assert_int_equal(close(fd), 0);

	/* Each open greets again. */
	fd = open(HELLO, O_RDONLY);
	assert_int_equal(read(fd, buf, sizeof(buf)), strlen(GREETING));
	close(fd);
}

static void test_hello_short_buffer_is_einval(void **state)
{
	char buf[4];
	int fd;

	(void)state;
	fd = open(HELLO, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EINVAL);
	close(fd);
}

static void test_hello_cat_and_dd(void **state)
{
	char buf[256];

	(void)state;
	assert_int_equal(itest_sh("cat " HELLO " > /tmp/hello.cat"), 0);
	assert_int_equal(itest_slurp("/tmp/hello.cat", buf, sizeof(buf)),
			 strlen(GREETING));
	assert_string_equal(buf, GREETING);

	assert_int_equal(itest_sh("dd if=" HELLO " of=/tmp/hello.dd bs=512 "
				  "2>/dev/null"), 0);
	assert_int_equal(itest_slurp("/tmp/hello.dd", buf, sizeof(buf)),
			 strlen(GREETING));
	assert_string_equal(buf, GREETING);
}

static void test_hello_node(void **state)
{
	struct stat st;

	(void)state;
	assert_int_equal(stat(HELLO, &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0666);
	assert_int_equal(st.st_uid, getuid());
	/* devname "hello-world" names the sysfs entry. */
	assert_int_equal(stat("/sys/class/fusd/hello-world", &st), 0);
}

static void test_echo_c_client(void **state)
{
	const char msg[] = "what goes in comes out\n";
	char buf[128];
	int fd;

	(void)state;
	fd = open(ECHO, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, msg, strlen(msg)), strlen(msg));
	close(fd);

	fd = open(ECHO, O_RDONLY);
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

static void test_echo_shell(void **state)
{
	char buf[128];

	(void)state;
	assert_int_equal(itest_sh("echo 'HI THERE' > " ECHO), 0);
	assert_int_equal(itest_sh("cat " ECHO " > /tmp/echo.out"), 0);
	assert_int_equal(itest_slurp("/tmp/echo.out", buf, sizeof(buf)), 9);
	assert_string_equal(buf, "HI THERE\n");
}

static void test_echo_dd_binary_block(void **state)
{
	(void)state;
	/* 64 KiB of random bytes survive the round trip exactly. */
	assert_int_equal(itest_sh("dd if=/dev/urandom of=/tmp/rand bs=65536 "
				  "count=1 2>/dev/null"), 0);
	assert_int_equal(itest_sh("dd if=/tmp/rand of=" ECHO " bs=65536 "
				  "2>/dev/null"), 0);
	assert_int_equal(itest_sh("dd if=" ECHO " of=/tmp/back bs=65536 "
				  "2>/dev/null"), 0);
	assert_int_equal(itest_sh("cmp /tmp/rand /tmp/back"), 0);
}

static void test_echo_large_write_is_chunked(void **state)
{
	size_t big = FUSD_IO_MAX + 1000;
	char *buf = malloc(big), *back = malloc(big);
	int fd;

	(void)state;
	assert_non_null(buf);
	assert_non_null(back);
	memset(buf, 'q', big);
	fd = open(ECHO, O_RDWR);
	assert_true(fd >= 0);
	/* One request carries at most FUSD_IO_MAX bytes: a short write. */
	assert_int_equal(write(fd, buf, big), FUSD_IO_MAX);
	assert_int_equal(pread(fd, back, big, 0), FUSD_IO_MAX);
	assert_memory_equal(back, buf, FUSD_IO_MAX);
	close(fd);
	free(buf);
	free(back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_c_client),
		cmocka_unit_test(test_hello_short_buffer_is_einval),
		cmocka_unit_test(test_hello_cat_and_dd),
		cmocka_unit_test(test_hello_node),
		cmocka_unit_test(test_echo_c_client),
		cmocka_unit_test(test_echo_shell),
		cmocka_unit_test(test_echo_dd_binary_block),
		cmocka_unit_test(test_echo_large_write_is_chunked),
	};

	return itest_run(tests, start, stop);
}
