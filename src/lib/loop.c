// SPDX-License-Identifier: BSD-3-Clause
/*
 * Run loops: take requests off the channels and send the answers back.
 *
 * With FUSD_FEATURE_EXCHANGE a loop answers a call and takes the next in
 * one system call (FUSD_IOC_EXCHANGE): the answer a callback returns is
 * held back until its thread next asks the kernel for work, and travels
 * with that request.  An answer is never held while the thread waits
 * anywhere else.  fusd_run_mt's threads each wait on their own epoll set
 * with EPOLLEXCLUSIVE, so that one request wakes one thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "libfusd_i.h"

/*
 * How long fusd_run_mt's threads wait in the kernel before they look at
 * the device table again (devices registered or unregistered by other
 * threads).  fusd_run waits without limit, as it did in poll(): no timer
 * is armed for each wait.
 */
#define FUSD_LOOP_WAKE_MS 500

/* 'wait_ms' of the loops: do not wait, or wait without limit. */
#define FUSD_NO_WAIT (-1)
#define FUSD_WAIT 0

/* What one thread's loop is doing. */
struct fusd_loop_thread {
	struct fusd_dev *serving;	/* device whose requests it handles */
	struct fusd_call_ctx *held;	/* an answer not sent yet */
	size_t held_len;
};

static __thread struct fusd_loop_thread fusd_self;

/*
 * Each dispatching thread reads into its own buffer, shared with the
 * WRITE calls whose payload is still in it: while one is, the thread
 * moves on to a new buffer.
 */
static pthread_key_t fusd_buf_key;
static pthread_once_t fusd_buf_once = PTHREAD_ONCE_INIT;
static __thread struct fusd_buf *fusd_tbuf;	/* the key's value, read fast */

void fusd_buf_put(struct fusd_buf *b)
{
	if (b && !__atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL))
		free(b);
}

static void fusd_buf_release(void *b)
{
	fusd_buf_put(b);
}

static void fusd_buf_key_init(void)
{
	pthread_key_create(&fusd_buf_key, fusd_buf_release);
}

/* This thread's read buffer, big enough for any request of 'dev'. */
struct fusd_buf *fusd_thread_buffer(struct fusd_dev *dev)
{
	size_t io_max, need;
	struct fusd_buf *b, *nb;

	/* Only grows (under the lock); a stale value just means a
	 * smaller buffer, which the kernel refuses with EINVAL.
	 */
	io_max = __atomic_load_n(&dev->io_max, __ATOMIC_RELAXED);
	need = (io_max > FUSD_IO_MAX ? io_max : FUSD_IO_MAX) +
	       FUSD_MSG_HDR_ROOM;
	b = fusd_tbuf;
	if (b && b->cap >= need &&
	    __atomic_load_n(&b->refs, __ATOMIC_ACQUIRE) == 1)
		return b;
	/* A new one, given to the key (which frees it when the thread
	 * ends) before the old one is let go.
	 */
	pthread_once(&fusd_buf_once, fusd_buf_key_init);
	nb = malloc(sizeof(*nb) + need);
	if (!nb)
		return NULL;
	nb->refs = 1;
	nb->cap = need;
	if (pthread_setspecific(fusd_buf_key, nb)) {
		free(nb);
		return NULL;
	}
	fusd_buf_put(b);
	fusd_tbuf = nb;
	return nb;
}

/* Send a held answer now, with write(). */
static void fusd_flush_held(void)
{
	struct fusd_call_ctx *ctx = fusd_self.held;

	if (!ctx)
		return;
	fusd_self.held = NULL;
	/* Refusals are not reported: a callback's answer never was. */
	if (!ctx->dev->dead &&
	    write(ctx->dev->fd, &ctx->reply, fusd_self.held_len) < 0 &&
	    errno != EPIPE && errno != EINVAL)
		perror("fusd: reply");
	fusd_ctx_done(ctx);
}

/* Would an answer for 'dev' wait for this thread's next exchange? */
int fusd_may_hold(const struct fusd_dev *dev)
{
	return fusd_self.serving == dev;
}

/*
 * May the answer of 'ctx' (its reply built, 'len' bytes) wait for this
 * thread's next exchange?  Only while this thread's loop serves its
 * device; the reply then takes over the reference of the answer.
 */
int fusd_hold_reply(struct fusd_call_ctx *ctx, size_t len)
{
	if (fusd_self.serving != ctx->dev)
		return 0;
	fusd_flush_held();	/* one at a time, in order */
	fusd_self.held = ctx;
	fusd_self.held_len = len;
	return 1;
}

/*
 * Exchange the held answer (if any) for requests.  read()'s result; 0
 * if the kernel refused the answer (it is dropped, as by write()) and so
 * read nothing.
 */
