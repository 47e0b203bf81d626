// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: recovery through libfusd: fusd_register_recoverable()
 * registers afresh or takes a waiting device over (fusd_recovery.attached),
 * the reopen callback hears of each open file with the cookie set by
 * fusd_set_cookie() and its position, a read the killed daemon had
 * deferred is answered by the next one (resend), a client reading across
 * 20 SIGKILL restarts sees every number once and in order, bad options
 * are refused, and examples/counter survives kill -9 as its header says.
 */
#define _GNU_SOURCE
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

#define NAME "recovlib"
#define NODE "/dev/" NAME
#define GRACE ((unsigned int)(3000 * itest_scale()))

/* What a daemon tells the test: registration, and each reopen. */
struct note {
	char what;		/* 'r' registered, 'o' reopen */
	int attached;
	unsigned int grace_ms;
	uint64_t cookie;
	long long offset;
};

static int note_fd = -1;
static int hold_reads;		/* the first daemon defers every read */

static void note(struct note n)
{
	if (write(note_fd, &n, sizeof(n)) != sizeof(n))
		_exit(3);
}

static int lib_open(struct fusd_file_info *file)
{
	fusd_set_cookie(file, 0xAB00 + (uint64_t)file->pid % 256);
	return 0;
}

static int lib_close(struct fusd_file_info *file)
{
	(void)file;
	return 0;
}

static ssize_t lib_read(struct fusd_file_info *file, char *buf, size_t len,
			loff_t *offset)
{
	int n;

	if (hold_reads)
		return -FUSD_NOREPLY;	/* never answered: killed first */
	(void)file;
	n = snprintf(buf, len, "%lld\n", (long long)*offset);
	*offset += 1;
	return n;
}

static int lib_reopen(struct fusd_file_info *file, uint64_t cookie)
{
	note((struct note){ .what = 'o', .cookie = cookie,
			    .offset = *fusd_get_offset(file) });
	return 0;
}

/* Fork a libfusd daemon for NAME; returns its pid once registered. */
static pid_t lib_start(int notes, int hold, struct note *reg)
{
	struct fusd_file_operations fops = {
		.open = lib_open, .close = lib_close, .read = lib_read,
		.reopen = lib_reopen,
	};
	struct pollfd p = { .fd = notes, .events = POLLIN };
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct fusd_recovery rec = {
			.grace_ms = GRACE, .resend = 1U << FUSD_OP_READ,
		};

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		hold_reads = hold;
		if (fusd_register_recoverable(NAME, "test", NULL, 0666, NULL,
					      &fops, &rec) < 0) {
			perror("fusd_register_recoverable");
			_exit(2);
		}
		note((struct note){ .what = 'r', .attached = rec.attached,
				    .grace_ms = rec.grace_ms });
		fusd_run();
		_exit(0);
	}
	assert_int_equal(poll(&p, 1, 30000 * itest_scale()), 1);
	assert_int_equal(read(notes, reg, sizeof(*reg)), sizeof(*reg));
	assert_int_equal(reg->what, 'r');
	return pid;
}

static void lib_kill(pid_t pid)
{
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
}

static struct note next_note(int notes)
{
	struct pollfd p = { .fd = notes, .events = POLLIN };
	struct note n;

	assert_int_equal(poll(&p, 1, 30000 * itest_scale()), 1);
	assert_int_equal(read(notes, &n, sizeof(n)), sizeof(n));
	return n;
}

static int pipe_notes(int *rd)
{
	int p[2];

	assert_int_equal(pipe(p), 0);
	note_fd = p[1];
	*rd = p[0];
	return p[1];
}

static void read_line(int fd, const char *want)
{
	char buf[32];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);

	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, want);
}

/* Registered, then taken over: reopen with cookie and position. */
static void test_take_over(void **state)
{
	struct note reg, o;
	int notes, fd;
	pid_t a, b;

	(void)state;
	pipe_notes(&notes);
	a = lib_start(notes, 0, &reg);
	assert_int_equal(reg.attached, 0);
	assert_int_equal(reg.grace_ms, GRACE);
	fd = open(NODE, O_RDONLY);
	assert_true(fd >= 0);
	read_line(fd, "0\n");
	read_line(fd, "1\n");
	lib_kill(a);
	b = lib_start(notes, 0, &reg);
	assert_int_equal(reg.attached, 1);
	o = next_note(notes);
	assert_int_equal(o.what, 'o');
	assert_int_equal(o.cookie, 0xAB00 + getpid() % 256);
	assert_int_equal(o.offset, 2);
	read_line(fd, "2\n");
	close(fd);
	lib_kill(b);
	assert_int_equal(itest_wait_path(NODE, 0, (int)(GRACE + 10000)), 0);
}

