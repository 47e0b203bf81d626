// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: a seeded channel fuzzer: random and mutated replies, poll
 * notifications and channel ioctls, checked message by message against a
 * model of the wire contract while client calls wait on the device
 *
 * The test plays daemon on two raw channels (fuzz0: FLUSH and POLL
 * registered, every feature granted; fuzz1: plain) while six client threads
 * keep open/read/write/lseek/ioctl/fsync/close calls waiting.  Every
 * write() carries one to twelve messages: valid replies, replies mutated by
 * bit flips and chosen field values (hdr.size, hdr_size, opcode, id,
 * result, flags, poll_mask, offset, reserved, payload length, header
 * tail), poll notifications, garbage and truncated trailing messages.  The
 * model knows every id the kernel issued and every call still waiting, so
 * it predicts, for each message, whether the kernel consumes or refuses
 * it; a refused reply that names a waiting call must fail that call with
 * EIO, an accepted one must give the caller exactly its result and data.
 * Channel ioctls (magic 0xFD with random nr, direction, size and content,
 * COPY_* on waiting ioctls, REGISTER with mutated structs on fresh
 * channels, EXCHANGE and SET_IO_MAX as the granted features allow) are
 * checked the same way.  Signals make INTERRUPTs to answer.
 * Sysfs counters, poll masks and the request fields are checked on the
 * way; at the end the devices still work, pending is 0 and the kernel
 * logged nothing.  The last line gives the figures: messages written
 * (those the kernel looked at, and channel ioctls) and write()/ioctl()
 * calls that failed with an errno the contract allows.
 *
 * Environment:
 *   FUSD_FUZZ_SEED      the seed (else time-based); printed first as
 *                       "fuzz seed: N" so that a failure can be replayed
 *                       (the same decisions, as far as the timing of the
 *                       client threads lets requests come in the same way)
 *   FUSD_TIMEOUT_SCALE  slowness of the kernel (itest_scale()): 100,000
 *                       messages divided by it, 1,000 at least
 *   FUSD_FUZZ_MESSAGES  the message count, overriding the above
 *   FUSD_FUZZ_TRACE=1   print every message's verdict and request
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"
#include "rawchan.h"

#define NDEV		2
#define NCLI		3	/* client threads per device */
#define MAXFD		3	/* files one client holds */
#define MAXPEND		256	/* calls awaiting a reply, per channel */
#define RMAX		4096	/* largest client read */
#define WMAX		512	/* largest client write */
#define REGION		(64 * 1024)	/* a client's ioctl memory */
#define BATCH		12	/* messages per write at most */
#define WBUF		(512 * 1024)
#define IOARG		(16 * 1024)	/* any _IOC_SIZE fits */
#define NFRESH		2
#define RSIZE		sizeof(struct fusd_reply)
#define NSIZE		sizeof(struct fusd_notify_poll)
#define WAIT_MS		(20000 * itest_scale())	/* for one request */

#define POLL_BITS (POLLIN | POLLPRI | POLLOUT | POLLERR | POLLHUP | \
		   POLLRDHUP | POLLRDNORM | POLLRDBAND | POLLWRNORM | \
		   POLLWRBAND | POLLMSG)
#define ALL_EVENTS (POLLIN | POLLPRI | POLLOUT | POLLRDNORM | POLLRDBAND | \
		    POLLWRNORM | POLLWRBAND | POLLMSG | POLLRDHUP)

/* ------------------------------------------------------------ figures */

static uint64_t seed, rng;
static unsigned long long n_msgs, n_errs;
static unsigned long long n_refused, n_eio, n_answered, n_late, n_ioctls;
static unsigned long long n_intr, n_copies, n_fresh_reg;
static unsigned long long step;
static int64_t prof[8];		/* microseconds per phase, for tuning */
static int trace;
static long pagesz;

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static int pct(unsigned int p)
{
	return below(100) < p;
}

static uint64_t pick(const uint64_t *v, size_t n)
{
	return v[below(n)];
}

#define PICK(arr) pick(arr, sizeof(arr) / sizeof(arr[0]))

static void fill_random(void *p, size_t n)
{
	unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = (unsigned char)rnd();
}

/* Any errno a daemon may send, sometimes a common one. */
static int64_t rnd_errno(void)
{
	static const uint64_t common[] = { EIO, EINVAL, EAGAIN, ENOTTY,
					   EACCES, EINTR, ENOSPC, EBUSY };

	return -(int64_t)(pct(50) ? PICK(common) : 1 + below(FUSD_ERRNO_MAX));
}

/* ------------------------------------------------------------ reports */

static const unsigned char *last_buf;	/* the write being judged */
static size_t last_len;

static void dump(const char *what, const unsigned char *p, size_t n)
{
	char line[3 * 16 + 1];
	size_t i, k;

	print_message("%s (%zu bytes):\n", what, n);
	if (n > 512)
		n = 512;
	for (i = 0; i < n; i += 16) {
		for (k = 0; k < 16 && i + k < n; k++)
			snprintf(line + 3 * k, 4, "%02x ", p[i + k]);
		print_message("  %04zx: %s\n", i, line);
	}
}

static void __attribute__((noreturn, format(printf, 1, 2)))
fuzz_fail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	print_message("fuzz FAILED at step %llu (seed %" PRIu64 "): %s\n",
		      step, seed, msg);
	if (last_buf)
		dump("last write", last_buf, last_len);
	fail_msg("fuzz: %s (replay with FUSD_FUZZ_SEED=%" PRIu64 ")", msg,
		 seed);
	abort();	/* not reached */
}

#define CHECK(cond, ...) do { if (!(cond)) fuzz_fail(__VA_ARGS__); } while (0)
#define TRACE(...) do { if (trace) print_message(__VA_ARGS__); } while (0)

/* ------------------------------------------------------------ model */

enum { OP_OPEN = 1, OP_READ, OP_WRITE, OP_SEEK, OP_IOCTL, OP_FSYNC,
       OP_FDATASYNC, OP_CLOSE, OP_QUIT };

struct dev;

/* A client thread: one system call at a time, chosen by the daemon side. */
struct client {
	struct dev *d;
	int idx;
	pthread_t thread;
	pid_t tid;
	sem_t go, fin;
	/* the command, written before 'go' */
	int op;
	int fd;
	size_t len;
	int64_t off;
	int whence;
	unsigned int cmd;
	unsigned long arg;
	unsigned char wbuf[WMAX];
	/* its outcome, written before 'fin' */
	int64_t ret;
	int err;
	unsigned char rbuf[RMAX];
	unsigned char *region;	/* REGION bytes, then a guard page */
	/* daemon side */
	int nfd;
	int fds[MAXFD];
	uint64_t fhs[MAXFD];
	int64_t pos[MAXFD];	/* file position the kernel must report */
	int slot;		/* the file the command works on */
	int busy;		/* a command is out */
	int decided;		/* its answer is known */
	int retry;		/* an OPEN answered -ECHILD/-ESTALE */
	int attempt;		/* OPEN: 0 RCU walk, 1 ref walk, 2 REVAL */
	uint64_t open_fh;
	int64_t want_ret;	/* -2: any fd */
	int want_err;
	int want_alt_err;	/* also allowed (0: none) */
	size_t want_len;
	unsigned char want_data[RMAX];
	unsigned char *shadow;	/* what 'region' must hold */
	int shadow_unsure;
};

/* A request the daemon read and has not answered. */
struct pcall {
	uint64_t id;
	uint16_t op;
	uint64_t fh;
	struct client *c;	/* who waits (NULL: nobody) */
	uint64_t size;		/* rw.size, ioctl.size */
	uint32_t cmd;
	uint64_t intr;		/* its INTERRUPT's id (0: none yet) */
	uint64_t names;		/* INTERRUPT: the call */
	int signalled;
};

/* A request the daemon must read next. */
struct expect {
	uint16_t op;
	struct client *c;
	uint64_t names;		/* INTERRUPT: the call */
	uint64_t id;		/* a re-sent INTERRUPT: its id */
	uint64_t fh;		/* RELEASE, FLUSH: the file */
	int optional;		/* may not come (an OPEN the VFS may retry) */
};

struct fhstate {
	int seen, alive, opened;
	uint32_t mask;
	struct client *c;	/* holder of its fd (NULL: none, or closing) */
};

struct dev {
	const char *name;
	char path[32];
	int chan;
	uint32_t flags;
	uint64_t features;
	struct client cli[NCLI];
	struct pcall pend[MAXPEND];
	int npend;
	struct expect exp[MAXPEND];
	int nexp;
	uint64_t max_id;	/* last id issued */
	uint64_t max_fh;	/* last fh issued */
	int id_slack, fh_slack;	/* ids/fhs that may have been issued unseen */
	struct fhstate *fh;
	size_t fhcap;
};

static struct dev devs[NDEV];
static unsigned char *rdbuf;		/* FUSD_MSG_MAX */
static unsigned char *wb, *wb_guard;	/* batch buffer, then a guard page */
static unsigned char *ioarg, *ioarg_guard, *ro_page;
static unsigned char *scratch, *scratch_guard;	/* daemon side of COPY_* */

static struct fhstate *fhs(struct dev *d, uint64_t fh)
{
	if (fh >= d->fhcap) {
		size_t cap = d->fhcap ? d->fhcap : 256;

		while (cap <= fh)
			cap *= 2;
		d->fh = realloc(d->fh, cap * sizeof(*d->fh));
		assert_non_null(d->fh);
		memset(d->fh + d->fhcap, 0, (cap - d->fhcap) * sizeof(*d->fh));
		d->fhcap = cap;
	}
	return &d->fh[fh];
}

static struct pcall *find_pend(struct dev *d, uint64_t id)
{
	int i;

	for (i = 0; i < d->npend; i++)
		if (d->pend[i].id == id)
			return &d->pend[i];
	return NULL;
}

static void drop_pend(struct dev *d, struct pcall *p)
{
	*p = d->pend[--d->npend];
}

static void add_expect(struct dev *d, uint16_t op, struct client *c,
		       uint64_t names, uint64_t id, uint64_t fh)
{
	struct expect *e;

	CHECK(d->nexp < MAXPEND, "too many expected requests");
	e = &d->exp[d->nexp++];
	e->op = op;
	e->c = c;
	e->names = names;
	e->id = id;
	e->fh = fh;
	e->optional = 0;
}

/* Expected requests that must come. */
static int must_come(const struct dev *d)
{
	int i, n = 0;

	for (i = 0; i < d->nexp; i++)
		n += !d->exp[i].optional;
	return n;
}

static void drop_expect_open(struct dev *d, struct client *c)
{
	int i;

	for (i = 0; i < d->nexp; i++)
		if (d->exp[i].op == FUSD_OP_OPEN && d->exp[i].c == c) {
			d->exp[i] = d->exp[--d->nexp];
			return;
		}
}

static void drop_expect_intr(struct dev *d, uint64_t names)
{
	int i;

	for (i = 0; i < d->nexp; i++)
		if (d->exp[i].op == FUSD_OP_INTERRUPT &&
		    d->exp[i].names == names) {
			d->exp[i] = d->exp[--d->nexp];
			return;
		}
}

/*
 * Is 'id' one the kernel may have issued?  1 yes, 0 no, -1 unsure: a
 * request expected but not read yet (a RELEASE after a FLUSH answered in
 * this write, an OPEN the VFS retries) may have taken its id already.
 */
static int issued(const struct dev *d, uint64_t id)
{
	if (id == 0)
		return 0;
	if (id <= d->max_id)
		return 1;
	return id - d->max_id <= (uint64_t)(d->id_slack + d->nexp) ? -1 : 0;
}

/* The same for file handles: a retried OPEN takes a new one. */
static int fh_issued(const struct dev *d, uint64_t fh)
{
	int i, slack = d->fh_slack;

	if (fh == 0)
		return 0;
	if (fh <= d->max_fh)
		return 1;
	for (i = 0; i < d->nexp; i++)
		slack += d->exp[i].op == FUSD_OP_OPEN;
	return fh - d->max_fh <= (uint64_t)slack ? -1 : 0;
}

/* ------------------------------------------------------------ clients */

