// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: mmap through libfusd's classic API, under fusd_run and
 * fusd_run_mt(4): a forked daemon answers from its mmap callback with an
 * address in its MAP_SHARED memory (*addr) or a memfd
 * (fusd_mmap_set_fd, which wins over *addr), or defers and answers from
 * another thread or from a later ioctl (fusd_mmap_set_addr +
 * fusd_return); client and daemon see each other's stores (checked
 * through ioctls on the device); the callback gets the PROT_* bits, 8 for
 * MAP_SHARED, the length and the full offset (fusd_get_offset); -ENXIO
 * reaches the caller; memory the kernel refuses (MAP_PRIVATE, read-only
 * for a shared writable map) gives EINVAL/EACCES and "fusd: mmap answer
 * refused" on the daemon's stderr (and, deferred, fusd_return() fails
 * EINVAL); a deferred 0 without memory gives EINVAL; no callback gives
 * ENODEV; fusd_run_mt runs 4 mmap callbacks at once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#define NAME "mmlib"
#define NODE "/dev/" NAME
#define KIB 1024L
#define REGION (1024 * KIB)	/* each memory of the daemon's */
#define CLASSIC_VM_SHARED 0x8	/* MAP_SHARED in the callback's flags */
#define NCONC 4			/* callbacks that must run at once */

/* ------------------------------------------ the device's side channel */

enum which { W_ANON, W_MEMFD };

struct mmt_io {
	__u32 which;		/* enum which */
	__u32 seed;
	__u64 off;
	__u64 len;
	__u64 from;		/* MMT_CHECK: the pattern's byte at 'off' */
};

/* What the mmap callback last saw, and what the API calls returned. */
struct mmt_last {
	__s64 off_full;		/* *fusd_get_offset() */
	__s32 off_int;		/* the callback's int offset */
	__s32 flags;
	__u64 length;
	__u32 calls;
	__u32 api;		/* API_* bits: calls refused with EINVAL */
};

#define API_FD_BADFD	(1u << 0)	/* set_fd(file, -1, 0) */
#define API_FD_BADOFF	(1u << 1)	/* set_fd(file, fd, -4096) */
#define API_ADDR_IOCTL	(1u << 2)	/* set_addr on an ioctl call */
#define API_FD_IOCTL	(1u << 3)	/* set_fd on an ioctl call */

#define MMT_FILL	_IOW('m', 1, struct mmt_io)	/* pattern, from 0 */
#define MMT_CHECK	_IOW('m', 2, struct mmt_io)	/* -EBADMSG if not */
#define MMT_LAST	_IOR('m', 3, struct mmt_last)
#define MMT_ANSWER	_IO('m', 4)	/* answer the held mmap (set_addr) */
#define MMT_ANSWER_BAD	_IO('m', 5)	/* answer it 0, naming no memory */
#define MMT_ANSWER_PRIV	_IO('m', 6)	/* answer it with private memory */

/* How the daemon's mmap callback answers. */
enum mode {
	M_ADDR,		/* *addr in its MAP_SHARED | MAP_ANONYMOUS memory */
	M_FD,		/* fusd_mmap_set_fd(memfd), *addr set too */
	M_DEFER_THREAD,	/* -FUSD_NOREPLY, a thread answers (set_fd) */
	M_DEFER_CALL,	/* -FUSD_NOREPLY, MMT_ANSWER answers (set_addr) */
	M_ENXIO,	/* -ENXIO */
	M_PRIVATE,	/* *addr in MAP_PRIVATE memory */
	M_RDONLY,	/* *addr in shared memory mapped PROT_READ */
	M_NOMMAP,	/* no mmap callback */
	M_CONCURRENT,	/* waits until NCONC callbacks run at once */
};

/* ------------------------------------------------- the forked daemon */

static struct {
	enum mode mode;
	char *anon, *priv, *ro;
	int memfd;
	int evt;		/* 'H' to the test when an mmap is deferred */
	int handoff[2];		/* M_DEFER_THREAD: callback -> thread */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct mmt_last last;
	struct fusd_file_info *held;	/* M_DEFER_CALL */
	int in_callback;	/* M_CONCURRENT */
} d = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

