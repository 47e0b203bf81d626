// SPDX-License-Identifier: BSD-3-Clause
/*
 * zero-fusd: /dev/bench-zero-fusd for fusd-bench, on libfusd's classic API.
 * read gives zero bytes, write takes everything, the ioctls of bench.h
 * answer the round-trip and poll wake-up tests, and mmap shares a
 * zero-filled memfd of BENCH_MAP_SIZE bytes (the same bytes read serves).
 *
 *   zero-fusd [-t THREADS]     (fusd_run(), or fusd_run_mt(THREADS))
 */
#define _GNU_SOURCE	/* memfd_create */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fusd.h>

#include "bench.h"
#include "notifier.h"

/*
 * Readiness uses the classic poll_diff protocol: it is the one way to keep
 * a handle on an open file (the held poll_diff call) that another thread
 * can answer whenever the state changes.
 */
struct zfile {
	unsigned int ready;		/* FUSD_NOTIFY_* bits */
	struct fusd_file_info *held;	/* the pending poll_diff call */
};

static pthread_mutex_t zlock = PTHREAD_MUTEX_INITIALIZER;

/* Classic FUSD's VM_SHARED in the mmap callback's flags. */
#define CLASSIC_VM_SHARED 0x8

/* The memory every mapping shares: BENCH_MAP_SIZE zero bytes. */
static int map_fd = -1;

/*
 * Only a change is answered: the library asks poll_diff again only after
 * an answer that differs from its cached state.  Answered outside the
 * lock: the next poll_diff may come from inside fusd_return().
 */
static void zfile_set_ready(struct zfile *z, unsigned int ready)
{
	struct fusd_file_info *h = NULL;

	pthread_mutex_lock(&zlock);
	if (z->ready != ready) {
		z->ready = ready;
		h = z->held;
		z->held = NULL;
	}
	pthread_mutex_unlock(&zlock);
	if (h)
		fusd_return(h, ready);
}

static void fire(void *target)
{
	zfile_set_ready(target, FUSD_NOTIFY_INPUT);
}

static int z_open(struct fusd_file_info *file)
{
	struct zfile *z = calloc(1, sizeof(*z));

	if (!z)
		return -ENOMEM;
	file->private_data = z;
	return 0;
}

static int z_close(struct fusd_file_info *file)
{
	struct zfile *z = file->private_data;
	struct fusd_file_info *h;

	pthread_mutex_lock(&zlock);
	h = z->held;
	z->held = NULL;
	pthread_mutex_unlock(&zlock);
	if (h)
		fusd_destroy(h);
	notifier_cancel(z);
	free(z);
	return 0;
}

static ssize_t z_read(struct fusd_file_info *file, char *buf, size_t len,
		      loff_t *off)
{
	(void)file;
	(void)off;
	/* The library's buffer is reused between calls: fill it. */
	memset(buf, 0, len);
	return (ssize_t)len;
}

static ssize_t z_write(struct fusd_file_info *file, const char *buf,
		       size_t len, loff_t *off)
{
	(void)file;
	(void)buf;
	(void)off;
	return (ssize_t)len;
}

static int z_ioctl(struct fusd_file_info *file, int cmd, void *data)
{
	uint64_t stamp;

	switch ((unsigned int)cmd) {
	case BENCH_IOC_NOP:
		return 0;
	case BENCH_IOC_ARM_POLL:
		/* Called in the callback: the cleared mask goes with the
		 * answer, so the client's next poll() sleeps. */
		zfile_set_ready(file->private_data, 0);
		notifier_arm(file->private_data);
		return 0;
	case BENCH_IOC_GET_STAMP:
		stamp = notifier_stamp();
		memcpy(data, &stamp, sizeof(stamp));
		return 0;
	}
	return -ENOTTY;
}

/* Any range of the region, read-only when shared: it stays all zeros. */
static int z_mmap(struct fusd_file_info *file, int offset, size_t length,
		  int flags, void **addr, size_t *out_length)
{
	loff_t off = *fusd_get_offset(file);	/* in full, unlike offset */

	(void)offset;
	(void)addr;
	(void)out_length;
	if ((flags & CLASSIC_VM_SHARED) && (flags & PROT_WRITE))
		return -EACCES;
	if (off < 0 || off >= BENCH_MAP_SIZE ||
	    length > (size_t)(BENCH_MAP_SIZE - off))
		return -EINVAL;
	if (fusd_mmap_set_fd(file, map_fd, off) < 0)
		return -errno;
	return 0;
}

/*
 * The mapped region: a memfd written with zeros once, so that its pages
 * exist before the first mapping and a client's page faults only map them.
 */
static int map_create(void)
{
	static const char zeros[65536];
	const ssize_t chunk = sizeof(zeros);
	off_t off;

	map_fd = memfd_create("bench-zero-map", MFD_CLOEXEC);
	if (map_fd < 0)
		return -1;
	for (off = 0; off < BENCH_MAP_SIZE; off += chunk)
		if (pwrite(map_fd, zeros, (size_t)chunk, off) != chunk)
			return -1;
	return 0;
}

static int z_poll_diff(struct fusd_file_info *file, unsigned int cached)
{
	struct zfile *z = file->private_data;
	int ret = -FUSD_NOREPLY;

	pthread_mutex_lock(&zlock);
	if (z->ready != cached)
		ret = (int)z->ready;
	else
		z->held = file;
	pthread_mutex_unlock(&zlock);
	return ret;
}

int main(int argc, char **argv)
{
	static struct fusd_file_operations fops = {
		.open = z_open,
		.close = z_close,
		.read = z_read,
		.write = z_write,
		.ioctl = z_ioctl,
		.poll_diff = z_poll_diff,
		.mmap = z_mmap,
	};
	size_t io_max = 1 << 20;
	int threads = 1, opt, err, fd;

	while ((opt = getopt(argc, argv, "t:m:")) != -1) {
		switch (opt) {
		case 't':
			threads = atoi(optarg);
			break;
		case 'm':	/* bytes per call, 0: the default 128 KiB */
			io_max = strtoul(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr, "usage: %s [-t THREADS] [-m IO_MAX]\n",
				argv[0]);
			return 2;
		}
	}
	if (threads < 1) {
		fprintf(stderr, "%s: -t needs a positive number\n", argv[0]);
		return 2;
	}
	if (map_create() < 0) {
		perror("memfd for mmap");
		return 1;
	}
	err = notifier_start(fire);
	if (err) {
		fprintf(stderr, "%s: thread: %s\n", argv[0], strerror(-err));
		return 1;
	}
	fd = fusd_register("/dev/" BENCH_DEV_FUSD, "bench", BENCH_DEV_FUSD,
			   0666, NULL, &fops);
	if (fd < 0) {
		perror("fusd_register " BENCH_DEV_FUSD);
		return 1;
	}
	/* A bulk device asks for whole 1 MiB calls (CUSE's kernel splits
	 * them into 128 KiB requests instead).
	 */
	if (io_max && fusd_set_io_max(fd, io_max) < 0)
		perror("fusd_set_io_max");
	if (threads == 1)
		fusd_run();
	else if (fusd_run_mt(threads) < 0)
		perror("fusd_run_mt");
	return 0;
}
