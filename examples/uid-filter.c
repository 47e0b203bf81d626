// SPDX-License-Identifier: BSD-3-Clause
/*
 * uid-filter: /dev/uid-filter may only be opened by the user running this
 * daemon; anyone else gets EPERM from open(), whatever the node's mode
 * bits say (they allow everyone, so the daemon decides).  A read tells
 * the caller who the daemon thinks it is, once per open.
 *
 *   $ uid-filter &
 *   $ cat /dev/uid-filter
 *   your uid is 1000, your pid is 4242
 *   $ sudo -u nobody cat /dev/uid-filter
 *   cat: /dev/uid-filter: Operation not permitted
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <fusd.h>

static int filter_open(struct fusd_file_info *file)
{
	if (file->uid != getuid())
		return -EPERM;	/* not the daemon's user */
	return 0;
}

static ssize_t filter_read(struct fusd_file_info *file, char *buffer,
			   size_t length, loff_t *offset)
{
	char line[80];
	int len;

	if (*offset > 0)
		return 0;
	len = snprintf(line, sizeof(line), "your uid is %u, your pid is %d\n",
		       (unsigned int)file->uid, (int)file->pid);
	if (length < (size_t)len)
		return -EINVAL;
	memcpy(buffer, line, (size_t)len);
	*offset += len;
	return len;
}

int main(void)
{
	static struct fusd_file_operations fops = {
		.open = filter_open,
		.read = filter_read,
	};

	if (fusd_register("/dev/uid-filter", "misc", "uid-filter", 0666, NULL,
			  &fops) < 0) {
		perror("register of /dev/uid-filter failed");
		return 1;
	}
	fprintf(stderr, "calling fusd_run...\n");
	fusd_run();
	return 0;
}