static int einval(int ret)
{
	return ret == -1 && errno == EINVAL;
}

static void d_event(char c)
{
	if (write(d.evt, &c, 1) != 1)
		_exit(3);
}

/* Wait until NCONC callbacks are in here; 0, or -ETIMEDOUT. */
static int d_rendezvous(void)
{
	struct timespec until;
	int ret = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20 * itest_scale();
	pthread_mutex_lock(&d.lock);
	d.in_callback++;
	pthread_cond_broadcast(&d.cond);
	while (d.in_callback < NCONC && !ret)
		ret = pthread_cond_timedwait(&d.cond, &d.lock, &until);
	ret = d.in_callback >= NCONC ? 0 : -ETIMEDOUT;
	pthread_mutex_unlock(&d.lock);
	return ret;
}

static int d_mmap(struct fusd_file_info *file, int offset, size_t length,
		  int flags, void **addr, size_t *out_length)
{
	loff_t off = *fusd_get_offset(file);
	int ret;

	pthread_mutex_lock(&d.lock);
	d.last.off_full = off;
	d.last.off_int = offset;
	d.last.flags = flags;
	d.last.length = length;
	d.last.calls++;
	pthread_mutex_unlock(&d.lock);
	if (off < 0 || off >= REGION || length > (size_t)(REGION - off))
		return -EINVAL;
	*out_length = (size_t)(REGION - off);
	switch (d.mode) {
	case M_ADDR:
		*addr = d.anon + off;
		return 0;
	case M_FD:
		*addr = d.anon + off;	/* fusd_mmap_set_fd() wins */
		pthread_mutex_lock(&d.lock);
		if (einval(fusd_mmap_set_fd(file, -1, 0)))
			d.last.api |= API_FD_BADFD;
		if (einval(fusd_mmap_set_fd(file, d.memfd, -4096)))
			d.last.api |= API_FD_BADOFF;
		pthread_mutex_unlock(&d.lock);
		return fusd_mmap_set_fd(file, d.memfd, off) ? -errno : 0;
	case M_DEFER_THREAD:
		d_event('H');
		if (write(d.handoff[1], &file, sizeof(file)) != sizeof(file))
			return -EIO;
		return -FUSD_NOREPLY;
	case M_DEFER_CALL:
		pthread_mutex_lock(&d.lock);
		ret = d.held ? -EBUSY : 0;
		if (!ret)
			d.held = file;
		pthread_mutex_unlock(&d.lock);
		if (ret)
			return ret;
		d_event('H');
		return -FUSD_NOREPLY;
	case M_ENXIO:
		return -ENXIO;
	case M_PRIVATE:
		*addr = d.priv + off;
		return 0;
	case M_RDONLY:
		*addr = d.ro + off;
		return 0;
	case M_CONCURRENT:
		ret = d_rendezvous();
		*addr = d.anon + off;
		return ret;
	case M_NOMMAP:
		break;
	}
	return -ENOSYS;
}

/* M_DEFER_THREAD: answer each handed-off call with the memfd. */
static void *d_answer_thread(void *arg)
{
	struct fusd_file_info *file;

	(void)arg;
	while (read(d.handoff[0], &file, sizeof(file)) == sizeof(file)) {
		if (fusd_mmap_set_fd(file, d.memfd, *fusd_get_offset(file)))
			fusd_return(file, -errno);
		else
			fusd_return(file, 0);
	}
	return NULL;
}

