// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: fusd_run_mt serves calls in parallel threads, and
 * fusd_epoll_fd/fusd_dispatch_ready serve several devices from an
 * application's own epoll loop
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#define NPAR 4

/* Each read waits until NPAR reads are inside the driver at once: only
 * possible when NPAR dispatcher threads run concurrently.
 */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int inside;

static ssize_t par_read(struct fusd_file_info *file, char *buf, size_t len,
			loff_t *offset)
{
	struct timespec until;
	int ok = 1;

	(void)file; (void)len; (void)offset;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&lock);
	inside++;
	pthread_cond_broadcast(&cond);
	while (inside < NPAR && ok)
		ok = pthread_cond_timedwait(&cond, &lock, &until) == 0;
	pthread_mutex_unlock(&lock);
	buf[0] = ok ? 'P' : 'S';	/* parallel, or serialised */
	return 1;
}

static struct fusd_file_operations par_fops = { .read = par_read };

static void *par_client(void *arg)
{
	char *c = arg;
	int fd = open("/dev/par", O_RDONLY);

	if (fd < 0 || read(fd, c, 1) != 1)
		*c = 'E';
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void test_run_mt_is_parallel(void **state)
{
	char got[NPAR];
	pthread_t t[NPAR];
	pid_t d;
	int i;

	(void)state;
	d = fork();
	assert_true(d >= 0);
	if (d == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fusd_register("par", "test", NULL, 0666, NULL, &par_fops) < 0)
			_exit(1);
		_exit(fusd_run_mt(NPAR) ? 2 : 0);
	}
	assert_int_equal(itest_wait_path("/dev/par", 1, 10000), 0);
	for (i = 0; i < NPAR; i++)
		assert_int_equal(pthread_create(&t[i], NULL, par_client, &got[i]), 0);
	for (i = 0; i < NPAR; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(got[i], 'P');
	}
	itest_kill_daemon(d, "/dev/par");
}

static ssize_t name_read(struct fusd_file_info *file, char *buf, size_t len,
			 loff_t *offset)
{
	const char *name = file->device_info;
	size_t n = strlen(name);

	if (*offset || len < n)
		return 0;
	memcpy(buf, name, n);
	*offset = (loff_t)n;
	return (ssize_t)n;
}

static struct fusd_file_operations name_fops = { .read = name_read };

/* An application loop that watches its own pipe and fusd's one fd. */
static void app_loop(int own_fd)
{
	struct epoll_event ev = { .events = EPOLLIN }, out[4];
	int ep = epoll_create1(0), n, i;

	ev.data.fd = fusd_epoll_fd();
	epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
	ev.data.fd = own_fd;
	epoll_ctl(ep, EPOLL_CTL_ADD, own_fd, &ev);
	for (;;) {
		n = epoll_wait(ep, out, 4, -1);
		for (i = 0; i < n; i++) {
			if (out[i].data.fd == own_fd)
				return;		/* the app's own event: quit */
			if (fusd_dispatch_ready() < 0)
				_exit(3);
		}
	}
}

static void test_epoll_integration(void **state)
{
	char buf[32];
	int p[2];
	pid_t d;

	(void)state;
	assert_int_equal(pipe(p), 0);
	d = fork();
	assert_true(d >= 0);
	if (d == 0) {
		close(p[1]);
		if (fusd_register("loop/one", "test", NULL, 0666, "one",
				  &name_fops) < 0 ||
		    fusd_register("loop/two", "test", NULL, 0666, "two",
				  &name_fops) < 0)
			_exit(1);
		app_loop(p[0]);
		_exit(0);
	}
	close(p[0]);
	assert_int_equal(itest_wait_path("/dev/loop/one", 1, 10000), 0);
	assert_int_equal(itest_wait_path("/dev/loop/two", 1, 10000), 0);
	assert_int_equal(itest_sh("cat /dev/loop/one /dev/loop/two /dev/loop/one"
				  " > /tmp/loop.out"), 0);
	assert_int_equal(itest_slurp("/tmp/loop.out", buf, sizeof(buf)), 9);
	assert_string_equal(buf, "onetwoone");
	/* The app's own event ends its loop; the process exits cleanly. */
	assert_int_equal(write(p[1], "q", 1), 1);
	{
		int status;

		assert_int_equal(waitpid(d, &status, 0), d);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	close(p[1]);
	assert_int_equal(itest_wait_path("/dev/loop/one", 0, 2000), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_mt_is_parallel),
		cmocka_unit_test(test_epoll_integration),
	};

	return itest_run(tests, NULL, NULL);
}
