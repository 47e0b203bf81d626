// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: recovery spoken by hand (protocol 1.4): a recoverable
 * device outlives its daemon for the grace period, a new daemon attaches
 * and gets a REOPEN per open file (with the cookie the old one set) and
 * the calls the old one had read (resent or failed, as asked); a reader
 * blocked at the moment of the SIGKILL is answered by the new daemon; a
 * client reading a counter across 100 SIGKILL-and-restart cycles sees
 * every value once, in order; O_NONBLOCK and poll between daemons;
 * another user cannot attach; after the grace period the node is gone
 * and an attach finds nothing; the kernel log stays clean.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"
#include "rawchan.h"

#define NAME "recov"
#define NODE "/dev/" NAME
#define NOBODY 65534
#define CONTROL "/dev/fusd/control"
/* Long enough for a restart under emulation, short enough to wait out. */
#define GRACE ((uint32_t)(3000 * itest_scale()))

/* ------------------------------------------------- a raw daemon */

enum behaviour {
	B_COUNTER,	/* READ at offset n: "n\n", the position becomes n + 1 */
	B_HOLD,		/* reads every request, answers none but OPEN/RELEASE */
};

struct rd_opts {
	uint32_t grace_ms;
	int attach;
	uint32_t resend;
	enum behaviour how;
	uint64_t cookie;	/* set on each accepted OPEN (0: none) */
	int report;		/* pipe: each request read, as a fusd_request */
	int ready;		/* pipe: the REGISTER's errno (0 = serving) */
	uid_t uid;		/* drop to it after opening the control node */
};

static int rd_register(const struct rd_opts *o)
{
	struct fusd_register reg;
	int chan;

	/* REGISTER judges the credentials the control node was opened with. */
	if (o->uid && (setgroups(0, NULL) || setgid(o->uid) ||
		       setuid(o->uid)))
		return -errno;
	chan = open(CONTROL, O_RDWR);
	if (chan < 0)
		return -errno;
	raw_register_init(&reg, NAME, 0666);
	reg.features = FUSD_FEATURE_RECOVERY;
	reg.grace_ms = o->grace_ms;
	if (o->attach) {
		reg.flags = FUSD_REGISTER_ATTACH;
		reg.resend = o->resend;
	}
	if (ioctl(chan, FUSD_IOC_REGISTER, &reg) < 0)
		return -errno;
	if (!(reg.features & FUSD_FEATURE_RECOVERY) || !reg.grace_ms)
		return -EPROTO;
	return chan;
}

static void rd_reply(int chan, uint64_t id, int64_t result, uint32_t flags,
		     int64_t offset, uint64_t cookie, const void *data,
		     size_t len)
{
	struct fusd_reply rep;

	memset(&rep, 0, sizeof(rep));
	rep.hdr.id = id;
	rep.result = result;
	rep.flags = flags;
	rep.offset = offset;
	rep.cookie = cookie;
	if (raw_reply_rep(chan, &rep, data, len) < 0)
		_exit(4);
}

static void rd_main(const struct rd_opts *o)
{
	int chan = rd_register(o), err = chan < 0 ? -chan : 0;
	struct fusd_request req;
	char payload[256], text[32];
	uint32_t flags;
	int n;

	if (write(o->ready, &err, sizeof(err)) != sizeof(err) || err)
		_exit(err ? 2 : 3);
	for (;;) {
		raw_read_request(chan, &req, payload, sizeof(payload));
		if (o->report >= 0 &&
		    write(o->report, &req, sizeof(req)) != sizeof(req))
			_exit(3);
		switch (req.hdr.opcode) {
		case FUSD_OP_OPEN:
			flags = o->cookie ? FUSD_REPLY_COOKIE : 0;
			rd_reply(chan, req.hdr.id, 0, flags, 0, o->cookie,
				 NULL, 0);
			break;
		case FUSD_OP_RELEASE:
			rd_reply(chan, req.hdr.id, 0, 0, 0, 0, NULL, 0);
			break;
		case FUSD_OP_READ:
			if (o->how == B_HOLD)
				break;
			n = snprintf(text, sizeof(text), "%lld\n",
				     (long long)req.u.rw.offset);
			rd_reply(chan, req.hdr.id, n, FUSD_REPLY_SET_OFFSET,
				 req.u.rw.offset + 1, 0, text, (size_t)n);
			break;
		default:	/* REOPEN, INTERRUPT: nothing to answer */
			break;
		}
	}
}