/* Pattern 'seed' into, or checked in, one range of the daemon's memory. */
static int d_io(const struct mmt_io *io, int check)
{
	unsigned char *buf;
	int ret = 0;

	if (io->off > REGION || io->len > REGION - io->off)
		return -EINVAL;
	if (io->which == W_ANON) {
		buf = (unsigned char *)d.anon + io->off;
		if (!check)
			itest_pattern(buf, io->len, io->seed);
		else if (!itest_is_pattern(buf, io->len, io->seed, io->from))
			ret = -EBADMSG;
		return ret;
	}
	/* The memfd is never mapped here: read and written as a file. */
	buf = malloc(io->len);
	if (!buf)
		return -ENOMEM;
	if (!check) {
		itest_pattern(buf, io->len, io->seed);
		if (pwrite(d.memfd, buf, io->len, (off_t)io->off) !=
		    (ssize_t)io->len)
			ret = -EIO;
	} else if (pread(d.memfd, buf, io->len, (off_t)io->off) !=
		   (ssize_t)io->len) {
		ret = -EIO;
	} else if (!itest_is_pattern(buf, io->len, io->seed, io->from)) {
		ret = -EBADMSG;
	}
	free(buf);
	return ret;
}

static int d_ioctl(struct fusd_file_info *file, int request, void *data)
{
	struct fusd_file_info *held;
	loff_t off;

	switch ((unsigned int)request) {
	case MMT_FILL:
		return d_io(data, 0);
	case MMT_CHECK:
		return d_io(data, 1);
	case MMT_LAST:
		pthread_mutex_lock(&d.lock);
		if (einval(fusd_mmap_set_addr(file, d.anon, 4096)))
			d.last.api |= API_ADDR_IOCTL;
		if (einval(fusd_mmap_set_fd(file, d.memfd, 0)))
			d.last.api |= API_FD_IOCTL;
		memcpy(data, &d.last, sizeof(d.last));
		pthread_mutex_unlock(&d.lock);
		return 0;
	case MMT_ANSWER:
	case MMT_ANSWER_BAD:
	case MMT_ANSWER_PRIV:
		pthread_mutex_lock(&d.lock);
		held = d.held;
		d.held = NULL;
		pthread_mutex_unlock(&d.lock);
		if (!held)
			return -ENOENT;
		if (request == MMT_ANSWER_BAD)
			return fusd_return(held, 0) ? -errno : 0;
		off = *fusd_get_offset(held);
		if (fusd_mmap_set_addr(held, (request == MMT_ANSWER_PRIV ?
					      d.priv : d.anon) + off,
				       (size_t)(REGION - off)))
			return -errno;
		/* Refused memory: fusd_return() fails with the error. */
		return fusd_return(held, 0) ? -errno : 0;
	}
	return -ENOTTY;
}

