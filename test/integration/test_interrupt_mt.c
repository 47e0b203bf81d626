// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: a daemon served by 8 fusd_run_mt threads defers every read
 * and answers it only from unblock: 10,000 reads signalled at random
 * moments all end with EINTR, so no INTERRUPT is ever lost
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

#define NAME "eo-mt"
#define NODE "/dev/" NAME
#define DAEMON_THREADS 8
#define CLIENTS 4
#define CALLS 10000
#define STUCK_MS 5000		/* a read in flight this long lost its INTERRUPT */

/* Counters shared with the forked daemon. */
struct shared {
	atomic_int deferred;	/* reads the driver holds now */
	atomic_int seen;	/* reads that reached the driver */
	atomic_int unblocked;	/* unblock calls */
	atomic_int bad;		/* unblock for a call not held */
};

static struct shared *sh;

static ssize_t mt_read(struct fusd_file_info *file, char *buf, size_t len,
		       loff_t *offset)
{
	(void)file; (void)buf; (void)len; (void)offset;
	atomic_fetch_add(&sh->seen, 1);
	atomic_fetch_add(&sh->deferred, 1);
	return -FUSD_NOREPLY;		/* answered only by unblock */
}

static int mt_unblock(struct fusd_file_info *file)
{
	if (atomic_fetch_sub(&sh->deferred, 1) <= 0)
		atomic_fetch_add(&sh->bad, 1);
	atomic_fetch_add(&sh->unblocked, 1);
	fusd_return(file, -EINTR);
	return 0;
}

static struct fusd_file_operations mt_fops = {
	.read = mt_read,
	.unblock = mt_unblock,
};

static pid_t start_daemon(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fusd_register(NAME, "test", NULL, 0666, NULL, &mt_fops) < 0)
			_exit(1);
		fusd_run_mt(DAEMON_THREADS);
		_exit(0);
	}
	assert_int_equal(itest_wait_path(NODE, 1, 10000), 0);
	return pid;
}

struct client {
	pthread_t thread;
	int fd;
	atomic_int tid;
	atomic_int inflight;	/* a read() is running */
	atomic_llong since_ms;	/* when it started */
	int calls;		/* reads that ended */
	int not_eintr;		/* reads that ended otherwise */
};

static struct client clients[CLIENTS];
static atomic_int remaining = CALLS;

static void no_handler(int sig)
{
	(void)sig;
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	char buf[8];

	atomic_store(&c->tid, (int)syscall(SYS_gettid));
	while (atomic_fetch_sub(&remaining, 1) > 0) {
		ssize_t r;

		atomic_store(&c->since_ms, itest_now_ms());
		atomic_store(&c->inflight, 1);
		r = read(c->fd, buf, sizeof(buf));
		atomic_store(&c->inflight, 0);
		if (r != -1 || errno != EINTR)
			c->not_eintr++;
		c->calls++;
	}
	return NULL;
}

static void test_ten_thousand_interrupted_calls(void **state)
{
	struct sigaction sa = { .sa_handler = no_handler };
	int i, calls = 0, not_eintr = 0, running;
	unsigned int seed = 1;
	pid_t d;

	(void)state;
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	sigemptyset(&sa.sa_mask);	/* no SA_RESTART: EINTR ends a read */
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
	d = start_daemon();

	for (i = 0; i < CLIENTS; i++) {
		clients[i].fd = open(NODE, O_RDONLY);
		assert_true(clients[i].fd >= 0);
		assert_int_equal(pthread_create(&clients[i].thread, NULL,
						client_main, &clients[i]), 0);
	}

	/* Signal each running read after a random delay (so some are still
	 * queued, some just read by a daemon thread, some deferred), again
	 * every 20 ms in case a signal landed before read() began.
	 */
	do {
		running = 0;
		for (i = 0; i < CLIENTS; i++) {
			struct client *c = &clients[i];
			int64_t age;

			if (!atomic_load(&c->inflight) || !atomic_load(&c->tid))
				continue;
			running++;
			age = itest_now_ms() - atomic_load(&c->since_ms);
			if (age > STUCK_MS)
				fail_msg("a read waited %lld ms: INTERRUPT lost",
					 (long long)age);
			syscall(SYS_tgkill, getpid(), atomic_load(&c->tid),
				SIGUSR1);
		}
		usleep(rand_r(&seed) % 400);
		if (!running && atomic_load(&remaining) > 0)
			usleep(100);
	} while (running || atomic_load(&remaining) > 0);

	for (i = 0; i < CLIENTS; i++) {
		pthread_join(clients[i].thread, NULL);
		calls += clients[i].calls;
		not_eintr += clients[i].not_eintr;
		close(clients[i].fd);
	}
	print_message("%d reads, %d reached the daemon, %d unblocked\n",
		      calls, atomic_load(&sh->seen),
		      atomic_load(&sh->unblocked));
	assert_int_equal(calls, CALLS);
	assert_int_equal(not_eintr, 0);
	/* Every read the driver held was unblocked exactly once. */
	assert_int_equal(atomic_load(&sh->bad), 0);
	assert_int_equal(atomic_load(&sh->deferred), 0);
	assert_int_equal(atomic_load(&sh->unblocked),
			 atomic_load(&sh->seen));
	/* The INTERRUPT path itself was exercised, not only withdrawals. */
	assert_true(atomic_load(&sh->unblocked) > CALLS / 10);
	assert_int_equal(itest_wait_sysfs(NAME, "pending", 0, 2000), 0);
	itest_kill_daemon(d, NODE);
	munmap(sh, sizeof(*sh));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ten_thousand_interrupted_calls),
	};

	return itest_run(tests, NULL, NULL);
}
