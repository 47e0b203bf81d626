// SPDX-License-Identifier: BSD-3-Clause
/* Helpers shared by the integration tests. */
#define _GNU_SOURCE		/* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

const char *itest_bindir(void)
{
	const char *d = getenv("FUSD_BIN");

	return d ? d : "/fusd/bin";
}

int64_t itest_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int itest_wait_path(const char *path, int want, int timeout_ms)
{
	int64_t end = itest_now_ms() + timeout_ms;
	struct stat st;

	for (;;) {
		int exists = stat(path, &st) == 0;

		if (exists == want)
			return 0;
		if (itest_now_ms() > end)
			return -1;
		usleep(5000);
	}
}

pid_t itest_start_example(const char *prog, const char *node)
{
	char path[256];
	pid_t pid;

	snprintf(path, sizeof(path), "%s/%s", itest_bindir(), prog);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* Keep the test's output readable. */
		freopen("/dev/null", "w", stdout);
		execl(path, prog, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(itest_wait_path(node, 1, 10000), 0);
	return pid;
}

pid_t itest_fork_daemon(const char *name, struct fusd_file_operations *fops)
{
	char node[256];
	pid_t pid;

	snprintf(node, sizeof(node), "/dev/%s", name);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fusd_register(name, "test", NULL, 0666, NULL, fops) < 0) {
			perror("itest daemon: fusd_register");
			_exit(1);
		}
		fusd_run();
		_exit(0);
	}
	assert_int_equal(itest_wait_path(node, 1, 10000), 0);
	return pid;
}

void itest_kill_daemon(pid_t pid, const char *node)
{
	int status;

	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (node)
		assert_int_equal(itest_wait_path(node, 0, 5000), 0);
}

int itest_sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

ssize_t itest_slurp(const char *path, char *buf, size_t cap)
{
	ssize_t n, total = 0;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -1;
	while ((size_t)total < cap - 1 &&
	       (n = read(fd, buf + total, cap - 1 - (size_t)total)) > 0)
		total += n;
	close(fd);
	buf[total] = '\0';
	return total;
}

long long itest_sysfs(const char *dev, const char *attr)
{
	char path[256], buf[64];

	snprintf(path, sizeof(path), "/sys/class/fusd/%s/%s", dev, attr);
	if (itest_slurp(path, buf, sizeof(buf)) <= 0)
		return -1;
	return strtoll(buf, NULL, 10);
}

int itest_wait_sysfs(const char *dev, const char *attr, long long want,
		     int timeout_ms)
{
	int64_t end = itest_now_ms() + timeout_ms;

	while (itest_sysfs(dev, attr) != want) {
		if (itest_now_ms() > end)
			return -1;
		usleep(5000);
	}
	return 0;
}