static char *d_region(int prot, int flags)
{
	char *p = mmap(NULL, REGION, prot, flags | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		_exit(4);
	return p;
}

static void d_main(enum mode mode, int nthreads)
{
	struct fusd_file_operations fops = {
		.ioctl = d_ioctl,
		.mmap = mode == M_NOMMAP ? NULL : d_mmap,
	};
	pthread_t t;

	d.mode = mode;
	d.anon = d_region(PROT_READ | PROT_WRITE, MAP_SHARED);
	d.priv = d_region(PROT_READ | PROT_WRITE, MAP_PRIVATE);
	d.ro = d_region(PROT_READ | PROT_WRITE, MAP_SHARED);
	itest_pattern((unsigned char *)d.ro, REGION, 11);
	if (mprotect(d.ro, REGION, PROT_READ))
		_exit(4);
	d.memfd = memfd_create("mmlib", MFD_CLOEXEC);
	if (d.memfd < 0 || ftruncate(d.memfd, REGION))
		_exit(4);
	if (mode == M_DEFER_THREAD &&
	    (pipe(d.handoff) ||
	     pthread_create(&t, NULL, d_answer_thread, NULL)))
		_exit(4);
	if (fusd_register(NAME, "test", NULL, 0666, NULL, &fops) < 0) {
		perror("mmlib daemon: fusd_register");
		_exit(1);
	}
	if (nthreads == 1)
		fusd_run();
	else
		fusd_run_mt(nthreads);
	_exit(0);
}

/* ------------------------------------------------------- the test side */

static struct {
	pid_t pid;
	int ctl;		/* the device, for the side channel */
	int evt;		/* 'H': the daemon deferred an mmap */
	int err;		/* the daemon's stderr */
	char errbuf[4096];
	size_t errlen;
} t;

static void start(enum mode mode, void **state)
{
	int nthreads = *(int *)*state;
	int evt[2], err[2];

	assert_int_equal(pipe2(evt, O_CLOEXEC), 0);
	assert_int_equal(pipe2(err, O_CLOEXEC), 0);
	t.pid = fork();
	assert_true(t.pid >= 0);
	if (t.pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(evt[0]);
		close(err[0]);
		d.evt = evt[1];
		dup2(err[1], STDERR_FILENO);
		d_main(mode, nthreads);
	}
	close(evt[1]);
	close(err[1]);
	t.evt = evt[0];
	t.err = err[0];
	t.errlen = 0;
	t.errbuf[0] = '\0';
	assert_int_equal(itest_wait_path(NODE, 1, 10000), 0);
	t.ctl = open(NODE, O_RDWR);
	assert_true(t.ctl >= 0);
}

/* Read the daemon's stderr for up to 'ms' (until EOF with -1). */
static void err_read(int ms)
{
	struct pollfd p = { .fd = t.err, .events = POLLIN };
	ssize_t n;

	while (poll(&p, 1, ms) == 1) {
		n = read(t.err, t.errbuf + t.errlen,
			 sizeof(t.errbuf) - 1 - t.errlen);
		if (n <= 0)
			break;
		t.errlen += (size_t)n;
		t.errbuf[t.errlen] = '\0';
		if (ms >= 0)
			break;
	}
}

/* The daemon wrote 'what' to its stderr (within 10 s). */
static void err_expect(const char *what)
{
	int64_t end = itest_now_ms() + 10000L * itest_scale();

	while (!strstr(t.errbuf, what) && itest_now_ms() < end)
		err_read(100);
	if (!strstr(t.errbuf, what))
		fail_msg("daemon's stderr lacks \"%s\": \"%s\"", what,
			 t.errbuf);
}

/* Kill the daemon; 'quiet': it must not have said anything. */
static void stop(int quiet)
{
	close(t.ctl);
	itest_kill_daemon(t.pid, NODE);
	err_read(-1);		/* to EOF: the daemon is gone */
	if (quiet && t.errlen)
		fail_msg("daemon's stderr: \"%s\"", t.errbuf);
	close(t.err);
	close(t.evt);
}

static int mmt_from(unsigned long req, enum which which, unsigned int seed,
		    long off, long len, long from)
{
	struct mmt_io io = {
		.which = which, .seed = seed, .off = (__u64)off,
		.len = (__u64)len, .from = (__u64)from,
	};

	return ioctl(t.ctl, req, &io) ? -errno : 0;
}

static int mmt(unsigned long req, enum which which, unsigned int seed,
	       long off, long len)
{
	return mmt_from(req, which, seed, off, len, 0);
}

static struct mmt_last last(void)
{
	struct mmt_last l;

	assert_int_equal(ioctl(t.ctl, MMT_LAST, &l), 0);
	return l;
}

/* An 'H' from the daemon within 10 s. */
static void expect_deferred(void)
{
	struct pollfd p = { .fd = t.evt, .events = POLLIN };
	char c;

	assert_int_equal(poll(&p, 1, 10000 * itest_scale()), 1);
	assert_int_equal(read(t.evt, &c, 1), 1);
	assert_int_equal(c, 'H');
}

static unsigned char *map(int fd, long len, int prot, int flags, long off)
{
	return mmap(NULL, (size_t)len, prot, flags, fd, (off_t)off);
}

/* mmap() fails with 'err'. */
static void map_fails(int prot, int flags, long off, long len, int err)
{
	errno = 0;
	assert_true(map(t.ctl, len, prot, flags, off) == MAP_FAILED);
	assert_int_equal(errno, err);
}

/*
 * The daemon's memory 'which' and a shared writable mapping of 64 KiB at
 * 'off' see each other's stores both ways.
 */
static void check_shared(enum which which, long off)
{
	const long len = 64 * KIB;
	unsigned char *p;
	struct mmt_last l;

	assert_int_equal(mmt(MMT_FILL, which, 1, off, len), 0);
	p = map(t.ctl, len, PROT_READ | PROT_WRITE, MAP_SHARED, off);
	assert_true(p != MAP_FAILED);
	l = last();
	assert_int_equal(l.off_full, off);
	assert_int_equal(l.off_int, off);
	assert_int_equal(l.length, len);
	assert_int_equal(l.flags, PROT_READ | PROT_WRITE | CLASSIC_VM_SHARED);
	/* The daemon's bytes, without a copy ... */
	assert_true(itest_is_pattern(p, len, 1, 0));
	/* ... the client's stores, seen by the daemon ... */
	itest_pattern(p + 16 * KIB, 16 * KIB, 2);
	assert_int_equal(mmt(MMT_CHECK, which, 2, off + 16 * KIB, 16 * KIB),
			 0);
	assert_int_equal(mmt(MMT_CHECK, which, 1, off, 16 * KIB), 0);
	/* ... and the daemon's later stores, seen by the client. */
	assert_int_equal(mmt(MMT_FILL, which, 3, off + 40 * KIB, 4 * KIB), 0);
	assert_true(itest_is_pattern(p + 40 * KIB, 4 * KIB, 3, 0));
	assert_true(itest_is_pattern(p + 44 * KIB, 4 * KIB, 1, 44 * KIB));
	assert_int_equal(mmt_from(MMT_CHECK, which, 1, off + 44 * KIB,
				  20 * KIB, 44 * KIB), 0);
	assert_int_equal(munmap(p, (size_t)len), 0);
}

static void test_addr(void **state)
{
	unsigned char *p;
	struct mmt_last l;

	start(M_ADDR, state);
	check_shared(W_ANON, 0);
	check_shared(W_ANON, 128 * KIB);

	/* A private read-only mapping: PROT_READ without 8. */
	p = map(t.ctl, 8 * KIB, PROT_READ, MAP_PRIVATE, 12 * KIB);
	assert_true(p != MAP_FAILED);
	l = last();
	assert_int_equal(l.flags, PROT_READ);
	assert_int_equal(l.off_full, 12 * KIB);
	assert_int_equal(l.length, 8 * KIB);
	/* Bytes 12 to 16 KiB still hold pattern 1, 16 to 20 pattern 2. */
	assert_true(itest_is_pattern(p, 4 * KIB, 1, 12 * KIB));
	assert_true(itest_is_pattern(p + 4 * KIB, 4 * KIB, 2, 0));
	munmap(p, 8 * KIB);

	/* Refused by the callback: past the end, and at 4 GiB, whose
	 * offset only fusd_get_offset() holds in full.
	 */
	map_fails(PROT_READ, MAP_SHARED, REGION, 4 * KIB, EINVAL);
	map_fails(PROT_READ, MAP_SHARED, REGION - 4 * KIB, 8 * KIB, EINVAL);
	map_fails(PROT_READ, MAP_SHARED, 4 * 1024 * 1024 * KIB, 4 * KIB,
		  EINVAL);
	l = last();
	assert_int_equal(l.off_full, 4 * 1024 * 1024 * KIB);
	assert_int_equal(l.calls, 6);
	/* fusd_mmap_set_*() refuse a call that is not an mmap. */
	assert_int_equal(l.api, API_ADDR_IOCTL | API_FD_IOCTL);
	stop(1);
}

static void test_fd(void **state)
{
	unsigned char *p;

	start(M_FD, state);
	check_shared(W_MEMFD, 0);
	check_shared(W_MEMFD, 256 * KIB);
	/* The memfd, not the *addr also set: anon holds pattern 5. */
	assert_int_equal(mmt(MMT_FILL, W_ANON, 5, 0, 4 * KIB), 0);
	assert_int_equal(mmt(MMT_FILL, W_MEMFD, 6, 0, 4 * KIB), 0);
	p = map(t.ctl, 4 * KIB, PROT_READ, MAP_SHARED, 0);
	assert_true(p != MAP_FAILED);
	assert_true(itest_is_pattern(p, 4 * KIB, 6, 0));
	munmap(p, 4 * KIB);
	assert_int_equal(last().api, API_FD_BADFD | API_FD_BADOFF |
				     API_ADDR_IOCTL | API_FD_IOCTL);
	stop(1);
}

static void test_deferred_thread(void **state)
{
	start(M_DEFER_THREAD, state);
	check_shared(W_MEMFD, 64 * KIB);
	expect_deferred();
	assert_int_equal(last().calls, 1);
	stop(1);
}

/* M_DEFER_CALL's client: a process of its own, since this one must make
 * the answering ioctl while the mmap waits (it holds the mmap_lock of the
 * process that calls it).  Reports the errno and the bytes it saw.
 */
struct child_report {
	int err;
	int saw_pattern;
};

static pid_t deferred_client(int *rep)
{
	struct child_report r = { 0, 0 };
	int pfd[2];
	unsigned char *p;
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		p = map(t.ctl, 16 * KIB, PROT_READ | PROT_WRITE, MAP_SHARED,
			32 * KIB);
		if (p == MAP_FAILED) {
			r.err = errno;
		} else {
			r.saw_pattern = itest_is_pattern(p, 16 * KIB, 7, 0);
			itest_pattern(p, 4 * KIB, 8);
		}
		_exit(write(pfd[1], &r, sizeof(r)) == sizeof(r) ? 0 : 1);
	}
	close(pfd[1]);
	*rep = pfd[0];
	return pid;
}