static void *client_main(void *arg)
{
	struct client *c = arg;
	int64_t r;

	c->tid = (pid_t)syscall(SYS_gettid);
	sem_post(&c->fin);
	for (;;) {
		while (sem_wait(&c->go) && errno == EINTR)
			;
		errno = 0;
		switch (c->op) {
		case OP_OPEN:
			r = open(c->d->path, O_RDWR);
			break;
		case OP_READ:
			r = pread(c->fd, c->rbuf, c->len, c->off);
			break;
		case OP_WRITE:
			r = pwrite(c->fd, c->wbuf, c->len, c->off);
			break;
		case OP_SEEK:
			r = lseek(c->fd, c->off, c->whence);
			break;
		case OP_IOCTL:
			r = ioctl(c->fd, c->cmd, c->arg);
			break;
		case OP_FSYNC:
			r = fsync(c->fd);
			break;
		case OP_FDATASYNC:
			r = fdatasync(c->fd);
			break;
		case OP_CLOSE:
			r = close(c->fd);
			break;
		default:
			return NULL;
		}
		c->ret = r;
		c->err = r < 0 ? errno : 0;
		sem_post(&c->fin);
	}
}

static int wait_sem(sem_t *s, int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	while (sem_timedwait(s, &ts)) {
		if (errno != EINTR)
			return -1;
	}
	return 0;
}

static void wait_fin(struct client *c)
{
	CHECK(wait_sem(&c->fin, WAIT_MS) == 0,
	      "%s client %d: op %d did not finish", c->d->name, c->idx, c->op);
}

static void no_handler(int sig)
{
	(void)sig;
}

/* ------------------------------------------------------------ requests */

static uint16_t op_opcode(const struct dev *d, int op)
{
	switch (op) {
	case OP_OPEN: return FUSD_OP_OPEN;
	case OP_READ: return FUSD_OP_READ;
	case OP_WRITE: return FUSD_OP_WRITE;
	case OP_SEEK: return FUSD_OP_LLSEEK;
	case OP_IOCTL: return FUSD_OP_IOCTL;
	case OP_FSYNC:
	case OP_FDATASYNC: return FUSD_OP_FSYNC;
	case OP_CLOSE:
		return d->flags & FUSD_REGISTER_FLUSH ? FUSD_OP_FLUSH :
			FUSD_OP_RELEASE;
	}
	return 0;
}

/* Check one request against what the client asked for; it now waits. */
static void take(struct dev *d, const struct fusd_request *req,
		 const unsigned char *payload, size_t plen)
{
	struct expect *e = NULL;
	struct client *c;
	struct pcall *p;
	int i;

	for (i = 0; i < d->nexp; i++) {
		struct expect *x = &d->exp[i];

		if (x->op != req->hdr.opcode)
			continue;
		if (x->op == FUSD_OP_INTERRUPT ?
		    x->names == req->u.interrupt.id :
		    x->c->tid == (pid_t)req->pid) {
			e = x;
			break;
		}
	}
	if (!e)
		for (i = 0; i < d->nexp; i++)
			print_message("expected: op %u client %d names %llu\n",
				      d->exp[i].op, d->exp[i].c->idx,
				      (unsigned long long)d->exp[i].names);
	CHECK(e, "%s: unexpected request op %u id %llu pid %u", d->name,
	      req->hdr.opcode, (unsigned long long)req->hdr.id, req->pid);
	c = e->c;
	TRACE("%s: request op %u id %llu fh %llu from client %d\n", d->name,
	      req->hdr.opcode, (unsigned long long)req->hdr.id,
	      (unsigned long long)req->fh, c->idx);
	if (e->id) {
		CHECK(req->hdr.id == e->id, "re-sent INTERRUPT has id %llu, not %llu",
		      (unsigned long long)req->hdr.id,
		      (unsigned long long)e->id);
	} else {
		CHECK(req->hdr.id > d->max_id, "%s: id %llu not above %llu",
		      d->name, (unsigned long long)req->hdr.id,
		      (unsigned long long)d->max_id);
		d->max_id = req->hdr.id;
		d->id_slack = 0;
	}
	CHECK(req->hdr.hdr_size == sizeof(*req) &&
	      req->hdr.size == sizeof(*req) + plen,
	      "request header sizes %u/%u", req->hdr.hdr_size, req->hdr.size);
	CHECK(req->pid == (uint32_t)c->tid && req->tgid == (uint32_t)getpid(),
	      "request pid %u tgid %u, want %d %d", req->pid, req->tgid,
	      c->tid, getpid());
	CHECK(req->uid == 0 && req->gid == 0 && req->flags == 0,
	      "request uid %u gid %u flags %u", req->uid, req->gid, req->flags);

	CHECK(d->npend < MAXPEND, "too many pending calls");
	p = &d->pend[d->npend];
	memset(p, 0, sizeof(*p));
	p->id = req->hdr.id;
	p->op = req->hdr.opcode;
	p->fh = req->fh;
	p->c = c;

	switch (req->hdr.opcode) {
	case FUSD_OP_OPEN:
		/* Unique; not in order: opens take theirs before queueing. */
		CHECK(req->fh && !fhs(d, req->fh)->seen, "OPEN fh %llu reused",
		      (unsigned long long)req->fh);
		CHECK((req->f_flags & O_ACCMODE) == O_RDWR, "OPEN f_flags %#x",
		      req->f_flags);
		if (req->fh > d->max_fh)
			d->max_fh = req->fh;
		d->fh_slack = 0;
		fhs(d, req->fh)->seen = 1;
		fhs(d, req->fh)->alive = 1;
		fhs(d, req->fh)->mask = d->flags & FUSD_REGISTER_POLL ? 0 :
			POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;
		c->open_fh = req->fh;
		CHECK(plen == 0, "OPEN with payload");
		if (c->retry) {
			/* The VFS retried it: the call goes on. */
			c->retry = 0;
			c->decided = 0;
			c->want_alt_err = 0;
		}
		break;
	case FUSD_OP_INTERRUPT: {
		struct pcall *call = find_pend(d, req->u.interrupt.id);

		CHECK(call && req->fh == call->fh, "INTERRUPT names %llu fh %llu",
		      (unsigned long long)req->u.interrupt.id,
		      (unsigned long long)req->fh);
		CHECK(req->hdr.id > call->id, "INTERRUPT before its call");
		call->intr = req->hdr.id;
		p->names = call->id;
		p->fh = call->fh;
		break;
	}
	case FUSD_OP_RELEASE:
		CHECK(req->fh == e->fh, "RELEASE fh %llu, want %llu",
		      (unsigned long long)req->fh, (unsigned long long)e->fh);
		p->c = NULL;	/* nobody waits */
		break;
	default:
		CHECK(req->fh == c->fhs[c->slot], "op %u on fh %llu, want %llu",
		      req->hdr.opcode, (unsigned long long)req->fh,
		      (unsigned long long)c->fhs[c->slot]);
		break;
	}

	switch (req->hdr.opcode) {
	case FUSD_OP_READ:
		CHECK(req->u.rw.offset == c->off && req->u.rw.size == c->len &&
		      plen == 0, "READ fields: offset %lld size %llu payload "
		      "%zu, want offset %lld size %zu (buffer at page offset "
		      "%lu)", (long long)req->u.rw.offset,
		      (unsigned long long)req->u.rw.size, plen,
		      (long long)c->off, c->len,
		      (unsigned long)((uintptr_t)c->rbuf % pagesz));
		p->size = req->u.rw.size;
		break;
	case FUSD_OP_WRITE:
		CHECK(req->u.rw.offset == c->off && req->u.rw.size == c->len &&
		      plen == c->len && !memcmp(payload, c->wbuf, plen),
		      "WRITE fields or payload");
		p->size = req->u.rw.size;
		break;
	case FUSD_OP_LLSEEK:
		CHECK(req->u.seek.offset == c->off &&
		      req->u.seek.whence == (uint32_t)c->whence &&
		      req->u.seek.pos == c->pos[c->slot],
		      "LLSEEK fields %lld %u pos %lld, want %lld %d %lld",
		      (long long)req->u.seek.offset, req->u.seek.whence,
		      (long long)req->u.seek.pos, (long long)c->off, c->whence,
		      (long long)c->pos[c->slot]);
		break;
	case FUSD_OP_IOCTL: {
		size_t sz = _IOC_DIR(c->cmd) == _IOC_NONE ? 0 : _IOC_SIZE(c->cmd);
		size_t in = _IOC_DIR(c->cmd) & _IOC_WRITE ? sz : 0;

		CHECK(req->u.ioctl.cmd == c->cmd && req->u.ioctl.arg == c->arg &&
		      req->u.ioctl.size == sz && plen == in &&
		      !memcmp(payload, c->region, in), "IOCTL fields or payload");
		p->size = sz;
		p->cmd = c->cmd;
		break;
	}
	case FUSD_OP_FSYNC:
		CHECK(req->u.fsync.datasync == (c->op == OP_FDATASYNC) &&
		      plen == 0, "FSYNC fields");
		break;
	}
	d->npend++;
	*e = d->exp[--d->nexp];
}

/* Walk one read()'s worth of requests. */
static void take_all(struct dev *d, size_t n)
{
	size_t off = 0;

	while (off < n) {
		struct fusd_request req;

		CHECK(n - off >= sizeof(req), "read() split a request");
		memcpy(&req, rdbuf + off, sizeof(req));
		CHECK(req.hdr.size >= sizeof(req) && req.hdr.size <= n - off,
		      "request size %u", req.hdr.size);
		take(d, &req, rdbuf + off + sizeof(req),
		     req.hdr.size - sizeof(req));
		off += req.hdr.size;
	}
}

/*
 * Read until every expected request came, then check nothing else did.
 * The first read uses a buffer of 'small' bytes if that is not 0.
 */
static void collect_small(struct dev *d, size_t small)
{
	int64_t end = itest_now_ms() + WAIT_MS;

	for (;;) {
		size_t cap = small ? small : FUSD_MSG_MAX;
		ssize_t n;

		small = 0;
		n = read(d->chan, rdbuf, cap);
		if (n > 0) {
			CHECK((size_t)n <= cap, "read more than asked");
			take_all(d, (size_t)n);
			continue;
		}
		CHECK(n < 0, "read() returned 0");
		if (errno == EINVAL && cap < FUSD_MSG_MAX) {
			/* Too small for the next request: it stays. */
			n = read(d->chan, rdbuf, FUSD_MSG_MAX);
			CHECK(n > 0, "request lost after EINVAL (%s)",
			      strerror(errno));
			CHECK(((struct fusd_msg_header *)rdbuf)->size > cap,
			      "EINVAL from read() though %u bytes fit in %zu",
			      ((struct fusd_msg_header *)rdbuf)->size, cap);
			take_all(d, (size_t)n);
			continue;
		}
		CHECK(errno == EAGAIN, "read(): %s", strerror(errno));
		if (!must_come(d))
			return;
		CHECK(itest_now_ms() < end, "%s: %d expected requests missing "
		      "(first op %u)", d->name, d->nexp, d->exp[0].op);
		{
			struct pollfd pfd = { .fd = d->chan, .events = POLLIN };

			poll(&pfd, 1, 100);
		}
	}
}

/* The same, sometimes with a small first buffer.  (Random numbers are
 * never drawn in loops that depend on timing: a seed replays exactly.)
 */
static void collect(struct dev *d)
{
	collect_small(d, pct(5) ? 1 + below(200) : 0);
}

/* ------------------------------------------------------------ client ops */

static void ioctl_fill(struct client *c)
{
	fill_random(c->region, 4096);
	memcpy(c->shadow, c->region, REGION);
	c->shadow_unsure = 0;
}

static unsigned int client_ioctl_cmd(void)
{
	/* Types the VFS keeps for itself: 'T' (FIO*), 'X', 'f', 0x94,
	 * 0x15 and 0 (FIGETBSZ).
	 */
	static const uint64_t sizes[] = { 0, 1, 4, 8, 16, 24, 100, 256, 767,
					   4096, 16383 };
	unsigned int type, nr = (unsigned int)below(256), dir, size;

	do {
		type = (unsigned int)below(256);
	} while (type == 'T' || type == 'X' || type == 'f' || type == 0x94 ||
		 type == 0x15 || type == 0);
	if (pct(10))
		type = FUSD_IOC_MAGIC;
	dir = (unsigned int)below(4);
	size = (unsigned int)(pct(70) ? PICK(sizes) : below(_IOC_SIZEMASK + 1));
	if (dir == _IOC_NONE)
		size = 0;
	return _IOC(dir, type, nr, size);
}

static void client_done(struct client *c);

/*
 * Close c's file 'slot'.  With FLUSH the close waits for its answer;
 * without, close() returns 0 at once and the RELEASE follows.
 */
