// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: poll, select and epoll (level and edge) report the mask the
 * daemon notified, wake on a notification, never wait for the daemon, and
 * report POLLERR|POLLHUP when it dies; classic poll_diff drivers work
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <unistd.h>

#include "itest.h"
#include "rawchan.h"

static int chan, cfd;
static uint64_t fh;

static void *accept_open(void *arg)
{
	fh = raw_accept_open(*(int *)arg);
	return NULL;
}

static void raw_setup(uint32_t flags)
{
	pthread_t t;

	chan = raw_register_flags("rawpoll", 0600, flags);
	assert_int_equal(pthread_create(&t, NULL, accept_open, &chan), 0);
	cfd = open("/dev/rawpoll", O_RDWR);
	pthread_join(t, NULL);
	assert_true(cfd >= 0);
}

static void raw_teardown(void)
{
	close(cfd);
	close(chan);
	assert_int_equal(itest_wait_path("/dev/rawpoll", 0, 2000), 0);
}

static ssize_t notify_full(uint64_t id, uint64_t which, uint32_t mask,
			   uint32_t size, uint64_t reserved)
{
	struct fusd_notify_poll n;

	memset(&n, 0, sizeof(n));
	n.hdr.size = size;
	n.hdr.hdr_size = sizeof(n);
	n.hdr.opcode = FUSD_OP_NOTIFY_POLL;
	n.hdr.id = id;
	n.fh = which;
	n.mask = mask;
	n.reserved[0] = reserved;
	return write(chan, &n, sizeof(n));
}

static void notify(uint32_t mask)
{
	assert_int_equal(notify_full(0, fh, mask, sizeof(struct fusd_notify_poll), 0),
			 sizeof(struct fusd_notify_poll));
}

static short poll_now(short events)
{
	struct pollfd p = { .fd = cfd, .events = events };

	assert_true(poll(&p, 1, 0) >= 0);
	return p.revents;
}

struct waiter {
	int kind;	/* 'p' poll, 's' select, 'e' epoll */
	int epfd;
	int ret;
	unsigned int revents;
	int64_t woke_ms;
};

static void *wait_main(void *arg)
{
	struct waiter *w = arg;

	if (w->kind == 'p') {
		struct pollfd p = { .fd = cfd, .events = POLLIN };

		w->ret = poll(&p, 1, 10000);
		w->revents = (unsigned int)p.revents;
	} else if (w->kind == 's') {
		fd_set r;
		struct timeval tv = { .tv_sec = 10 };

		FD_ZERO(&r);
		FD_SET(cfd, &r);
		w->ret = select(cfd + 1, &r, NULL, NULL, &tv);
		w->revents = FD_ISSET(cfd, &r) ? POLLIN : 0;
	} else {
		struct epoll_event ev;

		w->ret = epoll_wait(w->epfd, &ev, 1, 10000);
		w->revents = ev.events;
	}
	w->woke_ms = itest_now_ms();
	return NULL;
}

/* A sleeper of each kind is woken by a notification. */
static void test_wakeups(void **state)
{
	const int kinds[] = { 'p', 's', 'e' };
	size_t i;

	(void)state;
	raw_setup(FUSD_REGISTER_POLL);
	assert_int_equal(poll_now(POLLIN | POLLOUT), 0);	/* nothing yet */
	for (i = 0; i < 3; i++) {
		struct waiter w = { .kind = kinds[i] };
		struct epoll_event ev = { .events = EPOLLIN };
		int64_t sent;
		pthread_t t;

		w.epfd = epoll_create1(0);
		assert_int_equal(epoll_ctl(w.epfd, EPOLL_CTL_ADD, cfd, &ev), 0);
		notify(0);
		assert_int_equal(pthread_create(&t, NULL, wait_main, &w), 0);
		usleep(200 * 1000);
		assert_int_equal(w.woke_ms, 0);	/* asleep */
		sent = itest_now_ms();
		notify(POLLIN | POLLRDNORM);
		pthread_join(t, NULL);
		assert_int_equal(w.ret, 1);
		assert_true(w.revents & POLLIN);
		assert_true(w.woke_ms - sent < 1000);
		close(w.epfd);
	}
	assert_int_equal(poll_now(POLLIN | POLLOUT), POLLIN);
	notify(POLLOUT | POLLPRI);
	assert_int_equal(poll_now(POLLIN | POLLOUT | POLLPRI), POLLOUT | POLLPRI);
	raw_teardown();
}