struct reader {
	pthread_t t;
	int fd;
	char buf[32];
	ssize_t n;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	r->n = read(r->fd, r->buf, sizeof(r->buf) - 1);
	if (r->n >= 0)
		r->buf[r->n] = '\0';
	return NULL;
}

/* A read the killed daemon deferred is answered by the next one. */
static void test_deferred_read_resent(void **state)
{
	struct reader r = { 0 };
	struct note reg;
	int notes;
	pid_t a, b;

	(void)state;
	pipe_notes(&notes);
	a = lib_start(notes, 1, &reg);
	r.fd = open(NODE, O_RDONLY);
	assert_true(r.fd >= 0);
	assert_int_equal(pthread_create(&r.t, NULL, reader_main, &r), 0);
	assert_int_equal(itest_wait_sysfs(NAME, "pending", 1, 10000), 0);
	lib_kill(a);
	b = lib_start(notes, 0, &reg);
	assert_int_equal(reg.attached, 1);
	assert_int_equal(pthread_join(r.t, NULL), 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.buf, "0\n");
	close(r.fd);
	lib_kill(b);
	assert_int_equal(itest_wait_path(NODE, 0, (int)(GRACE + 10000)), 0);
}

/* 20 restarts under a reading client: every number once, in order. */
static void test_restarts_in_order(void **state)
{
	long expect = 0, v;
	struct note reg;
	int notes, fd, i, k;
	char buf[32];
	ssize_t n;
	pid_t d;

	(void)state;
	pipe_notes(&notes);
	d = lib_start(notes, 0, &reg);
	fd = open(NODE, O_RDONLY);
	assert_true(fd >= 0);
	for (i = 0; i < 20; i++) {
		for (k = 0; k < 3; k++) {
			n = read(fd, buf, sizeof(buf) - 1);
			assert_true(n > 0);
			buf[n] = '\0';
			v = strtol(buf, NULL, 10);
			assert_int_equal(v, expect);
			expect++;
		}
		lib_kill(d);
		d = lib_start(notes, 0, &reg);
		assert_int_equal(reg.attached, 1);
		assert_int_equal(next_note(notes).what, 'o');
	}
	close(fd);
	lib_kill(d);
	assert_int_equal(itest_wait_path(NODE, 0, (int)(GRACE + 10000)), 0);
}

static void test_bad_options(void **state)
{
	struct fusd_file_operations fops = { .read = lib_read };
	struct fusd_recovery rec = { 0 };

	(void)state;
	assert_int_equal(fusd_register_recoverable(NAME, NULL, NULL, 0666,
						   NULL, &fops, NULL), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(fusd_register_recoverable(NAME, NULL, NULL, 0666,
						   NULL, &fops, &rec), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(access(NODE, F_OK), -1);
}

/* examples/counter, killed with SIGKILL and started again. */
static pid_t counter_start(void)
{
	char path[256];
	pid_t pid;

	snprintf(path, sizeof(path), "%s/counter", itest_bindir());
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char grace[16];

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		freopen("/dev/null", "w", stdout);
		freopen("/dev/null", "w", stderr);
		snprintf(grace, sizeof(grace), "%u", GRACE);
		execl(path, "counter", "-g", grace, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void test_counter_example(void **state)
{
	long expect = 0;
	char buf[32];
	int fd, i;
	pid_t d;

	(void)state;
	d = counter_start();
	assert_int_equal(itest_wait_path("/dev/counter", 1, 10000), 0);
	fd = open("/dev/counter", O_RDONLY);
	assert_true(fd >= 0);
	for (i = 0; i < 5; i++) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);

		assert_true(n > 0);
		buf[n] = '\0';
		assert_int_equal(strtol(buf, NULL, 10), expect);
		expect++;
		lib_kill(d);
		d = counter_start();	/* the read below waits for it */
	}
	close(fd);
	lib_kill(d);
	assert_int_equal(itest_wait_path("/dev/counter", 0,
					 (int)(GRACE + 10000)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_take_over),
		cmocka_unit_test(test_deferred_read_resent),
		cmocka_unit_test(test_restarts_in_order),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_counter_example),
	};

	return itest_run_limit(tests, NULL, NULL, 180);
}
