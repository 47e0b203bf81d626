// SPDX-License-Identifier: BSD-3-Clause
/*
 * echo: /dev/echo keeps what was last written to it and gives it back to
 * every reader.
 *
 *   $ echo hi there > /dev/echo
 *   $ cat /dev/echo
 *   hi there
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fusd.h>

static char *data;
static size_t data_length;

static ssize_t echo_read(struct fusd_file_info *file, char *buffer,
			 size_t length, loff_t *offset)
{
	(void)file;
	if (*offset < 0 || (size_t)*offset >= data_length)
		return 0;	/* read past what we hold: end of file */
	if (length > data_length - (size_t)*offset)
		length = data_length - (size_t)*offset;
	memcpy(buffer, data + *offset, length);
	*offset += length;
	return (ssize_t)length;
}

static ssize_t echo_write(struct fusd_file_info *file, const char *buffer,
			  size_t length, loff_t *offset)
{
	char *copy = malloc(length ? length : 1);

	(void)file;
	(void)offset;
	if (!copy)
		return -ENOMEM;
	memcpy(copy, buffer, length);
	free(data);		/* the newest write replaces the old data */
	data = copy;
	data_length = length;
	return (ssize_t)length;
}

int main(void)
{
	static struct fusd_file_operations fops = {
		.read = echo_read,
		.write = echo_write,
	};

	if (fusd_register("/dev/echo", "misc", "echo", 0666, NULL,
			  &fops) < 0) {
		perror("register of /dev/echo failed");
		return 1;
	}
	fprintf(stderr, "calling fusd_run...\n");
	fusd_run();
	return 0;
}