void itest_read_node(const char *node, char *buf, size_t cap)
{
	int fd = open(node, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, cap - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	close(fd);
}

int itest_scale(void)
{
	const char *s = getenv("FUSD_TIMEOUT_SCALE");
	long v = s ? strtol(s, NULL, 10) : 1;

	return v >= 1 && v <= 1000 ? (int)v : 1;
}

int itest_scaled_count(int n, int min)
{
	n /= itest_scale();
	return n < min ? min : n;
}

/*
 * Per-case processes (itest_run).  cmocka runs the group in this process
 * as usual, but every case's function is a trampoline that forks: the
 * child runs the real case (setup, body, teardown) in a nested one-case
 * cmocka run, whose output comes back through a pipe; this process passes
 * it on without the nested run's own framing (its header, RUN/OK/FAILED
 * lines and summary), which the outer run prints.  So the output and the
 * counts are cmocka's, and a case that hangs is killed here and fails
 * through the outer run like any failed assertion.
 */
#define ITEST_MAX_CASES 64

static const struct CMUnitTest *itest_cases;
static int itest_limit_s;

/*
 * What the child printed that decides its result.  A failure's message
 * ("[  ERROR   ] --- ..." up to its "[   LINE   ] --- FILE:N: ..." line)
 * is held back: the outer run prints it again when it fails the case.
 */
struct case_out {
	char buf[4096];
	size_t len;
	int ok, failed, skipped, summary;
	int in_err;		/* inside a held message, before its LINE */
	int have_err;		/* a held message with its location */
	char raw[4096];		/* the held lines as printed */
	char msg[4096];		/* the message, for the outer run */
	char file[256];		/* and its location */
	int lineno;
};

static int starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void append(char *dst, size_t cap, const char *sep, const char *s)
{
	size_t n = strlen(dst);

	snprintf(dst + n, cap - n, "%s%s", n ? sep : "", s);
}

static void case_forward_held(struct case_out *o)
{
	if (o->raw[0])
		printf("%s\n", o->raw);
	o->raw[0] = o->msg[0] = o->file[0] = '\0';
	o->in_err = o->have_err = 0;
}

/* "[   LINE   ] --- FILE:N: error: Failure!" ends a held message. */
static void case_err_line(struct case_out *o, const char *l)
{
	const char *file = l + strlen("[   LINE   ] --- ");
	const char *end = strstr(file, ": error: "), *colon;

	if (!o->in_err)
		case_forward_held(o);	/* a LINE of its own */
	append(o->raw, sizeof(o->raw), "\n", l);
	o->in_err = 0;
	if (!end)
		return;
	for (colon = end - 1; colon > file && *colon != ':'; colon--)
		;
	if (colon <= file || (size_t)(colon - file) >= sizeof(o->file))
		return;
	memcpy(o->file, file, (size_t)(colon - file));
	o->file[colon - file] = '\0';
	o->lineno = atoi(colon + 1);
	o->have_err = 1;
}

static void case_line(struct case_out *o, const char *l)
{
	if (starts(l, "[==========]")) {
		if (strstr(l, " run."))
			o->summary = 1;
		return;
	}
	if (starts(l, "[ RUN      ]") || starts(l, "[  PASSED  ]"))
		return;
	if (starts(l, "[       OK ]")) {
		o->ok = 1;
		return;
	}
	if (starts(l, "[  FAILED  ]")) {
		o->failed = 1;
		return;
	}
	if (starts(l, "[  SKIPPED ]")) {
		o->skipped = 1;
		return;
	}
	if (o->summary && (!l[0] || strstr(l, " FAILED TEST(S)") ||
			   strstr(l, " SKIPPED TEST(S)")))
		return;
	if (starts(l, "[  ERROR   ] --- ")) {
		const char *m = l + strlen("[  ERROR   ] --- ");

		case_forward_held(o);
		o->in_err = 1;
		if (starts(m, "[   LINE   ] --- ")) {	/* fail_msg()'s */
			case_err_line(o, m);
			snprintf(o->raw, sizeof(o->raw), "%s", l);
			return;
		}
		append(o->raw, sizeof(o->raw), "\n", l);
		append(o->msg, sizeof(o->msg), "\n", m);
		return;
	}
	if (starts(l, "[   LINE   ] --- ")) {
		case_err_line(o, l);
		return;
	}
	if (o->in_err) {	/* a message of several lines */
		append(o->raw, sizeof(o->raw), "\n", l);
		append(o->msg, sizeof(o->msg), "\n", l);
		return;
	}
	printf("%s\n", l);
}

/* Fail the running case of the outer run, as an assertion would. */
static void case_fail(const char *msg, const char *file, int line)
{
	fflush(stdout);
	if (msg[0])
		_assert_true(0, msg, file, line);
	_fail(file, line);
}

/* Pass on what the child wrote; 0 once its pipe is at end of file. */
static int case_drain(struct case_out *o, int fd)
{
	for (;;) {
		size_t room = sizeof(o->buf) - 1 - o->len;
		ssize_t n = read(fd, o->buf + o->len, room);
		char *nl;

		if (n == 0)
			return 0;
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 1 : 0;
		o->len += (size_t)n;
		o->buf[o->len] = '\0';
		while ((nl = strchr(o->buf, '\n'))) {
			*nl = '\0';
			case_line(o, o->buf);
			o->len -= (size_t)(nl + 1 - o->buf);
			memmove(o->buf, nl + 1, o->len + 1);
		}
		if (o->len == sizeof(o->buf) - 1) {	/* a very long line */
			case_line(o, o->buf);
			o->len = 0;
		}
		fflush(stdout);
	}
}

/* Wait for the child until 'deadline' (ms); 1 if it was reaped. */
static int case_wait(struct case_out *o, int fd, int *live, pid_t pid,
		     int *status, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - itest_now_ms();

		if (waitpid(pid, status, WNOHANG) == pid)
			return 1;
		if (left <= 0)
			return 0;
		poll(&p, *live ? 1 : 0, left < 50 ? (int)left : 50);
		if (*live)
			*live = case_drain(o, fd);
	}
}

