// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: mmap spoken by hand (protocol 1.3): a forked daemon answers
 * FUSD_OP_MMAP with its own shmem memory (an address or a memfd) and the
 * test, as the client, checks that both sides see each other's stores
 * (4 KiB, 64 MiB, a non-zero offset), that the mapping outlives the
 * daemon's munmap and its death, that MAP_PRIVATE, fork, mremap and memfd
 * write seals behave as for a shmem file, that every refused answer gives
 * both sides its error, that a daemon that never answers is survived,
 * that a daemon mapping its own device gets EDEADLK, and that 1,000
 * map/unmap cycles leave /proc/meminfo's Shmem where it was.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"
#include "rawchan.h"

#define NAME "mmraw"
#define NODE "/dev/" NAME
#define MIB (1024L * 1024)
#define RAMFS_DIR "/tmp/fusd-ramfs"

static long pg;

/* ------------------------------------------------- the forked daemon */

/* What the daemon's memory is. */
enum region_kind {
	R_SHARED_ANON,		/* MAP_SHARED | MAP_ANONYMOUS, read-write */
	R_SHARED_ANON_RO,	/* the same, PROT_READ only */
	R_PRIVATE_ANON,		/* MAP_PRIVATE | MAP_ANONYMOUS */
	R_MEMFD,		/* a memfd, mapped shared read-write */
	R_MEMFD_RDONLY,		/* a memfd, answered by an O_RDONLY fd */
	R_RAMFS,		/* a ramfs file (not shmem), mapped shared */
	R_NONE,			/* nothing */
};

/* How the daemon answers the next FUSD_OP_MMAP. */
enum answer_how {
	A_ADDR,		/* region address + 'delta', 'length' bytes */
	A_FD,		/* the region's fd, offset 'delta' */
	A_FD_NEW,	/* a new memfd per call, closed after the reply */
	A_ERR,		/* result 'result' */
	A_PAYLOAD,	/* result 0 with 'raw' as it is */
	A_SHORT,	/* result 0 without any payload */
	A_NONE,		/* never answer */
};

struct answer {
	enum answer_how how;
	long delta;
	long length;	/* A_ADDR: bytes offered; 0: those asked + delta */
	int result;
	int fd;		/* A_FD: >= 0 overrides the region's fd */
	struct fusd_mmap_reply raw;
};

struct cmd {
	char op;	/* R region, A answer, F fill, C check, U unmap, S seal */
	int kind;
	long size;
	unsigned int seed;
	long off, len;	/* F and C: the range, len 0: whole region */
	struct answer ans;
};

/* What the daemon tells the test: a command's result, or one mmap. */
struct report {
	char what;	/* 'c' command, 'm' mmap request answered */
	int err;	/* command: 0 or errno; mmap: write()'s errno or 0 */
	struct fusd_request req;
};

struct mmd {
	pid_t pid;
	int cmd;	/* test -> daemon */
	int rep;	/* daemon -> test */
};

static struct {
	enum region_kind kind;
	char *p;
	long size;
	int fd;
	struct answer ans;
} dm;

/*
 * A word pattern, fast to write and check even under emulation: 'len'
 * bytes at 'p' become the pattern of 'seed' from its byte 'from' on.
 */
static void fill(void *p, size_t len, unsigned int seed, size_t from)
{
	size_t i, first = from / 8;
	uint64_t *w = p;

	for (i = 0; i < len / 8; i++)
		w[i] = (first + i + 1) * 0x9E3779B97F4A7C15ull ^ seed;
}

/* 'len' bytes at 'p' are the pattern of 'seed' from byte 'from' on. */
static int check(const void *p, size_t len, unsigned int seed, size_t from)
{
	const uint64_t *w = p;
	size_t i, first = from / 8;

	for (i = 0; i < len / 8; i++)
		if (w[i] != ((first + i + 1) * 0x9E3779B97F4A7C15ull ^ seed))
			return 0;
	return 1;
}

