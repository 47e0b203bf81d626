// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: when the daemon dies, blocked callers fail with EPIPE within
 * a second, the node goes away, and open files fail EPIPE until closed
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

/* Reads and writes never answer; open answers only if asked to. */
static int open_hangs;

static int hang_open(struct fusd_file_info *file)
{
	(void)file;
	return open_hangs ? -FUSD_NOREPLY : 0;
}

static ssize_t hang_read(struct fusd_file_info *file, char *buf, size_t len,
			 loff_t *offset)
{
	(void)file; (void)buf; (void)len; (void)offset;
	return -FUSD_NOREPLY;
}

static ssize_t hang_write(struct fusd_file_info *file, const char *buf,
			  size_t len, loff_t *offset)
{
	(void)file; (void)buf; (void)len; (void)offset;
	return -FUSD_NOREPLY;
}

static struct fusd_file_operations hang_fops = {
	.open = hang_open,
	.read = hang_read,
	.write = hang_write,
};

struct blocked {
	int fd;
	int op;		/* 0 read, 1 write, 2 open */
	ssize_t ret;
	int err;
	int64_t done_ms;
};

static void *blocked_call(void *arg)
{
	struct blocked *b = arg;
	char buf[16] = "x";

	if (b->op == 0)
		b->ret = read(b->fd, buf, sizeof(buf));
	else if (b->op == 1)
		b->ret = write(b->fd, buf, 1);
	else
		b->ret = open("/dev/hang", O_RDWR);
	b->err = errno;
	b->done_ms = itest_now_ms();
	return NULL;
}

/* Block a call in the daemon, SIGKILL the daemon, time the failure. */
static void kill_during(int op, int want_errno)
{
	struct blocked b = { .op = op };
	pthread_t t;
	int64_t killed;
	pid_t d;

	open_hangs = (op == 2);
	d = itest_fork_daemon("hang", &hang_fops);
	if (op != 2) {
		b.fd = open("/dev/hang", O_RDWR);
		assert_true(b.fd >= 0);
	}
	assert_int_equal(pthread_create(&t, NULL, blocked_call, &b), 0);
	usleep(300 * 1000);		/* let it block in the daemon */
	assert_int_equal(b.done_ms, 0);	/* still blocked */

	killed = itest_now_ms();
	itest_kill_daemon(d, NULL);
	pthread_join(t, NULL);
	assert_int_equal(b.ret, -1);
	assert_int_equal(b.err, want_errno);
	assert_true(b.done_ms - killed < 1000);
	assert_int_equal(itest_wait_path("/dev/hang", 0, 1000), 0);
	if (op != 2)
		close(b.fd);
}

static void test_blocked_read_gets_epipe(void **state)
{
	(void)state;
	kill_during(0, EPIPE);
}

static void test_blocked_write_gets_epipe(void **state)
{
	(void)state;
	kill_during(1, EPIPE);
}

static void test_blocked_open_fails(void **state)
{
	(void)state;
	kill_during(2, ENODEV);
}

