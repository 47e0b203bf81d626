// SPDX-License-Identifier: BSD-3-Clause
/*
 * pager: a one-way paging system.  Whoever writes to /dev/pager/input
 * sends a page; every process reading /dev/pager/notify is woken and gets
 * one line per page it has not seen yet ("page 1", "page 2", ...).  A
 * reader only sees pages sent after it opened the device, each of them
 * once.  With nothing new, a read blocks (the daemon defers it) and
 * poll()/select() report /dev/pager/notify as not readable.
 *
 *   $ cat /dev/pager/notify &
 *   $ echo page > /dev/pager/input
 *   page 1
 *   $ echo page > /dev/pager/input
 *   page 2
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fusd.h>

#define MAX_WAITING 16		/* deferred reads per open file */

/* One open file of /dev/pager/notify. */
struct listener {
	struct listener *prev, *next;
	unsigned long seen;	/* last page number given to this file */
	struct fusd_file_info *polling;	/* deferred poll_diff, or NULL */
	struct fusd_file_info *reads[MAX_WAITING];	/* oldest first */
	int nreads;
};

static struct listener listeners;	/* list head */
static unsigned long pages;		/* pages sent so far */

static unsigned int listener_state(struct listener *l)
{
	return l->seen < pages ? FUSD_NOTIFY_INPUT : 0;
}

/* Fill one read with the lines of the pages @l has not seen yet. */
static ssize_t fill_read(struct listener *l, char *buffer, size_t length)
{
	size_t used = 0;

	while (l->seen < pages) {
		char line[32];
		int n = snprintf(line, sizeof(line), "page %lu\n", l->seen + 1);

		if ((size_t)n > length - used)
			break;
		memcpy(buffer + used, line, (size_t)n);
		used += (size_t)n;
		l->seen++;
	}
	if (!used)
		return -EINVAL;	/* buffer too small for even one line */
	return (ssize_t)used;
}

static void update_poll(struct listener *l);

static int notify_open(struct fusd_file_info *file)
{
	struct listener *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->seen = pages;	/* only pages sent from now on */
	l->next = listeners.next;
	l->prev = &listeners;
	listeners.next->prev = l;
	listeners.next = l;
	file->private_data = l;
	return 0;
}

static int notify_close(struct fusd_file_info *file)
{
	struct listener *l = file->private_data;
	int i;

	/* Drop every call of this file we are still holding. */
	for (i = 0; i < l->nreads; i++)
		fusd_destroy(l->reads[i]);
	if (l->polling)
		fusd_destroy(l->polling);
	l->prev->next = l->next;
	l->next->prev = l->prev;
	free(l);
	return 0;
}

static ssize_t notify_read(struct fusd_file_info *file, char *buffer,
			   size_t length, loff_t *offset)
{
	struct listener *l = file->private_data;

	(void)offset;
	if (l->seen < pages && !l->nreads) {
		ssize_t n = fill_read(l, buffer, length);

		/* poll_diff is not asked again after a read: tell it now. */
		update_poll(l);
		return n;
	}
	if (file->flags & O_NONBLOCK)
		return -EAGAIN;
	if (l->nreads == MAX_WAITING)
		return -EBUSY;
	l->reads[l->nreads++] = file;	/* wait for the next page */
	return -FUSD_NOREPLY;
}

/* Forget a deferred read of @l (found by its fusd_file_info). */
static int forget_read(struct listener *l, struct fusd_file_info *file)
{
	int i;

	for (i = 0; i < l->nreads; i++) {
		if (l->reads[i] != file)
			continue;
		memmove(&l->reads[i], &l->reads[i + 1],
			(size_t)(l->nreads - i - 1) * sizeof(l->reads[0]));
		l->nreads--;
		return 1;
	}
	return 0;
}

/* A reader blocked on notify was interrupted by a signal. */
static int notify_unblock(struct fusd_file_info *file)
{
	struct listener *l = file->private_data;

	if (forget_read(l, file))
		fusd_destroy(file);
	return 0;
}

static int notify_poll_diff(struct fusd_file_info *file,
			    unsigned int cached_state)
{
	struct listener *l = file->private_data;
	unsigned int state = listener_state(l);

	if (state != cached_state)
		return (int)state;
	if (l->polling)
		fusd_destroy(l->polling);	/* superseded */
	l->polling = file;
	return -FUSD_NOREPLY;
}

/* Answer a held poll_diff if the state of @l is not what it last said. */
static void update_poll(struct listener *l)
{
	struct fusd_file_info *p = l->polling;

	if (p && listener_state(l) !=
	    (unsigned int)fusd_get_poll_diff_cached_state(p)) {
		l->polling = NULL;
		fusd_return(p, (int)listener_state(l));
	}
}

/* Something changed for @l: answer its oldest reads and its poll. */
static void wake_listener(struct listener *l)
{
	while (l->nreads && l->seen < pages) {
		struct fusd_file_info *rd = l->reads[0];
		ssize_t n = fill_read(l, fusd_get_read_buffer(rd),
				      fusd_get_length(rd));

		forget_read(l, rd);
		fusd_return(rd, n);
	}
	update_poll(l);
}

static ssize_t input_write(struct fusd_file_info *file, const char *buffer,
			   size_t length, loff_t *offset)
{
	struct listener *l, *next;

	(void)file;
	(void)buffer;
	(void)offset;
	pages++;		/* whatever was written, it is one page */
	for (l = listeners.next; l != &listeners; l = next) {
		next = l->next;
		wake_listener(l);
	}
	return (ssize_t)length;
}

int main(void)
{
	static struct fusd_file_operations input_fops = {
		.write = input_write,
	};
	static struct fusd_file_operations notify_fops = {
		.open = notify_open,
		.close = notify_close,
		.read = notify_read,
		.unblock = notify_unblock,
		.poll_diff = notify_poll_diff,
	};

	listeners.next = listeners.prev = &listeners;
	if (fusd_register("/dev/pager/input", "pager", "pager!input", 0666,
			  NULL, &input_fops) < 0) {
		perror("register of /dev/pager/input failed");
		return 1;
	}
	if (fusd_register("/dev/pager/notify", "pager", "pager!notify", 0666,
			  NULL, &notify_fops) < 0) {
		perror("register of /dev/pager/notify failed");
		return 1;
	}
	fprintf(stderr, "calling fusd_run...\n");
	fusd_run();
	return 0;
}