static void begin_close(struct client *c, int slot)
{
	struct dev *d = c->d;

	c->slot = slot;
	c->fd = c->fds[slot];
	c->op = OP_CLOSE;
	c->busy = 1;
	c->decided = 0;
	c->retry = 0;
	c->want_alt_err = 0;
	fhs(d, c->fhs[slot])->c = NULL;	/* no more polls on it */
	if (d->flags & FUSD_REGISTER_FLUSH) {
		add_expect(d, FUSD_OP_FLUSH, c, 0, 0, c->fhs[slot]);
		sem_post(&c->go);
		return;
	}
	c->want_ret = 0;
	sem_post(&c->go);
	client_done(c);
}

/* Give client c its next system call; its request is then collected. */
static void start_op(struct client *c)
{
	struct dev *d = c->d;
	int r = (int)below(100);

	c->busy = 1;
	c->decided = 0;
	c->retry = 0;
	c->want_alt_err = 0;
	if (!c->nfd || (c->nfd < MAXFD && r < 10)) {
		c->op = OP_OPEN;
		c->attempt = 0;
	} else {
		c->slot = (int)below((uint64_t)c->nfd);
		c->fd = c->fds[c->slot];
		c->op = r < 28 ? OP_READ : r < 46 ? OP_WRITE : r < 56 ? OP_SEEK :
			r < 78 ? OP_IOCTL : r < 83 ? OP_FSYNC :
			r < 86 ? OP_FDATASYNC : OP_CLOSE;
	}
	switch (c->op) {
	case OP_READ:
		c->len = 1 + below(pct(80) ? 64 : RMAX);
		c->off = (int64_t)below(pct(80) ? 4096 : 1ULL << 40);
		break;
	case OP_WRITE:
		c->len = 1 + below(WMAX);
		c->off = (int64_t)below(pct(80) ? 4096 : 1ULL << 40);
		fill_random(c->wbuf, c->len);
		break;
	case OP_SEEK:
		c->whence = (int)below(5);
		c->off = pct(50) ? (int64_t)below(100000) : (int64_t)rnd();
		break;
	case OP_IOCTL:
		c->cmd = client_ioctl_cmd();
		c->arg = _IOC_DIR(c->cmd) == _IOC_NONE ?
			(unsigned long)rnd() : (unsigned long)c->region;
		ioctl_fill(c);
		break;
	case OP_CLOSE:
		begin_close(c, c->slot);
		if (!c->busy) {
			collect(d);	/* its RELEASE */
			start_op(c);
		}
		return;
	}
	add_expect(d, op_opcode(d, c->op), c, 0, 0, 0);
	sem_post(&c->go);
}

/* The client's call ended: check what it got, then give it the next. */
static void client_done(struct client *c)
{
	struct dev *d = c->d;

	wait_fin(c);
	TRACE("%s: client %d op %d -> %lld errno %d\n", d->name, c->idx, c->op,
	      (long long)c->ret, c->err);
	c->busy = 0;
	if (c->want_ret == -2) {
		CHECK(c->ret >= 0, "%s client %d: open failed: %s", d->name,
		      c->idx, strerror(c->err));
	} else if (c->want_ret < 0) {
		CHECK(c->ret == -1 && (c->err == c->want_err ||
				       (c->want_alt_err &&
					c->err == c->want_alt_err)),
		      "%s client %d op %d: got %lld (%s), want errno %d (%s)",
		      d->name, c->idx, c->op, (long long)c->ret,
		      strerror(c->err), c->want_err, strerror(c->want_err));
	} else {
		CHECK(c->ret == c->want_ret,
		      "%s client %d op %d: got %lld (%s), want %lld", d->name,
		      c->idx, c->op, (long long)c->ret,
		      c->ret < 0 ? strerror(c->err) : "", (long long)c->want_ret);
	}
	switch (c->op) {
	case OP_OPEN:
		if (c->ret >= 0) {
			struct fhstate *f = fhs(d, c->open_fh);

			c->fds[c->nfd] = (int)c->ret;
			c->fhs[c->nfd] = c->open_fh;
			c->pos[c->nfd] = 0;
			f->c = c;
			c->nfd++;
		}
		break;
	case OP_READ:
		if (c->ret > 0)
			CHECK(!memcmp(c->rbuf, c->want_data, (size_t)c->ret),
			      "read() data differ from the reply's");
		break;
	case OP_SEEK:
		if (c->ret >= 0)
			c->pos[c->slot] = c->ret;
		break;
	case OP_IOCTL:
		if (!c->shadow_unsure)
			CHECK(!memcmp(c->region, c->shadow, REGION),
			      "ioctl memory differs from what was copied");
		else if (c->ret >= 0)
			CHECK(!memcmp(c->region, c->shadow, c->want_len),
			      "ioctl data differ from the reply's");
		break;
	case OP_CLOSE: {
		uint64_t fh = c->fhs[c->slot];

		c->nfd--;
		c->fds[c->slot] = c->fds[c->nfd];
		c->fhs[c->slot] = c->fhs[c->nfd];
		c->pos[c->slot] = c->pos[c->nfd];
		fhs(d, fh)->alive = 0;
		fhs(d, fh)->opened = 0;
		if (!(d->flags & FUSD_REGISTER_FLUSH))
			add_expect(d, FUSD_OP_RELEASE, c, 0, 0, fh);
		break;
	}
	}
	if (c->op == OP_OPEN && c->ret >= 0)
		fhs(d, c->open_fh)->opened = 1;
}

/*
 * An OPEN answered -ECHILD or -ESTALE: the VFS may retry the open (a new
 * OPEN, taken by collect()), or the open fails.  Wait for either.
 */
static void open_retry_or_done(struct client *c)
{
	struct dev *d = c->d;
	int64_t end = itest_now_ms() + WAIT_MS;

	while (c->retry) {
		if (sem_trywait(&c->fin) == 0) {
			sem_post(&c->fin);
			drop_expect_open(d, c);
			/* A retry withdrawn by a signal took an id and an
			 * fh the daemon never saw.
			 */
			d->id_slack = 1;
			d->fh_slack = 1;
			client_done(c);
			return;
		}
		CHECK(itest_now_ms() < end, "OPEN retry: nothing happened");
		collect_small(d, 0);
		usleep(1000);
	}
}

/* ------------------------------------------------------------ deciding */

static void set_mask(struct dev *d, uint64_t fh, uint32_t mask)
{
	if (fh < d->fhcap && d->fh[fh].alive)
		d->fh[fh].mask = mask;
}

/* What the caller of 'p' gets for a reply the kernel accepted. */
static void answer(struct dev *d, struct pcall *p, const struct fusd_reply *rep,
		   const unsigned char *data, size_t len)
{
	struct client *c = p->c;
	int64_t res = rep->result;

	if (rep->flags & FUSD_REPLY_POLL)
		set_mask(d, p->fh, rep->poll_mask);
	if (!c)
		return;
	c->want_ret = res < 0 ? -1 : res;
	c->want_err = res < 0 ? (int)-res : 0;
	c->decided = 1;
	switch (p->op) {
	case FUSD_OP_OPEN:
		if (res == 0) {
			c->want_ret = -2;
		} else if ((res == -ECHILD && c->attempt == 0) ||
			   (res == -ESTALE && c->attempt < 2)) {
			c->attempt = res == -ECHILD ? 1 : 2;
			c->retry = 1;
			if (p->signalled)
				c->want_alt_err = EINTR;
			add_expect(d, FUSD_OP_OPEN, c, 0, 0, 0);
			d->exp[d->nexp - 1].optional = 1;
		}
		if (res)
			fhs(d, p->fh)->alive = 0;
		break;
	case FUSD_OP_READ:
		if (res >= 0)
			memcpy(c->want_data, data, len);
		break;
	case FUSD_OP_IOCTL:
		if (res >= 0 && len)
			memcpy(c->shadow, data, len);
		c->want_len = len;
		break;
	case FUSD_OP_FLUSH:
		/* The close goes on: its RELEASE follows. */
		add_expect(d, FUSD_OP_RELEASE, c, 0, 0, p->fh);
		break;
	}
}

/* The call is over (answered, or refused: EIO); its INTERRUPT too. */
static void decide(struct dev *d, struct pcall *p, int eio,
		   const struct fusd_reply *rep, const unsigned char *data,
		   size_t len)
{
	struct pcall copy = *p;
	struct pcall *ip;

	drop_pend(d, p);
	if (copy.intr) {
		ip = find_pend(d, copy.intr);
		if (ip)
			drop_pend(d, ip);
		drop_expect_intr(d, copy.id);
	}
	if (!eio) {
		n_answered++;
		answer(d, &copy, rep, data, len);
		return;
	}
	n_eio += copy.c != NULL;
	if (!copy.c)
		return;
	copy.c->want_ret = -1;
	copy.c->want_err = EIO;
	copy.c->decided = 1;
	if (copy.op == FUSD_OP_OPEN)
		fhs(d, copy.fh)->alive = 0;
	if (copy.op == FUSD_OP_FLUSH)
		add_expect(d, FUSD_OP_RELEASE, copy.c, 0, 0, copy.fh);
}

/* Does this reply fit the request (the contract's list of malformed)? */
static int reply_fits(const struct dev *d, const struct pcall *p,
		      const struct fusd_reply *rep, size_t len)
{
	int64_t res = rep->result;
	unsigned int dir = _IOC_DIR(p->cmd);

	if (rep->flags & ~FUSD_REPLY_FLAGS_ALL || rep->reserved)
		return 0;
	if (rep->flags & FUSD_REPLY_COOKIE) {
		if (!(d->features & FUSD_FEATURE_RECOVERY) ||
		    p->op == FUSD_OP_INTERRUPT)
			return 0;
	} else if (rep->cookie) {
		return 0;
	}
	if (rep->flags & FUSD_REPLY_POLL) {
		if (!(d->features & FUSD_FEATURE_REPLY_POLL) ||
		    rep->poll_mask & ~(uint32_t)POLL_BITS ||
		    p->op == FUSD_OP_INTERRUPT)
			return 0;
	} else if (rep->poll_mask) {
		return 0;
	}
	if (res < -FUSD_ERRNO_MAX || (res < 0 && len))
		return 0;
	if (rep->flags & FUSD_REPLY_SET_OFFSET &&
	    (rep->offset < 0 ||
	     (p->op != FUSD_OP_READ && p->op != FUSD_OP_WRITE)))
		return 0;
	switch (p->op) {
	case FUSD_OP_OPEN:
	case FUSD_OP_RELEASE:
	case FUSD_OP_FLUSH:
	case FUSD_OP_FSYNC:
	case FUSD_OP_INTERRUPT:
		return res <= 0 && !len;
	case FUSD_OP_READ:
		return res < 0 || ((uint64_t)res == len && len <= p->size);
	case FUSD_OP_WRITE:
		return !len && res <= (int64_t)p->size;
	case FUSD_OP_LLSEEK:
		return !len;
	case FUSD_OP_IOCTL:
		if (res > INT_MAX)
			return 0;
		return dir & _IOC_READ ? len <= p->size : !len;
	}
	return 0;
}

static int zero(const unsigned char *p, size_t n)
{
	while (n--)
		if (*p++)
			return 0;
	return 1;
}

/*
 * The model's verdict on the message at 'm' with 'avail' bytes left in
 * the write: its size if the kernel must consume it, -1 if it must refuse
 * it.  'stop' says the kernel did stop here (used only where the model
 * cannot know: ids issued without the daemon seeing them).  Effects on
 * calls and files are applied.
 */
static long judge(struct dev *d, const unsigned char *m, size_t avail,
		  int stop)
{
	struct fusd_msg_header h;
	struct fusd_reply rep;
	struct pcall *p;
	int hv, ok, is;
	size_t len;

	if (avail < sizeof(h))
		return -1;
	memset(&rep, 0, sizeof(rep));
	memcpy(&h, m, sizeof(h));
	if (h.opcode == FUSD_OP_NOTIFY_POLL) {
		struct fusd_notify_poll np;

		if (h.hdr_size < NSIZE || h.size < h.hdr_size ||
		    h.size > avail || !zero(m + NSIZE, h.hdr_size - NSIZE))
			return -1;
		memcpy(&np, m, NSIZE);
		if (h.size != h.hdr_size || h.id || np.reserved0 ||
		    np.reserved[0] || np.reserved[1] ||
		    np.mask & ~(uint32_t)POLL_BITS)
			return -1;
		is = fh_issued(d, np.fh);
		if (is < 0)
			is = !stop;
		if (!is)
			return -1;
		set_mask(d, np.fh, np.mask);
		return h.size;
	}
	hv = h.opcode == FUSD_OP_REPLY && h.hdr_size >= RSIZE &&
	     h.size >= h.hdr_size && h.size <= avail &&
	     zero(m + RSIZE, h.hdr_size - RSIZE) &&
	     h.size - h.hdr_size <= FUSD_IO_MAX;
	p = find_pend(d, h.id);
	if (!p) {
		is = issued(d, h.id);
		if (is < 0)
			is = !stop;
		if (hv && is) {
			n_late++;
			return h.size;
		}
		return -1;
	}
	len = hv ? h.size - h.hdr_size : 0;
	if (hv)
		memcpy(&rep, m, RSIZE);
	ok = hv && reply_fits(d, p, &rep, len);
	if (p->op == FUSD_OP_INTERRUPT) {
		struct pcall *call = find_pend(d, p->names);
		uint64_t id = p->id, names = p->names;

		drop_pend(d, p);
		if (ok && rep.result == -EAGAIN && call)
			add_expect(d, FUSD_OP_INTERRUPT, call->c, names, id, 0);
		return ok ? (long)h.size : -1;
	}
	decide(d, p, !ok, &rep, m + h.hdr_size, len);
	return ok ? (long)h.size : -1;
}

