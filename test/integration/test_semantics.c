// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: per-request O_NONBLOCK, out-of-order deferred replies to 8
 * threads, a non-root caller's identity, an interrupted open that gets
 * the daemon's answer, accepted or refused, the fsuid/fsgid (not the uid)
 * in requests, and RELEASE naming the process that closed last
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"
#include "rawchan.h"

/* ---- O_NONBLOCK is seen per request ---- */

static ssize_t nb_read(struct fusd_file_info *file, char *buf, size_t len,
		       loff_t *offset)
{
	(void)offset;
	if (file->flags & O_NONBLOCK)
		return -EAGAIN;
	if (len < 1)
		return -EINVAL;
	buf[0] = 'B';
	return 1;
}

static struct fusd_file_operations nb_fops = { .read = nb_read };

static void test_nonblock_seen_per_request(void **state)
{
	char c;
	pid_t d;
	int fd;

	(void)state;
	d = itest_fork_daemon("nonblock", &nb_fops);
	fd = open("/dev/nonblock", O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, &c, 1), 1);
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(read(fd, &c, 1), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(fcntl(fd, F_SETFL, 0), 0);
	assert_int_equal(read(fd, &c, 1), 1);
	assert_int_equal(c, 'B');
	close(fd);
	itest_kill_daemon(d, "/dev/nonblock");
}

/* ---- 8 threads, deferred replies answered in reverse order ---- */

#define NTHREADS 8
static struct fusd_file_info *held[NTHREADS];
static int nheld;

static ssize_t ooo_read(struct fusd_file_info *file, char *buf, size_t len,
			loff_t *offset)
{
	(void)buf; (void)len; (void)offset;
	held[nheld++] = file;
	if (nheld < NTHREADS)
		return -FUSD_NOREPLY;
	/* All here: answer newest first, each with its own offset. */
	while (nheld > 0) {
		struct fusd_file_info *f = held[--nheld];
		int n = snprintf(fusd_get_read_buffer(f), fusd_get_length(f),
				 "%lld", (long long)*fusd_get_offset(f));

		fusd_return(f, n);
	}
	return -FUSD_NOREPLY;	/* this one was answered in the loop */
}

static struct fusd_file_operations ooo_fops = { .read = ooo_read };

struct ooo_client {
	int fd;
	int idx;
	ssize_t ret;
	char buf[32];
};

static void *ooo_main(void *arg)
{
	struct ooo_client *c = arg;

	c->ret = pread(c->fd, c->buf, sizeof(c->buf) - 1, c->idx * 1000);
	if (c->ret > 0)
		c->buf[c->ret] = '\0';
	return NULL;
}

