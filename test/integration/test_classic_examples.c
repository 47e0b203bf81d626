// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: the classic-style examples (pager, logring, drums,
 * uid-filter, console-read) do what their header comments promise:
 * deferred reads woken by writes or typed lines, unblock and close,
 * poll_diff readiness, a ring buffer, several devices per daemon, uid
 * checks in open, and the select() loop over fusd_fdset_add()
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"

#define PAGER_IN "/dev/pager/input"
#define PAGER_NOTIFY "/dev/pager/notify"
#define PAGER_SYS "pager!notify"
#define LOGRING "/dev/logring"
#define UIDF "/dev/uid-filter"
#define CONSOLE "/dev/console-read"

static void write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
	close(fd);
}

static short poll_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };

	assert_true(poll(&p, 1, timeout_ms) >= 0);
	return p.revents;
}

static void read_expect(int fd, const char *want)
{
	char buf[256];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);

	assert_int_equal(n, (ssize_t)strlen(want));
	buf[n] = '\0';
	assert_string_equal(buf, want);
}

static void no_handler(int sig)
{
	(void)sig;
}

static pid_t daemon_pid;

static int start_pager(void **state)
{
	(void)state;
	daemon_pid = itest_start_example("pager", PAGER_NOTIFY);
	assert_int_equal(itest_wait_path(PAGER_IN, 1, 5000), 0);
	return 0;
}

static int stop_pager(void **state)
{
	(void)state;
	itest_kill_daemon(daemon_pid, PAGER_NOTIFY);
	assert_int_equal(itest_wait_path(PAGER_IN, 0, 5000), 0);
	return 0;
}

/* Every reader blocked on notify wakes with the page, once. */
static void test_pager_wakes_all_readers(void **state)
{
	struct itest_reader a, b;
	int fa, fb;

	(void)state;
	fa = open(PAGER_NOTIFY, O_RDONLY);
	fb = open(PAGER_NOTIFY, O_RDONLY);
	assert_true(fa >= 0 && fb >= 0);
	itest_reader_start(&a, fa, 0);
	itest_reader_start(&b, fb, 0);
	assert_int_equal(itest_wait_sysfs(PAGER_SYS, "pending", 2, 5000), 0);
	usleep(100 * 1000);
	assert_false(itest_reader_done(&a));	/* both are blocked */
	assert_false(itest_reader_done(&b));

	write_str(PAGER_IN, "page\n");
	itest_reader_join(&a);
	itest_reader_join(&b);
	assert_int_equal(a.ret, 7);
	assert_string_equal(a.buf, "page 1\n");
	assert_int_equal(b.ret, 7);
	assert_string_equal(b.buf, "page 1\n");

	/* Seen once: nothing more to read now. */
	fcntl(fa, F_SETFL, O_NONBLOCK);
	assert_int_equal(read(fa, a.buf, sizeof(a.buf)), -1);
	assert_int_equal(errno, EAGAIN);

	/* Two pages unread: one read gives both lines. */
	write_str(PAGER_IN, "page\n");
	write_str(PAGER_IN, "page\n");
	read_expect(fa, "page 2\npage 3\n");
	read_expect(fb, "page 2\npage 3\n");

	/* A file opened now sees only later pages. */
	close(fa);
	fa = open(PAGER_NOTIFY, O_RDONLY | O_NONBLOCK);
	assert_true(fa >= 0);
	assert_int_equal(read(fa, a.buf, sizeof(a.buf)), -1);
	assert_int_equal(errno, EAGAIN);
	write_str(PAGER_IN, "page\n");
	read_expect(fa, "page 4\n");
	read_expect(fb, "page 4\n");
	close(fa);
	close(fb);
}

