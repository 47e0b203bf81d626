// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: every call happens exactly once: stop signals, SA_RESTART
 * handlers and ptrace never repeat or lose a call the daemon has read; an
 * INTERRUPT answered -EINTR gives EINTR or a restart; SIGKILL ends a caller
 * whose daemon ignores INTERRUPT; parked OPENs stay bounded
 */
#define _GNU_SOURCE		/* pthread_timedjoin_np */
#include <errno.h>
#include <fcntl.h>
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
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "itest.h"
#include "rawchan.h"

#define NAME "eo"
#define NODE "/dev/" NAME
#define ROUNDS 100
#define OPEN_ROUNDS 1000

static volatile sig_atomic_t handled;

static void on_signal(int sig)
{
	(void)sig;
	handled++;
}

static void set_handler(int restart)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sa.sa_flags = restart ? SA_RESTART : 0;
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
}

/* The next request that is not an INTERRUPT; INTERRUPTs seen on the way
 * must name a request issued before it.
 */
static size_t next_call(int chan, struct fusd_request *req, void *payload,
			size_t cap)
{
	size_t n;

	for (;;) {
		n = raw_read_request(chan, req, payload, cap);
		if (req->hdr.opcode != FUSD_OP_INTERRUPT)
			return n;
		assert_true(req->u.interrupt.id < req->hdr.id);
	}
}

/* The next call must be the RELEASE of 'fh': answer it. */
static void expect_release(int chan, uint64_t fh)
{
	struct fusd_request req;

	next_call(chan, &req, NULL, 0);
	assert_int_equal(req.hdr.opcode, FUSD_OP_RELEASE);
	assert_int_equal(req.fh, fh);
	assert_int_equal(raw_reply(chan, req.hdr.id, 0, NULL, 0),
			 sizeof(struct fusd_reply));
}

/* The next message must be the INTERRUPT of request 'id'. */
static void expect_interrupt(int chan, uint64_t id, uint64_t fh)
{
	struct fusd_request req;

	raw_read_request(chan, &req, NULL, 0);
	assert_int_equal(req.hdr.opcode, FUSD_OP_INTERRUPT);
	assert_int_equal(req.u.interrupt.id, id);
	assert_int_equal(req.fh, fh);
	assert_true(req.hdr.id > id);
}

/* fusd logged nothing since kmsg_at_end(). */
static int kmsg_at_end(void)
{
	return itest_kmsg_open();
}

static void assert_kmsg_quiet(int fd)
{
	char rec[1024];

	itest_kmsg_fusd_lines(fd, rec, sizeof(rec));
	if (rec[0])
		fail_msg("fusd logged: %s", rec);
}

static pid_t fork_client(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	return pid;
}

/* What the daemon answers to write number k: a short count, so that the
 * caller can tell the daemon's answer from a plain success.
 */
static ssize_t write_answer(int k)
{
	return 1 + k % 6;
}

/* Child: 3 * ROUNDS writes, each must return the daemon's answer. */
static void writer_main(void)
{
	char buf[8];
	int fd, k;

	set_handler(1);
	fd = open(NODE, O_WRONLY);
	if (fd < 0)
		_exit(2);
	for (k = 0; k < 3 * ROUNDS; k++) {
		snprintf(buf, sizeof(buf), "w%05d", k);
		if (write(fd, buf, 6) != write_answer(k))
			_exit(10);
	}
	close(fd);
	_exit(0);
}

/*
 * A writer blocked on a slow daemon is stopped and continued, signalled
 * with an SA_RESTART handler, and ptrace-attached and detached, each while
 * the daemon holds its WRITE: the daemon sees every write once, in order,
 * and each write() returns the daemon's answer.
 */