static void test_open_file_after_death(void **state)
{
	char buf[8];
	pid_t d;
	int fd;

	(void)state;
	open_hangs = 0;
	d = itest_fork_daemon("hang", &hang_fops);
	fd = open("/dev/hang", O_RDWR);
	assert_true(fd >= 0);
	itest_kill_daemon(d, "/dev/hang");

	/* Everything on the orphaned file fails EPIPE; close works. */
	assert_int_equal(read(fd, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EPIPE);
	assert_int_equal(write(fd, buf, 1), -1);
	assert_int_equal(errno, EPIPE);
	assert_int_equal(lseek(fd, 0, SEEK_SET), -1);
	assert_int_equal(errno, EPIPE);
	assert_int_equal(close(fd), 0);

	/* The node is gone, so a new open cannot even find it. */
	assert_int_equal(open("/dev/hang", O_RDWR), -1);
	assert_int_equal(errno, ENOENT);
}

static void test_name_reusable_after_death(void **state)
{
	pid_t d;
	int i;

	(void)state;
	open_hangs = 0;
	for (i = 0; i < 5; i++) {
		d = itest_fork_daemon("hang", &hang_fops);
		itest_kill_daemon(d, "/dev/hang");
	}
}

static void test_unregister_while_open(void **state)
{
	char buf[8];
	int fd, cfd;

	(void)state;
	open_hangs = 0;
	cfd = fusd_register("hang", "test", NULL, 0666, NULL, &hang_fops);
	assert_true(cfd >= 0);
	/* No daemon thread runs here, so answer the open by hand. */
	{
		pid_t child = fork();

		if (child == 0) {
			close(cfd);	/* only the parent may hold the channel */
			fd = open("/dev/hang", O_RDONLY);
			if (fd < 0)
				_exit(2);
			if (read(fd, buf, sizeof(buf)) != -1 || errno != EPIPE)
				_exit(3);
			_exit(close(fd) == 0 ? 0 : 4);
		}
		fusd_dispatch(cfd);	/* the open */
		fusd_dispatch(cfd);	/* the read: deferred, never answered */
		assert_int_equal(fusd_unregister(cfd), 0);
		{
			int status;

			assert_int_equal(waitpid(child, &status, 0), child);
			assert_true(WIFEXITED(status));
			assert_int_equal(WEXITSTATUS(status), 0);
		}
	}
	assert_int_equal(itest_wait_path("/dev/hang", 0, 1000), 0);
}

static int close_seen_fd = -1;

static int note_close(struct fusd_file_info *file)
{
	(void)file;
	if (write(close_seen_fd, "c", 1) != 1)
		return -EIO;
	return 0;
}

static struct fusd_file_operations noting_fops = {
	.close = note_close,
};

static void *serve(void *arg)
{
	(void)arg;
	fusd_run();
	return NULL;
}

/* A daemon holding its own device open must still be able to die. */
static void test_daemon_dies_with_own_device_open(void **state)
{
	int status, how;

	(void)state;
	for (how = 0; how < 2; how++) {
		int ready[2];
		char c;
		pid_t d;

		assert_int_equal(pipe(ready), 0);
		d = fork();
		assert_true(d >= 0);
		if (d == 0) {
			pthread_t t;
			int fd;

			close(ready[0]);
			if (fusd_register("selfopen", "test", NULL, 0666, NULL,
					  &noting_fops) < 0)
				_exit(1);
			pthread_create(&t, NULL, serve, NULL);
			fd = open("/dev/selfopen", O_RDWR);
			if (fd < 0)
				_exit(2);
			if (write(ready[1], "r", 1) != 1)
				_exit(3);
			if (how == 0)
				exit(0);	/* files close at exit */
			pause();		/* killed below */
			_exit(4);
		}
		close(ready[1]);
		assert_int_equal(read(ready[0], &c, 1), 1);
		close(ready[0]);
		if (how == 1)
			kill(d, SIGKILL);
		assert_int_equal(waitpid(d, &status, 0), d);
		assert_int_equal(itest_wait_path("/dev/selfopen", 0, 2000), 0);
	}
}

/* close() returns at once even when the daemon is stopped; the daemon
 * still hears about it when it runs again.
 */
static void test_close_does_not_wait_for_daemon(void **state)
{
	int seen[2], fd;
	int64_t t0;
	char c;
	pid_t d;

	(void)state;
	assert_int_equal(pipe(seen), 0);
	close_seen_fd = seen[1];
	d = itest_fork_daemon("noting", &noting_fops);
	close(seen[1]);
	fd = open("/dev/noting", O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(kill(d, SIGSTOP), 0);
	t0 = itest_now_ms();
	assert_int_equal(close(fd), 0);
	assert_true(itest_now_ms() - t0 < 500);
	assert_int_equal(kill(d, SIGCONT), 0);
	assert_int_equal(read(seen[0], &c, 1), 1);	/* close callback ran */
	assert_int_equal(c, 'c');
	close(seen[0]);
	itest_kill_daemon(d, "/dev/noting");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blocked_read_gets_epipe),
		cmocka_unit_test(test_blocked_write_gets_epipe),
		cmocka_unit_test(test_blocked_open_fails),
		cmocka_unit_test(test_open_file_after_death),
		cmocka_unit_test(test_name_reusable_after_death),
		cmocka_unit_test(test_unregister_while_open),
		cmocka_unit_test(test_daemon_dies_with_own_device_open),
		cmocka_unit_test(test_close_does_not_wait_for_daemon),
	};

	return itest_run(tests, NULL, NULL);
}