/* Fork a daemon; returns its pid once it registered, or -errno. */
static pid_t rd_start(const struct rd_opts *opts)
{
	struct rd_opts o = *opts;
	int ready[2], err = -1;
	pid_t pid;

	assert_int_equal(pipe(ready), 0);
	o.ready = ready[1];
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		rd_main(&o);
		_exit(0);
	}
	close(ready[1]);
	if (read(ready[0], &err, sizeof(err)) != sizeof(err))
		err = EIO;
	close(ready[0]);
	if (err) {
		waitpid(pid, NULL, 0);
		return -err;
	}
	return pid;
}

static void rd_kill(pid_t pid)
{
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
}

/* The next request a daemon reported (asserts one comes in 30 s). */
static struct fusd_request rd_next(int report)
{
	struct pollfd p = { .fd = report, .events = POLLIN };
	struct fusd_request req;

	assert_int_equal(poll(&p, 1, 30000 * itest_scale()), 1);
	assert_int_equal(read(report, &req, sizeof(req)), sizeof(req));
	return req;
}

/* Wait for the node to go, the grace period of 'ms' included. */
static void wait_gone(uint32_t ms)
{
	assert_int_equal(itest_wait_path(NODE, 0,
					 (int)(ms + 10000) * itest_scale()), 0);
}

/* A client read() in a thread of its own. */
struct reader {
	pthread_t t;
	int fd;
	char buf[64];
	ssize_t ret;
	int err;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	r->ret = read(r->fd, r->buf, sizeof(r->buf) - 1);
	r->err = errno;
	if (r->ret >= 0)
		r->buf[r->ret] = '\0';
	return NULL;
}

/* ---------------------------------------------------------- cases */

/*
 * The node and the open file stay; the new daemon learns the file (fh,
 * flags, position, cookie) and serves it; nothing is ready in between.
 */
static void test_attach_reopen(void **state)
{
	struct rd_opts o = { .grace_ms = GRACE, .how = B_COUNTER,
			     .cookie = 0xC0FFEE, .report = -1 };
	int rep[2], fd, kmsg = itest_kmsg_open();
	struct pollfd pf;
	struct fusd_request req;
	char buf[32], rec[256];
	pid_t a, b;

	(void)state;
	assert_int_equal(pipe(rep), 0);
	o.report = rep[1];
	a = rd_start(&o);
	assert_true(a > 0);
	fd = open(NODE, O_RDWR);
	assert_true(fd >= 0);
	req = rd_next(rep[0]);
	assert_int_equal(req.hdr.opcode, FUSD_OP_OPEN);
	assert_int_equal(read(fd, buf, sizeof(buf)), 2);	/* "0\n" */
	assert_int_equal(rd_next(rep[0]).hdr.opcode, FUSD_OP_READ);
	assert_int_equal(read(fd, buf, sizeof(buf)), 2);	/* "1\n" */
	rd_next(rep[0]);

	rd_kill(a);
	/* Between daemons: the node stays, nothing is ready, O_NONBLOCK
	 * calls do not wait.
	 */
	assert_int_equal(access(NODE, F_OK), 0);
	pf = (struct pollfd){ .fd = fd, .events = POLLIN | POLLOUT };
	assert_int_equal(poll(&pf, 1, 100), 0);
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(fcntl(fd, F_SETFL, 0), 0);

	o.attach = 1;
	o.cookie = 0;
	b = rd_start(&o);
	assert_true(b > 0);
	req = rd_next(rep[0]);
	assert_int_equal(req.hdr.opcode, FUSD_OP_REOPEN);
	assert_int_equal(req.u.reopen.offset, 2);
	assert_int_equal(req.u.reopen.cookie, 0xC0FFEE);
	assert_int_equal(req.f_flags & O_ACCMODE, O_RDWR);
	/* The same file, served by the new daemon, where it was. */
	memset(buf, 0, sizeof(buf));
	assert_int_equal(read(fd, buf, sizeof(buf)), 2);
	assert_string_equal(buf, "2\n");
	req = rd_next(rep[0]);
	assert_int_equal(req.hdr.opcode, FUSD_OP_READ);
	assert_int_equal(req.flags & FUSD_REQ_RESENT, 0);
	pf = (struct pollfd){ .fd = fd, .events = POLLIN };
	assert_int_equal(poll(&pf, 1, 1000), 1);
	close(fd);
	rd_kill(b);
	wait_gone(o.grace_ms);
	close(rep[0]);
	close(rep[1]);
	itest_kmsg_fusd_lines(kmsg, rec, sizeof(rec));
	assert_string_equal(rec, "");
}

