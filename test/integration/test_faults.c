// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: faults: a daemon SIGKILLed at random moments while 8
 * clients are blocked in read, write, ioctl, poll, epoll_wait and open
 * fails every call within a second and leaves nothing behind; clients
 * SIGKILLed mid-call leave one RELEASE per accepted OPEN and nothing
 * pending
 *
 * Each test prints its seed first and its figures last, as one
 * "FUSD-FIGURES ..." line.  Environment:
 *   FUSD_FAULT_SEED     the seed (else time-based), to replay a run
 *   FUSD_TIMEOUT_SCALE  slowness of the kernel (itest_scale()): the 500
 *                       kills of each test are divided by it, and the
 *                       1 s bounds multiplied
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"
#include "rawchan.h"

#define NAME "faults"
#define NODE "/dev/" NAME
#define DAEMON_KILLS 500	/* divided by FUSD_TIMEOUT_SCALE */
#define CLIENT_KILLS 500
#define CLIENTS 8		/* blocked in the daemon when it dies */
#define BATCH 4			/* clients killed together */
#define RETURN_MS 1000		/* a call fails this soon after the kill */
#define FAULT_IOC _IOR('F', 1, int)

/* Seeded PRNG (splitmix64): FUSD_FAULT_SEED repeats a run. */
static uint64_t rng;

static void seed_rng(const char *test)
{
	const char *s = getenv("FUSD_FAULT_SEED");

	rng = s ? strtoull(s, NULL, 0) :
		  (uint64_t)itest_now_ms() * 2654435761u ^ (uint64_t)getpid();
	printf("%s: seed %llu (FUSD_FAULT_SEED=%llu repeats it)\n", test,
	       (unsigned long long)rng, (unsigned long long)rng);
}

static unsigned int rnd(unsigned int n)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (unsigned int)((z ^ (z >> 31)) % n);
}

/* What the daemon saw, shared with the forked daemon. */
struct shared {
	atomic_int held;	/* calls held now (deferred or in a callback) */
	atomic_int opens;	/* OPENs accepted, at once or late */
	atomic_int releases;	/* close callbacks (RELEASEs) */
	atomic_int interrupts;	/* unblock callbacks (INTERRUPTs) */
};

static struct shared *sh;

/* fusd logged nothing since kmsg_at_end(). */
static int kmsg_at_end(void)
{
	return itest_kmsg_open();
}

static void kmsg_quiet(int fd)
{
	char rec[1024];

	itest_kmsg_fusd_lines(fd, rec, sizeof(rec));
	if (rec[0])
		fail_msg("fusd logged: %s", rec);
}

static void map_shared(void)
{
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
}

/* ------------------------------------------------------------------ */
/* Daemons killed at random moments.                                  */

enum daemon_kind {
	D_HELD,		/* libfusd, fusd_run: every call deferred */
	D_HELD_MT,	/* libfusd, fusd_run_mt(4): every call deferred */
	D_IN_CALLBACK,	/* libfusd, fusd_run_mt(8): stuck inside callbacks */
	D_RAW,		/* raw channel: reads every call, answers none */
	D_RAW_DEAF,	/* raw channel: stops reading once files are open */
	D_KINDS
};

static const char *const daemon_name[D_KINDS] = {
	"libfusd-deferred", "libfusd-mt-deferred", "libfusd-in-callback",
	"raw-held", "raw-unread",
};

static enum daemon_kind dkind;

/* A call the daemon keeps: deferred, or the callback never returns. */
static int hold(void)
{
	atomic_fetch_add(&sh->held, 1);
	while (dkind == D_IN_CALLBACK)
		pause();
	return -FUSD_NOREPLY;
}

/* Clients that open with O_APPEND have their OPEN parked. */
static int d_open(struct fusd_file_info *file)
{
	if (file->flags & O_APPEND)
		return hold();
	atomic_fetch_add(&sh->opens, 1);
	return 0;
}

static ssize_t d_read(struct fusd_file_info *file, char *buf, size_t len,
		      loff_t *offset)
{
	(void)file; (void)buf; (void)len; (void)offset;
	return hold();
}

