// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: the hello and echo examples answer byte for byte, through C
 * clients and through cat, dd and the shell; mmap-test's pages are mapped
 * with their content, and a client's store is seen by a second mapping,
 * another process and the daemon's read(); frame-ring's memfd ring is
 * mapped read-only and polled, its frames arrive in order with good
 * checksums, and its own client mode agrees
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "echo_checks.h"
#include "itest.h"

#define HELLO "/dev/hello-world"
#define ECHO "/dev/echo"
#define GREETING "Hello, world!\n"
#define MMAPTEST "/dev/mmap-test"
#define FRAMERING "/dev/frame-ring"
#define KIB 1024L
#define MIB (1024 * KIB)

/* frame-ring's layout, as its header comment describes it. */
#define FR_MAGIC 0x676e6972u
#define FR_NFRAMES 16
#define FR_FRAME 4096
#define FR_HDR 4096
#define FR_SIZE (FR_HDR + FR_NFRAMES * FR_FRAME)

struct fr_header {
	uint32_t magic, nframes, frame_size, period_ms;
	uint64_t head;
};

struct fr_frame {
	uint64_t seq, time_ns;
	uint32_t checksum, pad;
	unsigned char data[FR_FRAME - 24];
};

static pid_t hello_pid, echo_pid, mmaptest_pid, framering_pid;

static int start(void **state)
{
	(void)state;
	hello_pid = itest_start_example("helloworld", HELLO);
	echo_pid = itest_start_example("echo", ECHO);
	mmaptest_pid = itest_start_example("mmap-test", MMAPTEST);
	framering_pid = itest_start_example("frame-ring", FRAMERING);
	return 0;
}

static int stop(void **state)
{
	(void)state;
	itest_kill_daemon(hello_pid, HELLO);
	itest_kill_daemon(echo_pid, ECHO);
	itest_kill_daemon(mmaptest_pid, MMAPTEST);
	itest_kill_daemon(framering_pid, FRAMERING);
	return 0;
}

static void test_hello_c_client(void **state)
{
	char buf[100];
	int fd;

	(void)state;
	fd = open(HELLO, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), strlen(GREETING));
	assert_memory_equal(buf, GREETING, strlen(GREETING));
	assert_int_equal(read(fd, buf, sizeof(buf)), 0);	/* then EOF */
	assert_int_equal(close(fd), 0);

	/* Each open greets again. */
	fd = open(HELLO, O_RDONLY);
	assert_int_equal(read(fd, buf, sizeof(buf)), strlen(GREETING));
	close(fd);
}

static void test_hello_short_buffer_is_einval(void **state)
{
	char buf[4];
	int fd;

	(void)state;
	fd = open(HELLO, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EINVAL);
	close(fd);
}

static void test_hello_cat_and_dd(void **state)
{
	char buf[256];

	(void)state;
	assert_int_equal(itest_sh("cat " HELLO " > /tmp/hello.cat"), 0);
	assert_int_equal(itest_slurp("/tmp/hello.cat", buf, sizeof(buf)),
			 strlen(GREETING));
	assert_string_equal(buf, GREETING);

	assert_int_equal(itest_sh("dd if=" HELLO " of=/tmp/hello.dd bs=512 "
				  "2>/dev/null"), 0);
	assert_int_equal(itest_slurp("/tmp/hello.dd", buf, sizeof(buf)),
			 strlen(GREETING));
	assert_string_equal(buf, GREETING);
}

