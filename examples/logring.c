// SPDX-License-Identifier: BSD-3-Clause
/*
 * logring: /dev/logring keeps the last SIZE bytes written to it (4096
 * unless given as the first argument), like a kernel log buffer.  Every
 * open file reads from the oldest byte still held and then follows new
 * writes, tail -f style: a read with nothing new blocks until someone
 * writes (or fails EAGAIN under O_NONBLOCK), and poll()/select() report
 * the file readable exactly when it has unread data.  A reader that
 * falls more than SIZE bytes behind skips what was overwritten.
 *
 *   $ logring 8192 &
 *   $ echo one > /dev/logring; echo two > /dev/logring
 *   $ cat /dev/logring        # prints one and two, then waits for more
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fusd.h>

#define DEFAULT_SIZE 4096
#define MAX_WAITING 16		/* deferred reads per open file */

static char *ring;
static size_t ring_size;
static unsigned long long written;	/* bytes ever written */

/* One open file of /dev/logring. */
struct reader {
	struct reader *prev, *next;
	unsigned long long pos;	/* next byte it reads (file position) */
	struct fusd_file_info *polling;	/* deferred poll_diff, or NULL */
	struct fusd_file_info *reads[MAX_WAITING];	/* oldest first */
	int nreads;
};

static struct reader readers;	/* list head */

static unsigned long long oldest(void)
{
	return written > ring_size ? written - ring_size : 0;
}

static unsigned int reader_state(struct reader *r)
{
	return FUSD_NOTIFY_OUTPUT | (r->pos < written ? FUSD_NOTIFY_INPUT : 0);
}

/* Copy unread bytes from the position in *offset; return the count. */
static ssize_t copy_out(struct reader *r, char *buffer, size_t length,
			loff_t *offset)
{
	unsigned long long pos = *offset < 0 ? 0 : (unsigned long long)*offset;
	size_t done = 0;

	if (pos < oldest())
		pos = oldest();	/* overwritten: skip ahead */
	while (done < length && pos < written) {
		size_t at = (size_t)(pos % ring_size);
		size_t n = ring_size - at;

		if (n > written - pos)
			n = (size_t)(written - pos);
		if (n > length - done)
			n = length - done;
		memcpy(buffer + done, ring + at, n);
		done += n;
		pos += n;
	}
	*offset = (loff_t)pos;
	r->pos = pos;
	return (ssize_t)done;
}

static void update_poll(struct reader *r);

static int logring_open(struct fusd_file_info *file)
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

static int logring_close(struct fusd_file_info *file)
{
	struct reader *r = file->private_data;
	int i;

	for (i = 0; i < r->nreads; i++)
		fusd_destroy(r->reads[i]);
	if (r->polling)
		fusd_destroy(r->polling);
	r->prev->next = r->next;
	r->next->prev = r->prev;
	free(r);
	return 0;
}

static ssize_t logring_read(struct fusd_file_info *file, char *buffer,
			    size_t length, loff_t *offset)
{
	struct reader *r = file->private_data;
	unsigned long long pos = *offset < 0 ? 0 : (unsigned long long)*offset;

	r->pos = pos;		/* the caller may have seeked */
	if (!length)
		return 0;
	if (pos < written && !r->nreads) {
		ssize_t n = copy_out(r, buffer, length, offset);

		/* poll_diff is not asked again after a read: tell it now. */
		update_poll(r);
		return n;
	}
	if (file->flags & O_NONBLOCK)
		return -EAGAIN;
	if (r->nreads == MAX_WAITING)
		return -EBUSY;
	r->reads[r->nreads++] = file;	/* wait for the next write */
	return -FUSD_NOREPLY;
}

static int forget_read(struct reader *r, struct fusd_file_info *file)
{
	int i;

	for (i = 0; i < r->nreads; i++) {
		if (r->reads[i] != file)
			continue;
		memmove(&r->reads[i], &r->reads[i + 1],
			(size_t)(r->nreads - i - 1) * sizeof(r->reads[0]));
		r->nreads--;
		return 1;
	}
	return 0;
}

static int logring_unblock(struct fusd_file_info *file)
{
	if (forget_read(file->private_data, file))
		fusd_destroy(file);
	return 0;
}

static int logring_poll_diff(struct fusd_file_info *file,
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

/* New data: complete the oldest deferred read of each reader, update poll. */
static void wake_reader(struct reader *r)
{
	if (r->nreads) {
		struct fusd_file_info *rd = r->reads[0];
		ssize_t n = copy_out(r, fusd_get_read_buffer(rd),
				     fusd_get_length(rd), fusd_get_offset(rd));

		forget_read(r, rd);
		fusd_return(rd, n);
	}
	update_poll(r);
}

static ssize_t logring_write(struct fusd_file_info *file, const char *buffer,
			     size_t length, loff_t *offset)
{
	struct reader *r, *next;
	size_t done = 0;

	(void)file;
	(void)offset;
	/* Only the last ring_size bytes of a big write can survive. */
	if (length > ring_size) {
		written += length - ring_size;
		done = length - ring_size;
	}
	while (done < length) {
		size_t at = (size_t)(written % ring_size);
		size_t n = ring_size - at;

		if (n > length - done)
			n = length - done;
		memcpy(ring + at, buffer + done, n);
		done += n;
		written += n;
	}
	for (r = readers.next; r != &readers; r = next) {
		next = r->next;
		wake_reader(r);
	}
	return (ssize_t)length;
}

int main(int argc, char **argv)
{
	static struct fusd_file_operations fops = {
		.open = logring_open,
		.close = logring_close,
		.read = logring_read,
		.write = logring_write,
		.unblock = logring_unblock,
		.poll_diff = logring_poll_diff,
	};
	char *end;

	ring_size = DEFAULT_SIZE;
	if (argc > 1) {
		ring_size = strtoul(argv[1], &end, 0);
		if (*end || !ring_size || ring_size > 64u << 20) {
			fprintf(stderr, "usage: %s [SIZE]\n", argv[0]);
			return 2;
		}
	}
	ring = malloc(ring_size);
	if (!ring) {
		perror("logring");
		return 1;
	}
	readers.next = readers.prev = &readers;
	if (fusd_register("/dev/logring", "misc", "logring", 0666, NULL,
			  &fops) < 0) {
		perror("register of /dev/logring failed");
		return 1;
	}
	fprintf(stderr, "calling fusd_run...\n");
	fusd_run();
	return 0;
}