static int dm_region(int kind, long size)
{
	int fd;

	if (dm.p && dm.p != MAP_FAILED)
		munmap(dm.p, dm.size);
	if (dm.fd >= 0)
		close(dm.fd);
	dm.p = NULL;
	dm.fd = -1;
	dm.kind = kind;
	dm.size = size;
	switch (kind) {
	case R_SHARED_ANON:
	case R_SHARED_ANON_RO:
		dm.p = mmap(NULL, size, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (dm.p != MAP_FAILED && kind == R_SHARED_ANON_RO)
			mprotect(dm.p, size, PROT_READ);
		break;
	case R_PRIVATE_ANON:
		dm.p = mmap(NULL, size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		break;
	case R_MEMFD:
	case R_MEMFD_RDONLY:
		dm.fd = memfd_create("mmraw", MFD_ALLOW_SEALING);
		if (dm.fd < 0 || ftruncate(dm.fd, size))
			return errno;
		dm.p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			    dm.fd, 0);
		if (kind == R_MEMFD_RDONLY) {
			char path[64];

			snprintf(path, sizeof(path), "/proc/self/fd/%d", dm.fd);
			fd = open(path, O_RDONLY);
			close(dm.fd);
			dm.fd = fd;
		}
		break;
	case R_RAMFS:
		mkdir(RAMFS_DIR, 0700);
		if (mount("none", RAMFS_DIR, "ramfs", 0, NULL) && errno != EBUSY)
			return errno;
		dm.fd = open(RAMFS_DIR "/f", O_RDWR | O_CREAT, 0600);
		if (dm.fd < 0 || ftruncate(dm.fd, size))
			return errno;
		dm.p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			    dm.fd, 0);
		break;
	}
	return dm.p == MAP_FAILED ? errno : 0;
}

/* Answer one FUSD_OP_MMAP as dm.ans says; write()'s errno or 0. */
static int dm_answer(int chan, const struct fusd_request *req)
{
	struct fusd_mmap_reply r;
	struct answer *a = &dm.ans;
	ssize_t n = 0;
	int fd = -1, err;

	memset(&r, 0, sizeof(r));
	switch (a->how) {
	case A_ADDR:
		r.addr = (uintptr_t)dm.p + a->delta;
		r.length = a->length ? (uint64_t)a->length : req->u.mmap.length;
		break;
	case A_FD:
		r.flags = FUSD_MMAP_FD;
		r.fd = a->fd >= 0 ? a->fd : dm.fd;
		r.offset = a->delta;
		break;
	case A_FD_NEW:
		fd = memfd_create("mmcycle", 0);
		if (fd < 0 || ftruncate(fd, req->u.mmap.length))
			return errno;
		r.flags = FUSD_MMAP_FD;
		r.fd = fd;
		break;
	case A_ERR:
		n = raw_reply(chan, req->hdr.id, a->result, NULL, 0);
		break;
	case A_PAYLOAD:
		r = a->raw;
		break;
	case A_SHORT:
		n = raw_reply(chan, req->hdr.id, 0, NULL, 0);
		break;
	case A_NONE:
		return -1;
	}
	if (a->how != A_ERR && a->how != A_SHORT)
		n = raw_reply(chan, req->hdr.id, 0, &r, sizeof(r));
	err = n < 0 ? errno : 0;
	if (fd >= 0)
		close(fd);
	return err;
}

static void dm_command(const struct cmd *c, int rep)
{
	struct report r = { .what = 'c' };
	long len = c->len ? c->len : dm.size - c->off;

	switch (c->op) {
	case 'R':
		r.err = dm_region(c->kind, c->size);
		break;
	case 'A':
		dm.ans = c->ans;
		break;
	case 'F':
		fill(dm.p + c->off, len, c->seed, c->off);
		break;
	case 'C':
		r.err = check(dm.p + c->off, len, c->seed, c->off) ? 0 : EIO;
		break;
	case 'U':
		r.err = munmap(dm.p, dm.size) ? errno : 0;
		dm.p = NULL;
		break;
	case 'S':
		r.err = fcntl(dm.fd, F_ADD_SEALS, c->kind) ? errno : 0;
		break;
	}
	if (write(rep, &r, sizeof(r)) != sizeof(r))
		_exit(3);
}

