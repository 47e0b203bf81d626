// SPDX-License-Identifier: BSD-3-Clause
/*
 * frame-ring: /dev/frame-ring is a ring of frames, the way a camera or a
 * capture card hands frames to user space.  The daemon keeps the ring in
 * a memfd and writes a frame into it every 20 ms; clients map the ring
 * read-only (mmap(), answered with fusd_mmap_set_fd()) and read the
 * frames where the daemon wrote them, without a copy.
 *
 * The ring (RING_SIZE bytes from offset 0) is one header page, struct
 * ring_header, then NFRAMES frames of FRAME_SIZE bytes, struct frame.
 * Frame number n (1, 2, 3, ...) lives in slot (n - 1) % NFRAMES; it holds
 * n, its time, "frame n " repeated as data and a checksum (FNV-1a over n
 * and the data).  The header's 'head' is the number of the newest
 * complete frame (0: none yet), stored after the frame itself.  A client
 * that read a frame checks 'head' again afterwards: if it reached
 * n + NFRAMES - 1, the daemon may have been overwriting that slot
 * meanwhile, and the frame is lost (an overrun).
 *
 * read() returns the newest frame number as a decimal line ("42\n", the
 * buffer must hold 21 bytes) once there is one the open file has not
 * reported yet; otherwise it waits for the next frame (EAGAIN under
 * O_NONBLOCK).  poll() reports POLLIN exactly then, so a client polls,
 * reads the number and takes every frame up to it from the mapping.
 * The node is read-only (0444) and shared writable mappings are refused
 * (EACCES), also to root; the memfd is sealed against them too.  The
 * daemon runs its own poll() loop over fusd_epoll_fd() and a timerfd.
 *
 *   $ frame-ring &
 *   $ frame-ring -c 50    # client: 50 frames in order with good checksums
 *   frame 412 ok
 *   frame 413 ok
 *   ...
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <fusd.h>

#define NODE "/dev/frame-ring"
#define NFRAMES 16
#define FRAME_SIZE 4096
#define HDR_SIZE 4096
#define RING_SIZE (HDR_SIZE + NFRAMES * FRAME_SIZE)
#define PERIOD_MS 20
#define RING_MAGIC 0x676e6972u	/* "ring" */
#define CLASSIC_VM_SHARED 0x8	/* MAP_SHARED in the mmap callback's flags */
#define CLIENT_WAIT_MS 10000	/* client: longest wait for a frame */

struct ring_header {
	uint32_t magic;
	uint32_t nframes;
	uint32_t frame_size;
	uint32_t period_ms;
	uint64_t head;		/* newest complete frame, 0: none yet */
};

struct frame {
	uint64_t seq;		/* frame number, from 1 */
	uint64_t time_ns;	/* CLOCK_MONOTONIC when it was written */
	uint32_t checksum;	/* FNV-1a over seq and data */
	uint32_t pad;
	unsigned char data[FRAME_SIZE - 24];
};

static uint32_t frame_checksum(const struct frame *f)
{
	const unsigned char *p = (const unsigned char *)&f->seq;
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < sizeof(f->seq); i++)
		h = (h ^ p[i]) * 16777619u;
	for (i = 0; i < sizeof(f->data); i++)
		h = (h ^ f->data[i]) * 16777619u;
	return h;
}

static struct frame *ring_slot(void *ring, uint64_t seq)
{
	return (struct frame *)((char *)ring + HDR_SIZE +
				((seq - 1) % NFRAMES) * FRAME_SIZE);
}

/* ------------------------------------------------------------ daemon */

static int ring_fd;
static void *ring;
static struct ring_header *hdr;

/* One open file of /dev/frame-ring. */
struct reader {
	struct reader *prev, *next;
	uint64_t seen;		/* newest frame number read() reported */
	struct fusd_file_info *reading;	/* deferred read, or NULL */
	struct fusd_file_info *polling;	/* deferred poll_diff, or NULL */
};

static struct reader readers;	/* list head */

static uint64_t ring_head(void)
{
	return __atomic_load_n(&hdr->head, __ATOMIC_ACQUIRE);
}

static unsigned int reader_state(struct reader *r)
{
	return ring_head() > r->seen ? FUSD_NOTIFY_INPUT : 0;
}

/* Answer a held poll_diff if the state of @r is not what it last said. */
static void update_poll(struct reader *r)
{
	struct fusd_file_info *p = r->polling;

	if (p && reader_state(r) !=
	    (unsigned int)fusd_get_poll_diff_cached_state(p)) {
		r->polling = NULL;
		fusd_return(p, (int)reader_state(r));
	}
}