static void test_epoll_edge_and_level(void **state)
{
	struct epoll_event ev, out;
	int lt, et;

	(void)state;
	raw_setup(FUSD_REGISTER_POLL);
	lt = epoll_create1(0);
	et = epoll_create1(0);
	ev.events = EPOLLIN;
	assert_int_equal(epoll_ctl(lt, EPOLL_CTL_ADD, cfd, &ev), 0);
	ev.events = EPOLLIN | EPOLLET;
	assert_int_equal(epoll_ctl(et, EPOLL_CTL_ADD, cfd, &ev), 0);
	assert_int_equal(epoll_wait(lt, &out, 1, 0), 0);
	assert_int_equal(epoll_wait(et, &out, 1, 0), 0);

	notify(POLLIN);
	/* Level: reported as long as it holds.  Edge: once per change. */
	assert_int_equal(epoll_wait(lt, &out, 1, 0), 1);
	assert_int_equal(epoll_wait(lt, &out, 1, 0), 1);
	assert_int_equal(epoll_wait(et, &out, 1, 0), 1);
	assert_int_equal(epoll_wait(et, &out, 1, 100), 0);
	notify(POLLIN);	/* a new edge */
	assert_int_equal(epoll_wait(et, &out, 1, 0), 1);
	notify(0);
	assert_int_equal(epoll_wait(lt, &out, 1, 0), 0);
	close(lt);
	close(et);
	raw_teardown();
}

static void test_default_mask_without_poll_flag(void **state)
{
	(void)state;
	raw_setup(0);
	/* Like a driver with no poll method: always ready. */
	assert_int_equal(poll_now(POLLIN | POLLOUT), POLLIN | POLLOUT);
	notify(POLLOUT);	/* the daemon takes over */
	assert_int_equal(poll_now(POLLIN | POLLOUT), POLLOUT);
	raw_teardown();
}