/* poll_diff: notify is readable exactly while a page is unread. */
static void test_pager_poll(void **state)
{
	int fa, fb;

	(void)state;
	fa = open(PAGER_NOTIFY, O_RDONLY);
	fb = open(PAGER_NOTIFY, O_RDONLY);
	assert_true(fa >= 0 && fb >= 0);
	assert_int_equal(poll_fd(fa, POLLIN, 100), 0);
	write_str(PAGER_IN, "page\n");
	assert_int_equal(poll_fd(fa, POLLIN, 5000), POLLIN);
	assert_int_equal(poll_fd(fb, POLLIN, 5000), POLLIN);
	read_expect(fa, "page 1\n");
	/* Read: fa is not readable any more, fb (unread) still is. */
	assert_int_equal(poll_fd(fa, POLLIN, 0), 0);
	assert_int_equal(poll_fd(fb, POLLIN, 0), POLLIN);
	read_expect(fb, "page 1\n");
	assert_int_equal(poll_fd(fb, POLLIN, 0), 0);
	close(fa);
	close(fb);
}

/* unblock drops an interrupted read without losing the page; close
 * releases the file's held calls and the daemon goes on.
 */
static void test_pager_unblock_and_close(void **state)
{
	struct sigaction sa = { .sa_handler = no_handler };
	struct itest_reader a, b;
	int fa, fb;

	(void)state;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
	fa = open(PAGER_NOTIFY, O_RDONLY);
	fb = open(PAGER_NOTIFY, O_RDONLY);
	assert_true(fa >= 0 && fb >= 0);

	itest_reader_start(&a, fa, 0);
	assert_int_equal(itest_wait_sysfs(PAGER_SYS, "pending", 1, 5000), 0);
	usleep(100 * 1000);
	assert_false(itest_reader_done(&a));
	pthread_kill(a.t, SIGUSR1);
	itest_reader_join(&a);
	assert_int_equal(a.ret, -1);
	assert_int_equal(a.err, EINTR);
	assert_int_equal(itest_wait_sysfs(PAGER_SYS, "pending", 0, 5000), 0);

	/* The page goes to the live reader; the interrupted read did not
	 * swallow it, so fa's next read gets it too.
	 */
	itest_reader_start(&b, fb, 0);
	assert_int_equal(itest_wait_sysfs(PAGER_SYS, "pending", 1, 5000), 0);
	write_str(PAGER_IN, "page\n");
	itest_reader_join(&b);
	assert_string_equal(b.buf, "page 1\n");
	read_expect(fa, "page 1\n");

	/* Close (with a poll_diff held for it): the file is gone, the
	 * daemon still serves the others.
	 */
	assert_int_equal(poll_fd(fa, POLLIN, 0), 0);
	assert_int_equal(close(fa), 0);
	assert_int_equal(itest_wait_sysfs(PAGER_SYS, "open_files", 1, 5000), 0);
	write_str(PAGER_IN, "page\n");
	assert_int_equal(poll_fd(fb, POLLIN, 5000), POLLIN);
	read_expect(fb, "page 2\n");
	close(fb);
	assert_int_equal(itest_wait_sysfs(PAGER_SYS, "open_files", 0, 5000), 0);
	assert_int_equal(kill(daemon_pid, 0), 0);	/* still alive */
}

static int start_logring(void **state)
{
	(void)state;
	daemon_pid = itest_start_example("logring", LOGRING);
	return 0;
}

static int stop_logring(void **state)
{
	(void)state;
	itest_kill_daemon(daemon_pid, LOGRING);
	return 0;
}