static ssize_t fusd_exchange(struct fusd_dev *dev, struct fusd_buf *buf,
			     int wait_ms)
{
	struct fusd_call_ctx *held = fusd_self.held;
	struct fusd_exchange ex;
	ssize_t n;
	int err;

	memset(&ex, 0, sizeof(ex));
	if (held) {
		ex.out_buf = (uintptr_t)&held->reply;
		ex.out_len = fusd_self.held_len;
	}
	ex.in_buf = (uintptr_t)buf->data;
	ex.in_len = buf->cap;
	if (wait_ms < 0)
		ex.flags = FUSD_EXCHANGE_NONBLOCK;
	else
		ex.timeout_ms = (uint32_t)wait_ms;
	n = ioctl(dev->fd, FUSD_IOC_EXCHANGE, &ex);
	err = errno;
	if (held) {
		if (ex.out_done < ex.out_len &&
		    (n >= 0 || err == EINVAL || err == EFAULT))
			n = 0;
		fusd_self.held = NULL;
		fusd_ctx_done(held);
	}
	errno = err;
	return n;
}

/* Did 'dev' stop being the only device (the blocking loop's condition)? */
static int fusd_alone(const struct fusd_dev *dev, unsigned int gen)
{
	return !dev->dead && fusd_table_generation() == gen;
}

/*
 * Serve 'dev' with exchanges.  FUSD_NO_WAIT: until nothing is queued.
 * Otherwise waiting in the kernel (each wait at most 'wait_ms', 0: no
 * limit) while the device table stays at generation 'gen'.  Returns 0,
 * or -1 with errno (EAGAIN if a waiting exchange found the channel
 * O_NONBLOCK).  Nothing is held on return.
 */
static int fusd_serve(struct fusd_dev *dev, int wait_ms, unsigned int gen)
{
	int block = wait_ms >= 0;
	struct fusd_dev *prev = fusd_self.serving;
	struct fusd_buf *buf;
	ssize_t n;
	int ret = 0;

	fusd_self.serving = dev;
	for (;;) {
		buf = fusd_thread_buffer(dev);
		if (!buf || dev->dead) {
			ret = buf ? 0 : -1;
			break;
		}
		n = fusd_exchange(dev, buf, wait_ms);
		if (n >= 0) {
			/* 0: some replies were refused and nothing read. */
			if (n)
				fusd_dispatch_shared(dev, buf, (size_t)n);
			if (block && !fusd_alone(dev, gen))
				break;
			continue;
		}
		/* A blocking loop looks at the device table now and then. */
		if (n < 0 && (errno == EINTR || errno == ETIMEDOUT) && block) {
			if (fusd_alone(dev, gen))
				continue;
			break;
		}
		if (n < 0 && errno == EAGAIN) {
			ret = block ? -1 : 0;
		} else if (n < 0 && errno != EINTR && !dev->dead) {
			perror("fusd: exchange");
			ret = -1;
		}
		break;
	}
	fusd_flush_held();
	fusd_self.serving = prev;
	return ret;
}

/* Handle what 'fd' has queued, without blocking. */
static void fusd_serve_ready(int fd)
{
	struct fusd_dev *dev = fusd_dev_get(fd);

	if (!dev)
		return;
	if (dev->features & FUSD_FEATURE_EXCHANGE) {
		fusd_serve(dev, FUSD_NO_WAIT, 0);
	} else {
		/* Another thread may have taken the request: never block. */
		if (!dev->nonblock) {
			fcntl(dev->fd, F_SETFL,
			      fcntl(dev->fd, F_GETFL) | O_NONBLOCK);
			dev->nonblock = 1;
		}
		fusd_dispatch(fd);
	}
	fusd_dev_put(dev);
}

FUSD_API void fusd_dispatch(int fd)
{
	struct fusd_dev *dev = fusd_dev_get(fd);
	struct fusd_buf *buf;
	ssize_t n;

	if (!dev) {
		fprintf(stderr, "fusd_dispatch: %d is not a fusd device\n", fd);
		return;
	}
	buf = fusd_thread_buffer(dev);
	if (!buf) {
		perror("fusd_dispatch");
		fusd_dev_put(dev);
		return;
	}
	n = read(fd, buf->data, buf->cap);
	if (n < 0) {
		if (errno != EINTR && errno != EAGAIN)
			perror("fusd_dispatch: read");
	} else {
		fusd_dispatch_shared(dev, buf, (size_t)n);
	}
	fusd_dev_put(dev);
}

/*
 * One device, served by exchanges: wait for requests in the kernel, not
 * in poll() or epoll, while it stays the only one (each waiting thread
 * is woken for a request of its own).  -1: use poll() this time.
 */
static int fusd_run_alone(int fd, unsigned int gen, int wait_ms)
{
	struct fusd_dev *dev = fusd_dev_get(fd);
	int ret = -1;

	if (!dev)
		return 0;
	if ((dev->features & FUSD_FEATURE_EXCHANGE) && !dev->nonblock)
		ret = fusd_serve(dev, wait_ms, gen);
	fusd_dev_put(dev);
	return ret;
}