static void dm_main(int chan, int cmd, int rep)
{
	struct pollfd p[2] = { { .fd = chan, .events = POLLIN },
			       { .fd = cmd, .events = POLLIN } };
	char payload[64];
	struct fusd_request req;
	struct report r;
	struct cmd c;

	dm.fd = -1;
	dm.ans.fd = -1;
	for (;;) {
		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents) {
			if (read(cmd, &c, sizeof(c)) != sizeof(c))
				_exit(0);
			dm_command(&c, rep);
		}
		if (!(p[0].revents & POLLIN))
			continue;
		raw_read_request(chan, &req, payload, sizeof(payload));
		switch (req.hdr.opcode) {
		case FUSD_OP_OPEN:
		case FUSD_OP_RELEASE:
			raw_reply(chan, req.hdr.id, 0, NULL, 0);
			break;
		case FUSD_OP_MMAP:
			memset(&r, 0, sizeof(r));
			r.what = 'm';
			r.req = req;
			r.err = dm_answer(chan, &req);
			if (write(rep, &r, sizeof(r)) != sizeof(r))
				_exit(3);
			break;
		default:	/* INTERRUPT: the call goes on */
			break;
		}
	}
}

/* Fork a daemon serving NAME, with FUSD_FEATURE_MMAP unless 'plain'. */
static struct mmd mmd_start(int plain)
{
	int cmd[2], rep[2], chan;
	struct mmd d;

	assert_int_equal(pipe(cmd), 0);
	assert_int_equal(pipe(rep), 0);
	d.pid = fork();
	assert_true(d.pid >= 0);
	if (d.pid == 0) {
		close(cmd[1]);
		close(rep[0]);
		chan = raw_register_features(NAME, FUSD_PROTO_MINOR,
					     plain ? FUSD_FEATURE_EXCHANGE :
					     FUSD_FEATURE_MMAP);
		dm_main(chan, cmd[0], rep[1]);
		_exit(0);
	}
	close(cmd[0]);
	close(rep[1]);
	d.cmd = cmd[1];
	d.rep = rep[0];
	assert_int_equal(itest_wait_path(NODE, 1, 10000 * itest_scale()), 0);
	return d;
}

static void mmd_stop(struct mmd *d)
{
	if (d->pid > 0)
		itest_kill_daemon(d->pid, NODE);
	d->pid = 0;
	close(d->cmd);
	close(d->rep);
}

/* The daemon's next report (asserts it comes within 30 s). */
static struct report mmd_report(struct mmd *d)
{
	struct pollfd p = { .fd = d->rep, .events = POLLIN };
	struct report r;

	assert_int_equal(poll(&p, 1, 30000 * itest_scale()), 1);
	assert_int_equal(read(d->rep, &r, sizeof(r)), sizeof(r));
	return r;
}

/* Run a command in the daemon; returns its errno (0 = done). */
static int mmd_cmd(struct mmd *d, struct cmd c)
{
	struct report r;

	assert_int_equal(write(d->cmd, &c, sizeof(c)), sizeof(c));
	r = mmd_report(d);
	assert_int_equal(r.what, 'c');
	return r.err;
}

static void mmd_region(struct mmd *d, int kind, long size)
{
	assert_int_equal(mmd_cmd(d, (struct cmd){ .op = 'R', .kind = kind,
						  .size = size }), 0);
}

static void mmd_answer(struct mmd *d, struct answer a)
{
	assert_int_equal(mmd_cmd(d, (struct cmd){ .op = 'A', .ans = a }), 0);
}

static void mmd_fill(struct mmd *d, long off, long len, unsigned int seed)
{
	assert_int_equal(mmd_cmd(d, (struct cmd){ .op = 'F', .off = off,
						  .len = len, .seed = seed }),
			 0);
}

static int mmd_check(struct mmd *d, long off, long len, unsigned int seed)
{
	return mmd_cmd(d, (struct cmd){ .op = 'C', .off = off, .len = len,
					.seed = seed }) == 0;
}

/*
 * mmap() the device as the client and take the daemon's report of the
 * request.  Returns the mapping or MAP_FAILED (errno kept).
 */
