// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: drivers written in Python with the fusd package
 * (bindings/python) serve real devices: the Python echo example passes the
 * C echo example's checks (echo_checks.c), and beyond them, on a device
 * holding no data, a read waits for the next write (a deferred answer),
 * fails with EAGAIN under O_NONBLOCK, is ended by a signal with EINTR or
 * restarted under SA_RESTART, and poll() shows POLLIN exactly while there
 * is data; the GPIO example's pins work from the shell.  Exit 77 (skip)
 * only when the payload has no python3.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "echo_checks.h"
#include "itest.h"

#define PYDIR "/fusd/python"
#define ECHO_PY PYDIR "/examples/echo.py"
#define GPIO_PY PYDIR "/examples/gpio.py"
#define ECHO "/dev/py-echo"
#define ECHO_SYS "py-echo"
#define GPIO0 "/dev/gpio0"
#define GPIO1 "/dev/gpio1"

static pid_t echo_pid, gpio_pid;

/* The payload's interpreter: /fusd/bin/python3 (FUSD_BIN). */
static const char *python3(void)
{
	static char path[256];

	snprintf(path, sizeof(path), "%s/python3", itest_bindir());
	return path;
}

/*
 * Start 'python3 SCRIPT ARGS...' with PYTHONPATH at the payload's package
 * and wait for 'node'.  Python compiles what it imports on its first run
 * in this boot, which takes seconds under emulation: a generous limit.
 */
static pid_t start_python(const char *node, const char *script,
			  const char *arg1, const char *arg2)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setenv("PYTHONPATH", PYDIR, 1);
		freopen("/dev/null", "w", stdout);
		execl(python3(), "python3", script, arg1, arg2, (char *)NULL);
		_exit(127);
	}
	if (itest_wait_path(node, 1, 60000 * itest_scale()) < 0) {
		int status;

		if (waitpid(pid, &status, WNOHANG) == pid)
			fail_msg("python3 %s exited (status %#x) before %s came",
				 script, status, node);
		fail_msg("python3 %s: no %s after 60 s", script, node);
	}
	return pid;
}

static int start(void **state)
{
	(void)state;
	echo_pid = start_python(ECHO, ECHO_PY, "--name", ECHO);
	gpio_pid = start_python(GPIO1, GPIO_PY, "--count", "2");
	return 0;
}

static int stop(void **state)
{
	(void)state;
	itest_kill_daemon(echo_pid, ECHO);
	itest_kill_daemon(gpio_pid, GPIO0);
	assert_int_equal(itest_wait_path(GPIO1, 0, 5000), 0);
	return 0;
}

/* ------------------------------------------------ the C echo's checks */

static void test_echo_c_client(void **state)
{
	(void)state;
	echo_check_c_client(ECHO);
}

static void test_echo_shell(void **state)
{
	(void)state;
	echo_check_shell(ECHO);
}

static void test_echo_dd_binary_block(void **state)
{
	(void)state;
	echo_check_dd_binary_block(ECHO);
}

static void test_echo_large_write_is_chunked(void **state)
{
	(void)state;
	echo_check_large_write_is_chunked(ECHO);
}

/* ------------------------------------------------ an empty echo */

static short poll_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };

	assert_true(poll(&p, 1, timeout_ms) >= 0);
	return p.revents;
}

/* Open the echo and empty it: a write of nothing leaves it no data. */
static int open_empty(int flags)
{
	int fd = open(ECHO, flags);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "", 0), 0);
	return fd;
}

/*
 * 'r' is blocked in read() and the daemon holds its call: the call is
 * counted as pending, and a request made after it (a non-blocking read on
 * another file, which the daemon fails with EAGAIN) has been answered.
 * Requests reach the daemon in order, so it has read the waiting one.
 */
static void wait_held(struct itest_reader *r)
{
	int fd = open(ECHO, O_RDONLY | O_NONBLOCK);
	char c;

	assert_true(fd >= 0);
	assert_int_equal(itest_wait_sysfs(ECHO_SYS, "pending", 1,
					  10000 * itest_scale()), 0);
	assert_int_equal(read(fd, &c, 1), -1);
	assert_int_equal(errno, EAGAIN);
	close(fd);
	assert_false(itest_reader_done(r));
}

