// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: ioctl of each _IOC encoding through the ioctl example,
 * ENOTTY for unknown commands, EFAULT for bad pointers, EINVAL/EIO for
 * replies that break the encoding's rules, and a driver that sends back
 * less than _IOC_SIZE (evdev's EVIOCGKEY) into a smaller, guarded buffer
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "itest.h"
#include "rawchan.h"
#include "../../examples/ioctl.h"

#define NODE "/dev/ioctltest"

static pid_t daemon_pid;
static int fd;

static int start(void **state)
{
	(void)state;
	daemon_pid = itest_start_example("ioctl", NODE);
	fd = open(NODE, O_RDWR);
	return fd >= 0 ? 0 : -1;
}

static int stop(void **state)
{
	(void)state;
	close(fd);
	itest_kill_daemon(daemon_pid, NODE);
	return 0;
}

static void test_four_encodings(void **state)
{
	struct ioctl_test_name name = { .id = 7, .name = "seven" }, back;
	struct ioctl_test_swap swap = { .in = 21, .out = 0 };
	int value = -1;

	(void)state;
	/* _IO: the integer argument travels as is. */
	assert_int_equal(ioctl(fd, IOCTL_TEST_RESET, 40), 0);
	/* _IOR: data comes back. */
	assert_int_equal(ioctl(fd, IOCTL_TEST_GET, &value), 0);
	assert_int_equal(value, 40);
	/* _IOW: data goes in (and the counter moves). */
	assert_int_equal(ioctl(fd, IOCTL_TEST_SET, &name), 0);
	memset(&back, 0, sizeof(back));
	assert_int_equal(ioctl(fd, IOCTL_TEST_NAME, &back), 0);
	assert_int_equal(back.id, 7);
	assert_string_equal(back.name, "seven");
	/* _IOWR: both ways, and a positive return value. */
	assert_int_equal(ioctl(fd, IOCTL_TEST_SWAP, &swap), 42);
	assert_int_equal(swap.out, 42);
	assert_int_equal(swap.in, 21);
	assert_int_equal(ioctl(fd, IOCTL_TEST_GET, &value), 0);
	assert_int_equal(value, 42);
}

static void test_unknown_and_bad_pointers(void **state)
{
	int value;

	(void)state;
	assert_int_equal(ioctl(fd, _IO(IOCTL_TEST_MAGIC, 99)), -1);
	assert_int_equal(errno, ENOTTY);
	assert_int_equal(ioctl(fd, _IOR('x', 1, long), &value), -1);
	assert_int_equal(errno, ENOTTY);
	/* Bad pointers: EFAULT, in either direction. */
	assert_int_equal(ioctl(fd, IOCTL_TEST_SET, (void *)16), -1);
	assert_int_equal(errno, EFAULT);
	assert_int_equal(ioctl(fd, IOCTL_TEST_GET, (void *)16), -1);
	assert_int_equal(errno, EFAULT);
	/* The device still works afterwards. */
	assert_int_equal(ioctl(fd, IOCTL_TEST_GET, &value), 0);
}

static void test_device_without_ioctl_callback(void **state)
{
	int echo_fd, value;
	pid_t echo;

	(void)state;
	echo = itest_start_example("echo", "/dev/echo");
	echo_fd = open("/dev/echo", O_RDWR);
	assert_true(echo_fd >= 0);
	assert_int_equal(ioctl(echo_fd, IOCTL_TEST_GET, &value), -1);
	assert_int_equal(errno, ENOTTY);
	close(echo_fd);
	itest_kill_daemon(echo, "/dev/echo");
}

/* --- the same over a raw channel, to break the rules on purpose --- */

struct ioctl_call {
	int fd;
	unsigned long cmd;
	int value;
	int ret;
	int err;
};

static void *do_ioctl(void *arg)
{
	struct ioctl_call *c = arg;

	c->ret = ioctl(c->fd, c->cmd, &c->value);
	c->err = errno;
	return NULL;
}

static void raw_ioctl_case(int chan, int cfd, unsigned long cmd,
			   int64_t result, const void *data, size_t len,
			   int want_write, int want_ret, int want_err)
{
	struct ioctl_call c = { .fd = cfd, .cmd = cmd, .value = 5 };
	struct fusd_request req;
	char payload[64];
	pthread_t t;
	size_t plen;

	assert_int_equal(pthread_create(&t, NULL, do_ioctl, &c), 0);
	plen = raw_read_request(chan, &req, payload, sizeof(payload));
	assert_int_equal(req.hdr.opcode, FUSD_OP_IOCTL);
	assert_int_equal(req.u.ioctl.cmd, (uint32_t)cmd);
	assert_int_equal(req.u.ioctl.size, _IOC_SIZE(cmd));
	assert_int_equal(req.flags & FUSD_REQ_COMPAT, 0);
	if (_IOC_DIR(cmd) & _IOC_WRITE) {
		assert_int_equal(plen, sizeof(int));
		assert_memory_equal(payload, &c.value, sizeof(int));
	} else {
		assert_int_equal(plen, 0);
	}
	if (want_write)
		assert_int_equal(raw_reply(chan, req.hdr.id, result, data, len),
				 (ssize_t)(sizeof(struct fusd_reply) + len));
	else
		assert_int_equal(raw_reply(chan, req.hdr.id, result, data, len), -1);
	pthread_join(t, NULL);
	assert_int_equal(c.ret, want_ret);
	if (want_ret < 0)
		assert_int_equal(c.err, want_err);
	if (want_ret >= 0 && (_IOC_DIR(cmd) & _IOC_READ) && len == sizeof(int))
		assert_memory_equal(&c.value, data, sizeof(int));
}

static void test_raw_ioctl_rules(void **state)
{
	const int v = 0x1234, big[4] = { 1, 2, 3, 4 };
	int chan, cfd;

	(void)state;
	chan = raw_register("rawioctl", 0666);
	cfd = raw_open(chan, "/dev/rawioctl", NULL);

	/* Good: _IOR data comes back, _IOW sends it, _IOWR both. */
	raw_ioctl_case(chan, cfd, _IOR('r', 1, int), 0, &v, sizeof(v), 1, 0, 0);
	raw_ioctl_case(chan, cfd, _IOW('r', 2, int), 3, NULL, 0, 1, 3, 0);
	raw_ioctl_case(chan, cfd, _IOWR('r', 3, int), 0, &v, sizeof(v), 1, 0, 0);
	/* An error reply leaves the caller's memory alone. */
	raw_ioctl_case(chan, cfd, _IOR('r', 4, int), -ENOTTY, NULL, 0, 1, -1, ENOTTY);
	/* Bad: data for a command that reads nothing back. */
	raw_ioctl_case(chan, cfd, _IOW('r', 5, int), 0, &v, sizeof(v), 0, -1, EIO);
	/* Bad: more data than _IOC_SIZE. */
	raw_ioctl_case(chan, cfd, _IOR('r', 6, int), 0, big, sizeof(big), 0, -1, EIO);
	/* Bad: a result that does not fit ioctl()'s int. */
	raw_ioctl_case(chan, cfd, _IOW('r', 7, int), (int64_t)INT_MAX + 1, NULL, 0, 0, -1, EIO);
	close(chan);
	close(cfd);
	assert_int_equal(itest_wait_path("/dev/rawioctl", 0, 2000), 0);
}

/* An evdev-like driver: EVIOCGKEY(len) copies min(len, what it has). */
#define KEY_BYTES 96
#define GETKEYS(len) _IOC(_IOC_READ, 'E', 0x18, len)

static int keys_ioctl(struct fusd_file_info *file, int cmd, void *data)
{
	unsigned int c = (unsigned int)cmd;
	size_t n = _IOC_SIZE(c), i;

	if (_IOC_TYPE(c) != 'E' || _IOC_NR(c) != 0x18)
		return -ENOTTY;
	if (n > KEY_BYTES)
		n = KEY_BYTES;
	for (i = 0; i < n; i++)
		((unsigned char *)data)[i] = (unsigned char)(i + 1);
	if (fusd_set_ioctl_length(file, n))
		return -errno;
	return (int)n;
}

static struct fusd_file_operations keys_fops = { .ioctl = keys_ioctl };

/* What the unmodified evtest --query does: EVIOCGKEY(KEY_MAX), 767 bytes,
 * into a 96-byte buffer.  Only what the driver said lands there.
 */
static void test_short_ioctl_reply(void **state)
{
	struct {
		unsigned char before[64];
		unsigned char buf[KEY_BYTES];
		unsigned char after[1024];
	} g;
	int kfd, i;
	pid_t d;

	(void)state;
	d = itest_fork_daemon("keys", &keys_fops);
	kfd = open("/dev/keys", O_RDONLY);
	assert_true(kfd >= 0);

	memset(g.before, 0xA5, sizeof(g.before));
	memset(g.buf, 0, sizeof(g.buf));
	memset(g.after, 0x5A, sizeof(g.after));
	assert_int_equal(ioctl(kfd, GETKEYS(767), g.buf), KEY_BYTES);
	for (i = 0; i < KEY_BYTES; i++)
		assert_int_equal(g.buf[i], i + 1);
	for (i = 0; i < (int)sizeof(g.before); i++)
		assert_int_equal(g.before[i], 0xA5);
	for (i = 0; i < (int)sizeof(g.after); i++)
		assert_int_equal(g.after[i], 0x5A);

	/* A smaller request gets exactly its size. */
	memset(g.buf, 0xEE, sizeof(g.buf));
	assert_int_equal(ioctl(kfd, GETKEYS(16), g.buf), 16);
	assert_int_equal(g.buf[15], 16);
	assert_int_equal(g.buf[16], 0xEE);
	close(kfd);
	itest_kill_daemon(d, "/dev/keys");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_four_encodings),
		cmocka_unit_test(test_unknown_and_bad_pointers),
		cmocka_unit_test(test_device_without_ioctl_callback),
		cmocka_unit_test(test_raw_ioctl_rules),
		cmocka_unit_test(test_short_ioctl_reply),
	};

	return itest_run(tests, start, stop);
}