static void *client_map(struct mmd *d, int fd, size_t len, int prot,
			int flags, off_t off, struct report *r)
{
	void *p = mmap(NULL, len, prot, flags, fd, off);
	int err = errno;

	*r = mmd_report(d);
	assert_int_equal(r->what, 'm');
	errno = err;
	return p;
}

static int open_node(void)
{
	int fd = open(NODE, O_RDWR);

	assert_true(fd >= 0);
	return fd;
}

/* ------------------------------------------------------------ sharing */

static void share_both_ways(long size, int memfd_answer)
{
	struct mmd d = mmd_start(0);
	int fd = open_node();
	struct report r;
	char *p;

	mmd_region(&d, memfd_answer ? R_MEMFD : R_SHARED_ANON, size);
	mmd_answer(&d, (struct answer){ .how = memfd_answer ? A_FD : A_ADDR,
					.fd = -1 });
	mmd_fill(&d, 0, 0, 1);
	p = client_map(&d, fd, size, PROT_READ | PROT_WRITE, MAP_SHARED, 0,
		       &r);
	assert_true(p != MAP_FAILED);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.req.u.mmap.offset, 0);
	assert_int_equal(r.req.u.mmap.length, size);
	assert_int_equal(r.req.u.mmap.prot, PROT_READ | PROT_WRITE);
	assert_int_equal(r.req.u.mmap.flags, FUSD_MMAP_SHARED);
	/* The daemon's stores, seen by the client ... */
	assert_true(check(p, size, 1, 0));
	/* ... and the client's, seen by the daemon. */
	fill(p, size, 2, 0);
	assert_true(mmd_check(&d, 0, 0, 2));
	/* Again after both wrote: the same pages, not copies. */
	mmd_fill(&d, 0, pg, 3);
	assert_true(check(p, pg, 3, 0));
	assert_int_equal(munmap(p, size), 0);
	close(fd);
	mmd_stop(&d);
}

static void test_share_4k_addr(void **state)
{
	(void)state;
	share_both_ways(4096, 0);
}

static void test_share_4k_memfd(void **state)
{
	(void)state;
	share_both_ways(4096, 1);
}

static void test_share_64m_addr(void **state)
{
	(void)state;
	share_both_ways(64 * MIB, 0);
}

static void test_share_64m_memfd(void **state)
{
	(void)state;
	share_both_ways(64 * MIB, 1);
}

/* A non-zero offset: the request carries it; the daemon picks the page. */
static void test_offset(void **state)
{
	struct mmd d = mmd_start(0);
	int fd = open_node();
	struct report r;
	char *p;

	(void)state;
	mmd_region(&d, R_MEMFD, 16 * pg);
	mmd_fill(&d, 0, 0, 5);
	/* Address form: the daemon offsets into its own memory. */
	mmd_answer(&d, (struct answer){ .how = A_ADDR, .delta = 3 * pg });
	p = client_map(&d, fd, 2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED,
		       3 * pg, &r);
	assert_true(p != MAP_FAILED);
	assert_int_equal(r.req.u.mmap.offset, 3 * pg);
	assert_int_equal(r.req.u.mmap.length, 2 * pg);
	assert_true(check(p, 2 * pg, 5, 3 * pg));
	fill(p, pg, 6, 3 * pg);
	assert_true(mmd_check(&d, 3 * pg, pg, 6));
	assert_true(mmd_check(&d, 4 * pg, pg, 5));
	munmap(p, 2 * pg);
	/* fd form: offset 5 pages into the memfd. */
	mmd_answer(&d, (struct answer){ .how = A_FD, .delta = 5 * pg,
					.fd = -1 });
	p = client_map(&d, fd, pg, PROT_READ, MAP_SHARED, 7 * pg, &r);
	assert_true(p != MAP_FAILED);
	assert_int_equal(r.req.u.mmap.offset, 7 * pg);
	assert_int_equal(r.req.u.mmap.prot, PROT_READ);
	assert_true(check(p, pg, 5, 5 * pg));
	munmap(p, pg);
	close(fd);
	mmd_stop(&d);
}