static void test_bad_notifications(void **state)
{
	const uint32_t N = sizeof(struct fusd_notify_poll);

	(void)state;
	raw_setup(FUSD_REGISTER_POLL);
	assert_int_equal(notify_full(5, fh, POLLIN, N, 0), -1);	/* id set */
	assert_int_equal(errno, EINVAL);
	assert_int_equal(notify_full(0, fh, 1U << 30, N, 0), -1);	/* bad bit */
	assert_int_equal(errno, EINVAL);
	assert_int_equal(notify_full(0, 0, POLLIN, N, 0), -1);	/* fh 0 */
	assert_int_equal(errno, EINVAL);
	assert_int_equal(notify_full(0, fh + 1000, POLLIN, N, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(notify_full(0, fh, POLLIN, N, 1), -1);	/* reserved */
	assert_int_equal(errno, EINVAL);
	assert_int_equal(notify_full(0, fh, POLLIN, N + 8, 0), -1);	/* size */
	assert_int_equal(errno, EINVAL);
	assert_int_equal(poll_now(POLLIN), 0);	/* none of it took effect */
	raw_teardown();
}

static void test_closed_fh_dropped_quietly(void **state)
{
	struct fusd_request req;
	uint64_t old;

	(void)state;
	raw_setup(FUSD_REGISTER_POLL);
	old = fh;
	close(cfd);
	raw_read_request(chan, &req, NULL, 0);
	assert_int_equal(req.hdr.opcode, FUSD_OP_RELEASE);
	assert_int_equal(notify_full(0, old, POLLIN, sizeof(struct fusd_notify_poll), 0),
			 sizeof(struct fusd_notify_poll));
	cfd = open("/dev/null", O_RDONLY);	/* for raw_teardown */
	raw_teardown();
}

static void test_daemon_death_wakes_pollers(void **state)
{
	struct waiter w = { .kind = 'e' };
	struct epoll_event ev = { .events = EPOLLIN };
	int64_t killed;
	pthread_t t;

	(void)state;
	raw_setup(FUSD_REGISTER_POLL);
	w.epfd = epoll_create1(0);
	assert_int_equal(epoll_ctl(w.epfd, EPOLL_CTL_ADD, cfd, &ev), 0);
	assert_int_equal(pthread_create(&t, NULL, wait_main, &w), 0);
	usleep(200 * 1000);
	killed = itest_now_ms();
	close(chan);
	pthread_join(t, NULL);
	assert_int_equal(w.ret, 1);
	assert_true(w.revents & EPOLLERR);
	assert_true(w.revents & EPOLLHUP);
	assert_true(w.woke_ms - killed < 1000);
	assert_int_equal(poll_now(POLLIN), POLLERR | POLLHUP);
	close(w.epfd);
	close(cfd);
	assert_int_equal(itest_wait_path("/dev/rawpoll", 0, 2000), 0);
}

/* --- through the library: classic poll_diff and fusd_notify_poll --- */

static struct fusd_file_info *poll_waiter;
static int have_data;

static unsigned int pd_state(void)
{
	return FUSD_NOTIFY_OUTPUT | (have_data ? FUSD_NOTIFY_INPUT : 0);
}

static int pd_poll_diff(struct fusd_file_info *file, unsigned int cached)
{
	if (cached != pd_state())
		return (int)pd_state();
	if (poll_waiter)
		fusd_destroy(poll_waiter);
	poll_waiter = file;	/* answered when the state changes */
	return -FUSD_NOREPLY;
}

static void pd_changed(void)
{
	struct fusd_file_info *w = poll_waiter;

	poll_waiter = NULL;
	if (w)
		fusd_return(w, (ssize_t)pd_state());
}

static ssize_t pd_read(struct fusd_file_info *file, char *buf, size_t len,
		       loff_t *offset)
{
	(void)file; (void)offset;
	if (!have_data || len < 1)
		return -EAGAIN;
	buf[0] = 'D';
	have_data = 0;
	pd_changed();
	return 1;
}

static ssize_t pd_write(struct fusd_file_info *file, const char *buf,
			size_t len, loff_t *offset)
{
	(void)file; (void)buf; (void)offset;
	have_data = 1;
	pd_changed();
	return (ssize_t)len;
}

static int pd_close(struct fusd_file_info *file)
{
	(void)file;
	if (poll_waiter) {
		fusd_destroy(poll_waiter);
		poll_waiter = NULL;
	}
	return 0;
}

static struct fusd_file_operations pd_fops = {
	.poll_diff = pd_poll_diff,
	.read = pd_read,
	.write = pd_write,
	.close = pd_close,
};

static short poll_fd(int fd, short events, int timeout)
{
	struct pollfd p = { .fd = fd, .events = events };

	assert_true(poll(&p, 1, timeout) >= 0);
	return p.revents;
}

static void test_classic_poll_diff(void **state)
{
	char c;
	pid_t d;
	int fd;

	(void)state;
	d = itest_fork_daemon("polldiff", &pd_fops);
	fd = open("/dev/polldiff", O_RDWR);
	assert_true(fd >= 0);
	/* Writable at once, readable only after a write. */
	assert_int_equal(poll_fd(fd, POLLIN | POLLOUT, 5000), POLLOUT);
	assert_int_equal(poll_fd(fd, POLLIN, 0), 0);
	assert_int_equal(write(fd, "x", 1), 1);
	assert_int_equal(poll_fd(fd, POLLIN, 5000), POLLIN);
	assert_int_equal(read(fd, &c, 1), 1);
	assert_int_equal(c, 'D');
	/* Drained: the next poll_diff answer clears POLLIN. */
	{
		int64_t end = itest_now_ms() + 5000;

		while (poll_fd(fd, POLLIN, 0) && itest_now_ms() < end)
			usleep(10000);
	}
	assert_int_equal(poll_fd(fd, POLLIN | POLLOUT, 0), POLLOUT);
	close(fd);
	itest_kill_daemon(d, "/dev/polldiff");
}

static int np_open(struct fusd_file_info *file)
{
	/* Announce readiness before the open even returns. */
	return fusd_notify_poll(file, POLLIN | POLLRDNORM) ? -EIO : 0;
}

static struct fusd_file_operations np_fops = {
	.open = np_open,
};

static void test_notify_poll_api(void **state)
{
	pid_t d;
	int fd;

	(void)state;
	d = itest_fork_daemon("notifypoll", &np_fops);
	fd = open("/dev/notifypoll", O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(poll_fd(fd, POLLIN | POLLOUT, 0), POLLIN);
	close(fd);
	itest_kill_daemon(d, "/dev/notifypoll");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wakeups),
		cmocka_unit_test(test_epoll_edge_and_level),
		cmocka_unit_test(test_default_mask_without_poll_flag),
		cmocka_unit_test(test_bad_notifications),
		cmocka_unit_test(test_closed_fh_dropped_quietly),
		cmocka_unit_test(test_daemon_death_wakes_pollers),
		cmocka_unit_test(test_classic_poll_diff),
		cmocka_unit_test(test_notify_poll_api),
	};

	return itest_run(tests, NULL, NULL);
}