/* Reads give unread data, block when caught up, wake on a write. */
static void test_logring_follow(void **state)
{
	struct itest_reader r;
	int fd, fd2;

	(void)state;
	fd = open(LOGRING, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(poll_fd(fd, POLLIN | POLLOUT, 5000), POLLOUT);
	write_str(LOGRING, "one\n");
	assert_int_equal(poll_fd(fd, POLLIN, 5000), POLLIN);
	read_expect(fd, "one\n");
	assert_int_equal(poll_fd(fd, POLLIN, 0), 0);	/* caught up */

	itest_reader_start(&r, fd, 0);
	assert_int_equal(itest_wait_sysfs("logring", "pending", 1, 5000), 0);
	usleep(100 * 1000);
	assert_false(itest_reader_done(&r));
	write_str(LOGRING, "two\n");
	itest_reader_join(&r);
	assert_int_equal(r.ret, 4);
	assert_string_equal(r.buf, "two\n");

	/* Caught up again: a non-blocking read fails EAGAIN. */
	fcntl(fd, F_SETFL, O_NONBLOCK);
	assert_int_equal(read(fd, r.buf, sizeof(r.buf)), -1);
	assert_int_equal(errno, EAGAIN);

	/* A new reader starts at the oldest byte held. */
	fd2 = open(LOGRING, O_RDONLY | O_NONBLOCK);
	assert_true(fd2 >= 0);
	read_expect(fd2, "one\ntwo\n");
	write_str(LOGRING, "three\n");
	read_expect(fd2, "three\n");
	read_expect(fd, "three\n");
	close(fd2);
	close(fd);
}

/* Only the last 4096 bytes are kept; laggards skip the overwritten. */
static void test_logring_wraps(void **state)
{
	static char stream[6000], got[8192];
	size_t i;
	ssize_t n, total = 0;
	int early, wfd, fd;

	(void)state;
	for (i = 0; i < sizeof(stream); i++)
		stream[i] = (char)('a' + (i * 7 + i / 26) % 26);
	early = open(LOGRING, O_RDONLY | O_NONBLOCK);
	assert_true(early >= 0);
	wfd = open(LOGRING, O_WRONLY);
	assert_true(wfd >= 0);
	for (i = 0; i < sizeof(stream); i += 1000)
		assert_int_equal(write(wfd, stream + i, 1000), 1000);
	close(wfd);

	fd = open(LOGRING, O_RDONLY | O_NONBLOCK);
	assert_true(fd >= 0);
	while ((n = read(fd, got + total, sizeof(got) - (size_t)total)) > 0)
		total += n;
	assert_int_equal(n, -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(total, 4096);
	assert_memory_equal(got, stream + sizeof(stream) - 4096, 4096);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), (off_t)sizeof(stream));

	/* The file opened before the writes lags by 6000: it gets the
	 * same last 4096 bytes.
	 */
	n = read(early, got, 100);
	assert_int_equal(n, 100);
	assert_memory_equal(got, stream + sizeof(stream) - 4096, 100);
	close(early);
	close(fd);
}

/* One daemon, four devices, each knowing its own name. */
static void test_drums(void **state)
{
	static const char *const names[] = { "bam", "bum", "beat", "boom" };
	char path[64], want[64], buf[256];
	pid_t pid;
	size_t i;

	(void)state;
	pid = itest_start_example("drums", "/dev/drums/boom");
	for (i = 0; i < 4; i++) {
		int fd;

		snprintf(path, sizeof(path), "/dev/drums/%s", names[i]);
		snprintf(want, sizeof(want), "You have hit the %s drum!\n",
			 names[i]);
		assert_int_equal(itest_wait_path(path, 1, 5000), 0);
		fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		read_expect(fd, want);
		assert_int_equal(read(fd, buf, sizeof(buf)), 0);  /* EOF */
		close(fd);
		/* Each open hits again. */
		assert_int_equal(itest_slurp(path, buf, sizeof(buf)),
				 (ssize_t)strlen(want));
		assert_string_equal(buf, want);
	}
	assert_int_equal(itest_sh("cat /dev/drums/bam /dev/drums/boom "
				  "> /tmp/drums.out"), 0);
	assert_int_equal(itest_slurp("/tmp/drums.out", buf, sizeof(buf)), 55);
	assert_string_equal(buf, "You have hit the bam drum!\n"
			    "You have hit the boom drum!\n");
	itest_kill_daemon(pid, "/dev/drums/boom");
	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "/dev/drums/%s", names[i]);
		assert_int_equal(itest_wait_path(path, 0, 5000), 0);
	}
}

