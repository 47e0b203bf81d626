// SPDX-License-Identifier: BSD-3-Clause
/*
 * zero-cuse: /dev/bench-zero-cuse for fusd-bench, the same device as
 * zero-fusd on Linux's CUSE through libfuse3's cuse_lowlevel API.
 *
 *   zero-cuse [-t THREADS]     (one thread, or a loop of THREADS workers)
 *
 * Runs in the foreground; SIGTERM ends it (libfuse's signal handlers).
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cuse_lowlevel.h>
#include <fuse_lowlevel.h>

#include "bench.h"
#include "notifier.h"

/* Replies come straight from here (fuse_reply_buf sends it as is); larger
 * reads than this are answered short, as the client allows. */
#define ZERO_MAX (1024 * 1024)
static const char zeros[ZERO_MAX];

struct cfile {
	int ready;			/* POLLIN set */
	struct fuse_pollhandle *ph;	/* the kernel's latest poll waiter */
};

static pthread_mutex_t clock_ = PTHREAD_MUTEX_INITIALIZER;

static struct cfile *cfile_of(struct fuse_file_info *fi)
{
	return (struct cfile *)(uintptr_t)fi->fh;
}

static void fire(void *target)
{
	struct cfile *c = target;

	pthread_mutex_lock(&clock_);
	c->ready = 1;
	if (c->ph) {
		fuse_lowlevel_notify_poll(c->ph);
		fuse_pollhandle_destroy(c->ph);
		c->ph = NULL;
	}
	pthread_mutex_unlock(&clock_);
}

static void z_open(fuse_req_t req, struct fuse_file_info *fi)
{
	struct cfile *c = calloc(1, sizeof(*c));

	if (!c) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fi->fh = (uintptr_t)c;
	fuse_reply_open(req, fi);
}

static void z_release(fuse_req_t req, struct fuse_file_info *fi)
{
	struct cfile *c = cfile_of(fi);

	notifier_cancel(c);
	pthread_mutex_lock(&clock_);
	if (c->ph)
		fuse_pollhandle_destroy(c->ph);
	pthread_mutex_unlock(&clock_);
	free(c);
	fuse_reply_err(req, 0);
}

static void z_read(fuse_req_t req, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	(void)off;
	(void)fi;
	fuse_reply_buf(req, zeros, size < ZERO_MAX ? size : ZERO_MAX);
}

static void z_write(fuse_req_t req, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)buf;
	(void)off;
	(void)fi;
	fuse_reply_write(req, size);
}

/* Restricted ioctls: the kernel copies _IOC_SIZE bytes each way. */
static void z_ioctl(fuse_req_t req, int cmd, void *arg,
		    struct fuse_file_info *fi, unsigned int flags,
		    const void *in_buf, size_t in_bufsz, size_t out_bufsz)
{
	struct cfile *c = cfile_of(fi);
	uint64_t stamp;

	(void)arg;
	(void)flags;
	(void)in_buf;
	(void)in_bufsz;
	switch ((unsigned int)cmd) {
	case BENCH_IOC_NOP:
		fuse_reply_ioctl(req, 0, NULL, 0);
		return;
	case BENCH_IOC_ARM_POLL:
		pthread_mutex_lock(&clock_);
		c->ready = 0;
		pthread_mutex_unlock(&clock_);
		notifier_arm(c);
		fuse_reply_ioctl(req, 0, NULL, 0);
		return;
	case BENCH_IOC_GET_STAMP:
		if (out_bufsz < sizeof(stamp)) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		stamp = notifier_stamp();
		fuse_reply_ioctl(req, 0, &stamp, sizeof(stamp));
		return;
	}
	fuse_reply_err(req, ENOTTY);
}

static void z_poll(fuse_req_t req, struct fuse_file_info *fi,
		   struct fuse_pollhandle *ph)
{
	struct cfile *c = cfile_of(fi);
	unsigned int revents;

	pthread_mutex_lock(&clock_);
	if (ph) {
		if (c->ph)
			fuse_pollhandle_destroy(c->ph);
		c->ph = ph;
	}
	revents = c->ready ? POLLIN : 0;
	pthread_mutex_unlock(&clock_);
	fuse_reply_poll(req, revents);
}

int main(int argc, char **argv)
{
	static const struct cuse_lowlevel_ops ops = {
		.open = z_open,
		.release = z_release,
		.read = z_read,
		.write = z_write,
		.ioctl = z_ioctl,
		.poll = z_poll,
	};
	const char *dev_info[] = { "DEVNAME=" BENCH_DEV_CUSE };
	struct cuse_info ci = {
		.dev_info_argc = 1,
		.dev_info_argv = dev_info,
	};
	/* libfuse's own options: foreground, no debug output. */
	static char foreground[] = "-f";
	char *fargv[] = { argv[0], foreground, NULL };
	struct fuse_session *se;
	int threads = 1, opt, mt, err, rc;

	while ((opt = getopt(argc, argv, "t:")) != -1) {
		switch (opt) {
		case 't':
			threads = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [-t THREADS]\n", argv[0]);
			return 2;
		}
	}
	if (threads < 1) {
		fprintf(stderr, "%s: -t needs a positive number\n", argv[0]);
		return 2;
	}
	err = notifier_start(fire);
	if (err) {
		fprintf(stderr, "%s: thread: %s\n", argv[0], strerror(-err));
		return 1;
	}
	se = cuse_lowlevel_setup(2, fargv, &ci, &ops, &mt, NULL);
	if (!se) {
		fprintf(stderr, "%s: cuse_lowlevel_setup failed (is /dev/cuse there?)\n",
			argv[0]);
		return 1;
	}
	if (threads == 1) {
		rc = fuse_session_loop(se);
	} else {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();

		if (!cfg) {
			fprintf(stderr, "%s: fuse_loop_cfg_create failed\n", argv[0]);
			cuse_lowlevel_teardown(se);
			return 1;
		}
		fuse_loop_cfg_set_max_threads(cfg, (unsigned int)threads);
		fuse_loop_cfg_set_idle_threads(cfg, (unsigned int)threads);
		rc = fuse_session_loop_mt(se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	cuse_lowlevel_teardown(se);
	return rc < 0 ? 1 : 0;
}