/* The newest frame number as a line; the reader has now seen it. */
static ssize_t report_head(struct reader *r, char *buffer)
{
	r->seen = ring_head();
	return snprintf(buffer, 21, "%llu\n", (unsigned long long)r->seen);
}

static int ring_open(struct fusd_file_info *file)
{
	struct reader *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->next = readers.next;
	r->prev = &readers;
	readers.next->prev = r;
	readers.next = r;
	file->private_data = r;
	return 0;
}

static int ring_close(struct fusd_file_info *file)
{
	struct reader *r = file->private_data;

	if (r->reading)
		fusd_destroy(r->reading);
	if (r->polling)
		fusd_destroy(r->polling);
	r->prev->next = r->next;
	r->next->prev = r->prev;
	free(r);
	return 0;
}

static ssize_t ring_read(struct fusd_file_info *file, char *buffer,
			 size_t length, loff_t *offset)
{
	struct reader *r = file->private_data;
	ssize_t n;

	(void)offset;
	if (length < 21)
		return -EINVAL;
	if (ring_head() > r->seen && !r->reading) {
		n = report_head(r, buffer);
		/* poll_diff is not asked again after a read: tell it now. */
		update_poll(r);
		return n;
	}
	if (file->flags & O_NONBLOCK)
		return -EAGAIN;
	if (r->reading)
		return -EBUSY;	/* one waiting read per open file */
	r->reading = file;	/* answered by the next frame */
	return -FUSD_NOREPLY;
}

static int ring_unblock(struct fusd_file_info *file)
{
	struct reader *r = file->private_data;

	if (r->reading == file) {
		r->reading = NULL;
		fusd_destroy(file);	/* the read fails with EINTR */
	}
	return 0;
}

static int ring_poll_diff(struct fusd_file_info *file,
			  unsigned int cached_state)
{
	struct reader *r = file->private_data;
	unsigned int state = reader_state(r);

	if (state != cached_state)
		return (int)state;
	if (r->polling)
		fusd_destroy(r->polling);
	r->polling = file;
	return -FUSD_NOREPLY;
}

static int ring_mmap(struct fusd_file_info *file, int offset, size_t length,
		     int flags, void **addr, size_t *out_length)
{
	loff_t off = *fusd_get_offset(file);	/* in full, unlike offset */

	(void)offset;
	(void)addr;
	(void)out_length;
	if ((flags & CLASSIC_VM_SHARED) && (flags & PROT_WRITE))
		return -EACCES;	/* the frames are the daemon's to write */
	if (off < 0 || off >= RING_SIZE || length > (size_t)(RING_SIZE - off))
		return -EINVAL;
	if (fusd_mmap_set_fd(file, ring_fd, off) < 0)
		return -errno;
	return 0;
}

/* Write frame number head + 1 and wake whoever waits for it. */
static void produce(void)
{
	uint64_t seq = hdr->head + 1;
	struct frame *f = ring_slot(ring, seq);
	struct reader *r;
	struct timespec ts;
	size_t i;
	int len;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	f->seq = seq;
	f->time_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	len = snprintf((char *)f->data, sizeof(f->data), "frame %llu ",
		       (unsigned long long)seq);
	for (i = (size_t)len; i < sizeof(f->data); i++)
		f->data[i] = f->data[i % (size_t)len];
	f->checksum = frame_checksum(f);
	__atomic_store_n(&hdr->head, seq, __ATOMIC_RELEASE);

	for (r = readers.next; r != &readers; r = r->next) {
		if (r->reading) {
			struct fusd_file_info *rd = r->reading;
			char *buffer = fusd_get_read_buffer(rd);

			r->reading = NULL;
			fusd_return(rd, report_head(r, buffer));
		}
		update_poll(r);
	}
}