static ssize_t d_write(struct fusd_file_info *file, const char *buf,
		       size_t len, loff_t *offset)
{
	(void)file; (void)buf; (void)len; (void)offset;
	return hold();
}

static int d_ioctl(struct fusd_file_info *file, int cmd, void *arg)
{
	(void)file; (void)cmd; (void)arg;
	return hold();
}

/* Never answered: files stay not ready, so poll() blocks. */
static int d_poll_diff(struct fusd_file_info *file, unsigned int cached)
{
	(void)file; (void)cached;
	return -FUSD_NOREPLY;
}

static struct fusd_file_operations d_fops = {
	.open = d_open,
	.read = d_read,
	.write = d_write,
	.ioctl = d_ioctl,
	.poll_diff = d_poll_diff,
};

static void raw_daemon(int ready, int deaf)
{
	struct fusd_request req;
	char payload[64];
	int chan = raw_register_flags(NAME, 0666, FUSD_REGISTER_POLL);
	int opened = 0;

	if (write(ready, "r", 1) != 1)
		_exit(1);
	for (;;) {
		raw_read_request(chan, &req, payload, sizeof(payload));
		if (req.hdr.opcode == FUSD_OP_INTERRUPT ||
		    req.hdr.opcode == FUSD_OP_RELEASE)
			continue;
		if (req.hdr.opcode != FUSD_OP_OPEN ||
		    (req.f_flags & O_APPEND)) {
			atomic_fetch_add(&sh->held, 1);
			continue;
		}
		raw_reply(chan, req.hdr.id, 0, NULL, 0);
		atomic_fetch_add(&sh->opens, 1);
		/* The rest stays queued, never read. */
		if (deaf && ++opened == CLIENTS - 2)
			for (;;)
				pause();
	}
}