static struct child_report deferred_result(pid_t pid, int rep)
{
	struct pollfd p = { .fd = rep, .events = POLLIN };
	struct child_report r;
	int status;

	assert_int_equal(poll(&p, 1, 10000 * itest_scale()), 1);
	assert_int_equal(read(rep, &r, sizeof(r)), sizeof(r));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(rep);
	return r;
}

static void test_deferred_call(void **state)
{
	struct pollfd p = { .events = POLLIN };
	struct child_report r;
	pid_t pid;
	int rep;

	start(M_DEFER_CALL, state);
	assert_int_equal(mmt(MMT_FILL, W_ANON, 7, 32 * KIB, 16 * KIB), 0);
	assert_int_equal(ioctl(t.ctl, MMT_ANSWER), -1);
	assert_int_equal(errno, ENOENT);	/* nothing held yet */

	pid = deferred_client(&rep);
	expect_deferred();
	/* Held by the daemon: the client's mmap() has not returned. */
	p.fd = rep;
	assert_int_equal(poll(&p, 1, 0), 0);
	assert_int_equal(ioctl(t.ctl, MMT_ANSWER), 0);
	r = deferred_result(pid, rep);
	assert_int_equal(r.err, 0);
	assert_true(r.saw_pattern);
	/* What it stored before it exited stays in the daemon's memory. */
	assert_int_equal(mmt(MMT_CHECK, W_ANON, 8, 32 * KIB, 4 * KIB), 0);
	assert_int_equal(mmt_from(MMT_CHECK, W_ANON, 7, 36 * KIB, 12 * KIB,
				  4 * KIB), 0);

	/* fusd_return(file, 0) without memory named: EINVAL. */
	pid = deferred_client(&rep);
	expect_deferred();
	assert_int_equal(ioctl(t.ctl, MMT_ANSWER_BAD), 0);
	r = deferred_result(pid, rep);
	assert_int_equal(r.err, EINVAL);
	err_expect("fusd: mmap answered 0 without naming memory");
	assert_null(strstr(t.errbuf, "refused"));

	/* Memory the kernel refuses: fusd_return() and the client get
	 * EINVAL.
	 */
	pid = deferred_client(&rep);
	expect_deferred();
	assert_int_equal(ioctl(t.ctl, MMT_ANSWER_PRIV), -1);
	assert_int_equal(errno, EINVAL);
	r = deferred_result(pid, rep);
	assert_int_equal(r.err, EINVAL);
	err_expect("fusd: mmap answer refused: Invalid argument");
	assert_int_equal(last().calls, 3);
	stop(0);
}