static void case_child(const struct CMUnitTest *t, void *state,
		       const int pfd[2])
{
	struct CMUnitTest one = *t;
	int rc;

	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	close(pfd[0]);
	dup2(pfd[1], STDOUT_FILENO);
	dup2(pfd[1], STDERR_FILENO);
	close(pfd[1]);
	setvbuf(stdout, NULL, _IOLBF, BUFSIZ);
	if (!one.initial_state)
		one.initial_state = state;	/* the group's state */
	rc = _cmocka_run_group_tests(t->name, &one, 1, NULL, NULL);
	fflush(stdout);
	_exit(rc ? 1 : 0);
}

static void itest_run_case(size_t i, void **state)
{
	const struct CMUnitTest *t = &itest_cases[i];
	int limit_s = itest_limit_s * itest_scale();
	int pfd[2], status = 0, live = 1, reaped, timed_out = 0;
	static struct case_out o;
	char why[256];
	pid_t pid;

	memset(&o, 0, sizeof(o));
	fflush(stdout);
	fflush(stderr);
	if (pipe2(pfd, O_CLOEXEC))
		fail_msg("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0)
		case_child(t, *state, pfd);
	setpgid(pid, pid);	/* either side may win; both set the same */
	close(pfd[1]);
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);

	reaped = case_wait(&o, pfd[0], &live, pid, &status,
			   itest_now_ms() + (int64_t)limit_s * 1000);
	if (!reaped) {
		/* The whole case: its daemons and clients too. */
		timed_out = 1;
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		reaped = case_wait(&o, pfd[0], &live, pid, &status,
				   itest_now_ms() + 10000);
	}
	/* Whatever is left: descendants may still hold the pipe open. */
	if (live)
		case_drain(&o, pfd[0]);
	close(pfd[0]);
	if (o.len)
		case_line(&o, o.buf);

	if (timed_out) {
		case_forward_held(&o);
		snprintf(why, sizeof(why),
			 "%s: no result within its time limit of %d s "
			 "(FUSD_TIMEOUT_SCALE=%d), killed%s", t->name, limit_s,
			 itest_scale(), reaped ? "" :
			 "; its process does not die (stuck in the kernel?)");
		case_fail(why, __FILE__, __LINE__);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77 && !o.ok &&
	    !o.failed) {
		case_forward_held(&o);
		fflush(stdout);
		exit(77);	/* the case skipped the program, as before */
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !o.failed &&
	    (o.ok || o.skipped)) {
		case_forward_held(&o);
		fflush(stdout);
		if (o.skipped)
			skip();
		return;
	}
	if (o.failed && o.have_err)	/* the child's own message */
		case_fail(o.msg, o.file, o.lineno);
	case_forward_held(&o);
	if (WIFSIGNALED(status))
		snprintf(why, sizeof(why), "%s: its process was killed by "
			 "signal %d", t->name, WTERMSIG(status));
	else
		snprintf(why, sizeof(why), "%s: its process ended with exit "
			 "status %d%s", t->name, WEXITSTATUS(status),
			 o.ok || o.failed ? "" : " and no result");
	case_fail(why, __FILE__, __LINE__);
}