/*
 * Write buf[0, len) to the channel as a daemon would: after a refused
 * message, go on with the next message the generator made ('bounds').
 * Every write's result must be what the model predicts.
 */
static void submit(struct dev *d, const unsigned char *buf, size_t len,
		   const size_t *bounds, int nb)
{
	size_t off = 0;

	last_buf = buf;
	last_len = len;
	while (off < len) {
		ssize_t n = write(d->chan, buf + off, len - off);
		int err = errno;
		size_t pos = off, kstop = n < 0 ? off : off + (size_t)n;
		int refused = 0, i;

		CHECK(n != 0, "write() returned 0");
		CHECK(n > 0 || err == EINVAL, "write(): %s", strerror(err));
		while (pos < len) {
			long v;

			n_msgs++;
			v = judge(d, buf + pos, len - pos, pos == kstop);
			if (trace) {
				struct fusd_msg_header h;

				memset(&h, 0, sizeof(h));
				memcpy(&h, buf + pos, len - pos < sizeof(h) ?
				       len - pos : sizeof(h));
				print_message("%s: msg @%zu op %#x id %llu size %u/%u"
					      " -> %ld\n", d->name, pos, h.opcode,
					      (unsigned long long)h.id, h.size,
					      h.hdr_size, v);
			}
			if (v < 0) {
				refused = 1;
				break;
			}
			pos += (size_t)v;
		}
		if (!refused) {
			CHECK(n == (ssize_t)(len - off),
			      "write() = %zd, the model consumes all %zu bytes "
			      "from offset %zu", n, len - off, off);
			return;
		}
		n_refused++;
		if (pos == off) {
			CHECK(n == -1, "write() = %zd, the model refuses the "
			      "message at offset %zu", n, off);
			n_errs++;
		} else {
			CHECK(n == (ssize_t)(pos - off),
			      "write() = %zd, the model consumes %zu bytes "
			      "from offset %zu, then refuses", n, pos - off,
			      off);
		}
		for (i = 0; i < nb && bounds[i] <= pos; i++)
			;
		off = i < nb ? bounds[i] : len;
	}
}

/* ------------------------------------------------------------ messages */

static void put_reply(unsigned char *out, const struct fusd_reply *rep)
{
	memcpy(out, rep, RSIZE);
}

static struct pcall *rnd_pend(struct dev *d)
{
	return d->npend ? &d->pend[below((uint64_t)d->npend)] : NULL;
}

/* An id of some class: pending, late, never issued, edge values. */
static uint64_t rnd_id(struct dev *d)
{
	struct pcall *p;

	switch (below(8)) {
	case 0:
		return 0;
	case 1:
		p = rnd_pend(d);
		return p ? p->id : 1;
	case 2:
		return 1 + below(d->max_id);
	case 3:
		return d->max_id;
	case 4:
		return d->max_id + 1 + below(3);
	case 5:
		return d->max_id + 1000 + below(1ULL << 32);
	case 6:
		return UINT64_MAX;
	}
	return rnd();
}

/* A valid reply to p; returns its length. */
static size_t valid_reply(struct dev *d, const struct pcall *p,
			  unsigned char *out)
{
	struct fusd_reply rep;
	size_t hs = RSIZE, len = 0;
	int64_t res = 0;

	memset(&rep, 0, sizeof(rep));
	switch (p->op) {
	case FUSD_OP_OPEN:
	case FUSD_OP_RELEASE:
	case FUSD_OP_FLUSH:
	case FUSD_OP_FSYNC:
		res = pct(70) ? 0 : rnd_errno();
		break;
	case FUSD_OP_INTERRUPT:
		res = pct(40) ? -EAGAIN : pct(50) ? 0 : rnd_errno();
		break;
	case FUSD_OP_READ:
		if (pct(15)) {
			res = rnd_errno();
		} else {
			len = pct(50) ? p->size : below(p->size + 1);
			res = (int64_t)len;
		}
		break;
	case FUSD_OP_WRITE:
		res = pct(15) ? rnd_errno() :
			pct(60) ? (int64_t)p->size : (int64_t)below(p->size + 1);
		break;
	case FUSD_OP_LLSEEK:
		res = pct(15) ? rnd_errno() : pct(80) ?
			(int64_t)below(1 << 20) : (int64_t)(rnd() >> 1);
		break;
	case FUSD_OP_IOCTL:
		res = pct(20) ? rnd_errno() : pct(70) ? 0 :
			(int64_t)below((uint64_t)INT_MAX + 1);
		if (res >= 0 && _IOC_DIR(p->cmd) & _IOC_READ)
			len = pct(50) ? p->size : below(p->size + 1);
		break;
	}
	if ((p->op == FUSD_OP_READ || p->op == FUSD_OP_WRITE) && pct(20)) {
		rep.flags |= FUSD_REPLY_SET_OFFSET;
		rep.offset = (int64_t)(rnd() >> (1 + below(63)));
	}
	if (d->features & FUSD_FEATURE_REPLY_POLL &&
	    p->op != FUSD_OP_INTERRUPT && pct(30)) {
		rep.flags |= FUSD_REPLY_POLL;
		rep.poll_mask = (uint32_t)rnd() & POLL_BITS;
	}
	if (pct(15))
		hs += 1 + below(64);
	rep.hdr.size = (uint32_t)(hs + len);
	rep.hdr.hdr_size = (uint16_t)hs;
	rep.hdr.opcode = FUSD_OP_REPLY;
	rep.hdr.id = p->id;
	rep.result = res;
	memset(out, 0, hs);
	put_reply(out, &rep);
	fill_random(out + hs, len);
	return hs + len;
}

/* A reply with a valid header and random content, to any id. */
static size_t any_reply(uint64_t id, unsigned char *out)
{
	struct fusd_reply rep;
	size_t len = pct(70) ? 0 : below(64);

	memset(&rep, 0, sizeof(rep));
	rep.hdr.size = (uint32_t)(RSIZE + len);
	rep.hdr.hdr_size = RSIZE;
	rep.hdr.opcode = FUSD_OP_REPLY;
	rep.hdr.id = id;
	rep.result = pct(50) ? 0 : (int64_t)rnd();
	if (pct(20))
		rep.flags = (uint32_t)rnd();
	if (pct(20)) {
		if (pct(50))
			rep.cookie = rnd();
		else
			rep.reserved = rnd();
	}
	put_reply(out, &rep);
	fill_random(out + RSIZE, len);
	return RSIZE + len;
}

/*
 * A valid reply (to a pending call if 'pending', else to an id of any
 * class) with 1..3 mutations.
 */
static size_t mutated_reply(struct dev *d, unsigned char *out, int pending)
{
	static const uint64_t sizes[] = { 0, 1, 15, 16, 55, 56, 57, 63, 64,
					  100, 4096, 0x7fffffff, 0x80000000,
					  0xffffffff };
	static const uint64_t hsizes[] = { 0, 1, 15, 16, 47, 48, 55, 56, 57,
					   64, 120, 4096, 0xffff };
	static const uint64_t ops[] = { 0, FUSD_OP_OPEN, FUSD_OP_READ,
					FUSD_OP_INTERRUPT, 12, 0xff,
					FUSD_OP_REPLY - 1, FUSD_OP_REPLY + 2,
					0xffff };
	static const uint64_t results[] = {
		-(uint64_t)FUSD_ERRNO_MAX - 1, -(uint64_t)FUSD_ERRNO_MAX,
		(uint64_t)INT_MAX + 1, INT_MAX, (uint64_t)INT64_MIN,
		INT64_MAX, (uint64_t)-1, 0, 1, (uint64_t)-512,
		(uint64_t)-EAGAIN, (uint64_t)-EINTR };
	struct pcall *p = rnd_pend(d);
	struct fusd_reply rep;
	size_t n, hs, k, muts = 1 + below(3);

	if (p && pending) {
		n = valid_reply(d, p, out);
	} else {
		n = any_reply(rnd_id(d), out);
	}
	memcpy(&rep, out, RSIZE);
	hs = rep.hdr.hdr_size;
	for (k = 0; k < muts; k++) {
		switch (below(14)) {
		case 0: /* payload longer or shorter, sizes kept consistent */
			if (pct(50)) {
				size_t more = 1 + below(32);

				fill_random(out + n, more);
				n += more;
			} else if (n > hs) {
				n -= 1 + below(n - hs);
			}
			rep.hdr.size = (uint32_t)n;
			break;
		case 1:
			rep.hdr.size = (uint32_t)PICK(sizes);
			break;
		case 2:
			rep.hdr.size = (uint32_t)(n + (pct(50) ? 1 : below(200)));
			break;
		case 3:
			rep.hdr.hdr_size = (uint16_t)PICK(hsizes);
			break;
		case 4:
			rep.hdr.opcode = (uint16_t)(pct(50) ? PICK(ops) : rnd());
			break;
		case 5:
			rep.hdr.id = rnd_id(d);
			break;
		case 6:
			rep.result = (int64_t)(pct(50) ? PICK(results) : rnd());
			break;
		case 7:
			rep.flags = pct(50) ? 1U << below(32) : (uint32_t)rnd();
			break;
		case 8:
			rep.poll_mask = pct(50) ? 1U << below(32) :
				(uint32_t)rnd();
			break;
		case 9:
			if (pct(50))
				rep.cookie = pct(50) ? 1ULL << below(64) :
					rnd();
			else
				rep.reserved = pct(50) ? 1ULL << below(64) :
					rnd();
			break;
		case 10:
			rep.offset = (int64_t)rnd();
			if (pct(50))
				rep.flags |= FUSD_REPLY_SET_OFFSET;
			break;
		case 11: /* a longer header with a non-zero tail byte */
			if (hs == RSIZE) {
				size_t extra = 1 + below(32);

				memmove(out + RSIZE + extra, out + RSIZE,
					n - RSIZE);
				memset(out + RSIZE, 0, extra);
				n += extra;
				hs += extra;
				rep.hdr.hdr_size = (uint16_t)hs;
				rep.hdr.size = (uint32_t)n;
			}
			out[RSIZE + below(hs - RSIZE)] = (unsigned char)(1 + below(255));
			break;
		case 12: /* bit flip anywhere */
			put_reply(out, &rep);
			out[below(n)] ^= (unsigned char)(1U << below(8));
			memcpy(&rep, out, RSIZE);
			break;
		default: /* random byte anywhere */
			put_reply(out, &rep);
			out[below(n)] = (unsigned char)rnd();
			memcpy(&rep, out, RSIZE);
			break;
		}
	}
	put_reply(out, &rep);
	return n;
}

/* A poll notification, valid or not. */
static size_t notify_msg(struct dev *d, unsigned char *out)
{
	struct fusd_notify_poll np;
	size_t hs = NSIZE, n, tail_at = 0;

	memset(&np, 0, sizeof(np));
	np.fh = pct(80) ? 1 + below(d->max_fh + 1) :
		pct(50) ? 0 : d->max_fh + 1 + below(1000);
	np.mask = (uint32_t)rnd() & POLL_BITS;
	if (pct(20))
		hs += 1 + below(32);
	if (pct(40)) {
		switch (below(7)) {
		case 0:
			np.mask |= 1U << below(32);
			break;
		case 1:
			np.reserved0 = 1U << below(32);
			break;
		case 2:
			np.reserved[below(2)] = rnd();
			break;
		case 3:
			np.hdr.id = rnd_id(d);
			break;
		case 4: /* shorter than 1.0's header, or longer */
			hs = sizeof(np.hdr) + below(NSIZE - sizeof(np.hdr) + 8);
			break;
		case 5: /* a non-zero byte in the tail (or in reserved) */
			tail_at = hs;
			break;
		default:
			np.fh = rnd();
			break;
		}
	}
	np.hdr.size = (uint32_t)hs;
	np.hdr.hdr_size = (uint16_t)hs;
	np.hdr.opcode = FUSD_OP_NOTIFY_POLL;
	memset(out, 0, hs);
	memcpy(out, &np, hs < NSIZE ? hs : NSIZE);
	if (tail_at)
		out[tail_at - 1] = 1;
	n = hs;
	if (pct(10)) {	/* a payload, which notifications never have */
		size_t extra = 1 + below(16);

		np.hdr.size += (uint32_t)extra;
		memcpy(out, &np.hdr, sizeof(np.hdr));
		fill_random(out + hs, extra);
		n += extra;
	}
	return n;
}