/* The mapping outlives the daemon's munmap, then the daemon itself. */
static void test_outlives_daemon(void **state)
{
	struct mmd d = mmd_start(0);
	int fd = open_node();
	long size = 64 * pg;
	struct report r;
	char *p;

	(void)state;
	mmd_region(&d, R_SHARED_ANON, size);
	mmd_answer(&d, (struct answer){ .how = A_ADDR });
	mmd_fill(&d, 0, 0, 7);
	p = client_map(&d, fd, size, PROT_READ | PROT_WRITE, MAP_SHARED, 0,
		       &r);
	assert_true(p != MAP_FAILED);
	assert_int_equal(mmd_cmd(&d, (struct cmd){ .op = 'U' }), 0);
	assert_true(check(p, size, 7, 0));
	fill(p, size, 8, 0);
	assert_true(check(p, size, 8, 0));
	mmd_stop(&d);	/* SIGKILL, node gone */
	assert_true(check(p, size, 8, 0));
	fill(p, size, 9, 0);
	assert_true(check(p, size, 9, 0));
	/* The file is dead, the mapping is not; a new mmap() fails. */
	assert_true(mmap(NULL, pg, PROT_READ, MAP_SHARED, fd, 0) ==
		    MAP_FAILED);
	assert_int_equal(munmap(p, size), 0);
	close(fd);
}

/* MAP_PRIVATE: copy on write of the daemon's pages, as for shmem. */
static void test_private_cow(void **state)
{
	struct mmd d = mmd_start(0);
	int fd = open_node();
	struct report r;
	char *p;

	(void)state;
	mmd_region(&d, R_SHARED_ANON, 4 * pg);
	mmd_answer(&d, (struct answer){ .how = A_ADDR });
	mmd_fill(&d, 0, 0, 10);
	p = client_map(&d, fd, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, 0,
		       &r);
	assert_true(p != MAP_FAILED);
	assert_int_equal(r.req.u.mmap.flags, 0);
	assert_true(check(p, 4 * pg, 10, 0));
	fill(p, pg, 11, 0);		/* the client's own copy */
	assert_true(mmd_check(&d, 0, pg, 10));
	mmd_fill(&d, pg, pg, 12);	/* not copied yet: seen */
	assert_true(check(p + pg, pg, 12, pg));
	assert_true(check(p, pg, 11, 0));
	munmap(p, 4 * pg);
	close(fd);
	mmd_stop(&d);
}

/* fork() and mremap() keep the sharing, as for any shmem mapping. */
static void test_fork_mremap(void **state)
{
	struct mmd d = mmd_start(0);
	int fd = open_node(), status;
	struct report r;
	char *p, *q;
	pid_t pid;

	(void)state;
	mmd_region(&d, R_MEMFD, 8 * pg);
	mmd_answer(&d, (struct answer){ .how = A_FD, .fd = -1 });
	p = client_map(&d, fd, 4 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, 0,
		       &r);
	assert_true(p != MAP_FAILED);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fill(p, 4 * pg, 13, 0);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(status, 0);
	assert_true(mmd_check(&d, 0, 4 * pg, 13));
	/* Grown within the file, and moved: still the daemon's pages. */
	q = mremap(p, 4 * pg, 8 * pg, MREMAP_MAYMOVE);
	assert_true(q != MAP_FAILED);
	mmd_fill(&d, 0, 0, 14);
	assert_true(check(q, 8 * pg, 14, 0));
	munmap(q, 8 * pg);
	close(fd);
	mmd_stop(&d);
}

/* ---------------------------------------------------------- refusals */

/* Map with answer 'a' over region 'kind'; both sides see 'err'. */
static void refused(int kind, struct answer a, int prot, int flags, int err)
{
	struct mmd d = mmd_start(0);
	int fd = open_node(), kmsg = itest_kmsg_open();
	struct report r;
	char rec[256];
	void *p;

	if (kind != R_NONE)
		mmd_region(&d, kind, 4 * pg);
	mmd_answer(&d, a);
	p = client_map(&d, fd, 4 * pg, prot, flags, 0, &r);
	assert_true(p == MAP_FAILED);
	assert_int_equal(errno, err);
	/* The daemon's write() fails with it too (malformed: EINVAL). */
	if (a.how == A_ERR)
		assert_int_equal(r.err, 0);
	else
		assert_int_equal(r.err, a.how == A_SHORT ||
				 a.how == A_PAYLOAD ? EINVAL : err);
	/* The file goes on working. */
	mmd_region(&d, R_SHARED_ANON, 4 * pg);
	mmd_answer(&d, (struct answer){ .how = A_ADDR });
	p = client_map(&d, fd, 4 * pg, PROT_READ, MAP_SHARED, 0, &r);
	assert_true(p != MAP_FAILED);
	munmap(p, 4 * pg);
	close(fd);
	mmd_stop(&d);
	itest_kmsg_fusd_lines(kmsg, rec, sizeof(rec));
	assert_string_equal(rec, "");
}