/* Fork a daemon of kind 'k'; returns once its node exists. */
static pid_t start_daemon(enum daemon_kind k)
{
	int p[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(p[0]);
		dkind = k;
		if (k == D_RAW || k == D_RAW_DEAF)
			raw_daemon(p[1], k == D_RAW_DEAF);
		if (fusd_register(NAME, "test", NULL, 0666, NULL, &d_fops) < 0)
			_exit(1);
		if (write(p[1], "r", 1) != 1)
			_exit(1);
		if (k == D_HELD)
			fusd_run();
		else
			fusd_run_mt(k == D_HELD_MT ? 4 : 8);
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	return pid;
}

enum call_kind { C_READ, C_WRITE, C_IOCTL, C_POLL, C_EPOLL, C_OPEN };

static const char *const call_name[] = {
	"read", "write", "ioctl", "poll", "epoll_wait", "open",
};

/* Two of each blocking call but ioctl, poll and epoll; two parked OPENs. */
static const enum call_kind client_kind[CLIENTS] = {
	C_READ, C_WRITE, C_IOCTL, C_POLL, C_OPEN, C_READ, C_EPOLL, C_OPEN,
};

struct client {
	pthread_t thread;
	enum call_kind kind;
	atomic_int tid;
	atomic_int calling;	/* in (or about to enter) its blocking call */
	int opened;		/* open() gave a file before the call */
	int failed;		/* the call failed as it must */
	int err;		/* errno of the failure, or 0 */
	int64_t ret_ms;		/* when it returned */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t go, done;
	int gen, finished, quit;
} pool = {
	PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
	PTHREAD_COND_INITIALIZER, 0, 0, 0,
};

static struct client clients[CLIENTS];

/* One blocking call of kind c->kind on a fresh file of the device. */
static void client_call(struct client *c)
{
	int flags = c->kind == C_OPEN ? O_RDWR | O_APPEND :
		    c->kind == C_WRITE ? O_WRONLY :
		    c->kind == C_READ ? O_RDONLY : O_RDWR;
	struct epoll_event ev = { .events = EPOLLIN };
	struct pollfd pfd;
	char buf[16] = "x";
	int fd = -1, ep, n = 0, arg = 0;

	c->opened = c->failed = c->err = 0;
	if (c->kind == C_OPEN)
		atomic_store(&c->calling, 1);
	fd = open(NODE, flags);
	if (fd < 0 || c->kind == C_OPEN) {
		c->err = errno;
		c->failed = fd < 0;
		goto out;
	}
	c->opened = 1;
	switch (c->kind) {
	case C_READ:
		atomic_store(&c->calling, 1);
		n = (int)read(fd, buf, sizeof(buf));
		break;
	case C_WRITE:
		atomic_store(&c->calling, 1);
		n = (int)write(fd, buf, 1);
		break;
	case C_IOCTL:
		atomic_store(&c->calling, 1);
		n = ioctl(fd, FAULT_IOC, &arg);
		break;
	case C_POLL:
		pfd.fd = fd;
		pfd.events = POLLIN;
		atomic_store(&c->calling, 1);
		n = poll(&pfd, 1, -1);
		c->failed = n == 1 && (pfd.revents & (POLLERR | POLLHUP)) ==
					      (POLLERR | POLLHUP);
		break;
	case C_EPOLL:
		ep = epoll_create1(0);
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
			break;
		atomic_store(&c->calling, 1);
		n = epoll_wait(ep, &ev, 1, -1);
		c->failed = n == 1 && (ev.events & (EPOLLERR | EPOLLHUP)) ==
					      (EPOLLERR | EPOLLHUP);
		close(ep);
		break;
	case C_OPEN:
		break;
	}
	if (c->kind == C_READ || c->kind == C_WRITE || c->kind == C_IOCTL) {
		c->err = errno;
		c->failed = n == -1;
	}
out:
	c->ret_ms = itest_now_ms();
	atomic_store(&c->calling, 0);
	if (fd >= 0)
		close(fd);
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	int gen = 0;

	atomic_store(&c->tid, (int)syscall(SYS_gettid));
	for (;;) {
		pthread_mutex_lock(&pool.lock);
		while (pool.gen == gen && !pool.quit)
			pthread_cond_wait(&pool.go, &pool.lock);
		gen = pool.gen;
		if (pool.quit) {
			pthread_mutex_unlock(&pool.lock);
			return NULL;
		}
		pthread_mutex_unlock(&pool.lock);
		client_call(c);
		pthread_mutex_lock(&pool.lock);
		pool.finished++;
		pthread_cond_signal(&pool.done);
		pthread_mutex_unlock(&pool.lock);
	}
}

static void clients_go(void)
{
	pthread_mutex_lock(&pool.lock);
	pool.finished = 0;
	pool.gen++;
	pthread_cond_broadcast(&pool.go);
	pthread_mutex_unlock(&pool.lock);
}

/* Wait until every client is back; 0 if some are not by 'deadline'. */
static int clients_back(int64_t deadline)
{
	struct timespec ts;
	int all;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (deadline - itest_now_ms()) / 1000 + 1;
	pthread_mutex_lock(&pool.lock);
	while (pool.finished < CLIENTS &&
	       pthread_cond_timedwait(&pool.done, &pool.lock, &ts) == 0)
		;
	all = pool.finished == CLIENTS;
	pthread_mutex_unlock(&pool.lock);
	return all;
}

/* The thread sleeps in the kernel ('S' or 'D' in its stat). */
static int thread_sleeps(int tid)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	if (itest_slurp(path, buf, sizeof(buf)) <= 0)
		return 0;
	p = strrchr(buf, ')');
	return p && (p[2] == 'S' || p[2] == 'D');
}

/* Every client sits in its blocking call, and the daemon holds what it
 * can see; 0 if not so within 'ms'.
 */
static int all_blocked(enum daemon_kind k, int ms)
{
	int64_t end = itest_now_ms() + ms;
	int i, n;

	for (;;) {
		for (i = n = 0; i < CLIENTS; i++)
			n += atomic_load(&clients[i].calling);
		/* 2 parked OPENs, 2 reads, a write and an ioctl */
		if (n == CLIENTS &&
		    (k == D_RAW_DEAF || atomic_load(&sh->held) == 6)) {
			for (i = 0; i < CLIENTS; i++)
				if (!thread_sleeps(clients[i].tid))
					break;
			if (i == CLIENTS)
				return 1;
		}
		if (itest_now_ms() > end)
			return 0;
		usleep(500);
	}
}

