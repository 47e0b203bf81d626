// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: an ioctl carrying a pointer inside its struct is served by
 * the daemon copying from and to the caller's memory, bounded and checked
 * (bad pointers and read-only memory give EFAULT, wrong ids EINVAL, a
 * caller that stops being dumpable EPERM from the next copy on)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"
#include "rawchan.h"

/* The struct names a buffer elsewhere in the caller's memory. */
struct upcase_req {
	uint64_t ptr;
	uint32_t len;
	uint32_t pad;
};

#define UPCASE _IOW('u', 1, struct upcase_req)

static int up_ioctl(struct fusd_file_info *file, int cmd, void *data)
{
	struct upcase_req *r = data;
	char buf[256];
	uint32_t i;

	if ((unsigned int)cmd != UPCASE)
		return -ENOTTY;
	if (r->len > sizeof(buf))
		return -EINVAL;
	if (fusd_copy_from_caller(file, buf, (unsigned long)r->ptr, r->len))
		return -errno;
	for (i = 0; i < r->len; i++)
		if (buf[i] >= 'a' && buf[i] <= 'z')
			buf[i] = (char)(buf[i] - 'a' + 'A');
	if (fusd_copy_to_caller(file, (unsigned long)r->ptr, buf, r->len))
		return -errno;
	return (int)r->len;
}

static struct fusd_file_operations up_fops = { .ioctl = up_ioctl };

static void test_pointer_inside_struct(void **state)
{
	char text[] = "pointer inside a struct";
	struct upcase_req r;
	char *ro;
	pid_t d;
	int fd;

	(void)state;
	d = itest_fork_daemon("upcase", &up_fops);
	fd = open("/dev/upcase", O_RDWR);
	assert_true(fd >= 0);

	r.ptr = (uintptr_t)text;
	r.len = (uint32_t)strlen(text);
	assert_int_equal(ioctl(fd, UPCASE, &r), (int)r.len);
	assert_string_equal(text, "POINTER INSIDE A STRUCT");

	/* An unmapped address in the caller: EFAULT, nothing written. */
	r.ptr = 16;
	assert_int_equal(ioctl(fd, UPCASE, &r), -1);
	assert_int_equal(errno, EFAULT);

	/* Read-only memory stays read-only: the copy back fails. */
	ro = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(ro != MAP_FAILED);
	strcpy(ro, "read only");
	assert_int_equal(mprotect(ro, 4096, PROT_READ), 0);
	r.ptr = (uintptr_t)ro;
	r.len = 9;
	assert_int_equal(ioctl(fd, UPCASE, &r), -1);
	assert_int_equal(errno, EFAULT);
	assert_string_equal(ro, "read only");
	munmap(ro, 4096);

	close(fd);
	itest_kill_daemon(d, "/dev/upcase");
}