/*
 * A read() the old daemon had taken when it was killed: sent again to
 * the new one (FUSD_REQ_RESENT) and answered by it, or failed with EIO
 * when the new daemon does not ask for READs again.
 */
static void blocked_reader(int resend)
{
	struct rd_opts o = { .grace_ms = GRACE, .how = B_HOLD };
	struct fusd_request req, first;
	struct reader r = { 0 };
	int rep[2];
	pid_t a, b;

	assert_int_equal(pipe(rep), 0);
	o.report = rep[1];
	a = rd_start(&o);
	assert_true(a > 0);
	r.fd = open(NODE, O_RDWR);
	assert_true(r.fd >= 0);
	rd_next(rep[0]);			/* OPEN */
	assert_int_equal(pthread_create(&r.t, NULL, reader_main, &r), 0);
	first = rd_next(rep[0]);		/* the READ, held */
	assert_int_equal(first.hdr.opcode, FUSD_OP_READ);
	rd_kill(a);

	o.attach = 1;
	o.how = B_COUNTER;
	o.resend = resend ? 1U << FUSD_OP_READ : 0;
	b = rd_start(&o);
	assert_true(b > 0);
	req = rd_next(rep[0]);
	assert_int_equal(req.hdr.opcode, FUSD_OP_REOPEN);
	assert_int_equal(pthread_join(r.t, NULL), 0);
	if (resend) {
		req = rd_next(rep[0]);
		assert_int_equal(req.hdr.opcode, FUSD_OP_READ);
		assert_true(req.flags & FUSD_REQ_RESENT);
		assert_true(req.hdr.id == first.hdr.id);
		assert_int_equal(r.ret, 2);
		assert_string_equal(r.buf, "0\n");
	} else {
		assert_int_equal(r.ret, -1);
		assert_int_equal(r.err, EIO);
	}
	close(r.fd);
	rd_kill(b);
	wait_gone(o.grace_ms);
	close(rep[0]);
	close(rep[1]);
}

static void test_blocked_reader_resent(void **state)
{
	(void)state;
	blocked_reader(1);
}

static void test_blocked_reader_failed(void **state)
{
	(void)state;
	blocked_reader(0);
}

/* Only the owner (or CAP_SYS_ADMIN) takes a device over. */
static void test_other_user(void **state)
{
	struct rd_opts o = { .grace_ms = GRACE, .how = B_COUNTER,
			     .report = -1 };
	struct stat st;
	pid_t a, b;

	(void)state;
	/* Let another user open the control node (restored below). */
	assert_int_equal(stat(CONTROL, &st), 0);
	assert_int_equal(chmod(CONTROL, 0666), 0);
	a = rd_start(&o);
	assert_true(a > 0);
	/* While its daemon lives, nobody attaches. */
	o.attach = 1;
	assert_int_equal(rd_start(&o), -EBUSY);
	rd_kill(a);
	o.uid = NOBODY;
	assert_int_equal(rd_start(&o), -EPERM);
	assert_int_equal(chmod(CONTROL, st.st_mode & 07777), 0);
	/* The owner still can. */
	o.uid = 0;
	b = rd_start(&o);
	assert_true(b > 0);
	rd_kill(b);
	wait_gone(o.grace_ms);
}

/*
 * Nobody attaches in time: the daemon's death as without recovery (the
 * caller's error, the node gone), and a late attach finds nothing.
 */
static void test_grace_expires(void **state)
{
	struct rd_opts o = { .grace_ms = 500, .how = B_HOLD, .report = -1 };
	int kmsg = itest_kmsg_open(), fd;
	struct reader r = { 0 };
	char rec[256];
	pid_t a;

	(void)state;
	a = rd_start(&o);
	assert_true(a > 0);
	fd = open(NODE, O_RDWR);
	assert_true(fd >= 0);
	r.fd = fd;
	assert_int_equal(pthread_create(&r.t, NULL, reader_main, &r), 0);
	usleep(100 * 1000);
	rd_kill(a);
	wait_gone(o.grace_ms);
	assert_int_equal(pthread_join(r.t, NULL), 0);
	assert_int_equal(r.ret, -1);
	assert_int_equal(r.err, EPIPE);
	o.attach = 1;
	assert_int_equal(rd_start(&o), -ENOENT);
	close(fd);
	itest_kmsg_fusd_lines(kmsg, rec, sizeof(rec));
	assert_string_equal(rec, "");
}

/*
 * A client reading a counter while its daemon is SIGKILLed and restarted
 * 100 times: every value once, in order, and never an error.
 */
struct counter_reader {
	pthread_t t;
	int fd;
	volatile long last;	/* last value read */
	volatile int stop;
	long bad;		/* first wrong value, or -1 */
	int err;
};

