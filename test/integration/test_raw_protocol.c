// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: the wire protocol spoken by hand: request contents, no
 * kernel pointers, batching, EINVAL for every malformed reply (caller gets
 * EIO), interrupted callers waiting for the answer, and late replies
 * dropped quietly
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "itest.h"
#include "rawchan.h"

#define NODE "/dev/raw"

/* A client system call run in its own thread, so the test can play daemon. */
struct client {
	pthread_t thread;
	int op;			/* 'o'pen, 'r'ead, 'w'rite, 's'eek, 'c'lose */
	int fd;
	size_t len;
	char buf[256];
	ssize_t ret;
	int err;
	pid_t tid;
	volatile int done;
};

static void *client_main(void *arg)
{
	struct client *c = arg;

	c->tid = (pid_t)syscall(SYS_gettid);
	switch (c->op) {
	case 'o':
		c->ret = open(NODE, O_RDWR);
		break;
	case 'r':
		c->ret = read(c->fd, c->buf, c->len);
		break;
	case 'w':
		c->ret = write(c->fd, c->buf, c->len);
		break;
	case 's':
		c->ret = lseek(c->fd, (off_t)c->len, SEEK_SET);
		break;
	case 'c':
		c->ret = close(c->fd);
		break;
	}
	c->err = errno;
	c->done = 1;
	return NULL;
}

static void client_start(struct client *c, int op, int fd, size_t len)
{
	c->op = op;
	c->fd = fd;
	c->len = len;
	c->done = 0;
	assert_int_equal(pthread_create(&c->thread, NULL, client_main, c), 0);
}

static ssize_t client_join(struct client *c)
{
	pthread_join(c->thread, NULL);
	return c->ret;
}

static void no_handler(int sig)
{
	(void)sig;
}

static int chan;
static int cfd;		/* client's fd of /dev/raw */