static size_t garbage(unsigned char *out)
{
	size_t n = 1 + below(120);

	fill_random(out, n);
	if (pct(50)) {
		struct fusd_msg_header h;

		h.size = (uint32_t)(pct(50) ? n : below(256));
		h.hdr_size = (uint16_t)below(128);
		h.opcode = (uint16_t)(pct(50) ? below(16) : rnd());
		h.id = rnd();
		if (n >= sizeof(h))
			memcpy(out, &h, sizeof(h));
	}
	return n;
}

/* One message of any kind; returns its length. */
/*
 * One message of any kind; returns its length.  About one in five names a
 * waiting call, most of those garbled (a call answered or failed costs two
 * thread switches; the rest are cheap).
 */
static size_t any_message(struct dev *d, unsigned char *out)
{
	struct pcall *p;
	unsigned int r = (unsigned int)below(100);

	if (r < 7 && (p = rnd_pend(d)))
		return valid_reply(d, p, out);
	if (r < 20)
		return mutated_reply(d, out, 1);
	if (r < 35)
		return mutated_reply(d, out, 0);
	if (r < 50)
		return notify_msg(d, out);
	if (r < 75 && d->max_id)
		return any_reply(1 + below(d->max_id), out);
	return garbage(out);
}

/* Several messages in one write, sometimes with a truncated last one. */
static void fuzz_write(struct dev *d)
{
	size_t bounds[BATCH + 2], len = 0;
	int nb = 0, i, k = 1 + (int)(pct(20) ? 0 : below(BATCH));

	for (i = 0; i < k; i++) {
		bounds[nb++] = len;
		len += any_message(d, wb + len);
	}
	if (pct(10)) {
		static unsigned char tmp[2 * 16384 + 4096];
		size_t n = pct(50) ? mutated_reply(d, tmp, pct(50)) :
			notify_msg(d, tmp);

		bounds[nb++] = len;
		n = n > 1 ? 1 + below(n - 1) : n;
		memcpy(wb + len, tmp, n);
		len += n;
	}
	submit(d, wb, len, bounds, nb);
}

/*
 * A write that faults: a valid reply whose header or payload runs into an
 * unmapped page, maybe after valid replies.  EFAULT (or the count before
 * it), and the call it names still waits.
 */
static void fuzz_efault(struct dev *d)
{
	size_t bounds[BATCH + 1], len = 0, cut, total;
	struct pcall *p = NULL;
	unsigned char *start;
	int i, nb = 0, k = (int)below(3);
	ssize_t n;

	for (i = 0; i < d->npend && !p; i++)
		if (d->pend[i].op == FUSD_OP_READ && d->pend[i].size >= 8)
			p = &d->pend[i];
	if (!p)
		return;
	/* Replies to other calls first; they must go through. */
	for (i = 0; i < k && d->npend > 1; i++) {
		struct pcall *q = rnd_pend(d);

		if (q == p || q->op == FUSD_OP_INTERRUPT)
			continue;
		bounds[nb++] = len;
		len += valid_reply(d, q, scratch + len);
	}
	{
		struct fusd_reply rep;

		memset(&rep, 0, sizeof(rep));
		rep.hdr.size = (uint32_t)(RSIZE + p->size);
		rep.hdr.hdr_size = RSIZE;
		rep.hdr.opcode = FUSD_OP_REPLY;
		rep.hdr.id = p->id;
		rep.result = (int64_t)p->size;
		memcpy(scratch + len, &rep, RSIZE);
	}
	/* Readable: everything before it, and part of its header (less
	 * than 16 bytes) or all the header and part of the payload.
	 */
	cut = pct(30) ? below(16) : RSIZE + below(p->size);
	total = len + RSIZE + p->size;
	start = wb_guard - (len + cut);
	memcpy(start, scratch, len + cut);
	last_buf = start;
	last_len = len + cut;
	n = write(d->chan, start, total);
	for (i = 0; i < nb; i++) {
		long v = judge(d, start + bounds[i], total - bounds[i], 0);

		CHECK(v > 0, "model refuses a valid reply");
		n_msgs++;
	}
	n_msgs++;
	if (len) {
		CHECK(n == (ssize_t)len, "faulting write() = %zd (%s), want %zu",
		      n, strerror(errno), len);
	} else {
		CHECK(n == -1 && errno == EFAULT,
		      "faulting write() = %zd (%s), want EFAULT", n,
		      strerror(errno));
		n_errs++;
	}
	/* From nowhere at all. */
	n = write(d->chan, wb_guard, RSIZE);
	CHECK(n == -1 && errno == EFAULT, "write from a guard page: %zd", n);
	n_errs++;
	n_msgs++;
}

/* ------------------------------------------------------------ ioctls */

/* The struct each channel ioctl takes, at its current size. */
static size_t ioc_base(unsigned int nr)
{
	switch (nr) {
	case FUSD_IOC_NR_REGISTER: return sizeof(struct fusd_register);
	case FUSD_IOC_NR_VERSION: return sizeof(struct fusd_version);
	case FUSD_IOC_NR_SET_BATCH: return sizeof(uint32_t);
	case FUSD_IOC_NR_COPY_FROM_CALLER:
	case FUSD_IOC_NR_COPY_TO_CALLER: return sizeof(struct fusd_copy);
	case FUSD_IOC_NR_EXCHANGE: return sizeof(struct fusd_exchange);
	case FUSD_IOC_NR_SET_IO_MAX: return sizeof(uint32_t);
	}
	return 0;
}

/* The 1.0 size and direction: smaller or other directions are ENOTTY. */
static size_t ioc_min(unsigned int nr, unsigned int *dir)
{
	switch (nr) {
	case FUSD_IOC_NR_REGISTER:
		*dir = _IOC_READ | _IOC_WRITE;
		return FUSD_REGISTER_SIZE_V1_0;
	case FUSD_IOC_NR_VERSION:
		*dir = _IOC_READ;
		return FUSD_VERSION_SIZE_V1_0;
	case FUSD_IOC_NR_SET_BATCH:
		*dir = _IOC_WRITE;
		return sizeof(uint32_t);
	case FUSD_IOC_NR_COPY_FROM_CALLER:
	case FUSD_IOC_NR_COPY_TO_CALLER:
		*dir = _IOC_WRITE;
		return sizeof(struct fusd_copy);
	case FUSD_IOC_NR_EXCHANGE:
		*dir = _IOC_READ | _IOC_WRITE;
		return FUSD_EXCHANGE_SIZE_V1_2;
	case FUSD_IOC_NR_SET_IO_MAX:
		*dir = _IOC_READ | _IOC_WRITE;
		return sizeof(uint32_t);
	}
	return 0;
}

/* Fresh channels: REGISTER on them may create devices. */
struct fresh {
	int fd;
	int reg;
	uint64_t features;	/* granted at its REGISTER */
	char name[FUSD_NAME_MAX + 8];
	char devname[FUSD_NAME_MAX + 8];
};

static struct fresh fresh[NFRESH];

static int name_char_ok(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || strchr("-_.+:@", ch);
}

/* The documented name rule: components of [A-Za-z0-9-_.+:@] split by
 * single 'sep', none empty, "." or "..", the first not "fusd".
 */
static int name_ok(const char *s, char sep)
{
	const char *comp = s, *q;

	for (q = s; ; q++) {
		if (*q == sep || *q == '\0') {
			size_t n = (size_t)(q - comp);

			if (!n || (n == 1 && comp[0] == '.') ||
			    (n == 2 && comp[0] == '.' && comp[1] == '.'))
				return 0;
			if (comp == s && n == 4 && !strncmp(s, "fusd", 4))
				return 0;
			if (!*q)
				return 1;
			comp = q + 1;
		} else if (!name_char_ok(*q)) {
			return 0;
		}
	}
}

static void gen_name(char *out, size_t cap)
{
	static const char *const bad[] = {
		"", ".", "..", "a/../b", "fz//x", "/fz", "fz/", "fusd",
		"fusd/x", "bad name", "tab\tx", "fz/./y", "fz!x", "fz\\y",
		"/dev/", "/dev//x", "\xc3\xa9t\xc3\xa9",
	};
	static const char *const odd[] = {
		"fuzz0", "fuzz1", "null", "shm/fz", "fz", "fz/a", "fz/a/b",
		"/dev/fz", "fusdx", ".x", "..x", "x.", "a+b:c@d_e-f.g",
	};
	size_t i, n;

	switch (below(6)) {
	case 0:
		snprintf(out, cap, "%s", bad[below(sizeof(bad) / sizeof(bad[0]))]);
		return;
	case 1:
		snprintf(out, cap, "%s", odd[below(sizeof(odd) / sizeof(odd[0]))]);
		return;
	case 2: /* as long as fits, or no NUL at all */
		memset(out, 'z', cap);
		if (pct(50))
			out[cap - 1] = '\0';
		return;
	case 3: /* another fresh device's name, as a parent or a child */
		i = below(NFRESH);
		if (fresh[i].reg) {
			if (pct(50))
				snprintf(out, cap, "%.100s/c", fresh[i].name);
			else
				snprintf(out, cap, "%s", fresh[i].name);
			return;
		}
		break;
	}
	n = snprintf(out, cap, "fz%u", (unsigned int)below(50));
	if (pct(40))
		snprintf(out + n, cap - n, "/%c%u", "ab.:+@-_"[below(8)],
			 (unsigned int)below(10));
}

static int live_name(const char *name, const char *devname)
{
	int i;

	for (i = 0; i < NDEV; i++)
		if (!strcmp(devs[i].name, name) || !strcmp(devs[i].name, devname))
			return 1;
	for (i = 0; i < NFRESH; i++)
		if (fresh[i].reg && (!strcmp(fresh[i].name, name) ||
				     !strcmp(fresh[i].devname, devname)))
			return 1;
	return 0;
}

/*
 * Is /dev/NAME free: absent, with only directories that are no mount
 * points on its way?  (Else REGISTER is EEXIST.)
 */
static int node_free(const char *name)
{
	char path[FUSD_NAME_MAX + 16];
	struct stat st, dev;
	char *q;

	if (stat("/dev", &dev))
		return 0;
	snprintf(path, sizeof(path), "/dev/%s", name);
	for (q = path + 5; (q = strchr(q, '/')); q++) {
		*q = '\0';
		if (!lstat(path, &st) && (!S_ISDIR(st.st_mode) ||
					   st.st_dev != dev.st_dev))
			return 0;
		*q = '/';
	}
	return lstat(path, &st) != 0;
}