static int ring_create(void)
{
	ring_fd = memfd_create("frame-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (ring_fd < 0 || ftruncate(ring_fd, RING_SIZE) < 0)
		return -1;
	ring = mmap(NULL, RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		    ring_fd, 0);
	if (ring == MAP_FAILED)
		return -1;
	hdr = ring;
	hdr->magic = RING_MAGIC;
	hdr->nframes = NFRAMES;
	hdr->frame_size = FRAME_SIZE;
	hdr->period_ms = PERIOD_MS;
	/* Only this mapping may write: no one can map it writable again. */
	return fcntl(ring_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
		     F_SEAL_FUTURE_WRITE | F_SEAL_SEAL);
}

static int run_daemon(void)
{
	static struct fusd_file_operations fops = {
		.open = ring_open,
		.close = ring_close,
		.read = ring_read,
		.unblock = ring_unblock,
		.poll_diff = ring_poll_diff,
		.mmap = ring_mmap,
	};
	struct itimerspec period = {
		.it_interval = { 0, PERIOD_MS * 1000000L },
		.it_value = { 0, PERIOD_MS * 1000000L },
	};
	struct pollfd p[2];
	uint64_t ticks;

	readers.next = readers.prev = &readers;
	if (ring_create() < 0) {
		perror("frame-ring: memfd");
		return 1;
	}
	if (fusd_register(NODE, "misc", "frame-ring", 0444, NULL, &fops) < 0) {
		perror("Unable to register " NODE);
		return 1;
	}
	/* Our own loop: fusd requests and the frame timer. */
	p[0].fd = fusd_epoll_fd();
	p[1].fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (p[0].fd < 0 || p[1].fd < 0 ||
	    timerfd_settime(p[1].fd, 0, &period, NULL) < 0) {
		perror("frame-ring: timer");
		return 1;
	}
	p[0].events = POLLIN;
	p[1].events = POLLIN;
	printf(NODE " should now exist - a frame every %d ms\n", PERIOD_MS);
	fflush(stdout);
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("frame-ring: poll");
			return 1;
		}
		if (p[0].revents && fusd_dispatch_ready() < 0)
			perror("frame-ring: fusd_dispatch_ready");
		if (p[1].revents &&
		    read(p[1].fd, &ticks, sizeof(ticks)) == sizeof(ticks))
			produce();
	}
}

/* ------------------------------------------------------------ client */

/* Frame 'seq' of the mapped ring: 0 good, 1 overrun, -1 bad. */
static int client_frame(void *map, uint64_t seq)
{
	const struct ring_header *h = map;
	struct frame f;

	memcpy(&f, ring_slot(map, seq), sizeof(f));
	/* Still there after the copy?  Else the daemon may have been
	 * overwriting it: an overrun, not an error.
	 */
	if (__atomic_load_n(&h->head, __ATOMIC_ACQUIRE) >= seq + NFRAMES - 1)
		return 1;
	if (f.seq == seq && f.checksum == frame_checksum(&f))
		return 0;
	fprintf(stderr, "frame-ring: frame %llu bad (holds %llu, checksum %#x)\n",
		(unsigned long long)seq, (unsigned long long)f.seq,
		f.checksum);
	return -1;
}

static int run_client(unsigned long want)
{
	struct pollfd p = { .events = POLLIN };
	const struct ring_header *h;
	unsigned long good = 0;
	uint64_t next = 0, head;
	char line[32];
	int ret;
	void *map;
	ssize_t n;

	p.fd = open(NODE, O_RDONLY);
	if (p.fd < 0) {
		perror("frame-ring: open " NODE);
		return 1;
	}
	map = mmap(NULL, RING_SIZE, PROT_READ, MAP_SHARED, p.fd, 0);
	if (map == MAP_FAILED) {
		perror("frame-ring: mmap");
		return 1;
	}
	h = map;
	if (h->magic != RING_MAGIC || h->nframes != NFRAMES ||
	    h->frame_size != FRAME_SIZE) {
		fprintf(stderr, "frame-ring: not a ring this client knows\n");
		return 1;
	}
	while (good < want) {
		if (poll(&p, 1, CLIENT_WAIT_MS) != 1) {
			fprintf(stderr, "frame-ring: no frame for %d ms\n",
				CLIENT_WAIT_MS);
			return 1;
		}
		n = read(p.fd, line, sizeof(line) - 1);
		if (n <= 0) {
			perror("frame-ring: read");
			return 1;
		}
		line[n] = '\0';
		head = strtoull(line, NULL, 10);
		if (!next)
			next = head;	/* start with the newest frame */
		if (head + 1 < next) {
			fprintf(stderr, "frame-ring: head went back to %llu\n",
				(unsigned long long)head);
			return 1;
		}
		if (head >= next + NFRAMES - 1) {
			/* Fell behind: the oldest of them are gone. */
			printf("frames %llu to %llu overrun\n",
			       (unsigned long long)next,
			       (unsigned long long)(head - NFRAMES + 1));
			next = head - NFRAMES + 2;
			good = 0;
		}
		for (; next <= head && good < want; next++) {
			ret = client_frame(map, next);
			if (ret < 0)
				return 1;
			printf("frame %llu %s\n", (unsigned long long)next,
			       ret ? "overrun" : "ok");
			good = ret ? 0 : good + 1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	char *end;
	unsigned long want;

	if (argc == 1)
		return run_daemon();
	if (argc == 3 && !strcmp(argv[1], "-c")) {
		want = strtoul(argv[2], &end, 10);
		if (!*end && want)
			return run_client(want);
	}
	fprintf(stderr, "usage: %s          serve " NODE "\n", argv[0]);
	fprintf(stderr, "       %s -c COUNT  check COUNT frames in a row\n",
		argv[0]);
	return 2;
}