static void test_enxio(void **state)
{
	start(M_ENXIO, state);
	map_fails(PROT_READ, MAP_SHARED, 0, 4 * KIB, ENXIO);
	map_fails(PROT_READ | PROT_WRITE, MAP_PRIVATE, 0, 4 * KIB, ENXIO);
	assert_int_equal(last().calls, 2);
	stop(1);		/* an error result is no refused answer */
}

static void test_refused_private(void **state)
{
	start(M_PRIVATE, state);
	map_fails(PROT_READ, MAP_SHARED, 0, 4 * KIB, EINVAL);
	err_expect("fusd: mmap answer refused: Invalid argument");
	/* The daemon serves on: the next call is asked, and refused. */
	map_fails(PROT_READ, MAP_PRIVATE, 4 * KIB, 4 * KIB, EINVAL);
	assert_int_equal(last().calls, 2);
	stop(0);
}

static void test_refused_readonly(void **state)
{
	unsigned char *p;

	start(M_RDONLY, state);
	map_fails(PROT_READ | PROT_WRITE, MAP_SHARED, 0, 4 * KIB, EACCES);
	err_expect("fusd: mmap answer refused: Permission denied");
	/* Read-only: mapped, but never writable through mprotect(). */
	p = map(t.ctl, 8 * KIB, PROT_READ, MAP_SHARED, 8 * KIB);
	assert_true(p != MAP_FAILED);
	assert_true(itest_is_pattern(p, 8 * KIB, 11, 8 * KIB));
	assert_int_equal(mprotect(p, 8 * KIB, PROT_READ | PROT_WRITE), -1);
	assert_int_equal(errno, EACCES);
	munmap(p, 8 * KIB);
	/* A private writable copy is fine: it is the client's own. */
	p = map(t.ctl, 4 * KIB, PROT_READ | PROT_WRITE, MAP_PRIVATE, 0);
	assert_true(p != MAP_FAILED);
	p[0] ^= 0xff;
	assert_true(itest_is_pattern(p + 1, 4 * KIB - 1, 11, 1));
	munmap(p, 4 * KIB);
	assert_int_equal(last().calls, 3);
	stop(0);
}