static void test_write_once_under_stop_signal_ptrace(void **state)
{
	struct fusd_request req;
	char payload[16], want[8];
	int chan, k, status;
	uint64_t fh;
	pid_t pid;

	(void)state;
	chan = raw_register(NAME, 0666);
	pid = fork_client();
	if (pid == 0)
		writer_main();
	fh = raw_accept_open(chan);

	for (k = 0; k < 3 * ROUNDS; k++) {
		size_t n = next_call(chan, &req, payload, sizeof(payload));

		snprintf(want, sizeof(want), "w%05d", k);
		assert_int_equal(req.hdr.opcode, FUSD_OP_WRITE);
		assert_int_equal(n, 6);
		assert_memory_equal(payload, want, 6);	/* once, in order */

		switch (k % 3) {
		case 0:
			assert_int_equal(kill(pid, SIGSTOP), 0);
			expect_interrupt(chan, req.hdr.id, fh);
			usleep(2000);
			assert_int_equal(kill(pid, SIGCONT), 0);
			break;
		case 1:
			assert_int_equal(kill(pid, SIGUSR1), 0);
			expect_interrupt(chan, req.hdr.id, fh);
			break;
		case 2:
			assert_int_equal(ptrace(PTRACE_ATTACH, pid, 0, 0), 0);
			expect_interrupt(chan, req.hdr.id, fh);
			break;
		}
		assert_int_equal(raw_reply(chan, req.hdr.id, write_answer(k),
					   NULL, 0), sizeof(struct fusd_reply));
		if (k % 3 == 2) {
			/* It stops only once the write has its answer. */
			assert_int_equal(waitpid(pid, &status, 0), pid);
			assert_true(WIFSTOPPED(status));
			assert_int_equal(ptrace(PTRACE_DETACH, pid, 0, 0), 0);
		}
	}
	expect_release(chan, fh);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(itest_sysfs(NAME, "pending"), 0);
	close(chan);
}

struct reader {
	pthread_t thread;
	int fd;
	char buf[32];
	ssize_t ret;
	int err;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	r->ret = read(r->fd, r->buf, sizeof(r->buf));
	r->err = errno;
	return NULL;
}

static void reader_start(struct reader *r, int fd)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	assert_int_equal(pthread_create(&r->thread, NULL, reader_main, r), 0);
}

/* Open the node while this thread accepts as the daemon. */
static int open_node(int chan, uint64_t *fh)
{
	return raw_open(chan, NODE, fh);
}

/* A READ is pending; signal its reader and see the INTERRUPT come. */
static void read_and_interrupt(int chan, struct reader *r, int fd,
			       uint64_t fh, struct fusd_request *req)
{
	reader_start(r, fd);
	next_call(chan, req, NULL, 0);
	assert_int_equal(req->hdr.opcode, FUSD_OP_READ);
	assert_int_equal(pthread_kill(r->thread, SIGUSR1), 0);
	expect_interrupt(chan, req->hdr.id, fh);
}

/*
 * A blocked read() whose caller gets a handled signal (no SA_RESTART)
 * after the daemon read it: the daemon's data reaches the caller, and the
 * handler runs once read() has returned.
 */
static void test_interrupted_read_gets_data(void **state)
{
	struct fusd_request req;
	struct reader r;
	char data[32];
	int chan, fd, k, n;
	uint64_t fh;

	(void)state;
	set_handler(0);
	chan = raw_register(NAME, 0666);
	fd = open_node(chan, &fh);
	for (k = 0; k < ROUNDS; k++) {
		handled = 0;
		read_and_interrupt(chan, &r, fd, fh, &req);
		n = snprintf(data, sizeof(data), "data %d", k);
		assert_int_equal(raw_reply(chan, req.hdr.id, n, data, n),
				 sizeof(struct fusd_reply) + n);
		pthread_join(r.thread, NULL);
		assert_int_equal(r.ret, n);	/* nothing lost */
		assert_memory_equal(r.buf, data, n);
		assert_int_equal(handled, 1);
	}
	assert_int_equal(itest_sysfs(NAME, "pending"), 0);
	close(fd);
	close(chan);
}

/*
 * The daemon answers an interrupted READ with -EINTR: without SA_RESTART
 * the caller fails with EINTR; with it, the read comes back as a new
 * request, transparently.
 */
static void test_daemon_eintr(void **state)
{
	struct fusd_request req, again;
	struct reader r;
	int chan, fd, k;
	uint64_t fh;

	(void)state;
	chan = raw_register(NAME, 0666);
	fd = open_node(chan, &fh);

	set_handler(0);
	for (k = 0; k < ROUNDS; k++) {
		read_and_interrupt(chan, &r, fd, fh, &req);
		assert_int_equal(raw_reply(chan, req.hdr.id, -EINTR, NULL, 0),
				 sizeof(struct fusd_reply));
		pthread_join(r.thread, NULL);
		assert_int_equal(r.ret, -1);
		assert_int_equal(r.err, EINTR);
	}

	set_handler(1);
	for (k = 0; k < ROUNDS; k++) {
		read_and_interrupt(chan, &r, fd, fh, &req);
		assert_int_equal(raw_reply(chan, req.hdr.id, -EINTR, NULL, 0),
				 sizeof(struct fusd_reply));
		next_call(chan, &again, NULL, 0);	/* the restart */
		assert_int_equal(again.hdr.opcode, FUSD_OP_READ);
		assert_true(again.hdr.id > req.hdr.id);
		assert_int_equal(again.fh, fh);
		assert_int_equal(again.u.rw.size, req.u.rw.size);
		assert_int_equal(raw_reply(chan, again.hdr.id, 2, "ok", 2),
				 sizeof(struct fusd_reply) + 2);
		pthread_join(r.thread, NULL);
		assert_int_equal(r.ret, 2);
		assert_memory_equal(r.buf, "ok", 2);
	}
	assert_int_equal(itest_sysfs(NAME, "pending"), 0);
	close(fd);
	close(chan);
}