/* Random content for a channel ioctl's struct. */
static void ioc_content(struct dev *d, unsigned int nr, size_t usize,
			unsigned char *arg, int fresh_chan)
{
	memset(arg, 0, IOARG);
	/* EXCHANGE and SET_IO_MAX always get contents the model can
	 * predict (random ones could send replies or change io_max).
	 */
	if (pct(10) && nr != FUSD_IOC_NR_EXCHANGE &&
	    nr != FUSD_IOC_NR_SET_IO_MAX) {
		fill_random(arg, usize);
		return;
	}
	switch (nr) {
	case FUSD_IOC_NR_REGISTER: {
		struct fusd_register r;
		static const uint64_t minors[] = { 0, 1, 2, 7, 0xffff };

		memset(&r, 0, sizeof(r));
		r.size = (uint32_t)usize;
		r.major = FUSD_PROTO_MAJOR;
		r.minor = (uint16_t)PICK(minors);
		r.mode = (uint32_t)below(01000);
		r.flags = (uint32_t)below(FUSD_REGISTER_FLAGS_ALL + 1);
		/* Never recoverable: a closed fresh channel's node must go
		 * at once, as the model expects (recovery: test_recovery).
		 */
		r.features = (pct(50) ? rnd() : FUSD_FEATURE_REPLY_POLL) &
			     ~FUSD_FEATURE_RECOVERY;
		gen_name(r.name, sizeof(r.name));
		if (pct(15))
			gen_name(r.devname, sizeof(r.devname));
		if (pct(30))
			fill_random(r.clazz, sizeof(r.clazz));
		if (pct(fresh_chan ? 25 : 50)) {
			switch (below(9)) {
			case 0: r.major = (uint16_t)rnd(); break;
			case 1: r.size = (uint32_t)rnd(); break;
			case 2: r.flags |= 1U << below(32); break;
			case 3: r.reserved0 = 1U << below(32); break;
			case 4:
				switch (below(3)) {
				case 0: r.grace_ms = (uint32_t)rnd(); break;
				case 1: r.resend = (uint32_t)rnd(); break;
				default: r.reserved = rnd(); break;
				}
				break;
			case 5: r.mode = (uint32_t)rnd(); break;
			case 6: memset(r.name, 'n', sizeof(r.name)); break;
			case 7: memset(r.devname, 'd', sizeof(r.devname)); break;
			default: r.dev_major = (uint32_t)rnd();
				r.io_max = (uint32_t)rnd();
				r.supported = rnd();
				break;
			}
		}
		memcpy(arg, &r, sizeof(r));
		break;
	}
	case FUSD_IOC_NR_SET_BATCH: {
		uint32_t v = (uint32_t)(pct(70) ? below(4) : rnd());

		memcpy(arg, &v, sizeof(v));
		break;
	}
	case FUSD_IOC_NR_SET_IO_MAX: {
		/* 0 (the default) or RMAX..FUSD_IO_MAX: a client's READ or
		 * WRITE (at most RMAX) and the largest reply payload
		 * (FUSD_IO_MAX) stay what the model expects.
		 */
		uint32_t v = (uint32_t)(pct(20) ? 0 : pct(20) ? FUSD_IO_MAX :
			     RMAX + below(FUSD_IO_MAX - RMAX + 1));

		memcpy(arg, &v, sizeof(v));
		break;
	}
	case FUSD_IOC_NR_EXCHANGE: {
		/* Never a reply, never a request: out_len 0, or fewer bytes
		 * than a message header (EINVAL), or a header's worth at an
		 * address that faults (EFAULT); in_len 0, except on a fresh
		 * channel (nothing is ever queued there: EAGAIN).
		 */
		struct fusd_exchange ex;

		memset(&ex, 0, sizeof(ex));
		switch (below(4)) {
		case 0:
		case 1:
			break;
		case 2:
			ex.out_len = 1 + below(sizeof(struct fusd_msg_header) - 1);
			ex.out_buf = pct(50) ? (uint64_t)(uintptr_t)wb : rnd();
			break;
		default:
			ex.out_len = sizeof(struct fusd_msg_header) + below(RSIZE);
			ex.out_buf = pct(50) ? 0 : 0xffff888000000000ULL;
			break;
		}
		if (fresh_chan && pct(40)) {
			ex.in_buf = (uint64_t)(uintptr_t)rdbuf;
			ex.in_len = 1 + below(FUSD_MSG_MAX);
		}
		ex.flags = pct(50) ? FUSD_EXCHANGE_NONBLOCK : 0;
		if (pct(8))
			ex.flags |= 1U << below(32);
		if (pct(5))
			ex.reserved0 = (uint32_t)rnd() | 1;
		if (pct(5))
			ex.reserved1 = (uint32_t)rnd() | 1;
		ex.timeout_ms = (uint32_t)(pct(50) ? 0 : 1 + below(50));
		if (pct(5))
			ex.in_len = (uint64_t)INT_MAX + 1 +
				    below((uint64_t)1 << 40);
		ex.out_done = rnd();
		memcpy(arg, &ex, sizeof(ex));
		break;
	}
	case FUSD_IOC_NR_COPY_FROM_CALLER:
	case FUSD_IOC_NR_COPY_TO_CALLER: {
		struct fusd_copy cp;
		struct pcall *p = NULL;
		int i, tries;

		for (tries = 0; d && tries < 4 && !p; tries++) {
			i = (int)below((uint64_t)d->npend + 1);
			if (i < d->npend && d->pend[i].op == FUSD_OP_IOCTL)
				p = &d->pend[i];
		}
		memset(&cp, 0, sizeof(cp));
		cp.id = p && pct(85) ? p->id : d ? rnd_id(d) : rnd();
		cp.len = pct(90) ? below(p && pct(50) ? 64 : REGION) :
			FUSD_IO_MAX + below(2);
		/* Inside a client's region, or from inside it into the guard
		 * page that follows it; never anywhere else in this process
		 * (a copy to the caller would write there).
		 */
		if (p && p->c && cp.len <= REGION)
			cp.caller_addr = (uint64_t)(uintptr_t)p->c->region +
				(pct(90) ? below(REGION - cp.len + 1) :
				 REGION - below(cp.len + 1));
		else if (p && p->c)
			cp.caller_addr = (uint64_t)(uintptr_t)p->c->region +
				below(REGION);
		else
			cp.caller_addr = pct(50) ? 0 : 0xffff888000000000ULL;
		cp.buf = (uint64_t)(uintptr_t)scratch;
		if (pct(5))
			cp.buf = (uint64_t)(uintptr_t)scratch_guard - below(64);
		else if (pct(3))
			cp.buf = pct(50) ? 0 : 0xffff888000000000ULL;
		memcpy(arg, &cp, sizeof(cp));
		break;
	}
	}
}

/* The results a call may have: 0 for success, else errno values. */
struct want {
	int n;
	int e[8];
};

static void allow(struct want *w, int e)
{
	int i;

	for (i = 0; i < w->n; i++)
		if (w->e[i] == e)
			return;
	w->e[w->n++] = e;
}

static int allowed(const struct want *w, int e)
{
	int i;

	for (i = 0; i < w->n; i++)
		if (w->e[i] == e)
			return 1;
	return 0;
}

static const char *want_str(const struct want *w)
{
	static char buf[160];
	size_t n = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < w->n && n < sizeof(buf) - 24; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s",
				      i ? " or " : "",
				      w->e[i] ? strerror(w->e[i]) : "success");
	return buf;
}

/*
 * What REGISTER with 'r' ('usize' bytes, zero tail) may return.  The
 * contract does not order its errors, so every one that applies is
 * allowed.  'name' and 'devname' get the names as the kernel takes them.
 */
static void reg_expect(const struct fusd_register *r, size_t usize,
		       int registered, struct want *w, char *name,
		       char *devname)
{
	int name_long = strnlen(r->name, FUSD_NAME_MAX) == FUSD_NAME_MAX;
	int dev_long = strnlen(r->devname, FUSD_NAME_MAX) == FUSD_NAME_MAX;
	int attach = !!(r->flags & FUSD_REGISTER_ATTACH);
	int recover = r->minor >= 4 && r->features & FUSD_FEATURE_RECOVERY;
	int bad = r->size != usize || r->flags & ~FUSD_REGISTER_FLAGS_ALL ||
		  r->reserved0 || r->reserved || r->mode & ~0777U ||
		  (r->grace_ms && !recover) || (r->resend && !attach) ||
		  (attach && r->minor < 4);
	char *q;

	name[0] = devname[0] = '\0';
	if (!name_long) {
		/* Classic FUSD: "/dev/foo" means foo. */
		strcpy(name, strncmp(r->name, "/dev/", 5) ? r->name :
		       r->name + 5);
		bad |= !name_ok(name, '/');
	}
	if (!dev_long && r->devname[0]) {
		strcpy(devname, r->devname);
		bad |= !name_ok(devname, '!');
	} else if (!dev_long) {
		strcpy(devname, name);
		for (q = devname; *q; q++)
			if (*q == '/')
				*q = '!';
	}
	if (r->major != FUSD_PROTO_MAJOR)
		allow(w, EPROTO);
	if (bad)
		allow(w, EINVAL);
	if (name_long || dev_long)
		allow(w, ENAMETOOLONG);	/* the contract says EINVAL */
	if (name_long || dev_long)
		allow(w, EINVAL);
	if (attach) {
		/* Nothing here waits for a daemon: never taken over. */
		allow(w, ENOENT);
		allow(w, EBUSY);
	} else if (registered) {
		allow(w, EBUSY);
	} else if (!w->n) {
		allow(w, live_name(name, devname) ? EEXIST : 0);
	}
}

/*
 * The client whose ioctl memory holds 'addr'.  The callers are threads of
 * this process: any client's region is the caller's memory.
 */
static struct client *region_owner(uint64_t addr)
{
	int i, k;

	for (i = 0; i < NDEV; i++)
		for (k = 0; k < NCLI; k++) {
			uint64_t r = (uint64_t)(uintptr_t)devs[i].cli[k].region;

			if (addr >= r && addr <= r + REGION)
				return &devs[i].cli[k];
		}
	return NULL;
}

/* What COPY_* with 'cp' may return on a registered channel; *pp is set
 * to the client whose memory a successful copy touches.
 */
static void copy_expect(struct dev *d, const struct fusd_copy *cp, int to,
			struct want *w, struct client **pp)
{
	struct pcall *p = d ? find_pend(d, cp->id) : NULL;
	uint64_t sbase = (uint64_t)(uintptr_t)scratch;
	struct client *owner = region_owner(cp->caller_addr);
	int caller_bad, buf_bad;

	*pp = NULL;
	if (cp->len > FUSD_IO_MAX) {
		allow(w, EINVAL);
		return;
	}
	buf_bad = cp->len && (cp->buf < sbase || cp->buf + cp->len >
			      (uint64_t)(uintptr_t)scratch_guard);
	if (!p || p->op != FUSD_OP_IOCTL) {
		allow(w, EINVAL);
		if (buf_bad)
			allow(w, EFAULT);
		return;
	}
	caller_bad = cp->len && (!owner || cp->caller_addr + cp->len >
				 (uint64_t)(uintptr_t)owner->region + REGION);
	if (caller_bad || buf_bad) {
		if (caller_bad && to && owner)
			owner->shadow_unsure = 1;	/* partly written */
		allow(w, EFAULT);
		return;
	}
	*pp = owner;
	allow(w, 0);
}

/*
 * A channel ioctl with magic 0xFD (mostly), a random or proper nr,
 * direction and size, random or plausible content, now and then a bad
 * pointer; the result must be one the contract allows.  'd' is NULL for a
 * fresh channel 'f'.
 */