static void test_refuse_private(void **state)
{
	(void)state;
	refused(R_PRIVATE_ANON, (struct answer){ .how = A_ADDR },
		PROT_READ, MAP_SHARED, EINVAL);
}

static void test_refuse_not_shmem(void **state)
{
	(void)state;
	refused(R_RAMFS, (struct answer){ .how = A_ADDR }, PROT_READ,
		MAP_SHARED, ENODEV);
	refused(R_RAMFS, (struct answer){ .how = A_FD, .fd = -1 }, PROT_READ,
		MAP_SHARED, ENODEV);
	while (!umount(RAMFS_DIR))
		;	/* each daemon mounted one */
}

static void test_refuse_unaligned(void **state)
{
	(void)state;
	refused(R_SHARED_ANON, (struct answer){ .how = A_ADDR, .delta = 8 },
		PROT_READ, MAP_SHARED, EINVAL);
	refused(R_MEMFD, (struct answer){ .how = A_FD, .delta = 8, .fd = -1 },
		PROT_READ, MAP_SHARED, EINVAL);
}

static void test_refuse_short(void **state)
{
	(void)state;
	/* out_length shorter than asked. */
	refused(R_SHARED_ANON, (struct answer){ .how = A_ADDR,
						.length = 3 * pg },
		PROT_READ, MAP_SHARED, EINVAL);
	/* Longer than said, but the mapping there is shorter. */
	refused(R_SHARED_ANON, (struct answer){ .how = A_ADDR, .delta = pg,
						.length = 8 * pg },
		PROT_READ, MAP_SHARED, EINVAL);
	/* A memfd without 4 pages from the offset. */
	refused(R_MEMFD, (struct answer){ .how = A_FD, .delta = pg, .fd = -1 },
		PROT_READ, MAP_SHARED, EINVAL);
}

static void test_refuse_unmapped(void **state)
{
	(void)state;
	refused(R_SHARED_ANON, (struct answer){ .how = A_ADDR,
						.delta = 1L << 40 },
		PROT_READ, MAP_SHARED, EINVAL);
	refused(R_NONE, (struct answer){ .how = A_FD, .fd = 999 },
		PROT_READ, MAP_SHARED, EBADF);
}

/* Read-only memory cannot become a shared writable mapping. */
static void test_refuse_readonly(void **state)
{
	struct mmd d;
	struct report r;
	int fd;
	char *p;

	(void)state;
	refused(R_SHARED_ANON_RO, (struct answer){ .how = A_ADDR },
		PROT_READ | PROT_WRITE, MAP_SHARED, EACCES);
	refused(R_MEMFD_RDONLY, (struct answer){ .how = A_FD, .fd = -1 },
		PROT_READ | PROT_WRITE, MAP_SHARED, EACCES);

	/* Read-only shared is fine, but never made writable later; a
	 * private writable copy is fine too.
	 */
	d = mmd_start(0);
	fd = open_node();
	mmd_region(&d, R_SHARED_ANON_RO, 4 * pg);
	mmd_answer(&d, (struct answer){ .how = A_ADDR });
	p = client_map(&d, fd, 4 * pg, PROT_READ, MAP_SHARED, 0, &r);
	assert_true(p != MAP_FAILED);
	assert_int_equal(mprotect(p, 4 * pg, PROT_READ | PROT_WRITE), -1);
	assert_int_equal(errno, EACCES);
	munmap(p, 4 * pg);
	p = client_map(&d, fd, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, 0,
		       &r);
	assert_true(p != MAP_FAILED);
	p[0] = 1;
	munmap(p, 4 * pg);
	close(fd);
	mmd_stop(&d);
}