static void *counter_main(void *arg)
{
	struct counter_reader *c = arg;
	char buf[32];
	ssize_t n;
	long v;

	while (!c->stop) {
		n = read(c->fd, buf, sizeof(buf) - 1);
		if (n <= 0) {
			c->err = n < 0 ? errno : -1;
			break;
		}
		buf[n] = '\0';
		v = strtol(buf, NULL, 10);
		if (v != c->last + 1) {
			c->bad = v;
			break;
		}
		c->last = v;
	}
	return NULL;
}

static void test_hundred_restarts(void **state)
{
	struct rd_opts o = { .grace_ms = GRACE, .how = B_COUNTER,
			     .report = -1, .resend = 1U << FUSD_OP_READ };
	struct counter_reader c = { .last = -1, .bad = -1 };
	int cycles = 100, i, kmsg = itest_kmsg_open();
	long seen, free0, free1;
	char rec[256];
	pid_t d;

	(void)state;
	free0 = itest_meminfo_kb("MemFree");
	d = rd_start(&o);
	assert_true(d > 0);
	c.fd = open(NODE, O_RDONLY);
	assert_true(c.fd >= 0);
	assert_int_equal(pthread_create(&c.t, NULL, counter_main, &c), 0);
	o.attach = 1;
	for (i = 0; i < cycles; i++) {
		/* Let the reader get at least one value from this one. */
		seen = c.last;
		while (c.last == seen && c.bad < 0 && !c.err)
			usleep(1000);
		rd_kill(d);
		d = rd_start(&o);
		if (d <= 0)
			fail_msg("cycle %d: attach failed: %s", i,
				 strerror((int)-d));
	}
	seen = c.last;
	while (c.last == seen && c.bad < 0 && !c.err)
		usleep(1000);
	c.stop = 1;
	rd_kill(d);
	/* The reader waits in read(); the grace period ends it (EPIPE). */
	wait_gone(o.grace_ms);
	pthread_join(c.t, NULL);
	free1 = itest_meminfo_kb("MemFree");
	print_message("%d restarts: %ld values read in order; MemFree %ld -> "
		      "%ld kB\n", cycles, c.last + 1, free0, free1);
	/* A leak of a channel, call or file per restart would show here;
	 * the debug kernel's kmemleak sees smaller ones.
	 */
	assert_true(free0 - free1 < 8 * 1024);
	assert_int_equal(c.bad, -1);
	assert_true(c.last >= cycles);
	assert_true(c.err == 0 || c.err == EPIPE);
	close(c.fd);
	itest_kmsg_fusd_lines(kmsg, rec, sizeof(rec));
	assert_string_equal(rec, "");
}

/* A daemon without the feature: the node goes with it, as ever. */
static void test_not_recoverable(void **state)
{
	int chan = raw_register_features(NAME, FUSD_PROTO_MINOR,
					 FUSD_FEATURE_RECOVERY);
	struct fusd_register reg;

	(void)state;
	/* Asked without a grace period: not granted (checked inside). */
	close(chan);
	assert_int_equal(itest_wait_path(NODE, 0, 10000), 0);
	/* Bad combinations. */
	chan = open("/dev/fusd/control", O_RDWR);
	assert_true(chan >= 0);
	raw_register_init(&reg, NAME, 0600);
	reg.grace_ms = 100;		/* without the feature */
	assert_int_equal(ioctl(chan, FUSD_IOC_REGISTER, &reg), -1);
	assert_int_equal(errno, EINVAL);
	raw_register_init(&reg, NAME, 0600);
	reg.resend = 1;			/* without ATTACH */
	assert_int_equal(ioctl(chan, FUSD_IOC_REGISTER, &reg), -1);
	assert_int_equal(errno, EINVAL);
	raw_register_init(&reg, NAME, 0600);
	reg.flags = FUSD_REGISTER_ATTACH;
	reg.minor = 3;			/* before recovery existed */
	assert_int_equal(ioctl(chan, FUSD_IOC_REGISTER, &reg), -1);
	assert_int_equal(errno, EINVAL);
	close(chan);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attach_reopen),
		cmocka_unit_test(test_blocked_reader_resent),
		cmocka_unit_test(test_blocked_reader_failed),
		cmocka_unit_test(test_other_user),
		cmocka_unit_test(test_grace_expires),
		cmocka_unit_test(test_hundred_restarts),
		cmocka_unit_test(test_not_recoverable),
	};

	return itest_run_limit(tests, NULL, NULL, 180);
}