#define ITEST_CASE(n)                                                       \
	static void itest_case_##n(void **state)                            \
	{                                                                   \
		itest_run_case(n, state);                                   \
	}
ITEST_CASE(0) ITEST_CASE(1) ITEST_CASE(2) ITEST_CASE(3)
ITEST_CASE(4) ITEST_CASE(5) ITEST_CASE(6) ITEST_CASE(7)
ITEST_CASE(8) ITEST_CASE(9) ITEST_CASE(10) ITEST_CASE(11)
ITEST_CASE(12) ITEST_CASE(13) ITEST_CASE(14) ITEST_CASE(15)
ITEST_CASE(16) ITEST_CASE(17) ITEST_CASE(18) ITEST_CASE(19)
ITEST_CASE(20) ITEST_CASE(21) ITEST_CASE(22) ITEST_CASE(23)
ITEST_CASE(24) ITEST_CASE(25) ITEST_CASE(26) ITEST_CASE(27)
ITEST_CASE(28) ITEST_CASE(29) ITEST_CASE(30) ITEST_CASE(31)
ITEST_CASE(32) ITEST_CASE(33) ITEST_CASE(34) ITEST_CASE(35)
ITEST_CASE(36) ITEST_CASE(37) ITEST_CASE(38) ITEST_CASE(39)
ITEST_CASE(40) ITEST_CASE(41) ITEST_CASE(42) ITEST_CASE(43)
ITEST_CASE(44) ITEST_CASE(45) ITEST_CASE(46) ITEST_CASE(47)
ITEST_CASE(48) ITEST_CASE(49) ITEST_CASE(50) ITEST_CASE(51)
ITEST_CASE(52) ITEST_CASE(53) ITEST_CASE(54) ITEST_CASE(55)
ITEST_CASE(56) ITEST_CASE(57) ITEST_CASE(58) ITEST_CASE(59)
ITEST_CASE(60) ITEST_CASE(61) ITEST_CASE(62) ITEST_CASE(63)

static const CMUnitTestFunction itest_case_fn[ITEST_MAX_CASES] = {
	itest_case_0, itest_case_1, itest_case_2, itest_case_3,
	itest_case_4, itest_case_5, itest_case_6, itest_case_7,
	itest_case_8, itest_case_9, itest_case_10, itest_case_11,
	itest_case_12, itest_case_13, itest_case_14, itest_case_15,
	itest_case_16, itest_case_17, itest_case_18, itest_case_19,
	itest_case_20, itest_case_21, itest_case_22, itest_case_23,
	itest_case_24, itest_case_25, itest_case_26, itest_case_27,
	itest_case_28, itest_case_29, itest_case_30, itest_case_31,
	itest_case_32, itest_case_33, itest_case_34, itest_case_35,
	itest_case_36, itest_case_37, itest_case_38, itest_case_39,
	itest_case_40, itest_case_41, itest_case_42, itest_case_43,
	itest_case_44, itest_case_45, itest_case_46, itest_case_47,
	itest_case_48, itest_case_49, itest_case_50, itest_case_51,
	itest_case_52, itest_case_53, itest_case_54, itest_case_55,
	itest_case_56, itest_case_57, itest_case_58, itest_case_59,
	itest_case_60, itest_case_61, itest_case_62, itest_case_63,
};

