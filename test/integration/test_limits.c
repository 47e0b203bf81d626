// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: a daemon that stops answering cannot make the kernel hold
 * unbounded calls: beyond max_pending callers wait (EAGAIN under
 * O_NONBLOCK, EINTR on a signal), close() still goes through, and room
 * made by one answer lets the next call in
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"
#include "rawchan.h"

#define NAME "limits"
#define NODE "/dev/" NAME
#define PARAM "/sys/module/fusd/parameters/max_pending"
#define CAP 4

static void set_param(const char *path, long v)
{
	char buf[32];
	int fd = open(path, O_WRONLY);
	int n = snprintf(buf, sizeof(buf), "%ld", v);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, (size_t)n), n);
	close(fd);
}

static long get_param(const char *path)
{
	char buf[32];

	assert_true(itest_slurp(path, buf, sizeof(buf)) > 0);
	return strtol(buf, NULL, 10);
}

struct reader {
	pthread_t thread;
	int fd;
	char buf[8];
	ssize_t ret;
	int err;
	volatile int done;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	r->ret = read(r->fd, r->buf, sizeof(r->buf));
	r->err = errno;
	r->done = 1;
	return NULL;
}

static void reader_start(struct reader *r, int fd)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	assert_int_equal(pthread_create(&r->thread, NULL, reader_main, r), 0);
}

/* Open the node (accepting as the daemon); 'flags' set afterwards. */
static int open_node(int chan, int flags)
{
	int fd = raw_open(chan, NODE, NULL);

	if (flags)
		assert_int_equal(fcntl(fd, F_SETFL, flags), 0);
	return fd;
}

static void no_handler(int sig)
{
	(void)sig;
}

/* Nothing is waiting to be read on the channel. */
static void assert_channel_empty(int chan)
{
	char buf[256];

	assert_int_equal(fcntl(chan, F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(read(chan, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(fcntl(chan, F_SETFL, 0), 0);
}

static void test_max_pending(void **state)
{
	struct sigaction sa = { .sa_handler = no_handler };
	struct fusd_request req[CAP], extra;
	struct reader r[CAP], fifth;
	long saved = get_param(PARAM);
	int chan, fd, nb, spare, i;
	char c;

	(void)state;
	sigemptyset(&sa.sa_mask);	/* no SA_RESTART */
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
	set_param(PARAM, CAP);
	chan = raw_register(NAME, 0666);
	fd = open_node(chan, 0);
	nb = open_node(chan, O_NONBLOCK);
	spare = open_node(chan, 0);

	for (i = 0; i < CAP; i++) {
		reader_start(&r[i], fd);
		raw_read_request(chan, &req[i], NULL, 0);
		assert_int_equal(req[i].hdr.opcode, FUSD_OP_READ);
	}
	assert_int_equal(itest_sysfs(NAME, "pending"), CAP);

	/* At the cap: a blocking caller waits before reaching the daemon. */
	reader_start(&fifth, fd);
	usleep(200 * 1000);
	assert_int_equal(fifth.done, 0);
	assert_channel_empty(chan);
	assert_int_equal(itest_sysfs(NAME, "pending"), CAP);
	/* O_NONBLOCK: EAGAIN at once. */
	assert_int_equal(read(nb, &c, 1), -1);
	assert_int_equal(errno, EAGAIN);
	/* A signal ends the wait; nothing was sent. */
	pthread_kill(fifth.thread, SIGUSR1);
	pthread_join(fifth.thread, NULL);
	assert_int_equal(fifth.ret, -1);
	assert_int_equal(fifth.err, EINTR);
	assert_channel_empty(chan);
	/* close() is never held back: its RELEASE goes beyond the cap. */
	assert_int_equal(close(spare), 0);
	raw_read_request(chan, &extra, NULL, 0);
	assert_int_equal(extra.hdr.opcode, FUSD_OP_RELEASE);
	assert_int_equal(raw_reply(chan, extra.hdr.id, 0, NULL, 0),
			 sizeof(struct fusd_reply));

	/* One answer makes room: the waiting caller's call goes in. */
	reader_start(&fifth, fd);
	usleep(100 * 1000);
	assert_int_equal(fifth.done, 0);
	assert_int_equal(raw_reply(chan, req[0].hdr.id, 1, "a", 1),
			 sizeof(struct fusd_reply) + 1);
	pthread_join(r[0].thread, NULL);
	assert_int_equal(r[0].ret, 1);
	raw_read_request(chan, &extra, NULL, 0);
	assert_int_equal(extra.hdr.opcode, FUSD_OP_READ);
	assert_int_equal(raw_reply(chan, extra.hdr.id, 1, "e", 1),
			 sizeof(struct fusd_reply) + 1);
	pthread_join(fifth.thread, NULL);
	assert_int_equal(fifth.ret, 1);
	for (i = 1; i < CAP; i++) {
		assert_int_equal(raw_reply(chan, req[i].hdr.id, 1, "b", 1),
				 sizeof(struct fusd_reply) + 1);
		pthread_join(r[i].thread, NULL);
		assert_int_equal(r[i].ret, 1);
	}
	assert_int_equal(itest_sysfs(NAME, "pending"), 0);
	assert_int_equal(itest_sysfs(NAME, "open_files"), 2);
	set_param(PARAM, saved);
	close(fd);
	close(nb);
	close(chan);
	assert_int_equal(itest_wait_path(NODE, 0, 2000), 0);
}

/* A dead daemon wakes callers waiting for room: EPIPE, nothing hangs. */
static void test_waiting_for_room_when_daemon_dies(void **state)
{
	struct fusd_request req;
	struct reader r, waiting;
	long saved = get_param(PARAM);
	int chan, fd;

	(void)state;
	set_param(PARAM, 1);
	chan = raw_register(NAME, 0666);
	fd = open_node(chan, 0);
	reader_start(&r, fd);
	raw_read_request(chan, &req, NULL, 0);
	reader_start(&waiting, fd);
	usleep(100 * 1000);
	assert_int_equal(waiting.done, 0);
	close(chan);
	pthread_join(r.thread, NULL);
	pthread_join(waiting.thread, NULL);
	assert_int_equal(r.ret, -1);
	assert_int_equal(r.err, EPIPE);
	assert_int_equal(waiting.ret, -1);
	assert_int_equal(waiting.err, EPIPE);
	set_param(PARAM, saved);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_max_pending),
		cmocka_unit_test(test_waiting_for_room_when_daemon_dies),
	};

	return itest_run(tests, NULL, NULL);
}