/* The call of client 'c' failed as it must, after the kill at 'killed'. */
static int64_t check_client(const struct client *c, int64_t killed,
			    int early, int round)
{
	int64_t ms = c->ret_ms - killed;

	if (!c->failed || ms < 0)
		fail_msg("round %d: %s client: %s (errno %d, %lld ms after "
			 "the kill)", round, call_name[c->kind],
			 c->failed ? "returned before the kill" :
				     "did not fail", c->err, (long long)ms);
	if (!c->opened) {
		/* open itself failed: the parked ones, or any if early */
		if (!early && c->kind != C_OPEN)
			fail_msg("round %d: %s client: open failed, errno %d",
				 round, call_name[c->kind], c->err);
		if (c->err != ENODEV && c->err != ENOENT)
			fail_msg("round %d: %s client: open failed with "
				 "errno %d", round, call_name[c->kind],
				 c->err);
	} else if (c->kind != C_POLL && c->kind != C_EPOLL &&
		   c->err != EPIPE) {
		fail_msg("round %d: %s failed with errno %d, not EPIPE",
			 round, call_name[c->kind], c->err);
	}
	return ms;
}

/*
 * 500 times: a daemon (one of five kinds in turn) has 8 clients blocked
 * in it: 2 reads, a write, an ioctl, a poll(), an epoll_wait() and 2
 * OPENs it parks.  It is SIGKILLed at a random moment: usually a random
 * 0-2 ms after every client sleeps in its call, one time in four a random
 * 0-8 ms after the clients start (while files open).  Every call fails
 * (EPIPE; open ENODEV or ENOENT; poll and epoll with POLLERR|POLLHUP)
 * within a second of the kill, the node goes, the next daemon's device
 * starts with nothing pending and no open file, and fusd logs nothing.
 */
static void test_daemon_killed_at_random(void **state)
{
	int rounds = itest_scaled_count(DAEMON_KILLS, 20);
	int limit = RETURN_MS * itest_scale();
	int64_t killed, ms, max = 0, sum = 0, t0 = itest_now_ms();
	int r, i, early = 0, per_kind[D_KINDS] = { 0 }, kmsg = kmsg_at_end();
	pid_t d;

	(void)state;
	seed_rng("daemon kills");
	map_shared();
	for (i = 0; i < CLIENTS; i++) {
		clients[i].kind = client_kind[i];
		assert_int_equal(pthread_create(&clients[i].thread, NULL,
						client_main, &clients[i]), 0);
	}
	for (r = 0; r < rounds; r++) {
		enum daemon_kind k = (enum daemon_kind)(r % D_KINDS);
		int is_early = rnd(4) == 0;

		atomic_store(&sh->held, 0);
		d = start_daemon(k);
		/* A new incarnation starts clean. */
		assert_int_equal(itest_sysfs(NAME, "pending"), 0);
		assert_int_equal(itest_sysfs(NAME, "open_files"), 0);
		clients_go();
		if (is_early) {
			usleep(rnd(8000));
			early++;
		} else if (!all_blocked(k, 5000 * itest_scale())) {
			fail_msg("round %d (%s): clients not all blocked; "
				 "daemon holds %d", r, daemon_name[k],
				 atomic_load(&sh->held));
		} else {
			usleep(rnd(2000));
		}
		killed = itest_now_ms();
		itest_kill_daemon(d, NULL);
		if (!clients_back(killed + 5000 * itest_scale()))
			fail_msg("round %d (%s): a client is still blocked 5 s "
				 "after its daemon was killed", r,
				 daemon_name[k]);
		for (i = 0; i < CLIENTS; i++) {
			ms = check_client(&clients[i], killed, is_early, r);
			if (ms > limit)
				fail_msg("round %d (%s): %s returned %lld ms "
					 "after the kill", r, daemon_name[k],
					 call_name[clients[i].kind],
					 (long long)ms);
			sum += ms;
			if (ms > max)
				max = ms;
		}
		assert_int_equal(itest_wait_path(NODE, 0, limit), 0);
		per_kind[k]++;
	}
	pthread_mutex_lock(&pool.lock);
	pool.quit = 1;
	pthread_cond_broadcast(&pool.go);
	pthread_mutex_unlock(&pool.lock);
	for (i = 0; i < CLIENTS; i++)
		pthread_join(clients[i].thread, NULL);
	assert_int_equal(access("/sys/class/fusd/" NAME, F_OK), -1);
	kmsg_quiet(kmsg);

	printf("daemon kills: %d (", rounds);
	for (i = 0; i < D_KINDS; i++)
		printf("%s%d %s", i ? ", " : "", per_kind[i], daemon_name[i]);
	printf("), %d of them while files were opening; %d calls failed, "
	       "%lld ms after the kill at most, %lld ms on average; %.1f s\n",
	       early, rounds * CLIENTS, (long long)max,
	       (long long)(sum / (rounds * CLIENTS)),
	       (double)(itest_now_ms() - t0) / 1000);
	printf("FUSD-FIGURES daemon-kills=%d max-ms=%lld\n", rounds,
	       (long long)max);
}

