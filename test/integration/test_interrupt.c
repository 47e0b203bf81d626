// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: the unblock callback runs once per interrupted deferred
 * call and its -EINTR answer ends the call with EINTR (or a restart under
 * SA_RESTART), 1,000 times over without a stuck call
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

#define NODE "/dev/intr"
#define ROUNDS 1000

static int to_test = -1;	/* daemon -> test: 'r' deferred, 'u' unblocked */
static struct fusd_file_info *pending;

static void tell(char c)
{
	if (write(to_test, &c, 1) != 1)
		_exit(9);
}

static ssize_t intr_read(struct fusd_file_info *file, char *buf, size_t len,
			 loff_t *offset)
{
	(void)buf; (void)len; (void)offset;
	pending = file;
	tell('r');
	return -FUSD_NOREPLY;		/* answered only by unblock below */
}

static ssize_t intr_write(struct fusd_file_info *file, const char *buf,
			  size_t len, loff_t *offset)
{
	(void)file; (void)buf; (void)offset;
	/* A write answers any pending read, to test restarts. */
	if (pending) {
		memcpy(fusd_get_read_buffer(pending), "restart", 7);
		fusd_return(pending, 7);
		pending = NULL;
	}
	return (ssize_t)len;
}

static int intr_unblock(struct fusd_file_info *file)
{
	if (file != pending)
		tell('?');		/* unblock for a call we do not hold */
	pending = NULL;
	fusd_return(file, -EINTR);	/* the caller fails with EINTR */
	tell('u');
	return 0;
}

static struct fusd_file_operations intr_fops = {
	.read = intr_read,
	.write = intr_write,
	.unblock = intr_unblock,
};

static void no_handler(int sig)
{
	(void)sig;
}

struct reader {
	int fd;
	ssize_t ret;
	int err;
	char buf[16];
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	r->ret = read(r->fd, r->buf, sizeof(r->buf));
	r->err = errno;
	return NULL;
}

static void expect(int from, char want)
{
	char c = 0;

	assert_int_equal(read(from, &c, 1), 1);
	assert_int_equal(c, want);
}

static void test_thousand_interrupted_reads(void **state)
{
	struct sigaction sa = { .sa_handler = no_handler };
	int p[2], fd, i;
	struct reader r;
	pthread_t t;
	pid_t d;

	(void)state;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
	assert_int_equal(pipe(p), 0);
	to_test = p[1];
	d = itest_fork_daemon("intr", &intr_fops);
	close(p[1]);
	fd = open(NODE, O_RDWR);
	assert_true(fd >= 0);

	for (i = 0; i < ROUNDS; i++) {
		r.fd = fd;
		assert_int_equal(pthread_create(&t, NULL, reader_main, &r), 0);
		expect(p[0], 'r');		/* the daemon holds the read */
		pthread_kill(t, SIGUSR1);
		pthread_join(t, NULL);
		assert_int_equal(r.ret, -1);
		assert_int_equal(r.err, EINTR);
		expect(p[0], 'u');		/* and was told, once */
	}
	/* Nothing is left hanging: no call pending, the file still works. */
	assert_int_equal(itest_wait_sysfs("intr", "pending", 0, 2000), 0);
	assert_int_equal(itest_sysfs("intr", "open_files"), 1);
	assert_true(itest_sysfs("intr", "total") >= 2 * ROUNDS);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
	close(p[0]);
	itest_kill_daemon(d, NODE);
}

static void test_sa_restart_completes_read(void **state)
{
	struct sigaction sa = { .sa_handler = no_handler };
	int p[2], fd, wfd;
	struct reader r;
	pthread_t t;
	pid_t d;

	(void)state;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
	assert_int_equal(pipe(p), 0);
	to_test = p[1];
	d = itest_fork_daemon("intr", &intr_fops);
	close(p[1]);
	fd = open(NODE, O_RDONLY);
	wfd = open(NODE, O_WRONLY);
	assert_true(fd >= 0 && wfd >= 0);

	r.fd = fd;
	assert_int_equal(pthread_create(&t, NULL, reader_main, &r), 0);
	expect(p[0], 'r');
	pthread_kill(t, SIGUSR1);
	expect(p[0], 'u');		/* first attempt unblocked ... */
	expect(p[0], 'r');		/* ... and the read came back */
	assert_int_equal(write(wfd, "go", 2), 2);
	pthread_join(t, NULL);
	assert_int_equal(r.ret, 7);	/* the caller never saw EINTR */
	assert_memory_equal(r.buf, "restart", 7);
	close(fd);
	close(wfd);
	close(p[0]);
	itest_kill_daemon(d, NODE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_thousand_interrupted_reads),
		cmocka_unit_test(test_sa_restart_completes_read),
	};

	return itest_run(tests, NULL, NULL);
}