static void test_no_callback(void **state)
{
	start(M_NOMMAP, state);
	map_fails(PROT_READ, MAP_SHARED, 0, 4 * KIB, ENODEV);
	map_fails(PROT_READ | PROT_WRITE, MAP_PRIVATE, 0, 4 * KIB, ENODEV);
	/* The device itself works. */
	assert_int_equal(mmt(MMT_FILL, W_ANON, 1, 0, 4 * KIB), 0);
	assert_int_equal(last().calls, 0);
	stop(1);
}

/* fusd_run_mt(4): NCONC mmap callbacks run at once (each waits for the
 * others, and fails ETIMEDOUT if they never come).
 */
static void test_concurrent(void **state)
{
	pid_t pids[NCONC];
	int i, status;

	start(M_CONCURRENT, state);
	assert_int_equal(mmt(MMT_FILL, W_ANON, 9, 0, NCONC * 4 * KIB), 0);
	for (i = 0; i < NCONC; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			unsigned char *p = map(t.ctl, 4 * KIB, PROT_READ,
					       MAP_SHARED, i * 4 * KIB);

			if (p == MAP_FAILED)
				_exit(errno);
			_exit(itest_is_pattern(p, 4 * KIB, 9,
					       (size_t)i * 4 * KIB) ? 0 : 100);
		}
	}
	for (i = 0; i < NCONC; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(last().calls, NCONC);
	stop(1);
}

static int run1 = 1, run4 = 4;

#define BOTH(f)                                                            \
	{ #f, f, NULL, NULL, &run1 }, { #f "_mt4", f, NULL, NULL, &run4 }

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_addr),
		BOTH(test_fd),
		BOTH(test_deferred_thread),
		BOTH(test_deferred_call),
		BOTH(test_enxio),
		BOTH(test_refused_private),
		BOTH(test_refused_readonly),
		BOTH(test_no_callback),
		{ "test_concurrent_mt4", test_concurrent, NULL, NULL, &run4 },
	};

	return itest_run(tests, NULL, NULL);
}