static void test_eight_threads_out_of_order(void **state)
{
	struct ooo_client c[NTHREADS];
	pthread_t t[NTHREADS];
	char want[32];
	pid_t d;
	int fd, i;

	(void)state;
	d = itest_fork_daemon("ooo", &ooo_fops);
	fd = open("/dev/ooo", O_RDONLY);
	assert_true(fd >= 0);
	for (i = 0; i < NTHREADS; i++) {
		c[i].fd = fd;
		c[i].idx = i;
		assert_int_equal(pthread_create(&t[i], NULL, ooo_main, &c[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], NULL);
		snprintf(want, sizeof(want), "%d", i * 1000);
		assert_true(c[i].ret > 0);
		assert_string_equal(c[i].buf, want);	/* its own answer */
	}
	close(fd);
	itest_kill_daemon(d, "/dev/ooo");
}

/* ---- a non-root caller's identity ---- */

static ssize_t id_read(struct fusd_file_info *file, char *buf, size_t len,
		       loff_t *offset)
{
	int n;

	if (*offset)
		return 0;
	n = snprintf(buf, len, "%d %d %d", (int)file->uid, (int)file->gid,
		     (int)file->pid);
	*offset += n;
	return n;
}

static struct fusd_file_operations id_fops = { .read = id_read };

static void test_non_root_identity(void **state)
{
	int status;
	pid_t d, child;

	(void)state;
	d = itest_fork_daemon("whoami", &id_fops);
	child = fork();
	if (child == 0) {
		char got[64], want[64];
		ssize_t n;
		int fd;

		if (setgid(2345) || setuid(1234))
			_exit(2);
		fd = open("/dev/whoami", O_RDONLY);
		if (fd < 0)
			_exit(3);
		n = read(fd, got, sizeof(got) - 1);
		if (n <= 0)
			_exit(4);
		got[n] = '\0';
		snprintf(want, sizeof(want), "1234 2345 %d", (int)getpid());
		_exit(strcmp(got, want) ? 5 : 0);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	itest_kill_daemon(d, "/dev/whoami");
}

/* ---- an interrupted open accepted late is closed exactly once ---- */

struct opener {
	pthread_t t;
	int ret;
	int err;
};

static void *open_main(void *arg)
{
	struct opener *o = arg;

	o->ret = open("/dev/lateopen", O_RDWR);
	o->err = errno;
	return NULL;
}

static void no_handler(int sig)
{
	(void)sig;
}

/* An OPEN whose caller gets a signal once the daemon has read it: the
 * caller waits for the daemon's answer and gets it, whatever it is.
 */
static void interrupted_open(int chan, int64_t answer)
{
	struct fusd_request req, intr, rel;
	struct opener o;
	char buf[256];

	assert_int_equal(pthread_create(&o.t, NULL, open_main, &o), 0);
	raw_read_request(chan, &req, NULL, 0);
	assert_int_equal(req.hdr.opcode, FUSD_OP_OPEN);
	pthread_kill(o.t, SIGUSR1);
	raw_read_request(chan, &intr, NULL, 0);
	assert_int_equal(intr.hdr.opcode, FUSD_OP_INTERRUPT);
	assert_true(intr.u.interrupt.id == req.hdr.id);
	assert_int_equal(raw_reply(chan, req.hdr.id, answer, NULL, 0),
			 sizeof(struct fusd_reply));
	pthread_join(o.t, NULL);
	if (answer == 0) {
		/* Accepted: the caller has its file; closing it releases. */
		assert_true(o.ret >= 0);
		close(o.ret);
		raw_read_request(chan, &rel, NULL, 0);
		assert_int_equal(rel.hdr.opcode, FUSD_OP_RELEASE);
		assert_true(rel.fh == req.fh);
		raw_reply(chan, rel.hdr.id, 0, NULL, 0);
	} else {
		assert_int_equal(o.ret, -1);
		assert_int_equal(o.err, (int)-answer);
	}
	/* Nothing else follows. */
	assert_int_equal(fcntl(chan, F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(read(chan, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(fcntl(chan, F_SETFL, 0), 0);
}

static void test_interrupted_open_gets_answer(void **state)
{
	struct sigaction sa = { .sa_handler = no_handler };
	int chan;

	(void)state;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
	chan = raw_register("lateopen", 0666);
	interrupted_open(chan, 0);
	interrupted_open(chan, -EACCES);
	close(chan);
	assert_int_equal(itest_wait_path("/dev/lateopen", 0, 2000), 0);
}

/* ---- requests carry the caller's fsuid and fsgid ---- */

/*
 * A root process that changes only its fsuid and fsgid (as an NFS server
 * does): every request names them, not its uid and gid (0).
 */
static void test_request_carries_fsuid(void **state)
{
	struct fusd_request req;
	int chan, status, i;
	pid_t child;

	(void)state;
	chan = raw_register("fsid", 0666);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		char c;
		int fd;

		setfsgid(2345);
		setfsuid(1234);
		if (setfsuid((uid_t)-1) != 1234 || setfsgid((gid_t)-1) != 2345 ||
		    getuid() != 0 || getgid() != 0)
			_exit(2);
		fd = open("/dev/fsid", O_RDWR);
		if (fd < 0)
			_exit(3);
		if (read(fd, &c, 1) != 1)
			_exit(4);
		close(fd);
		_exit(0);
	}
	for (i = 0; i < 3; i++) {
		raw_read_request(chan, &req, NULL, 0);
		assert_int_equal(req.hdr.opcode, i == 0 ? FUSD_OP_OPEN :
				 i == 1 ? FUSD_OP_READ : FUSD_OP_RELEASE);
		assert_int_equal(req.uid, 1234);
		assert_int_equal(req.gid, 2345);
		assert_int_equal(req.tgid, child);
		if (i == 1)
			raw_reply(chan, req.hdr.id, 1, "x", 1);
		else
			raw_reply(chan, req.hdr.id, 0, NULL, 0);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(chan);
	assert_int_equal(itest_wait_path("/dev/fsid", 0, 2000), 0);
}

/* ---- RELEASE names the process that closed last ---- */

static void *accept_one_open(void *arg)
{
	raw_accept_open(*(int *)arg);
	return NULL;
}

/*
 * The opener closes first, a child that inherited the file closes last:
 * RELEASE comes with the child's pid and tgid, not the opener's, and
 * only after the last close.
 */
static void test_release_names_last_closer(void **state)
{
	int chan, fd, go[2], status;
	struct fusd_request req;
	char buf[256], c = 'c';
	pthread_t t;
	pid_t child;

	(void)state;
	chan = raw_register("lastclose", 0666);
	assert_int_equal(pthread_create(&t, NULL, accept_one_open, &chan), 0);
	fd = open("/dev/lastclose", O_RDWR);
	pthread_join(t, NULL);
	assert_true(fd >= 0);
	assert_int_equal(pipe(go), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(2);
		_exit(close(fd) ? 3 : 0);	/* the last close */
	}
	close(go[0]);
	assert_int_equal(close(fd), 0);
	/* Not the last close: no RELEASE yet. */
	assert_int_equal(fcntl(chan, F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(read(chan, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(fcntl(chan, F_SETFL, 0), 0);

	assert_int_equal(write(go[1], &c, 1), 1);
	raw_read_request(chan, &req, NULL, 0);
	assert_int_equal(req.hdr.opcode, FUSD_OP_RELEASE);
	assert_int_equal(req.tgid, child);
	assert_int_equal(req.pid, child);	/* its only thread */
	raw_reply(chan, req.hdr.id, 0, NULL, 0);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(go[1]);
	close(chan);
	assert_int_equal(itest_wait_path("/dev/lastclose", 0, 2000), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nonblock_seen_per_request),
		cmocka_unit_test(test_eight_threads_out_of_order),
		cmocka_unit_test(test_non_root_identity),
		cmocka_unit_test(test_interrupted_open_gets_answer),
		cmocka_unit_test(test_request_carries_fsuid),
		cmocka_unit_test(test_release_names_last_closer),
	};

	return itest_run(tests, NULL, NULL);
}