static void test_hello_node(void **state)
{
	struct stat st;

	(void)state;
	assert_int_equal(stat(HELLO, &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0666);
	assert_int_equal(st.st_uid, getuid());
	/* devname "hello-world" names the sysfs entry. */
	assert_int_equal(stat("/sys/class/fusd/hello-world", &st), 0);
}

static void test_echo_c_client(void **state)
{
	(void)state;
	echo_check_c_client(ECHO);
}

static void test_echo_shell(void **state)
{
	(void)state;
	echo_check_shell(ECHO);
}

static void test_echo_dd_binary_block(void **state)
{
	(void)state;
	echo_check_dd_binary_block(ECHO);
}

static void test_echo_large_write_is_chunked(void **state)
{
	(void)state;
	echo_check_large_write_is_chunked(ECHO);
}

/* Page N of mmap-test's buffer begins "mmap-test page N\n". */
static int page_says(const char *p, int n)
{
	char want[32];

	snprintf(want, sizeof(want), "mmap-test page %d\n", n);
	return !memcmp(p, want, strlen(want));
}

static void test_mmap_test_content(void **state)
{
	char *p, *q;
	int fd, i;

	(void)state;
	fd = open(MMAPTEST, O_RDONLY);
	assert_true(fd >= 0);
	p = mmap(NULL, MIB, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(p != MAP_FAILED);
	for (i = 0; i < 256; i++)
		if (!page_says(p + i * 4 * KIB, i))
			fail_msg("page %d: \"%.20s\"", i, p + i * 4 * KIB);
	/* An offset maps from that page on. */
	q = mmap(NULL, 8 * KIB, PROT_READ, MAP_PRIVATE, fd, 64 * KIB);
	assert_true(q != MAP_FAILED);
	assert_true(page_says(q, 16));
	assert_true(page_says(q + 4 * KIB, 17));
	munmap(q, 8 * KIB);
	munmap(p, MIB);

	/* Past the buffer (also at 4 GiB, which the classic callback's
	 * int offset would have wrapped to 0): EINVAL.
	 */
	assert_true(mmap(NULL, 4 * KIB, PROT_READ, MAP_SHARED, fd, MIB) ==
		    MAP_FAILED);
	assert_int_equal(errno, EINVAL);
	assert_true(mmap(NULL, 8 * KIB, PROT_READ, MAP_SHARED, fd,
			 MIB - 4 * KIB) == MAP_FAILED);
	assert_int_equal(errno, EINVAL);
	assert_true(mmap(NULL, 4 * KIB, PROT_READ, MAP_SHARED, fd,
			 4096 * MIB) == MAP_FAILED);
	assert_int_equal(errno, EINVAL);
	close(fd);
}

static void test_mmap_test_shared_writes(void **state)
{
	const char msg[] = "written by the client";
	const long off = 512 * KIB;	/* pages 128 and 129 */
	char *a, *b, buf[64];
	int fd1, fd2, status;
	pid_t pid;

	(void)state;
	fd1 = open(MMAPTEST, O_RDWR);
	fd2 = open(MMAPTEST, O_RDWR);
	assert_true(fd1 >= 0 && fd2 >= 0);
	a = mmap(NULL, 8 * KIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd1, off);
	assert_true(a != MAP_FAILED);
	b = mmap(NULL, 4 * KIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd2,
		 off + 4 * KIB);
	assert_true(b != MAP_FAILED);
	assert_true(page_says(a, 128));
	assert_true(page_says(b, 129));

	/* A store through one mapping shows in the other ... */
	memcpy(a + 4 * KIB + 100, msg, sizeof(msg));
	assert_memory_equal(b + 100, msg, sizeof(msg));
	memcpy(b + 200, "back", 5);
	assert_memory_equal(a + 4 * KIB + 200, "back", 5);
	/* ... in the daemon's own memory (its read() copies from it) ... */
	assert_int_equal(pread(fd1, buf, sizeof(msg), off + 4 * KIB + 100),
			 sizeof(msg));
	assert_memory_equal(buf, msg, sizeof(msg));
	/* ... and in another process's mapping, whose stores come back. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(MMAPTEST, O_RDWR);
		char *c = fd < 0 ? MAP_FAILED :
			  mmap(NULL, 4 * KIB, PROT_READ | PROT_WRITE,
			       MAP_SHARED, fd, off + 4 * KIB);

		if (c == MAP_FAILED)
			_exit(2);
		if (memcmp(c + 100, msg, sizeof(msg)))
			_exit(3);
		memcpy(c + 300, "child", 6);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_memory_equal(a + 4 * KIB + 300, "child", 6);
	munmap(a, 8 * KIB);
	munmap(b, 4 * KIB);
	close(fd1);
	close(fd2);
}

static uint32_t fr_checksum(const struct fr_frame *f)
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

static void test_frame_ring_frames(void **state)
{
	const struct fr_header *h;
	uint64_t next = 0, head, prev_time = 0;
	int64_t end = itest_now_ms() + 30000L * itest_scale();
	struct pollfd p = { .events = POLLIN };
	int good = 0, frames = 0;
	struct fr_frame f;
	char line[32], want[32];
	void *ring;
	ssize_t n;

	(void)state;
	p.fd = open(FRAMERING, O_RDONLY);
	assert_true(p.fd >= 0);
	ring = mmap(NULL, FR_SIZE, PROT_READ, MAP_SHARED, p.fd, 0);
	assert_true(ring != MAP_FAILED);
	h = ring;
	assert_int_equal(h->magic, FR_MAGIC);
	assert_int_equal(h->nframes, FR_NFRAMES);
	assert_int_equal(h->frame_size, FR_FRAME);
	assert_int_equal(h->period_ms, 20);

	while (good < 5) {
		if (itest_now_ms() > end)
			fail_msg("%d frames in a row in the time limit, "
				 "%d checked", good, frames);
		assert_int_equal(poll(&p, 1, 10000 * itest_scale()), 1);
		assert_int_equal(p.revents, POLLIN);
		n = read(p.fd, line, sizeof(line) - 1);
		assert_true(n > 1 && line[n - 1] == '\n');
		line[n] = '\0';
		head = strtoull(line, NULL, 10);
		assert_true(head >= 1);
		/* POLLIN at once again only if a newer frame is there. */
		if (poll(&p, 1, 0) == 1)
			assert_true(__atomic_load_n(&h->head,
						    __ATOMIC_ACQUIRE) > head);
		assert_true(head + 1 >= next);	/* never backwards */
		if (!next)
			next = head;
		if (head >= next + FR_NFRAMES - 1) {	/* fell behind */
			next = head - FR_NFRAMES + 2;
			good = 0;
		}
		for (; next <= head && good < 5; next++) {
			memcpy(&f, (char *)ring + FR_HDR +
			       ((next - 1) % FR_NFRAMES) * FR_FRAME,
			       sizeof(f));
			if (__atomic_load_n(&h->head, __ATOMIC_ACQUIRE) >=
			    next + FR_NFRAMES - 1) {
				good = 0;	/* overwritten meanwhile */
				continue;
			}
			frames++;
			assert_int_equal(f.seq, next);
			assert_int_equal(f.checksum, fr_checksum(&f));
			snprintf(want, sizeof(want), "frame %llu ",
				 (unsigned long long)next);
			assert_memory_equal(f.data, want, strlen(want));
			if (good)
				assert_true(f.time_ns > prev_time);
			prev_time = f.time_ns;
			good++;
		}
	}
	munmap(ring, FR_SIZE);
	close(p.fd);
}

static void test_frame_ring_read_only(void **state)
{
	char line[32];
	void *ring;
	int fd, i, eagain = 0;

	(void)state;
	/* Refused by the daemon even to root, who may open it O_RDWR. */
	fd = open(FRAMERING, O_RDWR | O_NONBLOCK);
	assert_true(fd >= 0);
	assert_true(mmap(NULL, FR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			 0) == MAP_FAILED);
	assert_int_equal(errno, EACCES);
	/* Read-only stays read-only: the memfd is sealed. */
	ring = mmap(NULL, FR_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(ring != MAP_FAILED);
	assert_int_equal(mprotect(ring, FR_SIZE, PROT_READ | PROT_WRITE), -1);
	assert_int_equal(errno, EACCES);
	munmap(ring, FR_SIZE);
	/* Beyond the ring: EINVAL. */
	assert_true(mmap(NULL, 8 * KIB, PROT_READ, MAP_SHARED, fd,
			 FR_SIZE - 4 * KIB) == MAP_FAILED);
	assert_int_equal(errno, EINVAL);

	/* read() takes 21 bytes at least; with nothing new under
	 * O_NONBLOCK it fails EAGAIN (a frame may come in between, so one
	 * EAGAIN in ten tries is enough).
	 */
	assert_int_equal(read(fd, line, 20), -1);
	assert_int_equal(errno, EINVAL);
	for (i = 0; i < 10 && !eagain; i++) {
		if (read(fd, line, sizeof(line)) > 0)
			continue;
		assert_int_equal(errno, EAGAIN);
		eagain = 1;
	}
	assert_true(eagain);
	close(fd);
}

static void test_frame_ring_client_mode(void **state)
{
	unsigned long long seq[5], prev = 0;
	char out[8192], *line, *save = NULL;
	int n = 0, i;

	(void)state;
	assert_int_equal(itest_sh("%s/frame-ring -c 5 > /tmp/fr.out",
				  itest_bindir()), 0);
	assert_true(itest_slurp("/tmp/fr.out", out, sizeof(out)) > 0);
	/* It ends with five "frame N ok" lines, N counting up by one. */
	for (line = strtok_r(out, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char ok[8];

		if (sscanf(line, "frame %llu %7s", &seq[n % 5], ok) != 2 ||
		    strcmp(ok, "ok"))
			n = 0;
		else
			n++;
	}
	assert_int_equal(n, 5);
	for (i = 0; i < 5; i++) {
		if (i)
			assert_int_equal(seq[i], prev + 1);
		prev = seq[i];
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_c_client),
		cmocka_unit_test(test_hello_short_buffer_is_einval),
		cmocka_unit_test(test_hello_cat_and_dd),
		cmocka_unit_test(test_hello_node),
		cmocka_unit_test(test_echo_c_client),
		cmocka_unit_test(test_echo_shell),
		cmocka_unit_test(test_echo_dd_binary_block),
		cmocka_unit_test(test_echo_large_write_is_chunked),
		cmocka_unit_test(test_mmap_test_content),
		cmocka_unit_test(test_mmap_test_shared_writes),
		cmocka_unit_test(test_frame_ring_frames),
		cmocka_unit_test(test_frame_ring_read_only),
		cmocka_unit_test(test_frame_ring_client_mode),
	};

	return itest_run(tests, start, stop);
}
