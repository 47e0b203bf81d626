// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: fsync/fdatasync reach the daemon; flush runs on every
 * close() of a descriptor only when asked for, gives close() its result,
 * never holds up an exiting process, and succeeds once the daemon is gone
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"
#include "rawchan.h"

static int to_test = -1;

static void tell(char c)
{
	if (write(to_test, &c, 1) != 1)
		_exit(9);
}

static int cb_flush(struct fusd_file_info *file)
{
	tell('f');
	/* Writers see an error on close, to show close() carries it. */
	return (file->flags & O_ACCMODE) == O_WRONLY ? -EIO : 0;
}

static int cb_close(struct fusd_file_info *file)
{
	(void)file;
	tell('c');
	return 0;
}

static int cb_fsync(struct fusd_file_info *file, int datasync)
{
	(void)file;
	tell(datasync ? 'd' : 's');
	return datasync ? -EROFS : 0;
}

static struct fusd_file_operations ff_fops = {
	.flush = cb_flush,
	.close = cb_close,
	.fsync = cb_fsync,
};

static void expect(int from, char want)
{
	char c = 0;

	assert_int_equal(read(from, &c, 1), 1);
	assert_int_equal(c, want);
}

static void test_callbacks(void **state)
{
	int p[2], fd, fd2;
	pid_t d;

	(void)state;
	assert_int_equal(pipe(p), 0);
	to_test = p[1];
	d = itest_fork_daemon("ffs", &ff_fops);
	close(p[1]);

	fd = open("/dev/ffs", O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(fsync(fd), 0);
	expect(p[0], 's');
	assert_int_equal(fdatasync(fd), -1);
	assert_int_equal(errno, EROFS);
	expect(p[0], 'd');

	/* Each descriptor's close flushes; the file closes once. */
	fd2 = dup(fd);
	assert_int_equal(close(fd2), 0);
	expect(p[0], 'f');
	assert_int_equal(close(fd), 0);
	expect(p[0], 'f');
	expect(p[0], 'c');

	/* close() returns the flush result. */
	fd = open("/dev/ffs", O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(close(fd), -1);
	assert_int_equal(errno, EIO);
	expect(p[0], 'f');
	expect(p[0], 'c');

	close(p[0]);
	itest_kill_daemon(d, "/dev/ffs");
}

static void test_defaults_without_callbacks(void **state)
{
	pid_t echo;
	int fd;

	(void)state;
	echo = itest_start_example("echo", "/dev/echo");
	fd = open("/dev/echo", O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(fsync(fd), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(close(fd), 0);
	itest_kill_daemon(echo, "/dev/echo");
}

struct closer {
	int fd;
	int ret;
};

static void *close_main(void *arg)
{
	struct closer *c = arg;

	c->ret = close(c->fd);
	return NULL;
}

/* Raw channel: is a FLUSH sent, depending on the registration flag? */
static void flush_sent(int want_flush)
{
	struct fusd_request req;
	pthread_t t;
	int chan, cfd;

	chan = raw_register_flags("rawflush", 0600,
				  want_flush ? FUSD_REGISTER_FLUSH : 0);
	cfd = raw_open(chan, "/dev/rawflush", NULL);

	if (want_flush) {
		/* Two descriptors: a child's and ours, closed in a thread
		 * since this thread plays the daemon.  Each close waits for
		 * its own FLUSH answer; the child's gets -ENOSPC.
		 */
		pid_t child = fork();
		struct closer cl = { .fd = cfd };
		int i, status;

		if (child == 0)
			_exit(close(cfd) == -1 && errno == ENOSPC ? 0 : 1);
		assert_int_equal(pthread_create(&t, NULL, close_main, &cl), 0);
		for (i = 0; i < 2; i++) {
			raw_read_request(chan, &req, NULL, 0);
			assert_int_equal(req.hdr.opcode, FUSD_OP_FLUSH);
			assert_int_equal(raw_reply(chan, req.hdr.id,
						   req.tgid == (uint32_t)child ?
						   -ENOSPC : 0, NULL, 0),
					 sizeof(struct fusd_reply));
		}
		pthread_join(t, NULL);
		assert_int_equal(cl.ret, 0);
		assert_int_equal(waitpid(child, &status, 0), child);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	} else {
		assert_int_equal(close(cfd), 0);
	}
	raw_read_request(chan, &req, NULL, 0);
	assert_int_equal(req.hdr.opcode, FUSD_OP_RELEASE);
	close(chan);
	assert_int_equal(itest_wait_path("/dev/rawflush", 0, 2000), 0);
}

static void test_flush_only_when_registered(void **state)
{
	(void)state;
	flush_sent(0);
	flush_sent(1);
}

static void test_exiting_process_does_not_wait_for_flush(void **state)
{
	int p[2], status;
	int64_t t0;
	pid_t d, child;

	(void)state;
	assert_int_equal(pipe(p), 0);
	to_test = p[1];
	d = itest_fork_daemon("ffs", &ff_fops);
	close(p[1]);
	child = fork();
	if (child == 0) {
		int fd = open("/dev/ffs", O_RDWR);

		if (fd < 0)
			_exit(1);
		kill(d, SIGSTOP);
		_exit(0);	/* closes fd while the daemon is stopped */
	}
	t0 = itest_now_ms();
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(itest_now_ms() - t0 < 2000);
	kill(d, SIGCONT);
	expect(p[0], 'f');	/* the daemon still hears of it */
	expect(p[0], 'c');
	close(p[0]);
	itest_kill_daemon(d, "/dev/ffs");
}

/* Open /dev/'name' of a FLUSH-registered raw channel; returns the fd. */
static int open_flushed(int chan, const char *path)
{
	return raw_open(chan, path, NULL);
}

/*
 * The daemon of a FLUSH-registered device dies: nothing is left to flush,
 * so close() succeeds, whether its FLUSH comes after the death or was
 * waiting for an answer when the daemon died.
 */
static void test_flush_after_daemon_death(void **state)
{
	struct fusd_request req;
	struct closer cl;
	pthread_t t;
	int chan, fd;

	(void)state;
	chan = raw_register_flags("flushdead", 0600, FUSD_REGISTER_FLUSH);
	fd = open_flushed(chan, "/dev/flushdead");
	close(chan);
	assert_int_equal(itest_wait_path("/dev/flushdead", 0, 2000), 0);
	assert_int_equal(close(fd), 0);

	chan = raw_register_flags("flushdead", 0600, FUSD_REGISTER_FLUSH);
	cl.fd = open_flushed(chan, "/dev/flushdead");
	assert_int_equal(pthread_create(&t, NULL, close_main, &cl), 0);
	raw_read_request(chan, &req, NULL, 0);
	assert_int_equal(req.hdr.opcode, FUSD_OP_FLUSH);
	close(chan);		/* dies with the FLUSH unanswered */
	pthread_join(t, NULL);
	assert_int_equal(cl.ret, 0);
	assert_int_equal(itest_wait_path("/dev/flushdead", 0, 2000), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_callbacks),
		cmocka_unit_test(test_defaults_without_callbacks),
		cmocka_unit_test(test_flush_only_when_registered),
		cmocka_unit_test(test_exiting_process_does_not_wait_for_flush),
		cmocka_unit_test(test_flush_after_daemon_death),
	};

	return itest_run(tests, NULL, NULL);
}