/*
 * A daemon that ignores INTERRUPT: SIGKILL still ends the caller within a
 * second, the late reply is consumed silently, the kernel logs nothing,
 * and the file is released once.
 */
static void test_sigkill_ends_ignored_call(void **state)
{
	struct fusd_request req;
	int chan, k, status, kmsg;
	int64_t t0, waited;
	uint64_t fh;
	pid_t pid;

	(void)state;
	chan = raw_register(NAME, 0666);
	kmsg = kmsg_at_end();
	for (k = 0; k < ROUNDS; k++) {
		pid = fork_client();
		if (pid == 0) {
			char c;
			int fd;

			set_handler(1);
			fd = open(NODE, O_RDONLY);
			_exit(fd >= 0 && read(fd, &c, 1) >= 0 ? 0 : 3);
		}
		fh = raw_accept_open(chan);
		next_call(chan, &req, NULL, 0);
		assert_int_equal(req.hdr.opcode, FUSD_OP_READ);
		assert_int_equal(kill(pid, SIGUSR1), 0);
		expect_interrupt(chan, req.hdr.id, fh);	/* ignored */

		t0 = itest_now_ms();
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		waited = itest_now_ms() - t0;
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGKILL);
		assert_true(waited < 1000);

		/* The late answer is not an error for the daemon. */
		assert_int_equal(raw_reply(chan, req.hdr.id, 1, "x", 1),
				 sizeof(struct fusd_reply) + 1);
		expect_release(chan, fh);
	}
	assert_int_equal(itest_wait_sysfs(NAME, "pending", 0, 2000), 0);
	assert_int_equal(itest_sysfs(NAME, "open_files"), 0);
	assert_kmsg_quiet(kmsg);
	close(chan);
}

struct opener {
	pthread_t thread;
	volatile int stop;
	int opened;		/* open() calls that returned a file */
	int failed;		/* open() calls that failed */
};

/* Opens and closes the node until told to stop; with SA_RESTART an
 * interrupted OPEN answered -EINTR comes back as a new OPEN.
 */
static void *looping_opener(void *arg)
{
	struct opener *o = arg;

	while (!o->stop) {
		int fd = open(NODE, O_RDONLY);

		if (fd < 0) {
			o->failed++;
			continue;
		}
		o->opened++;
		close(fd);
	}
	return NULL;
}

/*
 * A daemon that parks OPENs, a client signalled 1,000 times while its
 * OPEN is parked: the daemon answers each INTERRUPT's OPEN with -EINTR
 * (the open restarts) or, one time in ten, accepts it late (the caller
 * gets its file).  Pending calls stay bounded, and RELEASE comes exactly
 * once per accepted OPEN.
 */