static void write_str(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

static void test_echo_deferred_read(void **state)
{
	int fd = open_empty(O_RDWR), wfd;
	struct itest_reader r;

	(void)state;
	itest_reader_start(&r, fd, 0);
	wait_held(&r);
	usleep(200 * 1000);
	assert_false(itest_reader_done(&r));	/* still waiting */

	/* A write from another file answers the held read. */
	wfd = open(ECHO, O_WRONLY);
	assert_true(wfd >= 0);
	write_str(wfd, "late news\n");
	itest_reader_join(&r);
	assert_int_equal(r.ret, 10);
	assert_string_equal(r.buf, "late news\n");
	assert_int_equal(itest_wait_sysfs(ECHO_SYS, "pending", 0, 5000), 0);
	close(wfd);
	close(fd);
}

static void test_echo_nonblock(void **state)
{
	int fd = open_empty(O_RDWR | O_NONBLOCK), fd2;
	char buf[16];

	(void)state;
	assert_int_equal(read(fd, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
	write_str(fd, "now");
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 3);
	assert_memory_equal(buf, "now", 3);

	/* O_NONBLOCK set later with fcntl() reaches the daemon too. */
	fd2 = open_empty(O_RDWR);
	assert_int_equal(fcntl(fd2, F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(read(fd2, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
	close(fd2);
	close(fd);
}

struct poller {
	int fd;
	short revents;
	int done;
	pthread_t t;
};

static void *poller_main(void *arg)
{
	struct poller *p = arg;

	p->revents = poll_fd(p->fd, POLLIN, 20000 * itest_scale());
	__atomic_store_n(&p->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void test_echo_poll(void **state)
{
	int fd = open_empty(O_RDWR), wfd;
	struct poller p = { .fd = fd };
	char buf[16];

	(void)state;
	/* Empty: writable, not readable. */
	assert_int_equal(poll_fd(fd, POLLIN | POLLOUT, 0), POLLOUT);
	assert_int_equal(poll_fd(fd, POLLIN, 100), 0);

	/* A poll that sleeps is woken by a write on another file. */
	assert_int_equal(pthread_create(&p.t, NULL, poller_main, &p), 0);
	usleep(200 * 1000);
	assert_false(__atomic_load_n(&p.done, __ATOMIC_SEQ_CST));
	wfd = open(ECHO, O_WRONLY);
	assert_true(wfd >= 0);
	write_str(wfd, "data");
	pthread_join(p.t, NULL);
	assert_int_equal(p.revents, POLLIN);
	assert_int_equal(poll_fd(fd, POLLIN | POLLOUT, 0), POLLIN | POLLOUT);
	assert_int_equal(poll_fd(wfd, POLLIN, 0), POLLIN);	/* every file */

	/* Reading does not use the data up (it stays for every reader);
	 * emptying it makes the files unreadable again.
	 */
	assert_int_equal(read(fd, buf, sizeof(buf)), 4);
	assert_int_equal(poll_fd(fd, POLLIN, 0), POLLIN);
	assert_int_equal(write(wfd, "", 0), 0);
	assert_int_equal(poll_fd(fd, POLLIN | POLLOUT, 0), POLLOUT);
	assert_int_equal(poll_fd(wfd, POLLIN | POLLOUT, 0), POLLOUT);
	close(wfd);
	close(fd);
}

static volatile sig_atomic_t signals;

static void on_signal(int sig)
{
	(void)sig;
	signals++;
}

/* A signal to a reader the daemon holds, without SA_RESTART: the daemon
 * is told (INTERRUPT) and answers -EINTR; read() fails with EINTR.
 */
static void test_echo_interrupted_read(void **state)
{
	struct sigaction sa = { .sa_handler = on_signal };
	int fd = open_empty(O_RDWR);
	struct itest_reader r;

	(void)state;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
	itest_reader_start(&r, fd, 0);
	wait_held(&r);
	pthread_kill(r.t, SIGUSR1);
	itest_reader_join(&r);
	assert_int_equal(r.ret, -1);
	assert_int_equal(r.err, EINTR);
	assert_int_equal(signals, 1);
	/* The daemon answered it: nothing is pending any more. */
	assert_int_equal(itest_wait_sysfs(ECHO_SYS, "pending", 0, 5000), 0);

	/* The file and the daemon go on: the next read gets new data. */
	write_str(fd, "after");
	assert_int_equal(pread(fd, r.buf, sizeof(r.buf), 0), 5);
	assert_memory_equal(r.buf, "after", 5);
	close(fd);
}

/* The same under SA_RESTART: the kernel restarts the read as a new
 * request, which the daemon holds again, and a write answers it.
 */
static void test_echo_interrupted_read_restarts(void **state)
{
	struct sigaction sa = { .sa_handler = on_signal,
				.sa_flags = SA_RESTART };
	int64_t end = itest_now_ms() + 10000L * itest_scale();
	int fd = open_empty(O_RDWR), wfd;
	long long total;
	struct itest_reader r;

	(void)state;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
	itest_reader_start(&r, fd, 0);
	wait_held(&r);
	total = itest_sysfs(ECHO_SYS, "total");
	assert_true(total > 0);
	pthread_kill(r.t, SIGUSR1);
	/* The INTERRUPT and the restarted READ are new requests; then the
	 * daemon holds the new READ.
	 */
	while (itest_sysfs(ECHO_SYS, "total") < total + 2 &&
	       itest_now_ms() < end)
		usleep(5000);
	assert_true(itest_sysfs(ECHO_SYS, "total") >= total + 2);
	wait_held(&r);
	assert_int_equal(signals, 1);

	wfd = open(ECHO, O_WRONLY);
	assert_true(wfd >= 0);
	write_str(wfd, "restarted");
	itest_reader_join(&r);
	assert_int_equal(r.ret, 9);
	assert_string_equal(r.buf, "restarted");
	close(wfd);
	close(fd);
}

/* ------------------------------------------------ gpio */

static void test_gpio_shell(void **state)
{
	char buf[64];
	int fd;

	(void)state;
	assert_int_equal(itest_sh("echo 1 > " GPIO0), 0);
	assert_int_equal(itest_sh("cat " GPIO0 " > /tmp/gpio.out"), 0);
	assert_int_equal(itest_slurp("/tmp/gpio.out", buf, sizeof(buf)), 2);
	assert_string_equal(buf, "1\n");
	/* The pins are separate. */
	assert_int_equal(itest_sh("cat " GPIO1 " > /tmp/gpio.out"), 0);
	itest_slurp("/tmp/gpio.out", buf, sizeof(buf));
	assert_string_equal(buf, "0\n");

	assert_int_equal(itest_sh("echo off > " GPIO0), 0);
	assert_int_equal(itest_sh("cat " GPIO0 " > /tmp/gpio.out"), 0);
	itest_slurp("/tmp/gpio.out", buf, sizeof(buf));
	assert_string_equal(buf, "0\n");
	/* Anything else is refused, and changes nothing. */
	assert_true(itest_sh("echo maybe > " GPIO0 " 2>/dev/null") != 0);
	fd = open(GPIO0, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "2\n", 2), -1);
	assert_int_equal(errno, EINVAL);
	close(fd);
	assert_int_equal(itest_sh("cat " GPIO0 " > /tmp/gpio.out"), 0);
	itest_slurp("/tmp/gpio.out", buf, sizeof(buf));
	assert_string_equal(buf, "0\n");
}

/* A change shows as POLLPRI on every open file of the pin until read. */
static void test_gpio_edge_poll(void **state)
{
	int fd = open(GPIO1, O_RDONLY);
	char buf[8];

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(poll_fd(fd, POLLPRI, 0), 0);
	assert_int_equal(itest_sh("echo 1 > " GPIO1), 0);
	assert_int_equal(poll_fd(fd, POLLPRI, 5000), POLLPRI);
	assert_int_equal(read(fd, buf, sizeof(buf)), 2);
	assert_memory_equal(buf, "1\n", 2);
	assert_int_equal(poll_fd(fd, POLLPRI, 0), 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo_c_client),
		cmocka_unit_test(test_echo_shell),
		cmocka_unit_test(test_echo_dd_binary_block),
		cmocka_unit_test(test_echo_large_write_is_chunked),
		cmocka_unit_test(test_echo_deferred_read),
		cmocka_unit_test(test_echo_nonblock),
		cmocka_unit_test(test_echo_poll),
		cmocka_unit_test(test_echo_interrupted_read),
		cmocka_unit_test(test_echo_interrupted_read_restarts),
		cmocka_unit_test(test_gpio_shell),
		cmocka_unit_test(test_gpio_edge_poll),
	};

	if (access(python3(), X_OK) < 0) {
		printf("no %s in the payload: skipped\n", python3());
		return 77;
	}
	return itest_run(tests, start, stop);
}