/* ------------------------------------------------------------------ */
/* Clients killed mid-call.                                           */

enum slow_kind {
	S_DEFERRED,	/* defers every call; answers -EINTR on INTERRUPT,
			 * parked OPENs accepted late one time in two */
	S_SLOW,		/* answers every call 2-20 ms late, ignores
			 * INTERRUPT */
	S_KINDS
};

static const char *const slow_name[S_KINDS] = {
	"deferred-until-interrupt", "slow",
};

static enum slow_kind skind;

/* S_SLOW: calls waiting for their answer, answered by a thread. */
#define QUEUE_MAX 256
static struct {
	pthread_mutex_t lock;
	struct fusd_file_info *file[QUEUE_MAX];
	int64_t due[QUEUE_MAX];
	int n;
} slowq = { .lock = PTHREAD_MUTEX_INITIALIZER };

static unsigned int late_accept;

static void answer(struct fusd_file_info *file, ssize_t result)
{
	if (fusd_get_call_type(file) == FUSD_OP_OPEN && result == 0)
		atomic_fetch_add(&sh->opens, 1);
	atomic_fetch_sub(&sh->held, 1);
	fusd_return(file, result);
}

static int defer(struct fusd_file_info *file)
{
	atomic_fetch_add(&sh->held, 1);
	if (skind == S_SLOW) {
		pthread_mutex_lock(&slowq.lock);
		if (slowq.n == QUEUE_MAX) {
			pthread_mutex_unlock(&slowq.lock);
			atomic_fetch_sub(&sh->held, 1);
			return -EBUSY;
		}
		slowq.file[slowq.n] = file;
		slowq.due[slowq.n++] = itest_now_ms() + 2 + rnd(19);
		pthread_mutex_unlock(&slowq.lock);
	}
	return -FUSD_NOREPLY;
}

static void *slow_answerer(void *arg)
{
	(void)arg;
	for (;;) {
		struct fusd_file_info *file = NULL;
		int i;

		pthread_mutex_lock(&slowq.lock);
		for (i = 0; i < slowq.n; i++) {
			if (slowq.due[i] <= itest_now_ms()) {
				file = slowq.file[i];
				slowq.file[i] = slowq.file[--slowq.n];
				slowq.due[i] = slowq.due[slowq.n];
				break;
			}
		}
		pthread_mutex_unlock(&slowq.lock);
		if (!file) {
			usleep(1000);
			continue;
		}
		switch (fusd_get_call_type(file)) {
		case FUSD_OP_READ:
			fusd_get_read_buffer(file)[0] = 'r';
			answer(file, 1);
			break;
		case FUSD_OP_WRITE:
			answer(file, (ssize_t)fusd_get_length(file));
			break;
		default:	/* an ioctl, or a parked OPEN: accepted */
			answer(file, 0);
			break;
		}
	}
	return NULL;
}

static int s_open(struct fusd_file_info *file)
{
	if (file->flags & O_APPEND)
		return defer(file);
	atomic_fetch_add(&sh->opens, 1);
	return 0;
}

static int s_close(struct fusd_file_info *file)
{
	(void)file;
	atomic_fetch_add(&sh->releases, 1);
	return 0;
}

static ssize_t s_read(struct fusd_file_info *file, char *buf, size_t len,
		      loff_t *offset)
{
	(void)buf; (void)len; (void)offset;
	return defer(file);
}