static void test_parked_open_interrupted(void **state)
{
	struct fusd_request req;
	struct opener o = { 0 };
	int chan, k, accepted = 0, releases = 0;

	(void)state;
	set_handler(1);
	chan = raw_register(NAME, 0666);
	assert_int_equal(pthread_create(&o.thread, NULL, looping_opener, &o),
			 0);
	for (k = 0; k < OPEN_ROUNDS; k++) {
		next_call(chan, &req, NULL, 0);
		while (req.hdr.opcode == FUSD_OP_RELEASE) {
			releases++;
			assert_int_equal(raw_reply(chan, req.hdr.id, 0, NULL, 0),
					 sizeof(struct fusd_reply));
			next_call(chan, &req, NULL, 0);
		}
		assert_int_equal(req.hdr.opcode, FUSD_OP_OPEN);
		assert_int_equal(pthread_kill(o.thread, SIGUSR1), 0);
		expect_interrupt(chan, req.hdr.id, req.fh);
		if (k % 50 == 0)
			assert_true(itest_sysfs(NAME, "pending") <= 1);
		if (k % 10 == 9 || k == OPEN_ROUNDS - 1) {
			if (k == OPEN_ROUNDS - 1)
				o.stop = 1;
			accepted++;
			assert_int_equal(raw_reply(chan, req.hdr.id, 0, NULL, 0),
					 sizeof(struct fusd_reply));
		} else {
			assert_int_equal(raw_reply(chan, req.hdr.id, -EINTR,
						   NULL, 0),
					 sizeof(struct fusd_reply));
		}
	}
	pthread_join(o.thread, NULL);
	while (releases < accepted) {
		next_call(chan, &req, NULL, 0);
		assert_int_equal(req.hdr.opcode, FUSD_OP_RELEASE);
		assert_int_equal(raw_reply(chan, req.hdr.id, 0, NULL, 0),
				 sizeof(struct fusd_reply));
		releases++;
	}
	assert_int_equal(o.opened, accepted);
	assert_int_equal(o.failed, 0);
	assert_int_equal(itest_wait_sysfs(NAME, "pending", 0, 2000), 0);
	assert_int_equal(itest_sysfs(NAME, "open_files"), 0);
	/* Nothing more: no RELEASE for an OPEN that was refused. */
	fcntl(chan, F_SETFL, O_NONBLOCK);
	{
		char buf[256];

		assert_int_equal(read(chan, buf, sizeof(buf)), -1);
		assert_int_equal(errno, EAGAIN);
	}
	close(chan);
}

/*
 * The opener is killed while its OPEN is parked and the daemon accepts
 * it late: the kernel closes it again with exactly one RELEASE.
 */