static void fuzz_ioctl(struct dev *d, struct fresh *f)
{
	static const uint64_t sizes[] = { 0, 1, 4, 7, 8, 12, 15, 16, 24, 31,
					  32, 33, 40, 447, 448, 449, 456, 512,
					  4096, 16383 };
	static const uint64_t nrs[] = { 0, 8, 9, 0x7f, 0x80, 0xff };
	int fd = d ? d->chan : f->fd, registered = d || f->reg;
	unsigned int type = pct(95) ? FUSD_IOC_MAGIC : (unsigned int)below(256);
	unsigned int nr = (unsigned int)(pct(85) ? 1 + below(7) : PICK(nrs));
	unsigned int dir, want_dir = 0, cmd;
	size_t usize, base = ioc_base(nr), min = ioc_min(nr, &want_dir);
	unsigned char *arg = ioarg;
	int bad_ptr = 0, ro = 0, tail = 0, e, is_copy;
	char name[FUSD_NAME_MAX + 8], devname[FUSD_NAME_MAX + 8];
	struct fusd_register reg;
	struct client *cp_owner = NULL;
	struct fusd_copy cp;
	struct fusd_exchange ex;
	uint32_t io_want = 0;
	uint64_t granted = d ? d->features : f->features;
	uint16_t reg_minor_in;
	uint64_t reg_features_in;
	uint32_t reg_grace_in;
	struct want w = { 0 };
	long r;

	if (pct(75) && min) {
		dir = want_dir;
		usize = pct(70) ? base : pct(50) ? min : base + 1 + below(64);
	} else {
		dir = (unsigned int)below(4);
		usize = (size_t)(pct(60) ? PICK(sizes) :
				 below(_IOC_SIZEMASK + 1));
	}
	cmd = _IOC(dir, type, nr, usize);
	ioc_content(d, nr, usize, arg, !d);
	/* VERSION reads nothing: a larger caller's tail is just zeroed. */
	if (base && usize > base && nr != FUSD_IOC_NR_VERSION) {
		if (pct(30))
			arg[base + below(usize - base)] =
				(unsigned char)(1 + below(255));
		tail = !zero(arg + base, usize - base);
	}
	memset(arg + usize, 0x5a, IOARG - usize);
	memcpy(&reg, arg, sizeof(reg));
	memcpy(&cp, arg, sizeof(cp));
	memcpy(&ex, arg, sizeof(ex));
	memcpy(&io_want, arg, sizeof(io_want));
	reg_minor_in = reg.minor;
	reg_features_in = reg.features;
	reg_grace_in = reg.grace_ms;
	is_copy = nr == FUSD_IOC_NR_COPY_FROM_CALLER ||
		  nr == FUSD_IOC_NR_COPY_TO_CALLER;

	if (type != FUSD_IOC_MAGIC || !min || dir != want_dir || usize < min)
		allow(&w, ENOTTY);
	else if ((is_copy || nr == FUSD_IOC_NR_EXCHANGE ||
		  nr == FUSD_IOC_NR_SET_IO_MAX) && !registered)
		allow(&w, ENODEV);	/* before the argument is read */
	if (!w.n && pct(4)) {
		bad_ptr = 1;
		allow(&w, EFAULT);
		if (tail)
			allow(&w, E2BIG);
		switch (below(4)) {
		case 0:
			arg = NULL;
			break;
		case 1:
			arg = ioarg_guard;
			break;
		case 2:
			arg = (unsigned char *)0xffff888000000000ULL;
			break;
		default: /* straddling the guard page */
			memmove(ioarg_guard - usize / 2, arg, usize / 2);
			arg = ioarg_guard - usize / 2;
			break;
		}
	}
	if (!w.n && tail)
		allow(&w, E2BIG);
	if (!w.n) {
		switch (nr) {
		case FUSD_IOC_NR_VERSION:
		case FUSD_IOC_NR_SET_BATCH:
			allow(&w, 0);
			break;
		case FUSD_IOC_NR_REGISTER:
			reg_expect(&reg, usize, registered, &w, name, devname);
			if (allowed(&w, 0) && !node_free(name))
				w.e[0] = EEXIST;	/* /dev/NAME is in the way */
			if (allowed(&w, 0)) {
				if (!d && pct(10) && usize <= (size_t)pagesz) {
					/* Readable, not writable: EFAULT,
					 * and the device stays.
					 */
					memcpy(ro_page, arg, usize);
					mprotect(ro_page, (size_t)pagesz,
						 PROT_READ);
					arg = ro_page;
					ro = 1;
					w.e[0] = EFAULT;
				}
			}
			break;
		case FUSD_IOC_NR_SET_IO_MAX:
			allow(&w, granted & FUSD_FEATURE_IO_MAX ? 0 :
			      EOPNOTSUPP);
			break;
		case FUSD_IOC_NR_EXCHANGE:
			if (!(granted & FUSD_FEATURE_EXCHANGE))
				allow(&w, EOPNOTSUPP);
			else if (ex.flags & ~FUSD_EXCHANGE_FLAGS_ALL ||
				 ex.reserved0 || ex.reserved1 ||
				 ex.in_len > INT_MAX)
				allow(&w, EINVAL);
			else if (ex.out_len)
				allow(&w, ex.out_len <
				      sizeof(struct fusd_msg_header) ? EINVAL :
				      EFAULT);
			else
				allow(&w, ex.in_len ? EAGAIN : 0);
			break;
		default:
			copy_expect(d, &cp, nr == FUSD_IOC_NR_COPY_TO_CALLER,
				    &w, &cp_owner);
			n_copies++;
			break;
		}
	}

	n_msgs++;
	n_ioctls++;
	r = ioctl(fd, cmd, arg);
	e = r ? errno : 0;
	if (ro)
		mprotect(ro_page, (size_t)pagesz, PROT_READ | PROT_WRITE);
	CHECK(r == 0 || r == -1, "ioctl %#x returned %ld", cmd, r);
	if (!allowed(&w, e)) {
		if (nr == FUSD_IOC_NR_REGISTER)
			print_message("REGISTER: name '%s' devname '%s' minor "
				      "%u features %#llx mode %#o flags %#x\n",
				      name, devname, reg.minor,
				      (unsigned long long)reg.features,
				      reg.mode, reg.flags);
		fuzz_fail("channel ioctl %#x (nr %u, %zu bytes%s%s%s): %s, "
			  "want %s", cmd, nr, usize, tail ? ", tail" : "",
			  bad_ptr ? ", bad pointer" : "",
			  ro ? ", read-only" : "", e ? strerror(e) : "success",
			  want_str(&w));
	}
	if (e == EAGAIN && nr == FUSD_IOC_NR_EXCHANGE) {
		struct fusd_exchange o;

		/* Nothing to send, nothing to read: out_done told first. */
		memcpy(&o, arg, sizeof(o));
		CHECK(o.out_done == 0, "EXCHANGE (EAGAIN): out_done %llu",
		      (unsigned long long)o.out_done);
	}
	if (e) {
		n_errs++;
		if (!ro || e != EFAULT)
			return;
	}
	if (nr == FUSD_IOC_NR_VERSION) {
		struct fusd_version v;
		size_t i;

		memset(&v, 0, sizeof(v));
		v.major = FUSD_PROTO_MAJOR;
		v.minor = FUSD_PROTO_MINOR;
		v.features = FUSD_FEATURES_ALL;
		CHECK(!memcmp(arg, &v, usize < sizeof(v) ? usize : sizeof(v)),
		      "VERSION(%zu) contents", usize);
		for (i = sizeof(v); i < usize; i++)
			CHECK(arg[i] == 0, "VERSION(%zu): tail byte %zu not 0",
			      usize, i);
		for (i = usize; i < IOARG; i++)
			CHECK(arg[i] == 0x5a, "VERSION(%zu) wrote byte %zu",
			      usize, i);
	} else if (nr == FUSD_IOC_NR_EXCHANGE ||
		   nr == FUSD_IOC_NR_SET_IO_MAX) {
		size_t i, wrote = nr == FUSD_IOC_NR_EXCHANGE ?
			sizeof(struct fusd_exchange) : sizeof(uint32_t);
		struct fusd_exchange o;
		uint32_t got;

		if (nr == FUSD_IOC_NR_EXCHANGE) {
			memcpy(&o, arg, sizeof(o));
			CHECK(o.out_done == 0, "EXCHANGE: out_done %llu, "
			      "nothing was sent",
			      (unsigned long long)o.out_done);
		} else {
			/* At most FUSD_IO_MAX asked: granted as asked. */
			memcpy(&got, arg, sizeof(got));
			CHECK(got == (io_want ? io_want : FUSD_IO_MAX),
			      "SET_IO_MAX(%u) granted %u", io_want, got);
		}
		/* Only the struct's own fields come back. */
		for (i = wrote; i < usize; i++)
			CHECK(arg[i] == 0, "ioctl nr %u (%zu bytes) wrote tail "
			      "byte %zu", nr, usize, i);
		for (i = usize; i < IOARG; i++)
			CHECK(arg[i] == 0x5a, "ioctl nr %u (%zu bytes) wrote "
			      "byte %zu", nr, usize, i);
	} else if (is_copy) {
		unsigned char *caller = (unsigned char *)(uintptr_t)cp.caller_addr;
		unsigned char *mine = (unsigned char *)(uintptr_t)cp.buf;

		CHECK(!cp.len || !memcmp(caller, mine, cp.len),
		      "COPY_%s id %llu: bytes differ (caller +%lld, len %llu)",
		      nr == FUSD_IOC_NR_COPY_TO_CALLER ? "TO" : "FROM",
		      (unsigned long long)cp.id,
		      cp_owner ? (long long)(caller - cp_owner->region) : -1LL,
		      (unsigned long long)cp.len);
		if (nr == FUSD_IOC_NR_COPY_TO_CALLER && cp_owner)
			memcpy(cp_owner->shadow + (caller - cp_owner->region),
			       mine, cp.len);
	} else if (nr == FUSD_IOC_NR_REGISTER) {
		n_fresh_reg++;
		TRACE("fresh %d: registered '%s' devname '%s'%s\n",
		      (int)(f - fresh), name, devname, ro ? " (EFAULT)" : "");
		f->reg = 1;
		strcpy(f->name, name);
		strcpy(f->devname, devname);
		/* A 1.0 daemon gets no features; others what they asked
		 * for that this kernel has.
		 */
		f->features = reg_minor_in ? reg_features_in &
			      FUSD_FEATURES_ALL : 0;
		/* Recovery is granted only with a grace period. */
		if (!reg_grace_in)
			f->features &= ~FUSD_FEATURE_RECOVERY;
		if (!ro) {
			memcpy(&reg, arg, sizeof(reg));
			CHECK(reg.features == f->features,
			      "REGISTER minor %u features %#llx: granted "
			      "%#llx", reg_minor_in,
			      (unsigned long long)reg_features_in,
			      (unsigned long long)reg.features);
			CHECK(reg.io_max == FUSD_IO_MAX &&
			      reg.supported == FUSD_FEATURES_ALL &&
			      reg.minor <= FUSD_PROTO_MINOR &&
			      !(reg.features & ~FUSD_FEATURES_ALL) &&
			      (reg.minor || !reg.features),
			      "REGISTER's answer: minor %u io_max %u features "
			      "%#llx supported %#llx", reg.minor, reg.io_max,
			      (unsigned long long)reg.features,
			      (unsigned long long)reg.supported);
		}
		{
			char path[FUSD_NAME_MAX + 16];
			struct stat st;

			snprintf(path, sizeof(path), "/dev/%s", name);
			CHECK(!lstat(path, &st) && S_ISCHR(st.st_mode),
			      "no node %s", path);
			CHECK(ro || st.st_rdev == makedev(reg.dev_major,
							  reg.dev_minor),
			      "node %s has the wrong number", path);
		}
	}
}

/* ------------------------------------------------------------ fresh */

static void fresh_close(struct fresh *f)
{
	TRACE("fresh %d: closed%s%s\n", (int)(f - fresh), f->reg ? ", was " : "",
	      f->reg ? f->name : "");
	close(f->fd);
	f->fd = -1;
	if (f->reg) {
		char path[FUSD_NAME_MAX + 16];

		snprintf(path, sizeof(path), "/dev/%s", f->name);
		CHECK(itest_wait_path(path, 0, 5000) == 0,
		      "node %s stays after its channel closed", path);
	}
	f->reg = 0;
	f->features = 0;
}

/* Unregistered (or freshly registered) channels: ioctls, writes, reads. */
static void fuzz_fresh(void)
{
	struct fresh *f = &fresh[below(NFRESH)];
	unsigned int r = (unsigned int)below(100);
	ssize_t n;

	if (f->fd < 0) {
		f->fd = open("/dev/fusd/control", O_RDWR | O_NONBLOCK);
		CHECK(f->fd >= 0, "open control: %s", strerror(errno));
	}
	if (r < 60) {
		fuzz_ioctl(NULL, f);
	} else if (r < 80) {
		size_t len = garbage(wb);

		if (pct(50))
			len = any_reply(rnd(), wb);
		last_buf = wb;
		last_len = len;
		n = write(f->fd, wb, len);
		n_msgs++;
		n_errs++;
		CHECK(n == -1 && errno == (f->reg ? EINVAL : ENODEV),
		      "write() on a %s channel: %zd %s",
		      f->reg ? "new" : "unregistered", n, strerror(errno));
	} else if (r < 88) {
		n = read(f->fd, rdbuf, FUSD_MSG_MAX);
		n_msgs++;
		n_errs++;
		CHECK(n == -1 && errno == (f->reg ? EAGAIN : ENODEV),
		      "read() on a %s channel: %zd %s",
		      f->reg ? "new" : "unregistered", n, strerror(errno));
	} else {
		fresh_close(f);
	}
}

/* ------------------------------------------------------------ checks */

static void fuzz_signal(struct dev *d)
{
	struct pcall *p = rnd_pend(d);

	if (!p || !p->c || p->op == FUSD_OP_INTERRUPT || p->signalled)
		return;
	p->signalled = 1;
	n_intr++;
	add_expect(d, FUSD_OP_INTERRUPT, p->c, p->id, 0, 0);
	pthread_kill(p->c->thread, SIGUSR1);
}

static void check_poll(struct dev *d)
{
	struct client *c = &d->cli[below(NCLI)];
	struct pollfd pfd;
	struct fhstate *f;
	int i;

	if (!c->nfd)
		return;
	i = (int)below((uint64_t)c->nfd);
	f = fhs(d, c->fhs[i]);
	if (f->c != c || (c->busy && c->op == OP_CLOSE && c->slot == i))
		return;
	pfd.fd = c->fds[i];
	pfd.events = ALL_EVENTS;
	pfd.revents = 0;
	CHECK(poll(&pfd, 1, 0) >= 0, "poll: %s", strerror(errno));
	CHECK((uint32_t)pfd.revents == (f->mask & (ALL_EVENTS | POLLERR | POLLHUP)),
	      "%s fh %llu polls %#x, its mask is %#x", d->name,
	      (unsigned long long)c->fhs[i], pfd.revents, f->mask);
}

