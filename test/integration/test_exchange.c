// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: FUSD_IOC_EXCHANGE (replies then requests in one call) and
 * FUSD_IOC_SET_IO_MAX spoken by hand: every error code, out_done, a batch
 * refused half way, non-blocking forms, EINTR instead of a restart once
 * replies went, growable structs, feature grants and the max_io cap; and
 * the library loops built on them: fusd_set_io_max, fusd_run with one
 * device (exchanges), deferred answers, fusd_unregister from a callback,
 * two devices, fusd_run_mt
 */
#define _GNU_SOURCE		/* pthread_timedjoin_np */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"
#include "rawchan.h"

#define NAME "xchg"
#define NODE "/dev/" NAME
#define RSIZE sizeof(struct fusd_reply)
#define HSIZE sizeof(struct fusd_request)
#define MIB (1024 * 1024)
#define ALL (FUSD_FEATURE_EXCHANGE | FUSD_FEATURE_IO_MAX)

static long saved_max_io = -1;

/* ------------------------------------------------------------ helpers */

static int group_setup(void **state)
{
	(void)state;
	saved_max_io = itest_param_get("max_io");
	return saved_max_io < 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (saved_max_io >= 0)
		itest_param_set("max_io", saved_max_io);
	return 0;
}

/* A reply message for 'id' with 'len' payload bytes, at 'out'. */
static size_t put_reply(void *out, uint64_t id, int64_t result,
			const void *data, size_t len)
{
	struct fusd_reply rep;

	memset(&rep, 0, sizeof(rep));
	rep.hdr.size = RSIZE + len;
	rep.hdr.hdr_size = RSIZE;
	rep.hdr.opcode = FUSD_OP_REPLY;
	rep.hdr.id = id;
	rep.result = result;
	memcpy(out, &rep, RSIZE);
	if (len)
		memcpy((char *)out + RSIZE, data, len);
	return RSIZE + len;
}

static void ex_init(struct fusd_exchange *ex, void *out, size_t out_len,
		    void *in, size_t in_len, uint32_t flags)
{
	memset(ex, 0, sizeof(*ex));
	ex->out_buf = (uintptr_t)out;
	ex->out_len = out_len;
	ex->in_buf = (uintptr_t)in;
	ex->in_len = in_len;
	ex->flags = flags;
	ex->out_done = 0xdeadbeef;	/* to see it written */
}

/* A client read() of 'len' bytes in a thread of its own. */
struct cl {
	pthread_t t;
	int fd;
	char buf[64];
	size_t len;
	ssize_t ret;
	int err;
	volatile int done;
};

