// SPDX-License-Identifier: BSD-3-Clause
/*
 * mmap-test: /dev/mmap-test lets its clients map 1 MiB of the daemon's
 * memory, the classic FUSD mmap example.  The buffer is shared memory of
 * the daemon's (MAP_SHARED | MAP_ANONYMOUS); every page of it starts with
 * the line "mmap-test page N\n" (N = 0 to 255).  A client's mmap() at a
 * page-aligned offset gets the very same pages: what a client stores is
 * seen by the daemon and by every other mapping at once, with no call
 * per access.  Offsets at or past 1 MiB, or a mapping running past it,
 * fail with EINVAL.  read() shows the buffer's current contents from the
 * file position, so what clients stored can also be read back.
 *
 *   $ mmap-test &
 *   $ head -n 1 /dev/mmap-test
 *   mmap-test page 0
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <fusd.h>

#define BUF_SIZE (1024 * 1024)
#define PAGE 4096

static char *buf;

static int mmap_test_mmap(struct fusd_file_info *file, int offset,
			  size_t length, int flags, void **addr,
			  size_t *out_length)
{
	/* The int offset of the classic callback cannot hold 4 GiB or
	 * more: fusd_get_offset() has the caller's offset in full.
	 */
	loff_t off = *fusd_get_offset(file);

	(void)offset;
	printf("mmap: offset %lld, length %zu, flags %#x\n", (long long)off,
	       length, (unsigned int)flags);
	fflush(stdout);
	if (off < 0 || off >= BUF_SIZE || length > (size_t)(BUF_SIZE - off))
		return -EINVAL;
	*addr = buf + off;
	*out_length = (size_t)(BUF_SIZE - off);
	return 0;
}

static ssize_t mmap_test_read(struct fusd_file_info *file, char *buffer,
			      size_t length, loff_t *offset)
{
	loff_t off = *offset;

	(void)file;
	if (off < 0)
		return -EINVAL;
	if (off >= BUF_SIZE)
		return 0;
	if (length > (size_t)(BUF_SIZE - off))
		length = (size_t)(BUF_SIZE - off);
	memcpy(buffer, buf + off, length);
	*offset += (loff_t)length;
	return (ssize_t)length;
}

int main(void)
{
	struct fusd_file_operations fops = {
		.read = mmap_test_read,
		.mmap = mmap_test_mmap,
	};
	int i;

	/* Shared shmem: the only kind of memory a client can map. */
	buf = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		perror("mmap-test: mmap");
		return 1;
	}
	for (i = 0; i < BUF_SIZE / PAGE; i++)
		snprintf(buf + i * PAGE, PAGE, "mmap-test page %d\n", i);

	if (fusd_register("/dev/mmap-test", "misc", "mmap-test", 0666, NULL,
			  &fops) < 0) {
		perror("Unable to register /dev/mmap-test");
		return 1;
	}
	printf("/dev/mmap-test should now exist - calling fusd_run...\n");
	fflush(stdout);
	fusd_run();
	return 0;
}