static void check_stats(struct dev *d)
{
	long long pending = 0, open_files = 0;
	uint64_t fh;
	int i;

	for (i = 0; i < d->npend; i++)
		pending += d->pend[i].op != FUSD_OP_INTERRUPT;
	for (fh = 1; fh <= d->max_fh && fh < d->fhcap; fh++)
		open_files += d->fh[fh].opened && d->fh[fh].alive;
	CHECK(itest_sysfs(d->name, "pending") == pending,
	      "%s: pending %lld, the model has %lld", d->name,
	      itest_sysfs(d->name, "pending"), pending);
	CHECK(itest_sysfs(d->name, "open_files") == open_files,
	      "%s: open_files %lld, the model has %lld", d->name,
	      itest_sysfs(d->name, "open_files"), open_files);
	if (!d->id_slack)
		CHECK(itest_sysfs(d->name, "total") == (long long)d->max_id,
		      "%s: total %lld, the model has %llu", d->name,
		      itest_sysfs(d->name, "total"),
		      (unsigned long long)d->max_id);
}

/* c's call was decided: see what it got.  1 if c is now idle. */
static int finish(struct client *c)
{
	if (c->retry) {
		open_retry_or_done(c);
		if (c->busy)
			return 0;	/* the retried OPEN waits */
	} else {
		client_done(c);
	}
	collect(c->d);
	return 1;
}

/* Collect the clients whose calls were decided and restart them. */
static void settle(struct dev *d)
{
	int i;

	for (i = 0; i < NCLI; i++) {
		struct client *c = &d->cli[i];

		if (c->busy && c->decided && finish(c)) {
			start_op(c);
			collect(d);
		}
	}
}

/* ------------------------------------------------------------ setup */

/* A buffer of 'n' bytes followed by an inaccessible page. */
static unsigned char *guarded(size_t n, unsigned char **guard)
{
	unsigned char *m = mmap(NULL, n + (size_t)pagesz,
				PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(m != MAP_FAILED);
	assert_int_equal(mprotect(m + n, (size_t)pagesz, PROT_NONE), 0);
	*guard = m + n;
	return m;
}

static void dev_up(struct dev *d, const char *name, uint32_t flags,
		   uint64_t features)
{
	struct fusd_register reg;
	unsigned char *guard;
	int i;

	memset(d, 0, sizeof(*d));
	d->name = name;
	snprintf(d->path, sizeof(d->path), "/dev/%s", name);
	d->chan = open("/dev/fusd/control", O_RDWR | O_NONBLOCK);
	assert_true(d->chan >= 0);
	raw_register_init(&reg, name, 0600);
	reg.flags = flags;
	reg.features = features;
	assert_int_equal(ioctl(d->chan, FUSD_IOC_REGISTER, &reg), 0);
	assert_true(reg.features == features);
	d->flags = flags;
	d->features = features;
	for (i = 0; i < NCLI; i++) {
		struct client *c = &d->cli[i];

		c->d = d;
		c->idx = i;
		c->region = guarded(REGION, &guard);
		c->shadow = malloc(REGION);
		assert_non_null(c->shadow);
		assert_int_equal(sem_init(&c->go, 0, 0), 0);
		assert_int_equal(sem_init(&c->fin, 0, 0), 0);
		assert_int_equal(pthread_create(&c->thread, NULL, client_main,
						c), 0);
		wait_fin(c);
	}
}

/* A plain, valid answer to p ("no" to an OPEN). */
static void plain_answer(struct dev *d, const struct pcall *p)
{
	unsigned char out[RSIZE];
	struct fusd_reply rep;
	size_t zero_bound = 0;

	memset(&rep, 0, sizeof(rep));
	rep.hdr.size = RSIZE;
	rep.hdr.hdr_size = RSIZE;
	rep.hdr.opcode = FUSD_OP_REPLY;
	rep.hdr.id = p->id;
	rep.result = p->op == FUSD_OP_OPEN ? -ENOENT : 0;
	memcpy(out, &rep, RSIZE);
	submit(d, out, RSIZE, &zero_bound, 1);
}

/* Answer every call and close every file: nothing pending, no files. */
static void wind_down(struct dev *d)
{
	int i, rounds = 0, active;

	do {
		CHECK(++rounds < 10000, "%s: cannot wind down", d->name);
		if (d->npend)
			plain_answer(d, &d->pend[0]);
		for (i = 0; i < NCLI; i++) {
			struct client *c = &d->cli[i];

			if (c->busy && c->decided)
				finish(c);
			if (!c->busy && c->nfd) {
				begin_close(c, 0);
				collect(d);
			}
		}
		active = d->npend;
		for (i = 0; i < NCLI; i++)
			active += d->cli[i].busy || d->cli[i].nfd;
	} while (active);
}

/* A well-formed exchange: open, read "alive", close. */
static void still_works(struct dev *d)
{
	struct client *c = &d->cli[0];
	unsigned char out[RSIZE + 8];
	struct fusd_reply rep;
	struct pcall *p;
	size_t zero_bound = 0;

	c->busy = 1;
	c->decided = 0;
	c->retry = 0;
	c->op = OP_OPEN;
	c->attempt = 0;
	add_expect(d, FUSD_OP_OPEN, c, 0, 0, 0);
	sem_post(&c->go);
	collect(d);
	CHECK(d->npend == 1, "the OPEN does not wait");
	memset(&rep, 0, sizeof(rep));
	rep.hdr.size = RSIZE;
	rep.hdr.hdr_size = RSIZE;
	rep.hdr.opcode = FUSD_OP_REPLY;
	rep.hdr.id = d->pend[0].id;
	memcpy(out, &rep, RSIZE);
	submit(d, out, RSIZE, &zero_bound, 1);
	CHECK(c->want_ret == -2, "model: OPEN not accepted");
	client_done(c);
	CHECK(c->nfd == 1, "no file after OPEN");

	c->busy = 1;
	c->decided = 0;
	c->slot = 0;
	c->fd = c->fds[0];
	c->op = OP_READ;
	c->len = 5;
	c->off = 0;
	add_expect(d, FUSD_OP_READ, c, 0, 0, 0);
	sem_post(&c->go);
	collect(d);
	p = &d->pend[0];
	rep.hdr.size = RSIZE + 5;
	rep.hdr.id = p->id;
	rep.result = 5;
	memcpy(out, &rep, RSIZE);
	memcpy(out + RSIZE, "alive", 5);
	submit(d, out, RSIZE + 5, &zero_bound, 1);
	client_done(c);
	CHECK(c->ret == 5 && !memcmp(c->rbuf, "alive", 5),
	      "the final read got %lld", (long long)c->ret);
	wind_down(d);
}

static void test_fuzz_channels(void **state)
{
	struct sigaction sa;
	const char *env;
	unsigned long long target;
	unsigned char *guard;
	int64_t t0;
	int kmsg, i;
	char rec[1024];

	(void)state;
	pagesz = sysconf(_SC_PAGESIZE);
	env = getenv("FUSD_FUZZ_SEED");
	seed = env && *env ? strtoull(env, NULL, 0) :
		(uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	rng = seed;
	print_message("fuzz seed: %" PRIu64 "\n", seed);
	target = (unsigned long long)itest_scaled_count(100000, 1000);
	env = getenv("FUSD_FUZZ_MESSAGES");
	if (env && *env)
		target = strtoull(env, NULL, 0);
	env = getenv("FUSD_FUZZ_TRACE");
	trace = env && *env == '1';

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = no_handler;	/* no SA_RESTART: -EINTR is EINTR */
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);

	rdbuf = malloc(FUSD_MSG_MAX);
	assert_non_null(rdbuf);
	wb = guarded(WBUF, &wb_guard);
	ioarg = guarded(IOARG, &ioarg_guard);
	scratch = guarded(FUSD_IO_MAX + 4096, &scratch_guard);
	ro_page = guarded((size_t)pagesz, &guard);
	for (i = 0; i < NFRESH; i++)
		fresh[i].fd = -1;

	/* The random driver logs "crng init done" once: not during the run. */
	assert_int_equal(getrandom(rec, 16, 0), 16);
	kmsg = itest_kmsg_open();
	t0 = itest_now_ms();

	/* fuzz0 may use EXCHANGE and SET_IO_MAX, fuzz1 gets EOPNOTSUPP. */
	dev_up(&devs[0], "fuzz0", FUSD_REGISTER_FLUSH | FUSD_REGISTER_POLL,
	       FUSD_FEATURES_ALL & ~FUSD_FEATURE_RECOVERY);
	dev_up(&devs[1], "fuzz1", 0, 0);
	for (i = 0; i < NDEV; i++) {
		int k;

		for (k = 0; k < NCLI; k++)
			start_op(&devs[i].cli[k]);
		collect(&devs[i]);
	}

	while (n_msgs < target) {
		struct dev *d = &devs[below(NDEV)];
		unsigned int r = (unsigned int)below(1000);

		int64_t t1 = now_us();

		step++;
		if (r < 850)
			fuzz_write(d);
		else if (r < 900)
			fuzz_ioctl(d, NULL);
		else if (r < 930)
			fuzz_signal(d);
		else if (r < 945)
			fuzz_efault(d);
		else if (r < 975)
			fuzz_fresh();
		else if (r < 990)
			check_poll(d);
		else
			check_stats(d);
		prof[r < 850 ? 0 : r < 900 ? 1 : r < 945 ? 2 : r < 975 ? 3 : 4] +=
			now_us() - t1;
		t1 = now_us();
		collect(d);
		prof[5] += now_us() - t1;
		t1 = now_us();
		settle(d);
		prof[6] += now_us() - t1;
	}
	print_message("fuzz: time in ms: write %lld ioctl %lld sig/efault %lld fresh %lld "
	      "checks %lld collect %lld settle %lld\n",
	      (long long)prof[0] / 1000, (long long)prof[1] / 1000,
	      (long long)prof[2] / 1000, (long long)prof[3] / 1000,
	      (long long)prof[4] / 1000, (long long)prof[5] / 1000,
	      (long long)prof[6] / 1000);
	last_buf = NULL;

	for (i = 0; i < NFRESH; i++)
		if (fresh[i].fd >= 0)
			fresh_close(&fresh[i]);
	for (i = 0; i < NDEV; i++) {
		struct dev *d = &devs[i];
		uint32_t all = 0;
		int k;

		CHECK(ioctl(d->chan, FUSD_IOC_SET_BATCH, &all) == 0,
		      "SET_BATCH 0: %s", strerror(errno));
		wind_down(d);
		check_stats(d);
		still_works(d);
		check_stats(d);
		CHECK(itest_sysfs(d->name, "pending") == 0 &&
		      itest_sysfs(d->name, "open_files") == 0,
		      "%s: calls or files left", d->name);
		for (k = 0; k < NCLI; k++) {
			d->cli[k].op = OP_QUIT;
			sem_post(&d->cli[k].go);
			pthread_join(d->cli[k].thread, NULL);
		}
		close(d->chan);
		CHECK(itest_wait_path(d->path, 0, 5000) == 0, "%s stays",
		      d->path);
	}
	{
		struct stat st;

		CHECK(!stat("/dev/null", &st) && S_ISCHR(st.st_mode) &&
		      st.st_rdev == makedev(1, 3), "/dev/null was harmed");
	}

	/* fusd logs nothing (the kernel may note slow timer interrupts
	 * under emulation; anything worse fails the VM run itself).
	 */
	itest_kmsg_fusd_lines(kmsg, rec, sizeof(rec));
	if (rec[0])
		fuzz_fail("fusd logged: %s", rec);

	print_message("fuzz: %llu refused, %llu callers got EIO, %llu answered, "
		      "%llu late, %llu ioctls (%llu COPY), %llu INTERRUPTs, "
		      "%llu fresh devices, %.1f s\n",
		      n_refused, n_eio, n_answered, n_late, n_ioctls, n_copies,
		      n_intr, n_fresh_reg,
		      (double)(itest_now_ms() - t0) / 1000);
	print_message("FUSD-FIGURES fuzz-messages=%llu fuzz-errors=%llu "
		      "seed=%" PRIu64 "\n", n_msgs, n_errs, seed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fuzz_channels),
	};

	return itest_run_limit(tests, NULL, NULL, 180);
}
