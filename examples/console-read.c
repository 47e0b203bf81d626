// SPDX-License-Identifier: BSD-3-Clause
/*
 * console-read: reading /dev/console-read waits for someone to type a line
 * on this daemon's standard input; the oldest waiting read then gets that
 * line (cut to the reader's buffer size).  A line typed while nobody is
 * reading is dropped.  At end of standard input, waiting reads get end of
 * file and the daemon exits.
 *
 * The daemon runs its own select() loop over standard input and the fusd
 * device (fusd_fdset_add() and fusd_dispatch_fdset()), the classic way to
 * mix a device with other work.
 *
 *   $ console-read            # in one terminal
 *   $ cat /dev/console-read   # in another: waits
 *   hello                     # typed in the first terminal...
 *   hello                     # ...printed by cat
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include <fusd.h>

#define MAX_WAITING 64

static struct fusd_file_info *waiting[MAX_WAITING];	/* oldest first */
static int nwaiting;

static void drop_waiting(int i)
{
	memmove(&waiting[i], &waiting[i + 1],
		(size_t)(nwaiting - i - 1) * sizeof(waiting[0]));
	nwaiting--;
}

static ssize_t console_read(struct fusd_file_info *file, char *buffer,
			    size_t length, loff_t *offset)
{
	(void)buffer;
	(void)length;
	(void)offset;
	if (nwaiting == MAX_WAITING)
		return -EBUSY;
	waiting[nwaiting++] = file;	/* answered when a line is typed */
	return -FUSD_NOREPLY;
}

static int console_unblock(struct fusd_file_info *file)
{
	int i;

	for (i = 0; i < nwaiting; i++) {
		if (waiting[i] == file) {
			drop_waiting(i);
			fusd_destroy(file);
			break;
		}
	}
	return 0;
}

/* Give one line (with its newline) to the oldest waiting read. */
static void hand_out(const char *line, size_t len)
{
	struct fusd_file_info *file;
	size_t room;

	if (!nwaiting) {
		fprintf(stderr, "console-read: nobody is reading, line dropped\n");
		return;
	}
	file = waiting[0];
	drop_waiting(0);
	room = fusd_get_length(file);
	if (len > room)
		len = room;
	memcpy(fusd_get_read_buffer(file), line, len);
	fusd_return(file, (ssize_t)len);
}

int main(void)
{
	static struct fusd_file_operations fops = {
		.read = console_read,
		.unblock = console_unblock,
	};
	char line[4096];
	size_t have = 0;

	if (fusd_register("/dev/console-read", "misc", "console-read", 0666,
			  NULL, &fops) < 0) {
		perror("register of /dev/console-read failed");
		return 1;
	}
	fprintf(stderr, "type lines; each goes to one reader of "
		"/dev/console-read\n");
	for (;;) {
		fd_set rfds;
		int max = STDIN_FILENO;
		ssize_t n;
		char *nl;

		FD_ZERO(&rfds);
		FD_SET(STDIN_FILENO, &rfds);
		fusd_fdset_add(&rfds, &max);
		if (select(max + 1, &rfds, NULL, NULL, NULL) < 0) {
			if (errno == EINTR)
				continue;
			perror("select");
			return 1;
		}
		/* Requests first, so a read that arrived with a line gets it. */
		fusd_dispatch_fdset(&rfds);
		if (!FD_ISSET(STDIN_FILENO, &rfds))
			continue;
		n = read(STDIN_FILENO, line + have, sizeof(line) - have);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("read stdin");
			return 1;
		}
		if (n == 0)
			break;
		have += (size_t)n;
		while ((nl = memchr(line, '\n', have)) != NULL) {
			size_t len = (size_t)(nl - line) + 1;

			hand_out(line, len);
			memmove(line, line + len, have - len);
			have -= len;
		}
		if (have == sizeof(line)) {	/* overlong line: send a piece */
			hand_out(line, have);
			have = 0;
		}
	}
	if (have)
		hand_out(line, have);
	while (nwaiting) {
		struct fusd_file_info *file = waiting[0];

		drop_waiting(0);
		fusd_return(file, 0);
	}
	return 0;
}
