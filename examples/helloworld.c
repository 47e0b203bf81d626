// SPDX-License-Identifier: BSD-3-Clause
/*
 * helloworld: /dev/hello-world greets whoever reads it, once per open,
 * then reports end of file.  The classic first FUSD driver.
 *
 *   $ cat /dev/hello-world
 *   Hello, world!
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <fusd.h>

#define GREETING "Hello, world!\n"

static int hello_open_close(struct fusd_file_info *file)
{
	(void)file;
	return 0;		/* anyone may open and close it */
}

static ssize_t hello_read(struct fusd_file_info *file, char *buffer,
			  size_t length, loff_t *offset)
{
	size_t len = strlen(GREETING);

	(void)file;
	if (*offset > 0)
		return 0;	/* already greeted: end of file */
	if (length < len)
		return -EINVAL;	/* the reader must take it all at once */
	memcpy(buffer, GREETING, len);
	*offset += len;
	return (ssize_t)len;
}

int main(void)
{
	struct fusd_file_operations fops = {
		.open = hello_open_close,
		.read = hello_read,
		.close = hello_open_close,
	};

	if (fusd_register("/dev/hello-world", "test", "hello-world", 0666,
			  NULL, &fops) < 0) {
		perror("Unable to register /dev/hello-world");
		return 1;
	}
	printf("/dev/hello-world should now exist - calling fusd_run...\n");
	fflush(stdout);
	fusd_run();
	return 0;
}