int itest_run_group(const struct CMUnitTest *tests, size_t count,
		    CMFixtureFunction group_setup,
		    CMFixtureFunction group_teardown, int limit_s)
{
	struct CMUnitTest wrapped[ITEST_MAX_CASES];
	size_t i;

	if (count > ITEST_MAX_CASES) {
		fprintf(stderr, "itest_run: %zu cases, at most %d\n", count,
			ITEST_MAX_CASES);
		return 1;
	}
	itest_cases = tests;
	itest_limit_s = limit_s;
	for (i = 0; i < count; i++) {
		wrapped[i].name = tests[i].name;
		wrapped[i].test_func = itest_case_fn[i];
		wrapped[i].setup_func = NULL;	/* they run in the child */
		wrapped[i].teardown_func = NULL;
		wrapped[i].initial_state = tests[i].initial_state;
	}
	return _cmocka_run_group_tests("tests", wrapped, count, group_setup,
				       group_teardown);
}

int itest_kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);

	assert_true(fd >= 0);
	assert_true(lseek(fd, 0, SEEK_END) >= 0);
	return fd;
}

void itest_kmsg_fusd_lines(int fd, char *rec, size_t cap)
{
	ssize_t n;

	for (;;) {
		n = read(fd, rec, cap - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* records overwritten meanwhile */
		if (n <= 0)
			break;
		rec[n] = '\0';
		if (strstr(rec, "fusd"))
			goto out;
	}
	assert_int_equal(errno, EAGAIN);
	rec[0] = '\0';
out:
	close(fd);
}

#define ITEST_PARAMS "/sys/module/fusd/parameters/"

long itest_param_get(const char *name)
{
	char path[128], buf[64];

	snprintf(path, sizeof(path), ITEST_PARAMS "%s", name);
	if (itest_slurp(path, buf, sizeof(buf)) <= 0)
		return -1;
	return strtol(buf, NULL, 10);
}

void itest_param_set(const char *name, long v)
{
	char path[128], buf[32];
	int fd, n;

	snprintf(path, sizeof(path), ITEST_PARAMS "%s", name);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	n = snprintf(buf, sizeof(buf), "%ld\n", v);
	assert_int_equal(write(fd, buf, (size_t)n), n);
	close(fd);
	assert_int_equal(itest_param_get(name), v);
}

static unsigned char itest_pattern_byte(size_t i, unsigned int seed)
{
	return (unsigned char)(i * 131 + (i >> 12) * 7 + seed);
}

void itest_pattern(unsigned char *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = itest_pattern_byte(i, seed);
}

int itest_is_pattern(const unsigned char *p, size_t len, unsigned int seed,
		     size_t from)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != itest_pattern_byte(from + i, seed))
			return 0;
	return 1;
}

void *itest_map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

long itest_meminfo_kb(const char *key)
{
	size_t klen = strlen(key);
	char buf[8192], *at;

	assert_true(itest_slurp("/proc/meminfo", buf, sizeof(buf)) > 0);
	for (at = buf; at; at = strchr(at, '\n'), at = at ? at + 1 : NULL)
		if (!strncmp(at, key, klen) && at[klen] == ':')
			return strtol(at + klen + 1, NULL, 10);
	fail_msg("no %s in /proc/meminfo", key);
	return -1;
}

static void *itest_reader_main(void *arg)
{
	struct itest_reader *r = arg;

	r->ret = read(r->fd, r->buf, r->len ? r->len : sizeof(r->buf) - 1);
	r->err = errno;
	if (r->ret >= 0)
		r->buf[r->ret] = '\0';
	__atomic_store_n(&r->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

void itest_reader_start(struct itest_reader *r, int fd, size_t len)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->len = len < sizeof(r->buf) ? len : sizeof(r->buf) - 1;
	assert_int_equal(pthread_create(&r->t, NULL, itest_reader_main, r), 0);
}

int itest_reader_done(struct itest_reader *r)
{
	return __atomic_load_n(&r->done, __ATOMIC_SEQ_CST);
}

void itest_reader_join(struct itest_reader *r)
{
	int64_t end = itest_now_ms() + 10000L * itest_scale();

	while (!itest_reader_done(r) && itest_now_ms() < end)
		usleep(2000);
	assert_true(itest_reader_done(r));
	pthread_join(r->t, NULL);
}