/* A daemon that gave up root may only reach callers of its own uid. */
static void test_unprivileged_daemon_reaches_only_its_uid(void **state)
{
	char text[] = "abc";
	struct upcase_req r = { .ptr = (uintptr_t)text, .len = 3 };
	int fd, status;
	pid_t d, child;

	(void)state;
	d = fork();
	assert_true(d >= 0);
	if (d == 0) {
		if (fusd_register("upcase-user", "test", NULL, 0666, NULL,
				  &up_fops) < 0)
			_exit(1);
		if (setgid(1234) || setuid(1234))
			_exit(2);
		fusd_run();
		_exit(0);
	}
	assert_int_equal(itest_wait_path("/dev/upcase-user", 1, 10000), 0);

	/* A root caller is out of its reach: EPERM, memory untouched. */
	fd = open("/dev/upcase-user", O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(ioctl(fd, UPCASE, &r), -1);
	assert_int_equal(errno, EPERM);
	assert_string_equal(text, "abc");
	close(fd);

	/* A dumpable caller with the daemon's uid is served. */
	child = fork();
	if (child == 0) {
		if (setgid(1234) || setuid(1234) ||
		    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
			_exit(2);
		fd = open("/dev/upcase-user", O_RDWR);
		if (fd < 0 || ioctl(fd, UPCASE, &r) != 3)
			_exit(3);
		_exit(strcmp(text, "ABC") ? 4 : 0);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	itest_kill_daemon(d, "/dev/upcase-user");
}

struct op {
	int fd;
	int kind;	/* 'i' ioctl, 'r' read */
	struct upcase_req r;
	char text[16];
	int ret;
};

static void *op_main(void *arg)
{
	struct op *o = arg;

	if (o->kind == 'i')
		o->ret = ioctl(o->fd, UPCASE, &o->r);
	else
		o->ret = (int)read(o->fd, o->text, 4);
	return NULL;
}

static int copy(int chan, unsigned long cmd, uint64_t id, uint64_t addr,
		void *buf, uint64_t len)
{
	struct fusd_copy cp = { .id = id, .caller_addr = addr,
				.buf = (uintptr_t)buf, .len = len };

	return ioctl(chan, cmd, &cp);
}

static void test_copy_rules(void **state)
{
	struct fusd_request req;
	char buf[64], payload[64];
	struct op o = { .kind = 'i' };
	pthread_t t;
	int chan, cfd;

	(void)state;
	chan = raw_register("rawcopy", 0666);
	cfd = raw_open(chan, "/dev/rawcopy", NULL);

	/* While an ioctl waits: bounded copies both ways. */
	strcpy(o.text, "abc");
	o.fd = cfd;
	o.r.ptr = (uintptr_t)o.text;
	o.r.len = 3;
	assert_int_equal(pthread_create(&t, NULL, op_main, &o), 0);
	raw_read_request(chan, &req, payload, sizeof(payload));
	assert_int_equal(copy(chan, FUSD_IOC_COPY_FROM_CALLER, req.hdr.id,
			      o.r.ptr, buf, 3), 0);
	assert_memory_equal(buf, "abc", 3);
	assert_int_equal(copy(chan, FUSD_IOC_COPY_TO_CALLER, req.hdr.id,
			      o.r.ptr, "XY", 2), 0);
	/* Too long, wrong id, bad daemon buffer. */
	assert_int_equal(copy(chan, FUSD_IOC_COPY_FROM_CALLER, req.hdr.id,
			      o.r.ptr, buf, FUSD_IO_MAX + 1), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(copy(chan, FUSD_IOC_COPY_FROM_CALLER, req.hdr.id + 99,
			      o.r.ptr, buf, 3), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(copy(chan, FUSD_IOC_COPY_FROM_CALLER, req.hdr.id,
			      o.r.ptr, (void *)16, 3), -1);
	assert_int_equal(errno, EFAULT);
	raw_reply(chan, req.hdr.id, 0, NULL, 0);
	pthread_join(t, NULL);
	assert_int_equal(o.ret, 0);
	assert_memory_equal(o.text, "XYc", 3);
	/* Once answered, the caller's memory is out of reach. */
	assert_int_equal(copy(chan, FUSD_IOC_COPY_FROM_CALLER, req.hdr.id,
			      o.r.ptr, buf, 3), -1);
	assert_int_equal(errno, EINVAL);

	/* Only ioctls lend their memory: not a read. */
	o.kind = 'r';
	assert_int_equal(pthread_create(&t, NULL, op_main, &o), 0);
	raw_read_request(chan, &req, payload, sizeof(payload));
	assert_int_equal(req.hdr.opcode, FUSD_OP_READ);
	assert_int_equal(copy(chan, FUSD_IOC_COPY_TO_CALLER, req.hdr.id,
			      (uintptr_t)o.text, "zz", 2), -1);
	assert_int_equal(errno, EINVAL);
	raw_reply(chan, req.hdr.id, 0, NULL, 0);
	pthread_join(t, NULL);

	close(chan);
	close(cfd);
	assert_int_equal(itest_wait_path("/dev/rawcopy", 0, 2000), 0);
}

/* Child side of the test below: plain checks, no cmocka (own process). */
static ssize_t plain_reply(int chan, uint64_t id, int64_t result)
{
	struct fusd_reply rep;

	memset(&rep, 0, sizeof(rep));
	rep.hdr.size = sizeof(rep);
	rep.hdr.hdr_size = sizeof(rep);
	rep.hdr.opcode = FUSD_OP_REPLY;
	rep.hdr.id = id;
	rep.result = result;
	return write(chan, &rep, sizeof(rep));
}

static int plain_next(int chan, char *buf, struct fusd_request *req)
{
	if (read(chan, buf, FUSD_MSG_MAX) < (ssize_t)sizeof(*req))
		return -1;
	memcpy(req, buf, sizeof(*req));
	return req->hdr.opcode;
}

static void *plain_open(void *arg)
{
	*(int *)arg = open("/dev/rawdump", O_RDWR);
	return NULL;
}

static int dumpable_child(void)
{
	char *buf = malloc(FUSD_MSG_MAX), got[4] = "";
	struct fusd_register reg;
	struct fusd_request req;
	struct op o = { .kind = 'i' };
	uint32_t one = 1;
	int chan, fd = -1;
	pthread_t t;

	chan = open("/dev/fusd/control", O_RDWR);
	raw_register_init(&reg, "rawdump", 0666);
	if (!buf || chan < 0 || ioctl(chan, FUSD_IOC_REGISTER, &reg) ||
	    ioctl(chan, FUSD_IOC_SET_BATCH, &one))
		return 1;
	/* Daemon and caller: one process of uid 1234, dumpable. */
	if (setgid(1234) || setuid(1234) || prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
		return 2;
	pthread_create(&t, NULL, plain_open, &fd);
	if (plain_next(chan, buf, &req) != FUSD_OP_OPEN ||
	    plain_reply(chan, req.hdr.id, 0) < 0)
		return 3;
	pthread_join(t, NULL);
	if (fd < 0)
		return 4;

	strcpy(o.text, "abc");
	o.fd = fd;
	o.r.ptr = (uintptr_t)o.text;
	o.r.len = 3;
	pthread_create(&t, NULL, op_main, &o);
	if (plain_next(chan, buf, &req) != FUSD_OP_IOCTL)
		return 5;
	if (copy(chan, FUSD_IOC_COPY_FROM_CALLER, req.hdr.id, o.r.ptr, got, 3))
		return 6;
	/* No longer dumpable: the very next copy is refused. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (copy(chan, FUSD_IOC_COPY_TO_CALLER, req.hdr.id, o.r.ptr, "XYZ",
		 3) != -1 || errno != EPERM)
		return 7;
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	if (copy(chan, FUSD_IOC_COPY_TO_CALLER, req.hdr.id, o.r.ptr, "XYZ", 3))
		return 8;
	if (plain_reply(chan, req.hdr.id, 3) < 0)
		return 9;
	pthread_join(t, NULL);
	if (o.ret != 3 || memcmp(got, "abc", 3) || memcmp(o.text, "XYZ", 3))
		return 10;
	return 0;
}

/* Dumpability is checked at each copy, not once per ioctl. */
static void test_dumpable_checked_at_each_copy(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(dumpable_child());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(itest_wait_path("/dev/rawdump", 0, 2000), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pointer_inside_struct),
		cmocka_unit_test(test_copy_rules),
		cmocka_unit_test(test_unprivileged_daemon_reaches_only_its_uid),
		cmocka_unit_test(test_dumpable_checked_at_each_copy),
	};

	return itest_run(tests, NULL, NULL);
}