static void *cl_main(void *arg)
{
	struct cl *c = arg;

	c->ret = read(c->fd, c->buf, c->len);
	c->err = errno;
	__atomic_store_n(&c->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void cl_start(struct cl *c, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->len = sizeof(c->buf);
	assert_int_equal(pthread_create(&c->t, NULL, cl_main, c), 0);
}

static int cl_done(struct cl *c)
{
	return __atomic_load_n(&c->done, __ATOMIC_SEQ_CST);
}

static void cl_join(struct cl *c)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10 * itest_scale();
	assert_int_equal(pthread_timedjoin_np(c->t, NULL, &until), 0);
}

/* A client read whose READ the daemon has taken (state: awaiting reply). */
static uint64_t cl_start_read(struct cl *c, int chan, int fd)
{
	struct fusd_request req;

	cl_start(c, fd);
	assert_int_equal(raw_read_request(chan, &req, NULL, 0), 0);
	assert_int_equal(req.hdr.opcode, FUSD_OP_READ);
	return req.hdr.id;
}

/* A client read queued on the channel, not read by the daemon. */
static void cl_start_queued(struct cl *c, int fd, int chan, int want)
{
	cl_start(c, fd);
	(void)chan;
	assert_int_equal(itest_wait_sysfs(NAME, "pending", want,
					  5000 * itest_scale()), 0);
}

static void assert_queued_read(int chan, uint64_t *id)
{
	struct fusd_request req;

	assert_int_equal(raw_read_request(chan, &req, NULL, 0), 0);
	assert_int_equal(req.hdr.opcode, FUSD_OP_READ);
	if (id)
		*id = req.hdr.id;
}

static void assert_nothing_queued(int chan)
{
	char buf[512];
	int fl = fcntl(chan, F_GETFL);

	assert_int_equal(fcntl(chan, F_SETFL, fl | O_NONBLOCK), 0);
	assert_int_equal(read(chan, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(fcntl(chan, F_SETFL, fl), 0);
}

static volatile sig_atomic_t handled;

static void on_signal(int sig)
{
	(void)sig;
	handled++;
}

/* ------------------------------------------------------------ errors */

/* Before REGISTER both ioctls are ENODEV. */
static void test_unregistered_enodev(void **state)
{
	struct fusd_exchange ex;
	uint32_t v = MIB;
	int fd = open("/dev/fusd/control", O_RDWR);

	(void)state;
	assert_true(fd >= 0);
	ex_init(&ex, NULL, 0, NULL, 0, 0);
	assert_int_equal(ioctl(fd, FUSD_IOC_EXCHANGE, &ex), -1);
	assert_int_equal(errno, ENODEV);
	assert_int_equal(ioctl(fd, FUSD_IOC_SET_IO_MAX, &v), -1);
	assert_int_equal(errno, ENODEV);
	close(fd);
}

static void expect_grants(int chan, int exchange, int io_max)
{
	struct fusd_exchange ex;
	uint32_t v = MIB;
	int r;

	ex_init(&ex, NULL, 0, NULL, 0, 0);
	r = ioctl(chan, FUSD_IOC_EXCHANGE, &ex);
	if (exchange) {
		assert_int_equal(r, 0);
		assert_int_equal(ex.out_done, 0);
	} else {
		assert_int_equal(r, -1);
		assert_int_equal(errno, EOPNOTSUPP);
		assert_true(ex.out_done == 0xdeadbeef);
	}
	r = ioctl(chan, FUSD_IOC_SET_IO_MAX, &v);
	if (io_max) {
		assert_int_equal(r, 0);
		assert_int_equal(v, MIB);
	} else {
		assert_int_equal(r, -1);
		assert_int_equal(errno, EOPNOTSUPP);
		assert_int_equal(v, MIB);
	}
}

/* Each ioctl needs its own feature granted at REGISTER. */
static void test_feature_not_granted(void **state)
{
	static const struct {
		uint16_t minor;
		uint64_t features;
		int ex, io;
	} cases[] = {
		{ FUSD_PROTO_MINOR, 0, 0, 0 },
		{ FUSD_PROTO_MINOR, FUSD_FEATURE_REPLY_POLL, 0, 0 },
		{ FUSD_PROTO_MINOR, FUSD_FEATURE_EXCHANGE, 1, 0 },
		{ FUSD_PROTO_MINOR, FUSD_FEATURE_IO_MAX, 0, 1 },
		{ FUSD_PROTO_MINOR, FUSD_FEATURES_ALL, 1, 1 },
		{ 0, FUSD_FEATURES_ALL, 0, 0 },	/* 1.0 gets no features */
	};
	size_t i;

	(void)state;
	itest_param_set("max_io", MIB);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int chan = raw_register_features(NAME, cases[i].minor, cases[i].features);

		expect_grants(chan, cases[i].ex, cases[i].io);
		close(chan);
		assert_int_equal(itest_wait_path(NODE, 0, 5000), 0);
	}
	itest_param_set("max_io", saved_max_io);
}

/*
 * Unknown flags, a non-zero reserved0 or reserved1 and in_len > INT_MAX
 * are EINVAL, and refused before any reply is taken.
 */
static void test_exchange_einval(void **state)
{
	char out[256], in[FUSD_MSG_MAX];
	struct fusd_exchange ex;
	struct cl c;
	size_t n;
	uint64_t id;
	int chan, fd, k;

	(void)state;
	chan = raw_register_features(NAME, FUSD_PROTO_MINOR, ALL);
	fd = raw_open(chan, NODE, NULL);
	id = cl_start_read(&c, chan, fd);
	n = put_reply(out, id, 2, "ok", 2);
	for (k = 0; k < 6; k++) {
		ex_init(&ex, out, n, in, sizeof(in), FUSD_EXCHANGE_NONBLOCK);
		switch (k) {
		case 0: ex.flags |= 2; break;
		case 1: ex.flags = 1U << 31; break;
		case 2: ex.reserved0 = 1; break;
		case 3: ex.in_len = (uint64_t)INT_MAX + 1; break;
		case 4: ex.in_len = UINT64_MAX; break;
		case 5: ex.reserved1 = 1U << 7; break;
		}
		assert_int_equal(ioctl(chan, FUSD_IOC_EXCHANGE, &ex), -1);
		assert_int_equal(errno, EINVAL);
		assert_true(ex.out_done == 0xdeadbeef);
	}
	usleep(100 * 1000);
	assert_false(cl_done(&c));		/* the reply was not taken */
	assert_int_equal(itest_sysfs(NAME, "pending"), 1);

	/* in_len INT_MAX is fine: the reply goes, nothing is queued. */
	ex_init(&ex, out, n, in, INT_MAX, FUSD_EXCHANGE_NONBLOCK);
	assert_int_equal(ioctl(chan, FUSD_IOC_EXCHANGE, &ex), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(ex.out_done, n);
	cl_join(&c);
	assert_int_equal(c.ret, 2);
	assert_memory_equal(c.buf, "ok", 2);
	close(fd);
	close(chan);
}

/*
 * The argument grows like every channel ioctl: a larger struct with a
 * zero tail works (the tail is not written), a non-zero tail is E2BIG,
 * a struct under 56 bytes or the wrong direction is ENOTTY.  Same for
 * SET_IO_MAX around its __u32.
 */
struct ex_big {
	struct fusd_exchange ex;
	uint64_t tail[2];
};

struct u32_big {
	uint32_t v;
	uint32_t tail[3];
};

static void test_struct_growth(void **state)
{
	struct ex_big big;
	struct u32_big vb;
	unsigned char raw[64];
	int chan;

	(void)state;
	itest_param_set("max_io", MIB);
	chan = raw_register_features(NAME, FUSD_PROTO_MINOR, ALL);

	memset(&big, 0, sizeof(big));
	ex_init(&big.ex, NULL, 0, NULL, 0, 0);
	assert_int_equal(ioctl(chan, _IOWR(FUSD_IOC_MAGIC, FUSD_IOC_NR_EXCHANGE,
					   struct ex_big), &big), 0);
	assert_int_equal(big.ex.out_done, 0);
	assert_true(big.tail[0] == 0 && big.tail[1] == 0);

	big.tail[1] = 1;
	big.ex.out_done = 0xdeadbeef;
	assert_int_equal(ioctl(chan, _IOWR(FUSD_IOC_MAGIC, FUSD_IOC_NR_EXCHANGE,
					   struct ex_big), &big), -1);
	assert_int_equal(errno, E2BIG);
	assert_true(big.ex.out_done == 0xdeadbeef);

	memset(raw, 0, sizeof(raw));
	assert_int_equal(ioctl(chan, _IOC(_IOC_READ | _IOC_WRITE,
					  FUSD_IOC_MAGIC, FUSD_IOC_NR_EXCHANGE,
					  40), raw), -1);
	assert_int_equal(errno, ENOTTY);
	assert_int_equal(ioctl(chan, _IOC(_IOC_READ | _IOC_WRITE,
					  FUSD_IOC_MAGIC, FUSD_IOC_NR_EXCHANGE,
					  FUSD_EXCHANGE_SIZE_V1_2 - 1), raw), -1);
	assert_int_equal(errno, ENOTTY);
	assert_int_equal(ioctl(chan, _IOW(FUSD_IOC_MAGIC, FUSD_IOC_NR_EXCHANGE,
					  struct fusd_exchange), raw), -1);
	assert_int_equal(errno, ENOTTY);
	assert_int_equal(ioctl(chan, _IOR(FUSD_IOC_MAGIC, FUSD_IOC_NR_EXCHANGE,
					  struct fusd_exchange), raw), -1);
	assert_int_equal(errno, ENOTTY);
	/* Exactly 56 bytes, the 1.2 size, works. */
	assert_int_equal(sizeof(struct fusd_exchange), FUSD_EXCHANGE_SIZE_V1_2);
	assert_int_equal(ioctl(chan, _IOC(_IOC_READ | _IOC_WRITE,
					  FUSD_IOC_MAGIC, FUSD_IOC_NR_EXCHANGE,
					  FUSD_EXCHANGE_SIZE_V1_2), raw), 0);

	memset(&vb, 0, sizeof(vb));
	vb.v = 65536;
	assert_int_equal(ioctl(chan, _IOWR(FUSD_IOC_MAGIC,
					   FUSD_IOC_NR_SET_IO_MAX,
					   struct u32_big), &vb), 0);
	assert_int_equal(vb.v, 65536);
	assert_true(!vb.tail[0] && !vb.tail[1] && !vb.tail[2]);
	vb.tail[2] = 7;
	assert_int_equal(ioctl(chan, _IOWR(FUSD_IOC_MAGIC,
					   FUSD_IOC_NR_SET_IO_MAX,
					   struct u32_big), &vb), -1);
	assert_int_equal(errno, E2BIG);
	assert_int_equal(ioctl(chan, _IOC(_IOC_READ | _IOC_WRITE,
					  FUSD_IOC_MAGIC, FUSD_IOC_NR_SET_IO_MAX,
					  2), raw), -1);
	assert_int_equal(errno, ENOTTY);
	assert_int_equal(ioctl(chan, _IOW(FUSD_IOC_MAGIC, FUSD_IOC_NR_SET_IO_MAX,
					  uint32_t), raw), -1);
	assert_int_equal(errno, ENOTTY);
	close(chan);
	itest_param_set("max_io", saved_max_io);
}

/* ------------------------------------------------------------ behaviour */

struct xwait {
	pthread_t t;
	int chan;
	struct fusd_exchange ex;
	char in[FUSD_MSG_MAX];
	long ret;
	int err;
	volatile int done;
};

static void *xwait_main(void *arg)
{
	struct xwait *x = arg;

	x->ret = ioctl(x->chan, FUSD_IOC_EXCHANGE, &x->ex);
	x->err = errno;
	__atomic_store_n(&x->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/*
 * A reply and the next request in one call: the caller gets its answer,
 * out_done is the reply's size and the return value the request's bytes.
 * A blocking exchange waits for the next call, its reply already given.
 */
static void test_exchange_reply_and_fetch(void **state)
{
	char out[256], in[FUSD_MSG_MAX];
	struct fusd_request req;
	struct fusd_exchange ex;
	struct timespec until;
	struct xwait *x;
	struct cl a, b, c;
	uint64_t ida;
	size_t n;
	int chan, fd;
	long r;

	(void)state;
	chan = raw_register_features(NAME, FUSD_PROTO_MINOR, ALL);
	fd = raw_open(chan, NODE, NULL);
	ida = cl_start_read(&a, chan, fd);
	cl_start_queued(&b, fd, chan, 2);

	n = put_reply(out, ida, 5, "alpha", 5);
	ex_init(&ex, out, n, in, sizeof(in), 0);
	r = ioctl(chan, FUSD_IOC_EXCHANGE, &ex);
	assert_int_equal(r, HSIZE);
	assert_int_equal(ex.out_done, n);
	memcpy(&req, in, HSIZE);
	assert_int_equal(req.hdr.opcode, FUSD_OP_READ);
	assert_true(req.hdr.id > ida);
	cl_join(&a);
	assert_int_equal(a.ret, 5);
	assert_memory_equal(a.buf, "alpha", 5);

	/* Answer b and wait, in a thread, for what comes next. */
	x = calloc(1, sizeof(*x));
	assert_non_null(x);
	x->chan = chan;
	n = put_reply(out, req.hdr.id, 4, "beta", 4);
	ex_init(&x->ex, out, n, x->in, sizeof(x->in), 0);
	assert_int_equal(pthread_create(&x->t, NULL, xwait_main, x), 0);
	cl_join(&b);		/* b's answer came before any new call */
	assert_int_equal(b.ret, 4);
	assert_memory_equal(b.buf, "beta", 4);
	usleep(100 * 1000);
	assert_false(__atomic_load_n(&x->done, __ATOMIC_SEQ_CST));
	cl_start(&c, fd);	/* the blocked exchange takes it */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5 * itest_scale();
	assert_int_equal(pthread_timedjoin_np(x->t, NULL, &until), 0);
	assert_int_equal(x->ret, HSIZE);
	assert_int_equal(x->ex.out_done, n);
	memcpy(&req, x->in, HSIZE);
	assert_int_equal(req.hdr.opcode, FUSD_OP_READ);
	free(x);
	assert_int_equal(raw_reply(chan, req.hdr.id, 1, "c", 1), RSIZE + 1);
	cl_join(&c);
	assert_int_equal(c.ret, 1);
	assert_int_equal(itest_sysfs(NAME, "pending"), 0);
	close(fd);
	close(chan);
}

/*
 * Two replies, the second malformed: the first is taken, out_done is its
 * size, the call returns 0 and reads nothing (the queued call stays).
 * The caller named by the malformed reply fails with EIO.  A refused
 * first reply is the call's error, and nothing is read either.
 */
static void test_exchange_partial_batch(void **state)
{
	char out[512], in[FUSD_MSG_MAX];
	struct fusd_exchange ex;
	struct fusd_reply bad;
	struct cl a, b, q;
	uint64_t ida, idb, idq;
	size_t n1, n2;
	int chan, fd;

	(void)state;
	chan = raw_register_features(NAME, FUSD_PROTO_MINOR, ALL);
	fd = raw_open(chan, NODE, NULL);
	ida = cl_start_read(&a, chan, fd);
	idb = cl_start_read(&b, chan, fd);
	cl_start_queued(&q, fd, chan, 3);

	n1 = put_reply(out, ida, 3, "one", 3);
	n2 = put_reply(out + n1, idb, 0, NULL, 0);
	memcpy(&bad, out + n1, RSIZE);
	bad.reserved = 1;			/* must be 0 */
	memcpy(out + n1, &bad, RSIZE);
	ex_init(&ex, out, n1 + n2, in, sizeof(in), 0);
	assert_int_equal(ioctl(chan, FUSD_IOC_EXCHANGE, &ex), 0);
	assert_int_equal(ex.out_done, n1);
	cl_join(&a);
	assert_int_equal(a.ret, 3);
	assert_memory_equal(a.buf, "one", 3);
	cl_join(&b);
	assert_int_equal(b.ret, -1);
	assert_int_equal(b.err, EIO);
	/* q was not read by that exchange. */
	assert_queued_read(chan, &idq);

	/* A first reply refused: its error, nothing read. */
	cl_start_queued(&b, fd, chan, 2);
	n1 = put_reply(out, idq, 1, "xy", 2);	/* result 1 with 2 bytes */
	ex_init(&ex, out, n1, in, sizeof(in), 0);
	assert_int_equal(ioctl(chan, FUSD_IOC_EXCHANGE, &ex), -1);
	assert_int_equal(errno, EINVAL);
	cl_join(&q);
	assert_int_equal(q.ret, -1);
	assert_int_equal(q.err, EIO);
	assert_queued_read(chan, &idb);

	/* Less than a header: EINVAL; out_buf unmapped: EFAULT. */
	ex_init(&ex, out, 8, in, sizeof(in), 0);
	assert_int_equal(ioctl(chan, FUSD_IOC_EXCHANGE, &ex), -1);
	assert_int_equal(errno, EINVAL);
	{
		char *hole = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		assert_true(hole != MAP_FAILED);
		munmap(hole, 4096);
		ex_init(&ex, hole, RSIZE, in, sizeof(in), 0);
		assert_int_equal(ioctl(chan, FUSD_IOC_EXCHANGE, &ex), -1);
		assert_int_equal(errno, EFAULT);
	}
	/* An id never issued: EINVAL, b still waits. */
	n1 = put_reply(out, idb + 1000, 0, NULL, 0);
	ex_init(&ex, out, n1, in, sizeof(in), 0);
	assert_int_equal(ioctl(chan, FUSD_IOC_EXCHANGE, &ex), -1);
	assert_int_equal(errno, EINVAL);
	assert_false(cl_done(&b));

	/* A buffer too small for the next request: EINVAL, it stays. */
	cl_start_queued(&q, fd, chan, 2);
	n1 = put_reply(out, idb, 1, "b", 1);
	ex_init(&ex, out, n1, in, HSIZE - 1, 0);
	assert_int_equal(ioctl(chan, FUSD_IOC_EXCHANGE, &ex), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(ex.out_done, n1);	/* the reply went */
	cl_join(&b);
	assert_int_equal(b.ret, 1);
	assert_queued_read(chan, &idq);
	assert_int_equal(raw_reply(chan, idq, 1, "q", 1), RSIZE + 1);
	cl_join(&q);
	assert_int_equal(q.ret, 1);
	assert_int_equal(itest_sysfs(NAME, "pending"), 0);
	close(fd);
	close(chan);
}

/*
 * Non-blocking: FUSD_EXCHANGE_NONBLOCK or an O_NONBLOCK channel give
 * EAGAIN when nothing is queued, after the replies went (out_done set).
 * in_len 0 sends only, even with calls queued.
 */
static void test_exchange_nonblock(void **state)
{
	char out[256], in[FUSD_MSG_MAX];
	struct fusd_exchange ex;
	struct cl a, q;
	uint64_t ida;
	size_t n;
	int chan, fd, fl;

	(void)state;
	chan = raw_register_features(NAME, FUSD_PROTO_MINOR, ALL);
	fd = raw_open(chan, NODE, NULL);

	ex_init(&ex, NULL, 0, in, sizeof(in), FUSD_EXCHANGE_NONBLOCK);
	assert_int_equal(ioctl(chan, FUSD_IOC_EXCHANGE, &ex), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(ex.out_done, 0);

	ida = cl_start_read(&a, chan, fd);
	n = put_reply(out, ida, 3, "nbk", 3);
	ex_init(&ex, out, n, in, sizeof(in), FUSD_EXCHANGE_NONBLOCK);
	assert_int_equal(ioctl(chan, FUSD_IOC_EXCHANGE, &ex), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(ex.out_done, n);
	cl_join(&a);
	assert_int_equal(a.ret, 3);
	assert_memory_equal(a.buf, "nbk", 3);

	ida = cl_start_read(&a, chan, fd);
	fl = fcntl(chan, F_GETFL);
	assert_int_equal(fcntl(chan, F_SETFL, fl | O_NONBLOCK), 0);
	n = put_reply(out, ida, 2, "nb", 2);
	ex_init(&ex, out, n, in, sizeof(in), 0);
	assert_int_equal(ioctl(chan, FUSD_IOC_EXCHANGE, &ex), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(ex.out_done, n);
	cl_join(&a);
	assert_int_equal(a.ret, 2);
	assert_int_equal(fcntl(chan, F_SETFL, fl), 0);

	/* in_len 0: send only; the queued call stays for later. */
	ida = cl_start_read(&a, chan, fd);
	cl_start_queued(&q, fd, chan, 2);
	n = put_reply(out, ida, 1, "s", 1);
	ex_init(&ex, out, n, in, 0, 0);
	assert_int_equal(ioctl(chan, FUSD_IOC_EXCHANGE, &ex), 0);
	assert_int_equal(ex.out_done, n);
	cl_join(&a);
	assert_int_equal(a.ret, 1);
	/* Nothing to send: a plain non-blocking read. */
	ex_init(&ex, NULL, 0, in, sizeof(in), FUSD_EXCHANGE_NONBLOCK);
	assert_int_equal(ioctl(chan, FUSD_IOC_EXCHANGE, &ex), HSIZE);
	assert_int_equal(ex.out_done, 0);
	{
		struct fusd_request req;

		memcpy(&req, in, HSIZE);
		assert_int_equal(req.hdr.opcode, FUSD_OP_READ);
		assert_int_equal(raw_reply(chan, req.hdr.id, 1, "q", 1),
				 RSIZE + 1);
	}
	cl_join(&q);
	assert_int_equal(q.ret, 1);
	assert_nothing_queued(chan);
	close(fd);
	close(chan);
}

/*
 * A signal (SA_RESTART handler) during the blocking read part: after
 * replies were sent the exchange fails with EINTR, never restarts (the
 * replies would go twice); with nothing sent it restarts transparently.
 */
/*
 * timeout_ms bounds a blocking wait: ETIMEDOUT once it passes with
 * nothing queued (after the replies went), the request if one comes in
 * time; 0 waits without limit.
 */
static void test_exchange_timeout(void **state)
{
	char out[256], in[FUSD_MSG_MAX];
	struct fusd_exchange ex;
	struct fusd_request *req = (struct fusd_request *)in;
	int64_t t0, took;
	struct cl c;
	size_t n;
	uint64_t id;
	int chan, fd;

	(void)state;
	chan = raw_register_features(NAME, FUSD_PROTO_MINOR, ALL);
	fd = raw_open(chan, NODE, NULL);

	/* Nothing queued: the reply goes, then the wait ends in time. */
	id = cl_start_read(&c, chan, fd);
	n = put_reply(out, id, 2, "ok", 2);
	ex_init(&ex, out, n, in, sizeof(in), 0);
	ex.timeout_ms = 300;
	t0 = itest_now_ms();
	assert_int_equal(ioctl(chan, FUSD_IOC_EXCHANGE, &ex), -1);
	took = itest_now_ms() - t0;
	assert_int_equal(errno, ETIMEDOUT);
	assert_int_equal(ex.out_done, n);
	assert_true(took >= 250);
	assert_true(took < 10000 * itest_scale());
	cl_join(&c);
	assert_int_equal(c.ret, 2);

	/* A call that comes during the wait is returned, not a timeout. */
	cl_start(&c, fd);
	ex_init(&ex, NULL, 0, in, sizeof(in), 0);
	ex.timeout_ms = 10000 * itest_scale();
	assert_true(ioctl(chan, FUSD_IOC_EXCHANGE, &ex) > 0);
	assert_int_equal(req->hdr.opcode, FUSD_OP_READ);
	n = put_reply(out, req->hdr.id, 1, "z", 1);
	assert_int_equal(write(chan, out, n), (ssize_t)n);
	cl_join(&c);
	assert_int_equal(c.ret, 1);

	/* Non-blocking ignores the timeout: EAGAIN at once. */
	ex_init(&ex, NULL, 0, in, sizeof(in), FUSD_EXCHANGE_NONBLOCK);
	ex.timeout_ms = 1;
	assert_int_equal(ioctl(chan, FUSD_IOC_EXCHANGE, &ex), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(itest_sysfs(NAME, "pending"), 0);
	close(fd);
	close(chan);
}

static void test_exchange_eintr_not_restarted(void **state)
{
	struct sigaction sa = { .sa_handler = on_signal };
	char out[256];
	struct xwait *x = calloc(1, sizeof(*x));
	struct timespec until;
	struct cl a;
	uint64_t ida;
	size_t n;
	int chan, fd;

	(void)state;
	assert_non_null(x);
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
	chan = raw_register_features(NAME, FUSD_PROTO_MINOR, ALL);
	fd = raw_open(chan, NODE, NULL);

	ida = cl_start_read(&a, chan, fd);
	n = put_reply(out, ida, 4, "intr", 4);
	x->chan = chan;
	ex_init(&x->ex, out, n, x->in, sizeof(x->in), 0);
	assert_int_equal(pthread_create(&x->t, NULL, xwait_main, x), 0);
	cl_join(&a);				/* the reply went */
	assert_int_equal(a.ret, 4);
	usleep(100 * 1000);
	assert_false(__atomic_load_n(&x->done, __ATOMIC_SEQ_CST));
	handled = 0;
	assert_int_equal(pthread_kill(x->t, SIGUSR1), 0);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5 * itest_scale();
	assert_int_equal(pthread_timedjoin_np(x->t, NULL, &until), 0);
	assert_int_equal(x->ret, -1);
	assert_int_equal(x->err, EINTR);
	assert_int_equal(x->ex.out_done, n);
	assert_int_equal(handled, 1);

	/* Nothing sent: SA_RESTART restarts the wait. */
	memset(x, 0, sizeof(*x));
	x->chan = chan;
	ex_init(&x->ex, NULL, 0, x->in, sizeof(x->in), 0);
	assert_int_equal(pthread_create(&x->t, NULL, xwait_main, x), 0);
	usleep(100 * 1000);
	handled = 0;
	assert_int_equal(pthread_kill(x->t, SIGUSR1), 0);
	usleep(300 * 1000);
	assert_int_equal(handled, 1);
	assert_false(__atomic_load_n(&x->done, __ATOMIC_SEQ_CST));
	cl_start(&a, fd);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5 * itest_scale();
	assert_int_equal(pthread_timedjoin_np(x->t, NULL, &until), 0);
	assert_int_equal(x->ret, HSIZE);
	{
		struct fusd_request req;

		memcpy(&req, x->in, HSIZE);
		assert_int_equal(req.hdr.opcode, FUSD_OP_READ);
		assert_int_equal(raw_reply(chan, req.hdr.id, 1, "r", 1),
				 RSIZE + 1);
	}
	cl_join(&a);
	assert_int_equal(a.ret, 1);
	assert_nothing_queued(chan);
	free(x);
	close(fd);
	close(chan);
}

/* ------------------------------------------------------------ io_max */

static uint32_t set_io_max(int chan, uint32_t want)
{
	uint32_t v = want;

	assert_int_equal(ioctl(chan, FUSD_IOC_SET_IO_MAX, &v), 0);
	return v;
}

/* The READ a client read() of 'len' bytes makes carries this size. */
static uint64_t read_size(int chan, int fd, size_t len)
{
	struct fusd_request req;
	/* Page-aligned: test_data_path covers buffers that are not. */
	char *buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ssize_t r;
	pid_t pid;
	int status;

	assert_true(buf != MAP_FAILED);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(read(fd, buf, len) == 0 ? 0 : 1);
	assert_int_equal(raw_read_request(chan, &req, NULL, 0), 0);
	assert_int_equal(req.hdr.opcode, FUSD_OP_READ);
	r = raw_reply(chan, req.hdr.id, 0, NULL, 0);
	assert_int_equal(r, RSIZE);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	munmap(buf, len);
	return req.u.rw.size;
}

/*
 * Granted = min(wanted, max(max_io capped at 64 MiB, 128 KiB)), 0 = the
 * default; later READs carry up to that.
 */
static void test_set_io_max_rules(void **state)
{
	int chan, fd;

	(void)state;
	itest_param_set("max_io", MIB);
	chan = raw_register_features(NAME, FUSD_PROTO_MINOR, FUSD_FEATURE_IO_MAX);
	fd = raw_open(chan, NODE, NULL);
	assert_int_equal(read_size(chan, fd, 2 * MIB), FUSD_IO_MAX);
	assert_int_equal(set_io_max(chan, 0), FUSD_IO_MAX);
	assert_int_equal(set_io_max(chan, 1), 1);
	assert_int_equal(read_size(chan, fd, 100), 1);
	assert_int_equal(set_io_max(chan, 4096), 4096);
	assert_int_equal(read_size(chan, fd, 10000), 4096);
	assert_int_equal(read_size(chan, fd, 100), 100);
	assert_int_equal(set_io_max(chan, MIB), MIB);
	assert_int_equal(read_size(chan, fd, 2 * MIB), MIB);
	assert_int_equal(set_io_max(chan, 2 * MIB), MIB);
	assert_int_equal(set_io_max(chan, UINT32_MAX), MIB);
	assert_int_equal(set_io_max(chan, 0), FUSD_IO_MAX);
	assert_int_equal(read_size(chan, fd, 2 * MIB), FUSD_IO_MAX);

	itest_param_set("max_io", 4 * MIB);
	assert_int_equal(set_io_max(chan, 8 * MIB), 4 * MIB);
	assert_int_equal(set_io_max(chan, 3 * MIB), 3 * MIB);
	itest_param_set("max_io", 100 * MIB);			/* capped at 64 MiB */
	assert_int_equal(set_io_max(chan, UINT32_MAX), 64 * MIB);
	assert_int_equal(set_io_max(chan, 65 * MIB), 64 * MIB);
	itest_param_set("max_io", 4096);		/* never below the default */
	assert_int_equal(set_io_max(chan, MIB), FUSD_IO_MAX);
	assert_int_equal(set_io_max(chan, 8192), 8192);
	itest_param_set("max_io", 0);
	assert_int_equal(set_io_max(chan, UINT32_MAX), FUSD_IO_MAX);
	itest_param_set("max_io", saved_max_io);
	close(fd);
	close(chan);
}

/* ------------------------------------------------------------ library */

static pid_t fork_lib(void (*child)(void))
{
	pid_t pid;

	/* A daemon of an earlier case may still be on its way out. */
	assert_int_equal(itest_wait_path(NODE, 0, 5000), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		freopen("/dev/null", "w", stdout);
		child();
		_exit(0);
	}
	return pid;
}

static void reap(pid_t pid, int want_status)
{
	int64_t end = itest_now_ms() + 10000 * itest_scale();
	int status;
	pid_t r;

	while ((r = waitpid(pid, &status, WNOHANG)) == 0 &&
	       itest_now_ms() < end)
		usleep(10000);
	if (r == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("the daemon did not end");
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), want_status);
}

static void fill(unsigned char *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(i * 29 + (i >> 10) + seed);
}

static ssize_t big_read(struct fusd_file_info *file, char *buf, size_t len,
			loff_t *off)
{
	(void)file;
	(void)off;
	fill((unsigned char *)buf, len, 77);
	return (ssize_t)len;
}

static struct fusd_file_operations big_fops = { .read = big_read };

static void big_daemon(void)
{
	int fd = fusd_register(NAME, "test", NULL, 0666, NULL, &big_fops);

	if (fd < 0 || fusd_set_io_max(fd, MIB) != MIB)
		_exit(2);
	fusd_run();
	_exit(3);
}

/*
 * fusd_set_io_max: granted sizes, EINVAL, EBADF, EOPNOTSUPP without the
 * feature; a daemon that raised it answers a 1 MiB read in one call.
 */
static void test_lib_set_io_max(void **state)
{
	unsigned char *buf, *want;
	int fd, chan;
	pid_t pid;

	(void)state;
	itest_param_set("max_io", MIB);
	fd = fusd_register(NAME, "test", NULL, 0666, NULL, &big_fops);
	assert_true(fd >= 0);
	assert_int_equal(fusd_set_io_max(fd, 0), FUSD_IO_MAX);
	assert_int_equal(fusd_set_io_max(fd, 4096), 4096);
	assert_int_equal(fusd_set_io_max(fd, MIB), MIB);
	assert_int_equal(fusd_set_io_max(fd, 2 * MIB), MIB);
	assert_int_equal(fusd_set_io_max(fd, (size_t)UINT32_MAX + 1), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(fusd_set_io_max(fd + 100, MIB), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(fusd_set_io_max(0, MIB), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(fusd_unregister(fd), 0);
	assert_int_equal(itest_wait_path(NODE, 0, 5000), 0);

	/* Not granted: a raw channel without the feature is no library
	 * device (EBADF); the library always asks, so EOPNOTSUPP shows
	 * only through the raw ioctl (test_feature_not_granted).
	 */
	chan = raw_register_features(NAME, FUSD_PROTO_MINOR, 0);
	assert_int_equal(fusd_set_io_max(chan, MIB), -1);
	assert_int_equal(errno, EBADF);
	close(chan);
	assert_int_equal(itest_wait_path(NODE, 0, 5000), 0);

	pid = fork_lib(big_daemon);
	assert_int_equal(itest_wait_path(NODE, 1, 10000), 0);
	buf = mmap(NULL, 2 * MIB, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);	/* page-aligned */
	want = malloc(MIB);
	assert_true(buf != MAP_FAILED);
	assert_non_null(want);
	fill(want, MIB, 77);
	fd = open(NODE, O_RDONLY);
	assert_true(fd >= 0);
	/* One request of 1 MiB; the callback fills it all. */
	assert_int_equal(read(fd, buf, MIB + 1), MIB);
	assert_memory_equal(buf, want, MIB);
	assert_int_equal(read(fd, buf, 300000), 300000);
	assert_memory_equal(buf, want, 300000);
	close(fd);
	itest_kill_daemon(pid, NODE);
	munmap(buf, 2 * MIB);
	free(want);
	itest_param_set("max_io", saved_max_io);
}

/* Per open file: how many reads it had. */
static int seq_open(struct fusd_file_info *file)
{
	file->private_data = calloc(1, sizeof(int));
	return file->private_data ? 0 : -ENOMEM;
}

static int seq_close(struct fusd_file_info *file)
{
	free(file->private_data);
	return 0;
}

/* Answer k-th read: "<k>:" then a pattern of (k % 7) * 1500 bytes, so
 * that both small and page-sized answers go through the loop.
 */
static size_t seq_answer(char *buf, size_t len, int k)
{
	size_t n = (size_t)snprintf(buf, len, "%d:", k);
	size_t extra = (size_t)(k % 7) * 1500;

	if (n + extra > len)
		extra = len > n ? len - n : 0;
	fill((unsigned char *)buf + n, extra, (unsigned int)k);
	return n + extra;
}

static ssize_t seq_read(struct fusd_file_info *file, char *buf, size_t len,
			loff_t *off)
{
	int *k = file->private_data;

	(void)off;
	return (ssize_t)seq_answer(buf, len, (*k)++);
}

static struct fusd_file_operations seq_fops = {
	.open = seq_open, .close = seq_close, .read = seq_read,
};

static void seq_daemon(void)
{
	if (fusd_register(NAME, "test", NULL, 0666, NULL, &seq_fops) < 0)
		_exit(2);
	fusd_run();
	_exit(3);
}

/* 'n' reads on a new file of NODE, each checked; 0 or the failed read. */
static int seq_client(const char *node, int n)
{
	static __thread char buf[16384], want[16384];
	int fd = open(node, O_RDONLY), k;

	if (fd < 0)
		return -1;
	for (k = 0; k < n; k++) {
		size_t w = seq_answer(want, sizeof(want), k);
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r != (ssize_t)w || memcmp(buf, want, w)) {
			close(fd);
			return k + 1;
		}
	}
	close(fd);
	return 0;
}

/* fusd_run with one device (the exchange loop): 1,000 reads in a row. */
static void test_lib_run_sequential(void **state)
{
	pid_t pid;
	int r;

	(void)state;
	pid = fork_lib(seq_daemon);
	assert_int_equal(itest_wait_path(NODE, 1, 10000), 0);
	r = seq_client(NODE, 1000);
	if (r)
		fail_msg("read %d went wrong", r);
	itest_kill_daemon(pid, NODE);
}

/* Deferred reads, answered by a helper thread of the daemon. */
#define DEFER_CLIENTS 4
#define DEFER_READS 200

static int defer_pipe[2];

static ssize_t defer_read(struct fusd_file_info *file, char *buf, size_t len,
			  loff_t *off)
{
	int *k = file->private_data;
	struct { struct fusd_file_info *f; int k; } msg = { file, (*k)++ };

	(void)buf;
	(void)len;
	(void)off;
	if (write(defer_pipe[1], &msg, sizeof(msg)) != sizeof(msg))
		return -EIO;
	return -FUSD_NOREPLY;
}

static void *defer_helper(void *arg)
{
	struct { struct fusd_file_info *f; int k; } msg;

	(void)arg;
	while (read(defer_pipe[0], &msg, sizeof(msg)) == sizeof(msg)) {
		char *buf = fusd_get_read_buffer(msg.f);
		size_t len = fusd_get_length(msg.f);

		if (msg.k % 3 == 0)
			usleep(1000);
		fusd_return(msg.f, (ssize_t)seq_answer(buf, len, msg.k));
	}
	return NULL;
}

static struct fusd_file_operations defer_fops = {
	.open = seq_open, .close = seq_close, .read = defer_read,
};

static void defer_daemon(void)
{
	pthread_t t;

	if (pipe(defer_pipe) ||
	    pthread_create(&t, NULL, defer_helper, NULL) ||
	    fusd_register(NAME, "test", NULL, 0666, NULL, &defer_fops) < 0)
		_exit(2);
	fusd_run();
	_exit(3);
}

struct seq_thr {
	pthread_t t;
	const char *node;
	int n;
	int ret;
};

static void *seq_thr_main(void *arg)
{
	struct seq_thr *s = arg;

	s->ret = seq_client(s->node, s->n);
	return NULL;
}

static void run_clients(const char *node, int nthreads, int n)
{
	struct seq_thr s[8];
	int i;

	for (i = 0; i < nthreads; i++) {
		s[i].node = node;
		s[i].n = n;
		s[i].ret = -2;
		assert_int_equal(pthread_create(&s[i].t, NULL, seq_thr_main,
						&s[i]), 0);
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(s[i].t, NULL);
		if (s[i].ret)
			fail_msg("client %d: read %d went wrong", i, s[i].ret);
	}
}

/* Deferred answers (fusd_return from another thread) under fusd_run. */
static void test_lib_run_deferred(void **state)
{
	pid_t pid;

	(void)state;
	pid = fork_lib(defer_daemon);
	assert_int_equal(itest_wait_path(NODE, 1, 10000), 0);
	run_clients(NODE, 1, DEFER_READS);
	run_clients(NODE, DEFER_CLIENTS, DEFER_READS);
	itest_kill_daemon(pid, NODE);
}

static int quit_ioctl(struct fusd_file_info *file, int request, void *data)
{
	(void)request;
	(void)data;
	fusd_unregister(file->fd);
	return 0;
}

static struct fusd_file_operations quit_fops = {
	.read = seq_read, .open = seq_open, .close = seq_close,
	.ioctl = quit_ioctl,
};

static void quit_daemon(void)
{
	if (fusd_register(NAME, "test", NULL, 0666, NULL, &quit_fops) < 0)
		_exit(2);
	fusd_run();
	_exit(7);	/* fusd_run returned: no device left */
}

/* fusd_unregister from inside a callback ends fusd_run. */
static void test_lib_unregister_in_callback(void **state)
{
	pid_t pid;
	char buf[64];
	int fd, r;

	(void)state;
	pid = fork_lib(quit_daemon);
	assert_int_equal(itest_wait_path(NODE, 1, 10000), 0);
	fd = open(NODE, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 2);
	assert_memory_equal(buf, "0:", 2);
	r = ioctl(fd, _IO('x', 1));
	/* The device went while the call was in it: success or EPIPE. */
	assert_true(r == 0 || (r == -1 && errno == EPIPE));
	reap(pid, 7);
	assert_int_equal(itest_wait_path(NODE, 0, 5000), 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), -1);
	close(fd);
}

static ssize_t name_read(struct fusd_file_info *file, char *buf, size_t len,
			 loff_t *off)
{
	const char *name = file->device_info;
	int *k = file->private_data;
	int n = snprintf(buf, len, "%s%d", name, (*k)++);

	(void)off;
	return n;
}

static struct fusd_file_operations name_fops = {
	.open = seq_open, .close = seq_close, .read = name_read,
};

static void two_daemon(void)
{
	if (fusd_register(NAME "/a", "test", NULL, 0666, "a", &name_fops) < 0 ||
	    fusd_register(NAME "/b", "test", NULL, 0666, "b", &name_fops) < 0)
		_exit(2);
	fusd_run();
	_exit(3);
}

/* Two devices under fusd_run: both are served, in any order. */
static void test_lib_run_two_devices(void **state)
{
	char buf[64], want[64];
	int fa, fb, k;
	pid_t pid;

	(void)state;
	pid = fork_lib(two_daemon);
	assert_int_equal(itest_wait_path(NODE "/a", 1, 10000), 0);
	assert_int_equal(itest_wait_path(NODE "/b", 1, 10000), 0);
	fa = open(NODE "/a", O_RDONLY);
	fb = open(NODE "/b", O_RDONLY);
	assert_true(fa >= 0 && fb >= 0);
	for (k = 0; k < 200; k++) {
		int fd = k % 3 ? fa : fb;
		int n = snprintf(want, sizeof(want), "%s%d", k % 3 ? "a" : "b",
				 k % 3 ? k - k / 3 - 1 : k / 3);

		assert_int_equal(read(fd, buf, sizeof(buf)), n);
		assert_memory_equal(buf, want, (size_t)n);
	}
	close(fa);
	close(fb);
	itest_kill_daemon(pid, NODE "/a");
	assert_int_equal(itest_wait_path(NODE "/b", 0, 5000), 0);
}

static void mt_daemon(void)
{
	if (fusd_register(NAME, "test", NULL, 0666, NULL, &seq_fops) < 0)
		_exit(2);
	_exit(fusd_run_mt(4) ? 4 : 3);
}

/* fusd_run_mt(4): 4 client threads x 2,000 reads, every answer right. */
static void test_lib_run_mt(void **state)
{
	pid_t pid;

	(void)state;
	pid = fork_lib(mt_daemon);
	assert_int_equal(itest_wait_path(NODE, 1, 10000), 0);
	run_clients(NODE, 4, itest_scaled_count(2000, 200));
	itest_kill_daemon(pid, NODE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unregistered_enodev),
		cmocka_unit_test(test_feature_not_granted),
		cmocka_unit_test(test_exchange_einval),
		cmocka_unit_test(test_struct_growth),
		cmocka_unit_test(test_exchange_reply_and_fetch),
		cmocka_unit_test(test_exchange_partial_batch),
		cmocka_unit_test(test_exchange_nonblock),
		cmocka_unit_test(test_exchange_timeout),
		cmocka_unit_test(test_exchange_eintr_not_restarted),
		cmocka_unit_test(test_set_io_max_rules),
		cmocka_unit_test(test_lib_set_io_max),
		cmocka_unit_test(test_lib_run_sequential),
		cmocka_unit_test(test_lib_run_deferred),
		cmocka_unit_test(test_lib_unregister_in_callback),
		cmocka_unit_test(test_lib_run_two_devices),
		cmocka_unit_test(test_lib_run_mt),
	};

	return itest_run(tests, group_setup, group_teardown);
}