/* An error result, and malformed answers (the caller gets EIO then). */
static void test_refuse_errors(void **state)
{
	struct answer a = { .how = A_PAYLOAD };

	(void)state;
	refused(R_NONE, (struct answer){ .how = A_ERR, .result = -ENXIO },
		PROT_READ, MAP_SHARED, ENXIO);
	refused(R_NONE, (struct answer){ .how = A_SHORT }, PROT_READ,
		MAP_SHARED, EIO);
	/* Reserved fields and unknown flags are kernel-checked: EINVAL. */
	a.raw.reserved[1] = 1;
	refused(R_SHARED_ANON, a, PROT_READ, MAP_SHARED, EINVAL);
	memset(&a.raw, 0, sizeof(a.raw));
	a.raw.flags = 1u << 7;
	refused(R_SHARED_ANON, a, PROT_READ, MAP_SHARED, EINVAL);
}

/* A daemon without FUSD_FEATURE_MMAP: ENODEV, and it is never asked. */
static void test_no_feature(void **state)
{
	struct mmd d = mmd_start(1);
	int fd = open_node();
	struct pollfd p = { .fd = d.rep, .events = POLLIN };

	(void)state;
	assert_true(mmap(NULL, pg, PROT_READ, MAP_SHARED, fd, 0) ==
		    MAP_FAILED);
	assert_int_equal(errno, ENODEV);
	assert_int_equal(poll(&p, 1, 200), 0);
	close(fd);
	mmd_stop(&d);
}

/* ------------------------------------------------------- memfd seals */

static void test_seals(void **state)
{
	struct mmd d = mmd_start(0);
	int fd = open_node();
	struct report r;
	char *p;

	(void)state;
	mmd_region(&d, R_MEMFD, 4 * pg);
	mmd_answer(&d, (struct answer){ .how = A_FD, .fd = -1 });
	/* Unmap the daemon's own writable view, so only ours counts. */
	assert_int_equal(mmd_cmd(&d, (struct cmd){ .op = 'U' }), 0);
	p = client_map(&d, fd, 4 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, 0,
		       &r);
	assert_true(p != MAP_FAILED);
	/* Our writable mapping counts: F_SEAL_WRITE is refused. */
	assert_int_equal(mmd_cmd(&d, (struct cmd){ .op = 'S',
						   .kind = F_SEAL_WRITE }),
			 EBUSY);
	assert_int_equal(munmap(p, 4 * pg), 0);
	/* Gone: now it seals ... */
	assert_int_equal(mmd_cmd(&d, (struct cmd){ .op = 'S',
						   .kind = F_SEAL_WRITE }), 0);
	/* ... and a shared writable mapping of it is refused. */
	p = client_map(&d, fd, 4 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, 0,
		       &r);
	assert_true(p == MAP_FAILED);
	assert_int_equal(errno, EPERM);
	/* Private is fine (on 6.1 a shared read-only one is refused too,
	 * as mmap() of a write-sealed memfd itself was there).
	 */
	p = client_map(&d, fd, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, 0,
		       &r);
	assert_true(p != MAP_FAILED);
	munmap(p, 4 * pg);
	p = client_map(&d, fd, 4 * pg, PROT_READ, MAP_SHARED, 0, &r);
	if (p != MAP_FAILED) {
		assert_int_equal(mprotect(p, 4 * pg, PROT_READ | PROT_WRITE),
				 -1);
		munmap(p, 4 * pg);
	} else {
		assert_int_equal(errno, EPERM);
	}
	close(fd);
	mmd_stop(&d);
}

/* ------------------------------------------------ waits and deadlocks */

