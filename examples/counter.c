// SPDX-License-Identifier: BSD-3-Clause
/*
 * counter: /dev/counter counts, and survives its own daemon.  Each read()
 * returns the next number of the open file as a line ("0\n", "1\n", ...).
 *
 * The device is recoverable (fusd_register_recoverable()): kill this
 * daemon, even with SIGKILL, start it again within the grace period, and
 * a client that keeps /dev/counter open reads on as if nothing happened,
 * with no number lost or repeated.  That works because the daemon keeps
 * no state of its own: a file's next number is its file position, which
 * the kernel keeps, and a read() the killed daemon had taken but not
 * answered is sent again to the new one (resend), which answers it from
 * the same position.  A cookie (fusd_set_cookie()) carries each file's
 * open number to the next daemon, which reports it in reopen.
 *
 *   $ counter &                           # or: systemd, Restart=always
 *   $ (while read n; do echo "$n"; done) < /dev/counter &
 *   $ kill -9 %1; counter &               # the reader does not notice
 *
 * Options: -g MS  grace period (default 10000 ms).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fusd.h>

static unsigned long long opens;	/* files opened by this daemon */

static int counter_open(struct fusd_file_info *file)
{
	/* An integer the next daemon can use: here, just a label. */
	fusd_set_cookie(file, ++opens);
	return 0;
}

static int counter_close(struct fusd_file_info *file)
{
	(void)file;
	return 0;
}

static ssize_t counter_read(struct fusd_file_info *file, char *buffer,
			    size_t length, loff_t *offset)
{
	char line[32];
	int n;

	(void)file;
	n = snprintf(line, sizeof(line), "%lld\n", (long long)*offset);
	if ((size_t)n > length)
		return -EINVAL;		/* the reader must take a whole line */
	memcpy(buffer, line, (size_t)n);
	*offset += 1;			/* the next number, not the next byte */
	return n;
}

static int counter_reopen(struct fusd_file_info *file, uint64_t cookie)
{
	fprintf(stderr, "counter: took over file #%llu at %lld\n",
		(unsigned long long)cookie, (long long)*fusd_get_offset(file));
	return 0;
}

int main(int argc, char **argv)
{
	struct fusd_file_operations fops = {
		.open = counter_open,
		.read = counter_read,
		.close = counter_close,
		.reopen = counter_reopen,
	};
	struct fusd_recovery rec = {
		.grace_ms = 10000,
		/* A read() the last daemon took is answered again here. */
		.resend = 1U << FUSD_OP_READ,
	};
	int opt;

	while ((opt = getopt(argc, argv, "g:")) != -1) {
		if (opt != 'g') {
			fprintf(stderr, "usage: %s [-g GRACE_MS]\n", argv[0]);
			return 2;
		}
		rec.grace_ms = (unsigned int)strtoul(optarg, NULL, 10);
	}
	if (fusd_register_recoverable("/dev/counter", "counter", "counter",
				      0666, NULL, &fops, &rec) < 0) {
		perror("counter: cannot register /dev/counter");
		return 1;
	}
	printf("counter: %s /dev/counter (grace %u ms)\n",
	       rec.attached ? "took over" : "registered", rec.grace_ms);
	fflush(stdout);
	fusd_run();
	return 0;
}