static void test_killed_opener_released_once(void **state)
{
	struct fusd_request req;
	int chan, status;
	char buf[256];
	pid_t pid;

	(void)state;
	chan = raw_register(NAME, 0666);
	pid = fork_client();
	if (pid == 0) {
		set_handler(1);
		_exit(open(NODE, O_RDONLY) >= 0 ? 0 : 3);
	}
	next_call(chan, &req, NULL, 0);
	assert_int_equal(req.hdr.opcode, FUSD_OP_OPEN);
	assert_int_equal(kill(pid, SIGUSR1), 0);
	expect_interrupt(chan, req.hdr.id, req.fh);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(raw_reply(chan, req.hdr.id, 0, NULL, 0),
			 sizeof(struct fusd_reply));
	expect_release(chan, req.fh);
	fcntl(chan, F_SETFL, O_NONBLOCK);
	assert_int_equal(read(chan, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(itest_wait_sysfs(NAME, "pending", 0, 2000), 0);
	close(chan);
}

/*
 * A caller killed while the daemon holds its READ: the late reply is not
 * an error and still sets the file's poll mask, which another process
 * sharing the file (fork) sees; the call stays pending until that reply.
 */
static void test_late_reply_sets_shared_mask(void **state)
{
	struct fusd_register reg;
	struct fusd_request req;
	struct pollfd pfd;
	struct fusd_reply rep;
	int chan, fd, status;
	uint64_t fh;
	pid_t pid;

	(void)state;
	chan = open("/dev/fusd/control", O_RDWR);
	assert_true(chan >= 0);
	raw_register_init(&reg, NAME, 0666);
	reg.flags = FUSD_REGISTER_POLL;		/* files start not ready */
	reg.features = FUSD_FEATURE_REPLY_POLL;
	assert_int_equal(ioctl(chan, FUSD_IOC_REGISTER, &reg), 0);
	assert_true(reg.features == FUSD_FEATURE_REPLY_POLL);
	fd = open_node(chan, &fh);

	pid = fork_client();
	if (pid == 0) {
		char c;

		_exit(read(fd, &c, 1) >= 0 ? 0 : 3);	/* the shared file */
	}
	next_call(chan, &req, NULL, 0);
	assert_int_equal(req.hdr.opcode, FUSD_OP_READ);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(itest_sysfs(NAME, "pending"), 1);

	memset(&rep, 0, sizeof(rep));
	rep.hdr.size = sizeof(rep);
	rep.hdr.hdr_size = sizeof(rep);
	rep.hdr.opcode = FUSD_OP_REPLY;
	rep.hdr.id = req.hdr.id;
	rep.result = -EAGAIN;
	rep.flags = FUSD_REPLY_POLL;
	rep.poll_mask = POLLIN | POLLRDNORM;
	assert_int_equal(write(chan, &rep, sizeof(rep)), sizeof(rep));
	pfd.fd = fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	assert_int_equal(poll(&pfd, 1, 0), 1);
	assert_true(pfd.revents & POLLIN);
	assert_int_equal(itest_sysfs(NAME, "pending"), 0);
	close(fd);
	close(chan);
}

struct chan_reader {
	pthread_t thread;
	int chan;
	char *buf;
	size_t len;
	ssize_t ret;
	int err;
};

static void *chan_reader_main(void *arg)
{
	struct chan_reader *c = arg;

	c->ret = read(c->chan, c->buf, c->len);
	c->err = errno;
	return NULL;
}

/*
 * The caller gets a signal while its request is being copied to the
 * daemon, and that copy fails (the daemon's buffer runs into a page it
 * cannot write): the daemon never had the call, so it is withdrawn (EINTR)
 * instead of waiting on for an answer that cannot come.  The copy is held
 * in the middle with userfaultfd.
 */
static void test_signal_during_failed_delivery(void **state)
{
	long pg = sysconf(_SC_PAGESIZE);
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register ureg;
	struct uffdio_copy ucopy;
	struct uffd_msg msg;
	struct chan_reader cr;
	struct pollfd pfd;
	struct timespec until;
	struct reader r;
	char *mem, *src;
	int chan, fd, uffd;
	uint64_t fh;

	(void)state;
	set_handler(0);
	chan = raw_register(NAME, 0666);
	fd = open_node(chan, &fh);

	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	assert_true(uffd >= 0);
	assert_int_equal(ioctl(uffd, UFFDIO_API, &api), 0);
	mem = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(mem != MAP_FAILED);
	assert_int_equal(mprotect(mem + pg, pg, PROT_NONE), 0);
	ureg.range.start = (uintptr_t)mem;
	ureg.range.len = pg;
	ureg.mode = UFFDIO_REGISTER_MODE_MISSING;
	assert_int_equal(ioctl(uffd, UFFDIO_REGISTER, &ureg), 0);

	reader_start(&r, fd);			/* the READ is queued */
	assert_int_equal(itest_wait_sysfs(NAME, "pending", 1, 5000), 0);
	/* 40 bytes of the request fit before the page it cannot write. */
	cr.chan = chan;
	cr.buf = mem + pg - 40;
	cr.len = sizeof(struct fusd_request);
	assert_int_equal(pthread_create(&cr.thread, NULL, chan_reader_main,
					&cr), 0);
	pfd.fd = uffd;
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 5000), 1);	/* the copy is held */
	assert_int_equal(read(uffd, &msg, sizeof(msg)), sizeof(msg));
	assert_int_equal(msg.event, UFFD_EVENT_PAGEFAULT);

	assert_int_equal(pthread_kill(r.thread, SIGUSR1), 0);
	usleep(200 * 1000);		/* the signal lands mid-copy */
	src = calloc(1, pg);
	assert_non_null(src);
	ucopy.dst = (uintptr_t)mem;
	ucopy.src = (uintptr_t)src;
	ucopy.len = pg;
	ucopy.mode = 0;
	assert_int_equal(ioctl(uffd, UFFDIO_COPY, &ucopy), 0);
	pthread_join(cr.thread, NULL);
	assert_int_equal(cr.ret, -1);		/* the daemon got nothing */
	assert_int_equal(cr.err, EFAULT);

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	assert_int_equal(pthread_timedjoin_np(r.thread, NULL, &until), 0);
	assert_int_equal(r.ret, -1);
	assert_int_equal(r.err, EINTR);
	/* Withdrawn: neither the READ nor an INTERRUPT is left for it. */
	assert_int_equal(fcntl(chan, F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(read(chan, src, pg), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(itest_sysfs(NAME, "pending"), 0);
	free(src);
	close(uffd);
	munmap(mem, 2 * pg);
	close(fd);
	close(chan);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_once_under_stop_signal_ptrace),
		cmocka_unit_test(test_interrupted_read_gets_data),
		cmocka_unit_test(test_daemon_eintr),
		cmocka_unit_test(test_sigkill_ends_ignored_call),
		cmocka_unit_test(test_parked_open_interrupted),
		cmocka_unit_test(test_killed_opener_released_once),
		cmocka_unit_test(test_late_reply_sets_shared_mask),
		cmocka_unit_test(test_signal_during_failed_delivery),
	};

	return itest_run(tests, NULL, NULL);
}