FUSD_API void fusd_run(void)
{
	struct pollfd *fds = NULL;
	size_t cap = 0, n, i, fcap = 0;
	unsigned int gen;
	int *fdv = NULL;

	while ((n = fusd_table_snapshot(&fdv, &fcap, &gen)) > 0) {
		if (n == 1 && fusd_run_alone(fdv[0], gen, FUSD_WAIT) == 0)
			continue;
		if (cap < n) {
			struct pollfd *p = realloc(fds, n * sizeof(*p));

			if (!p) {
				perror("fusd_run");
				break;
			}
			fds = p;
			cap = n;
		}
		for (i = 0; i < n; i++) {
			fds[i].fd = fdv[i];
			fds[i].events = POLLIN;
			fds[i].revents = 0;
		}
		if (poll(fds, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("fusd_run: poll");
			break;
		}
		for (i = 0; i < n; i++) {
			if (fds[i].revents & POLLNVAL) {
				fprintf(stderr, "fusd_run: descriptor %d closed "
					"without fusd_unregister\n", fds[i].fd);
				fusd_unregister(fds[i].fd);
			} else if (fds[i].revents) {
				fusd_serve_ready(fds[i].fd);
			}
		}
	}
	free(fds);
	free(fdv);
}

/* Handle what is ready now; never blocks.  Returns devices handled. */
static int fusd_dispatch_ready_timeout(int timeout_ms)
{
	struct epoll_event ev[16];
	int epfd = fusd_epoll_fd(), n, i;

	if (epfd < 0)
		return -1;
	n = epoll_wait(epfd, ev, 16, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -1;
	for (i = 0; i < n; i++)
		fusd_serve_ready(ev[i].data.fd);
	return n;
}

FUSD_API int fusd_dispatch_ready(void)
{
	return fusd_dispatch_ready_timeout(0);
}

/*
 * A worker's own epoll set of every device, EPOLLEXCLUSIVE: a request
 * wakes one waiting worker, not all of them.
 */
static int fusd_worker_epoll(unsigned int *gen)
{
	size_t cap = 0, n, i;
	int *fdv = NULL, epfd;

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		return -1;
	n = fusd_table_snapshot(&fdv, &cap, gen);
	for (i = 0; i < n; i++) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE,
					  .data.fd = fdv[i] };

		epoll_ctl(epfd, EPOLL_CTL_ADD, fdv[i], &ev);
	}
	free(fdv);
	return epfd;
}

static void *fusd_worker(void *arg)
{
	struct epoll_event ev[16];
	unsigned int gen = 0;
	int epfd = -1, n, i;

	(void)arg;
	for (;;) {
		unsigned int now;
		int *fdv = NULL;
		size_t cap = 0;

		/* A single device: wait for it in the kernel. */
		if (fusd_table_snapshot(&fdv, &cap, &now) == 1 &&
		    !fusd_run_alone(fdv[0], now, FUSD_LOOP_WAKE_MS)) {
			free(fdv);
			continue;
		}
		free(fdv);
		if (epfd < 0 || gen != fusd_table_generation()) {
			if (epfd >= 0)
				close(epfd);
			epfd = fusd_worker_epoll(&gen);
			if (epfd < 0) {
				perror("fusd_run_mt: epoll");
				break;
			}
		}
		/* The timeout lets workers notice that every device is gone. */
		if (!fusd_table_count())
			break;
		n = epoll_wait(epfd, ev, 16, 500);
		if (n < 0 && errno != EINTR) {
			perror("fusd_run_mt: epoll_wait");
			break;
		}
		for (i = 0; i < n; i++)
			fusd_serve_ready(ev[i].data.fd);
	}
	if (epfd >= 0)
		close(epfd);
	fusd_ctx_cache_drop();
	return NULL;
}

FUSD_API int fusd_run_mt(int nthreads)
{
	pthread_t *threads;
	int i, started = 0;

	if (nthreads < 1) {
		errno = EINVAL;
		return -1;
	}
	threads = calloc((size_t)nthreads, sizeof(*threads));
	if (!threads)
		return -1;
	/* One call per read(), so that each thread takes its own. */
	if (nthreads > 1) {
		size_t cap = 0, n, k;
		uint32_t one = 1;
		int *fdv = NULL;

		n = fusd_table_snapshot(&fdv, &cap, NULL);
		for (k = 0; k < n; k++)
			ioctl(fdv[k], FUSD_IOC_SET_BATCH, &one);
		free(fdv);
	}
	for (i = 1; i < nthreads; i++)
		if (!pthread_create(&threads[started], NULL, fusd_worker, NULL))
			started++;
	fusd_worker(NULL);
	for (i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	return 0;
}