static ssize_t s_write(struct fusd_file_info *file, const char *buf,
		       size_t len, loff_t *offset)
{
	(void)buf; (void)len; (void)offset;
	return defer(file);
}

static int s_ioctl(struct fusd_file_info *file, int cmd, void *arg)
{
	(void)cmd; (void)arg;
	return defer(file);
}

/* S_DEFERRED: the caller got a signal (here: SIGKILL) - answer now. */
static int s_unblock(struct fusd_file_info *file)
{
	atomic_fetch_add(&sh->interrupts, 1);
	if (fusd_get_call_type(file) == FUSD_OP_OPEN && late_accept++ % 2)
		answer(file, 0);	/* accepted after its caller left */
	else
		answer(file, -EINTR);
	return 0;
}

static pid_t start_slow_daemon(enum slow_kind k)
{
	struct fusd_file_operations fops = {
		.open = s_open,
		.close = s_close,
		.read = s_read,
		.write = s_write,
		.ioctl = s_ioctl,
		.unblock = k == S_DEFERRED ? s_unblock : NULL,
	};
	pthread_t t;
	int p[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(p[0]);
		skind = k;
		if (fusd_register(NAME, "test", NULL, 0666, NULL, &fops) < 0)
			_exit(1);
		if (k == S_SLOW &&
		    pthread_create(&t, NULL, slow_answerer, NULL))
			_exit(1);
		if (write(p[1], "r", 1) != 1)
			_exit(1);
		if (k == S_SLOW)
			fusd_run_mt(2);
		else
			fusd_run();
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	return pid;
}

/* Where a client was when it was killed. */
enum { AT_START, AT_OPEN, AT_CALL, AT_RETURNED, AT_STATES };

static const char *const at_name[AT_STATES] = {
	"before open", "in open", "in its call", "after its call",
};

struct victim {
	atomic_int at;		/* AT_*, set by the client */
};

static struct victim *victims;	/* shared with the clients */

/* A forked client: open, one call the daemon holds, then wait to die. */
static void victim_main(struct victim *v, enum call_kind kind)
{
	char buf[8] = "w";
	int fd, arg = 0;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* A parked OPEN is the call itself. */
	atomic_store(&v->at, kind == C_OPEN ? AT_CALL : AT_OPEN);
	fd = open(NODE, kind == C_OPEN ? O_RDWR | O_APPEND : O_RDWR);
	if (fd < 0)
		_exit(3);
	atomic_store(&v->at, AT_CALL);
	if (kind == C_READ)
		(void)!read(fd, buf, sizeof(buf));
	else if (kind == C_WRITE)
		(void)!write(fd, buf, 1);
	else if (kind == C_IOCTL)
		ioctl(fd, FAULT_IOC, &arg);
	atomic_store(&v->at, AT_RETURNED);
	for (;;)
		pause();
}

/*
 * Clients forked 4 at a time, each blocked in a read, write, ioctl or a
 * parked OPEN, are SIGKILLed at a random moment (two times in three a
 * random 0-5 ms after entering their call, else 0-8 ms after the fork),
 * 500 times, against a daemon that defers calls until their INTERRUPT
 * and one that answers 2-20 ms late and ignores INTERRUPTs.  Each killed
 * client dies within a second; then the daemon has had exactly one
 * RELEASE per accepted OPEN (late ones included), nothing is pending, no
 * file is open, and fusd logged nothing.
 */
static void test_clients_killed_mid_call(void **state)
{
	static const enum call_kind kinds[] = {
		C_READ, C_WRITE, C_IOCTL, C_OPEN,
	};
	int kills = itest_scaled_count(CLIENT_KILLS, 20);
	int limit = RETURN_MS * itest_scale();
	int at[AT_STATES] = { 0 }, opens = 0, releases = 0, interrupts = 0;
	int64_t max_death = 0, t, kill_at[BATCH], t0 = itest_now_ms();
	int k, done, n, i, left, status, delay[BATCH], killed[BATCH];
	int kmsg = kmsg_at_end();
	pid_t d, pid[BATCH];

	(void)state;
	seed_rng("client kills");
	map_shared();
	victims = mmap(NULL, BATCH * sizeof(*victims), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(victims != MAP_FAILED);

	for (k = 0; k < S_KINDS; k++) {
		int quota = kills * (k + 1) / S_KINDS - kills * k / S_KINDS;

		memset(sh, 0, sizeof(*sh));
		d = start_slow_daemon((enum slow_kind)k);
		for (done = 0; done < quota; done += n) {
			int64_t start = itest_now_ms();

			n = quota - done;
			if (n > BATCH)
				n = BATCH;
			memset(victims, 0, BATCH * sizeof(*victims));
			for (i = 0; i < n; i++) {
				enum call_kind kind = kinds[rnd(4)];

				kill_at[i] = 0;
				killed[i] = 0;
				if (rnd(3) == 0)
					kill_at[i] = start + rnd(9);
				else
					delay[i] = (int)rnd(6);
				pid[i] = fork();
				assert_true(pid[i] >= 0);
				if (pid[i] == 0)
					victim_main(&victims[i], kind);
			}
			/* Kill each when its moment comes. */
			for (left = n; left;) {
				int64_t now = itest_now_ms();

				for (i = 0; i < n; i++) {
					int where = atomic_load(&victims[i].at);

					if (killed[i])
						continue;
					if (!kill_at[i] && where >= AT_CALL)
						kill_at[i] = now + delay[i];
					if (!kill_at[i] || now < kill_at[i]) {
						if (now - start <= 5 * limit)
							continue;
						fail_msg("client %d never got "
							 "past '%s'",
							 (int)pid[i],
							 at_name[where]);
					}
					at[where]++;
					assert_int_equal(kill(pid[i], SIGKILL),
							 0);
					assert_int_equal(waitpid(pid[i],
								 &status, 0),
							 pid[i]);
					t = itest_now_ms() - now;
					if (t > max_death)
						max_death = t;
					if (!WIFSIGNALED(status))
						fail_msg("client %d exited "
							 "%d by itself",
							 (int)pid[i],
							 WEXITSTATUS(status));
					killed[i] = 1;
					left--;
					break;
				}
				usleep(200);
			}
		}
		/* The daemon answers what it holds; RELEASEs follow. */
		if (itest_wait_sysfs(NAME, "pending", 0, 5 * limit) ||
		    itest_wait_sysfs(NAME, "open_files", 0, 5 * limit))
			fail_msg("%s: pending %lld, open files %lld",
				 slow_name[k], itest_sysfs(NAME, "pending"),
				 itest_sysfs(NAME, "open_files"));
		for (i = 0; i < 500 && atomic_load(&sh->releases) !=
					   atomic_load(&sh->opens); i++)
			usleep(10000);
		printf("%s daemon: %d OPENs accepted, %d RELEASEs, %d "
		       "INTERRUPTs\n", slow_name[k], atomic_load(&sh->opens),
		       atomic_load(&sh->releases),
		       atomic_load(&sh->interrupts));
		assert_int_equal(atomic_load(&sh->releases),
				 atomic_load(&sh->opens));
		assert_int_equal(atomic_load(&sh->held), 0);
		opens += atomic_load(&sh->opens);
		releases += atomic_load(&sh->releases);
		interrupts += atomic_load(&sh->interrupts);
		itest_kill_daemon(d, NODE);
	}
	assert_true(max_death <= limit);
	kmsg_quiet(kmsg);
	printf("client kills: %d (%d %s, %d %s, %d %s, %d %s); each died "
	       "within %lld ms; %d INTERRUPTs answered; %.1f s\n",
	       at[0] + at[1] + at[2] + at[3], at[0], at_name[0], at[1],
	       at_name[1], at[2], at_name[2], at[3], at_name[3],
	       (long long)max_death, interrupts,
	       (double)(itest_now_ms() - t0) / 1000);
	printf("FUSD-FIGURES client-kills=%d releases=%d opens=%d\n",
	       at[0] + at[1] + at[2] + at[3], releases, opens);
	munmap(victims, BATCH * sizeof(*victims));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_daemon_killed_at_random),
		cmocka_unit_test(test_clients_killed_mid_call),
	};

	/* About 40 s under emulation: more room than the usual 60 s. */
	return itest_run_limit(tests, NULL, NULL, 120);
}