/* Register /dev/raw and open it once from a client thread. */
static int setup(void **state)
{
	static struct client c;

	(void)state;
	chan = raw_register("raw", 0666);
	client_start(&c, 'o', -1, 0);
	raw_accept_open(chan);
	cfd = (int)client_join(&c);
	assert_true(cfd >= 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	close(chan);		/* daemon gone: cfd now fails EPIPE */
	close(cfd);
	assert_int_equal(itest_wait_path(NODE, 0, 2000), 0);
	return 0;
}

static int has_kernel_pointer(const void *msg, size_t len)
{
	const unsigned char *p = msg;
	uint64_t w;
	size_t i;

	/* x86_64 kernel addresses live at 0xffff8000_00000000 and above. */
	for (i = 0; i + 8 <= len; i++) {
		memcpy(&w, p + i, 8);
		if (w >= 0xffff800000000000ULL && w != UINT64_MAX)
			return 1;
	}
	return 0;
}

static void test_request_fields(void **state)
{
	struct fusd_request req;
	static struct client c;
	char payload[64];
	uint64_t fh;

	(void)state;
	client_start(&c, 'o', -1, 0);
	assert_int_equal(raw_read_request(chan, &req, payload, 0), 0);
	assert_int_equal(req.hdr.opcode, FUSD_OP_OPEN);
	assert_int_equal(req.hdr.size, sizeof(req));
	assert_true(req.hdr.id != 0);
	assert_true(req.fh != 0);
	assert_int_equal(req.pid, c.tid);	/* the calling thread */
	assert_int_equal(req.tgid, getpid());
	assert_int_equal(req.uid, getuid());
	assert_int_equal(req.gid, getgid());
	assert_int_equal(req.f_flags & O_ACCMODE, O_RDWR);
	assert_false(has_kernel_pointer(&req, sizeof(req)));
	fh = req.fh;
	assert_int_equal(raw_reply(chan, req.hdr.id, 0, NULL, 0), sizeof(struct fusd_reply));
	c.fd = (int)client_join(&c);
	assert_true(c.fd >= 0);

	client_start(&c, 'r', c.fd, 10);
	raw_read_request(chan, &req, payload, 0);
	assert_int_equal(req.hdr.opcode, FUSD_OP_READ);
	assert_true(req.fh == fh);
	assert_int_equal(req.u.rw.size, 10);
	assert_int_equal(req.u.rw.offset, 0);
	assert_false(has_kernel_pointer(&req, sizeof(req)));
	raw_reply(chan, req.hdr.id, 10, "0123456789", 10);
	assert_int_equal(client_join(&c), 10);
	assert_memory_equal(c.buf, "0123456789", 10);

	memcpy(c.buf, "abc", 3);
	client_start(&c, 'w', c.fd, 3);
	assert_int_equal(raw_read_request(chan, &req, payload, sizeof(payload)), 3);
	assert_int_equal(req.hdr.opcode, FUSD_OP_WRITE);
	assert_int_equal(req.u.rw.offset, 10);	/* advanced by the read */
	assert_memory_equal(payload, "abc", 3);
	raw_reply(chan, req.hdr.id, 3, NULL, 0);
	assert_int_equal(client_join(&c), 3);

	client_start(&c, 's', c.fd, 5);
	raw_read_request(chan, &req, payload, 0);
	assert_int_equal(req.hdr.opcode, FUSD_OP_LLSEEK);
	assert_int_equal(req.u.seek.offset, 5);
	assert_int_equal(req.u.seek.whence, SEEK_SET);
	assert_int_equal(req.u.seek.pos, 13);
	raw_reply(chan, req.hdr.id, 5, NULL, 0);
	assert_int_equal(client_join(&c), 5);

	client_start(&c, 'c', c.fd, 0);
	raw_read_request(chan, &req, payload, 0);
	assert_int_equal(req.hdr.opcode, FUSD_OP_RELEASE);
	assert_true(req.fh == fh);
	raw_reply(chan, req.hdr.id, 0, NULL, 0);
	assert_int_equal(client_join(&c), 0);
}

static void test_small_buffer_keeps_request(void **state)
{
	struct fusd_request req;
	char small[sizeof(req) - 1];
	static struct client c;

	(void)state;
	client_start(&c, 'r', cfd, 4);
	/* Too small for the request: EINVAL, and the request stays. */
	assert_int_equal(read(chan, small, sizeof(small)), -1);
	assert_int_equal(errno, EINVAL);
	raw_read_request(chan, &req, NULL, 0);
	assert_int_equal(req.hdr.opcode, FUSD_OP_READ);
	raw_reply(chan, req.hdr.id, 4, "wxyz", 4);
	assert_int_equal(client_join(&c), 4);
}

static void test_nonblocking_and_poll(void **state)
{
	struct pollfd pfd = { .fd = 0, .events = POLLIN };
	struct fusd_request req;
	static struct client c;
	char buf[256];

	(void)state;
	pfd.fd = chan;
	assert_int_equal(poll(&pfd, 1, 0), 0);
	assert_int_equal(fcntl(chan, F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(read(chan, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);

	client_start(&c, 'r', cfd, 1);
	assert_int_equal(poll(&pfd, 1, 5000), 1);
	assert_true(pfd.revents & POLLIN);
	assert_int_equal(fcntl(chan, F_SETFL, 0), 0);
	raw_read_request(chan, &req, NULL, 0);
	raw_reply(chan, req.hdr.id, 1, "!", 1);
	assert_int_equal(client_join(&c), 1);
}

/* A reply with every field chosen by the test. */
static ssize_t write_reply(uint64_t id, int64_t result, uint16_t opcode,
			   uint16_t hdr_size, uint32_t size_delta,
			   uint32_t flags, int64_t offset, uint64_t reserved,
			   size_t datalen)
{
	char buf[sizeof(struct fusd_reply) + 64];
	struct fusd_reply rep;

	memset(&rep, 0, sizeof(rep));
	rep.hdr.size = sizeof(rep) + datalen + size_delta;
	rep.hdr.hdr_size = hdr_size;
	rep.hdr.opcode = opcode;
	rep.hdr.id = id;
	rep.result = result;
	rep.flags = flags;
	rep.offset = offset;
	rep.reserved = reserved;
	memcpy(buf, &rep, sizeof(rep));
	memset(buf + sizeof(rep), 'd', datalen);
	return write(chan, buf, sizeof(rep) + datalen);
}

struct bad_reply {
	const char *what;
	int64_t result;
	uint16_t opcode;
	uint16_t hdr_size;
	uint32_t size_delta;
	uint32_t flags;
	int64_t offset;
	uint64_t reserved;
	size_t datalen;
};

static void test_malformed_replies_fail_caller_with_eio(void **state)
{
	const uint16_t R = FUSD_OP_REPLY, H = sizeof(struct fusd_reply);
	const struct bad_reply bad[] = {
		{ "unknown opcode", 4, 0x55, H, 0, 0, 0, 0, 4 },
		{ "request opcode", 4, FUSD_OP_READ, H, 0, 0, 0, 0, 4 },
		{ "short hdr_size", 4, R, H - 8, 0, 0, 0, 0, 4 },
		{ "long hdr_size", 4, R, H + 8, 0, 0, 0, 0, 4 },
		{ "size beyond write", 4, R, H, 100, 0, 0, 0, 4 },
		{ "size below header", 0, R, H, (uint32_t)-(H - 4), 0, 0, 0, 0 },
		{ "reserved field set", 4, R, H, 0, 0, 0, 1, 4 },
		{ "unknown reply flag", 4, R, H, 0, 0x80, 0, 0, 4 },
		{ "negative offset", 4, R, H, 0, FUSD_REPLY_SET_OFFSET, -5, 0, 4 },
		{ "errno out of range", -1000, R, H, 0, 0, 0, 0, 0 },
		{ "huge negative", INT64_MIN, R, H, 0, 0, 0, 0, 0 },
		{ "more data than asked", 16, R, H, 0, 0, 0, 0, 16 },
		{ "result != data length", 3, R, H, 0, 0, 0, 0, 4 },
		{ "data with an error", -EIO, R, H, 0, 0, 0, 0, 4 },
	};
	struct fusd_request req;
	static struct client c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const struct bad_reply *b = &bad[i];

		print_message("malformed reply: %s\n", b->what);
		client_start(&c, 'r', cfd, 8);
		raw_read_request(chan, &req, NULL, 0);
		assert_int_equal(write_reply(req.hdr.id, b->result, b->opcode,
					     b->hdr_size, b->size_delta,
					     b->flags, b->offset, b->reserved,
					     b->datalen), -1);
		assert_int_equal(errno, EINVAL);
		assert_int_equal(client_join(&c), -1);
		assert_int_equal(c.err, EIO);
	}
}

static void test_write_reply_limits(void **state)
{
	struct fusd_request req;
	static struct client c;

	(void)state;
	/* A write may not claim more bytes than it was given. */
	memcpy(c.buf, "four", 4);
	client_start(&c, 'w', cfd, 4);
	raw_read_request(chan, &req, c.buf + 100, 100);
	assert_int_equal(raw_reply(chan, req.hdr.id, 5, NULL, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(client_join(&c), -1);
	assert_int_equal(c.err, EIO);

	/* Nor carry data back. */
	client_start(&c, 'w', cfd, 4);
	raw_read_request(chan, &req, c.buf + 100, 100);
	assert_int_equal(raw_reply(chan, req.hdr.id, 4, "data", 4), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(client_join(&c), -1);
	assert_int_equal(c.err, EIO);
}

static void test_unknown_ids_rejected_call_survives(void **state)
{
	struct fusd_request req;
	static struct client c;

	(void)state;
	client_start(&c, 'r', cfd, 2);
	raw_read_request(chan, &req, NULL, 0);
	/* Ids never issued are garbage: EINVAL, and nobody is hurt. */
	assert_int_equal(raw_reply(chan, 0, 2, "no", 2), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(raw_reply(chan, req.hdr.id + 1000, 2, "no", 2), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(raw_reply(chan, UINT64_MAX, 2, "no", 2), -1);
	assert_int_equal(errno, EINVAL);
	/* Garbage shorter than a header. */
	assert_int_equal(write(chan, "garbage", 7), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(c.done, 0);
	raw_reply(chan, req.hdr.id, 2, "ok", 2);
	assert_int_equal(client_join(&c), 2);
	assert_memory_equal(c.buf, "ok", 2);
}

static void test_interrupted_caller_waits_for_answer(void **state)
{
	struct sigaction sa = { .sa_handler = no_handler };
	struct fusd_request req, intr;
	static struct client c;

	(void)state;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: -EINTR fails the read */
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);

	client_start(&c, 'r', cfd, 8);
	raw_read_request(chan, &req, NULL, 0);
	pthread_kill(c.thread, SIGUSR1);
	/* The daemon is told which request's caller got a signal ... */
	raw_read_request(chan, &intr, NULL, 0);
	assert_int_equal(intr.hdr.opcode, FUSD_OP_INTERRUPT);
	assert_true(intr.u.interrupt.id == req.hdr.id);
	assert_true(intr.fh == req.fh);
	assert_true(intr.hdr.id > req.hdr.id);
	/* ... and the caller waits for its answer. */
	usleep(100 * 1000);
	assert_int_equal(c.done, 0);
	assert_int_equal(raw_reply(chan, req.hdr.id, -EINTR, NULL, 0),
			 sizeof(struct fusd_reply));
	assert_int_equal(client_join(&c), -1);
	assert_int_equal(c.err, EINTR);
	/* Answers after that come too late: consumed without error. */
	assert_int_equal(raw_reply(chan, req.hdr.id, 4, "late", 4),
			 sizeof(struct fusd_reply) + 4);
	assert_int_equal(raw_reply(chan, req.hdr.id, 0, NULL, 0),
			 sizeof(struct fusd_reply));
	/* Nor is a reply to the INTERRUPT, which needs none. */
	assert_int_equal(raw_reply(chan, intr.hdr.id, 0, NULL, 0),
			 sizeof(struct fusd_reply));
}

static void test_interrupt_before_daemon_read_is_silent(void **state)
{
	struct sigaction sa = { .sa_handler = no_handler };
	char buf[256];
	static struct client c;

	(void)state;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
	client_start(&c, 'r', cfd, 8);
	usleep(200 * 1000);	/* queued, not yet read by the daemon */
	pthread_kill(c.thread, SIGUSR1);
	assert_int_equal(client_join(&c), -1);
	assert_int_equal(c.err, EINTR);
	/* Withdrawn before the daemon saw it: nothing at all to read. */
	assert_int_equal(fcntl(chan, F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(read(chan, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(fcntl(chan, F_SETFL, 0), 0);
}

static void test_sa_restart_reissues_call(void **state)
{
	struct sigaction sa = { .sa_handler = no_handler };
	struct fusd_request req, again;
	static struct client c;

	(void)state;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);

	client_start(&c, 'r', cfd, 8);
	raw_read_request(chan, &req, NULL, 0);
	pthread_kill(c.thread, SIGUSR1);
	/* The daemon hears of the interruption and gives the call up; the
	 * read restarts and asks again, under a new id.
	 */
	raw_read_request(chan, &again, NULL, 0);
	assert_int_equal(again.hdr.opcode, FUSD_OP_INTERRUPT);
	assert_true(again.u.interrupt.id == req.hdr.id);
	assert_int_equal(raw_reply(chan, req.hdr.id, -EINTR, NULL, 0),
			 sizeof(struct fusd_reply));
	raw_read_request(chan, &again, NULL, 0);
	assert_int_equal(again.hdr.opcode, FUSD_OP_READ);
	assert_true(again.hdr.id > req.hdr.id);
	raw_reply(chan, req.hdr.id, 3, "old", 3);	/* dropped */
	raw_reply(chan, again.hdr.id, 3, "new", 3);
	assert_int_equal(client_join(&c), 3);
	assert_memory_equal(c.buf, "new", 3);
}

static void test_batched_read_and_write(void **state)
{
	static struct client c1, c2;
	char *buf = malloc(FUSD_MSG_MAX), out[2 * sizeof(struct fusd_reply) + 2];
	struct fusd_request r1, r2;
	struct fusd_reply rep;
	ssize_t n;

	(void)state;
	assert_non_null(buf);
	client_start(&c1, 'r', cfd, 1);
	client_start(&c2, 'r', cfd, 1);
	usleep(300 * 1000);	/* both queued */
	n = read(chan, buf, FUSD_MSG_MAX);
	assert_int_equal(n, 2 * sizeof(struct fusd_request));
	memcpy(&r1, buf, sizeof(r1));
	memcpy(&r2, buf + sizeof(r1), sizeof(r2));
	assert_int_equal(r1.hdr.opcode, FUSD_OP_READ);
	assert_int_equal(r2.hdr.opcode, FUSD_OP_READ);
	assert_true(r1.hdr.id != r2.hdr.id);

	/* Two replies in one write, answered in reverse order. */
	memset(&rep, 0, sizeof(rep));
	rep.hdr.size = sizeof(rep) + 1;
	rep.hdr.hdr_size = sizeof(rep);
	rep.hdr.opcode = FUSD_OP_REPLY;
	rep.result = 1;
	rep.hdr.id = r2.hdr.id;
	memcpy(out, &rep, sizeof(rep));
	out[sizeof(rep)] = '2';
	rep.hdr.id = r1.hdr.id;
	memcpy(out + sizeof(rep) + 1, &rep, sizeof(rep));
	out[2 * sizeof(rep) + 1] = '1';
	assert_int_equal(write(chan, out, sizeof(out)), sizeof(out));
	client_join(&c1);
	client_join(&c2);
	assert_int_equal(c1.ret, 1);
	assert_int_equal(c2.ret, 1);
	assert_true((c1.buf[0] == '1' && c2.buf[0] == '2') ||
		    (c1.buf[0] == '2' && c2.buf[0] == '1'));
	assert_true(c1.buf[0] != c2.buf[0]);
	free(buf);
}

static void test_batch_limit(void **state)
{
	static struct client c1, c2;
	char *buf = malloc(FUSD_MSG_MAX);
	struct fusd_request r;
	uint32_t one = 1, all = 0;
	int i;

	(void)state;
	assert_non_null(buf);
	assert_int_equal(ioctl(chan, FUSD_IOC_SET_BATCH, &one), 0);
	client_start(&c1, 'r', cfd, 1);
	client_start(&c2, 'r', cfd, 1);
	usleep(300 * 1000);	/* both queued */
	for (i = 0; i < 2; i++) {
		/* One request per read(), though both would fit. */
		assert_int_equal(read(chan, buf, FUSD_MSG_MAX), sizeof(r));
		memcpy(&r, buf, sizeof(r));
		raw_reply(chan, r.hdr.id, 1, "b", 1);
	}
	assert_int_equal(client_join(&c1), 1);
	assert_int_equal(client_join(&c2), 1);
	assert_int_equal(ioctl(chan, FUSD_IOC_SET_BATCH, &all), 0);
	assert_int_equal(ioctl(chan, FUSD_IOC_SET_BATCH, (void *)8), -1);
	assert_int_equal(errno, EFAULT);
	free(buf);
}

static void test_open_refused_and_bad_open_reply(void **state)
{
	struct fusd_request req;
	static struct client c;

	(void)state;
	client_start(&c, 'o', -1, 0);
	raw_read_request(chan, &req, NULL, 0);
	raw_reply(chan, req.hdr.id, -EACCES, NULL, 0);
	assert_int_equal(client_join(&c), -1);
	assert_int_equal(c.err, EACCES);

	client_start(&c, 'o', -1, 0);
	raw_read_request(chan, &req, NULL, 0);
	assert_int_equal(raw_reply(chan, req.hdr.id, 7, NULL, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(client_join(&c), -1);
	assert_int_equal(c.err, EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_fields),
		cmocka_unit_test(test_small_buffer_keeps_request),
		cmocka_unit_test(test_nonblocking_and_poll),
		cmocka_unit_test(test_malformed_replies_fail_caller_with_eio),
		cmocka_unit_test(test_write_reply_limits),
		cmocka_unit_test(test_unknown_ids_rejected_call_survives),
		cmocka_unit_test(test_interrupted_caller_waits_for_answer),
		cmocka_unit_test(test_interrupt_before_daemon_read_is_silent),
		cmocka_unit_test(test_sa_restart_reissues_call),
		cmocka_unit_test(test_batched_read_and_write),
		cmocka_unit_test(test_batch_limit),
		cmocka_unit_test(test_open_refused_and_bad_open_reply),
	};

	return itest_run(tests, setup, teardown);
}