/* The daemon's own uid may open; uid 1234 gets EPERM. */
static void test_uid_filter(void **state)
{
	char want[128], buf[128];
	int fd, status;
	pid_t pid, child;

	(void)state;
	pid = itest_start_example("uid-filter", UIDF);
	fd = open(UIDF, O_RDONLY);
	assert_true(fd >= 0);
	snprintf(want, sizeof(want), "your uid is %u, your pid is %d\n",
		 (unsigned int)getuid(), (int)getpid());
	read_expect(fd, want);
	assert_int_equal(read(fd, buf, sizeof(buf)), 0);
	close(fd);

	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		int cfd;

		if (setgid(1234) || setuid(1234))
			_exit(2);
		cfd = open(UIDF, O_RDONLY);
		if (cfd >= 0)
			_exit(3);
		_exit(errno == EPERM ? 0 : 4);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* The refusal left nothing open. */
	assert_int_equal(itest_wait_sysfs("uid-filter", "open_files", 0,
					  5000), 0);
	itest_kill_daemon(pid, UIDF);
}

/* Typed lines go to the oldest blocked read; EOF ends the daemon. */
static void test_console_read(void **state)
{
	char path[256];
	struct itest_reader a, b, c;
	int in[2], fa, fb, status;
	pid_t pid;

	(void)state;
	snprintf(path, sizeof(path), "%s/console-read", itest_bindir());
	assert_int_equal(pipe(in), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(in[0], STDIN_FILENO);
		close(in[0]);
		close(in[1]);
		execl(path, "console-read", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	assert_int_equal(itest_wait_path(CONSOLE, 1, 10000), 0);

	fa = open(CONSOLE, O_RDONLY);
	fb = open(CONSOLE, O_RDONLY);
	assert_true(fa >= 0 && fb >= 0);
	itest_reader_start(&a, fa, 0);
	assert_int_equal(itest_wait_sysfs("console-read", "pending", 1, 5000),
			 0);
	itest_reader_start(&b, fb, 0);
	assert_int_equal(itest_wait_sysfs("console-read", "pending", 2, 5000),
			 0);
	usleep(100 * 1000);
	assert_false(itest_reader_done(&a));
	assert_false(itest_reader_done(&b));

	assert_int_equal(write(in[1], "first\n", 6), 6);
	itest_reader_join(&a);
	assert_int_equal(a.ret, 6);
	assert_string_equal(a.buf, "first\n");
	assert_int_equal(itest_wait_sysfs("console-read", "pending", 1, 5000),
			 0);
	assert_false(itest_reader_done(&b));	/* one line, one reader */

	/* Two lines in one write: the second waits for nobody, dropped. */
	assert_int_equal(write(in[1], "second\nlost\n", 12), 12);
	itest_reader_join(&b);
	assert_int_equal(b.ret, 7);
	assert_string_equal(b.buf, "second\n");

	/* A short buffer gets the start of the line. */
	itest_reader_start(&c, fa, 3);
	assert_int_equal(itest_wait_sysfs("console-read", "pending", 1, 5000),
			 0);
	assert_int_equal(write(in[1], "third\n", 6), 6);
	itest_reader_join(&c);
	assert_int_equal(c.ret, 3);
	assert_string_equal(c.buf, "thi");

	/* End of input: a waiting read gets EOF and the daemon exits. */
	itest_reader_start(&a, fa, 0);
	assert_int_equal(itest_wait_sysfs("console-read", "pending", 1, 5000),
			 0);
	close(in[1]);
	itest_reader_join(&a);
	assert_int_equal(a.ret, 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(itest_wait_path(CONSOLE, 0, 5000), 0);
	close(fa);
	close(fb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pager_wakes_all_readers,
						start_pager, stop_pager),
		cmocka_unit_test_setup_teardown(test_pager_poll,
						start_pager, stop_pager),
		cmocka_unit_test_setup_teardown(test_pager_unblock_and_close,
						start_pager, stop_pager),
		cmocka_unit_test_setup_teardown(test_logring_follow,
						start_logring, stop_logring),
		cmocka_unit_test_setup_teardown(test_logring_wraps,
						start_logring, stop_logring),
		cmocka_unit_test(test_drums),
		cmocka_unit_test(test_uid_filter),
		cmocka_unit_test(test_console_read),
	};

	return itest_run(tests, NULL, NULL);
}