/* A daemon that never answers: SIGKILL ends the client's mmap(). */
static void test_never_answered(void **state)
{
	struct mmd d = mmd_start(0);
	int status, kmsg = itest_kmsg_open();
	struct report r;
	char rec[256];
	pid_t pid;

	(void)state;
	mmd_answer(&d, (struct answer){ .how = A_NONE });
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(NODE, O_RDWR);

		mmap(NULL, pg, PROT_READ, MAP_SHARED, fd, 0);
		_exit(1);
	}
	r = mmd_report(&d);	/* the daemon has it, and sits on it */
	assert_int_equal(r.what, 'm');
	/* An ordinary signal does not end it (exactly once) ... */
	kill(pid, SIGSTOP);
	kill(pid, SIGCONT);
	usleep(200 * 1000);
	assert_int_equal(waitpid(pid, &status, WNOHANG), 0);
	/* ... SIGKILL does, at once, although the call stays unanswered. */
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	mmd_stop(&d);
	itest_kmsg_fusd_lines(kmsg, rec, sizeof(rec));
	assert_string_equal(rec, "");
}

/* The process that serves the device maps it: EDEADLK, never a hang. */
static void test_self_map(void **state)
{
	int chan = raw_register_features(NAME, FUSD_PROTO_MINOR,
					 FUSD_FEATURE_MMAP);
	int fd = raw_open(chan, NODE, NULL);

	(void)state;
	assert_true(mmap(NULL, pg, PROT_READ, MAP_SHARED, fd, 0) ==
		    MAP_FAILED);
	assert_int_equal(errno, EDEADLK);
	close(fd);
	close(chan);
	assert_int_equal(itest_wait_path(NODE, 0, 10000), 0);
}

/* --------------------------------------------------------- no leaks */

/*
 * 1,000 cycles, each a new 64 KiB memfd of the daemon's, mapped, touched
 * and unmapped by the client: every page must be freed with its mapping.
 */
static void test_cycles_no_leak(void **state)
{
	int n = itest_scaled_count(1000, 200), i, kmsg = itest_kmsg_open();
	struct mmd d = mmd_start(0);
	int fd = open_node();
	long shmem0, free0, shmem1, free1;
	struct report r;
	char rec[256];
	char *p;

	(void)state;
	mmd_answer(&d, (struct answer){ .how = A_FD_NEW });
	shmem0 = itest_meminfo_kb("Shmem");
	free0 = itest_meminfo_kb("MemFree");
	for (i = 0; i < n; i++) {
		p = client_map(&d, fd, 16 * pg, PROT_READ | PROT_WRITE,
			       MAP_SHARED, 0, &r);
		assert_true(p != MAP_FAILED);
		fill(p, 16 * pg, i, 0);
		assert_int_equal(munmap(p, 16 * pg), 0);
	}
	shmem1 = itest_meminfo_kb("Shmem");
	free1 = itest_meminfo_kb("MemFree");
	print_message("%d cycles: Shmem %ld -> %ld kB, MemFree %ld -> %ld kB\n",
		      n, shmem0, shmem1, free0, free1);
	/* A leak would keep 64 KiB per cycle: 62 MiB for 1,000. */
	assert_true(shmem1 - shmem0 < 1024);
	assert_true(free0 - free1 < 8 * 1024);
	close(fd);
	mmd_stop(&d);
	itest_kmsg_fusd_lines(kmsg, rec, sizeof(rec));
	assert_string_equal(rec, "");
}

static int group_setup(void **state)
{
	(void)state;
	pg = sysconf(_SC_PAGESIZE);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_share_4k_addr),
		cmocka_unit_test(test_share_4k_memfd),
		cmocka_unit_test(test_share_64m_addr),
		cmocka_unit_test(test_share_64m_memfd),
		cmocka_unit_test(test_offset),
		cmocka_unit_test(test_outlives_daemon),
		cmocka_unit_test(test_private_cow),
		cmocka_unit_test(test_fork_mremap),
		cmocka_unit_test(test_refuse_private),
		cmocka_unit_test(test_refuse_not_shmem),
		cmocka_unit_test(test_refuse_unaligned),
		cmocka_unit_test(test_refuse_short),
		cmocka_unit_test(test_refuse_unmapped),
		cmocka_unit_test(test_refuse_readonly),
		cmocka_unit_test(test_refuse_errors),
		cmocka_unit_test(test_no_feature),
		cmocka_unit_test(test_seals),
		cmocka_unit_test(test_never_answered),
		cmocka_unit_test(test_self_map),
		cmocka_unit_test(test_cycles_no_leak),
	};

	return itest_run(tests, group_setup, NULL);
}
