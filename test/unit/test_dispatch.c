// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: dispatch turns requests into callbacks and replies, over a
 * fake channel (a SOCK_SEQPACKET socket pair standing in for the kernel)
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "libfusd_i.h"

struct fake {
	int chan;	/* the library's end */
	int kern;	/* the test's end: plays the kernel */
	uint64_t next_id;
};

/* What the callbacks saw. */
static int opens, closes, unblocked;
static struct fusd_file_info *deferred;
static pid_t seen_pid;
static uid_t seen_uid;
static unsigned int seen_flags;
static char written[64];
static int open_result;
static ssize_t read_result_override;

static int cb_open(struct fusd_file_info *file)
{
	opens++;
	seen_pid = file->pid;
	seen_uid = file->uid;
	seen_flags = file->flags;
	file->private_data = (void *)(long)(1000 + opens);
	return open_result;
}

static int cb_close(struct fusd_file_info *file)
{
	(void)file;
	closes++;
	return 0;
}

static struct fake *reenter;	/* set: cb_read delivers an INTERRUPT itself */
static void send_interrupt(struct fake *f, uint64_t target);

static ssize_t cb_read(struct fusd_file_info *file, char *buf, size_t len,
		       loff_t *offset)
{
	if (reenter) {
		struct fake *f = reenter;

		/* The caller leaves while this callback still runs (another
		 * dispatcher thread would see the INTERRUPT now).
		 */
		reenter = NULL;
		deferred = file;
		send_interrupt(f, file->fusd_msg->hdr.id);
		assert_int_equal(unblocked, 0);	/* not before we hold it */
		return -FUSD_NOREPLY;
	}
	if (read_result_override)
		return read_result_override;
	if (file->private_data == (void *)2000L) {
		deferred = file;	/* answer later */
		return -FUSD_NOREPLY;
	}
	snprintf(buf, len, "pd=%ld", (long)file->private_data);
	*offset += 100;
	return (ssize_t)strlen(buf);
}

static ssize_t cb_write(struct fusd_file_info *file, const char *buf,
			size_t len, loff_t *offset)
{
	(void)file;
	(void)offset;
	memcpy(written, buf, len < sizeof(written) ? len : sizeof(written));
	return (ssize_t)len;
}

static int cb_ioctl(struct fusd_file_info *file, int cmd, void *data)
{
	(void)file;
	if (_IOC_DIR((unsigned int)cmd) == _IOC_NONE)
		return (int)(intptr_t)data;	/* the integer argument */
	*(int *)data += 1;
	return 5;
}

static int cb_unblock(struct fusd_file_info *file)
{
	unblocked++;
	assert_ptr_equal(file, deferred);
	return 0;
}

static struct fusd_file_operations fops = {
	.unblock = cb_unblock,
	.ioctl = cb_ioctl,
	.open = cb_open,
	.close = cb_close,
	.read = cb_read,
	.write = cb_write,
};

static int setup(void **state)
{
	static struct fake f;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv))
		return -1;
	f.chan = sv[0];
	f.kern = sv[1];
	f.next_id = 0;
	opens = closes = unblocked = 0;
	deferred = NULL;
	open_result = 0;
	read_result_override = 0;
	memset(written, 0, sizeof(written));
	if (!fusd_dev_attach(f.chan, (void *)0xd1, &fops))
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;

	fusd_unregister(f->chan);	/* closes the library's end */
	close(f->kern);
	return 0;
}

/* Send one request (as the kernel would) and let the library handle it. */
static uint64_t send_req(struct fake *f, uint16_t op, uint64_t fh,
			 const void *payload, size_t plen, uint64_t rsize)
{
	char buf[sizeof(struct fusd_request) + 256];
	struct fusd_request req;

	memset(&req, 0, sizeof(req));
	req.hdr.size = sizeof(req) + plen;
	req.hdr.hdr_size = sizeof(req);
	req.hdr.opcode = op;
	req.hdr.id = ++f->next_id;
	req.fh = fh;
	req.pid = 41;
	req.tgid = 42;
	req.uid = 1234;
	req.gid = 99;
	req.f_flags = O_RDWR | O_NONBLOCK;
	req.u.rw.size = payload ? plen : rsize;
	memcpy(buf, &req, sizeof(req));
	if (plen)
		memcpy(buf + sizeof(req), payload, plen);
	assert_int_equal(write(f->kern, buf, sizeof(req) + plen),
			 (ssize_t)(sizeof(req) + plen));
	fusd_dispatch(f->chan);
	return req.hdr.id;
}

/* Read one reply; returns its payload length. */
static size_t get_reply(struct fake *f, struct fusd_reply *rep, char *data,
			size_t cap)
{
	char buf[sizeof(*rep) + 256];
	ssize_t n = recv(f->kern, buf, sizeof(buf), MSG_DONTWAIT);

	assert_true(n >= (ssize_t)sizeof(*rep));
	memcpy(rep, buf, sizeof(*rep));
	assert_int_equal(rep->hdr.size, n);
	assert_int_equal(rep->hdr.hdr_size, sizeof(*rep));
	assert_int_equal(rep->hdr.opcode, FUSD_OP_REPLY);
	assert_true((size_t)n - sizeof(*rep) <= cap);
	memcpy(data, buf + sizeof(*rep), (size_t)n - sizeof(*rep));
	return (size_t)n - sizeof(*rep);
}

static void assert_no_reply(struct fake *f)
{
	char buf[64];

	assert_int_equal(recv(f->kern, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
}

static void test_open_read_write_close(void **state)
{
	struct fake *f = *state;
	struct fusd_reply rep;
	char data[256];
	uint64_t id;
	size_t n;

	id = send_req(f, FUSD_OP_OPEN, 5, NULL, 0, 0);
	n = get_reply(f, &rep, data, sizeof(data));
	assert_int_equal(n, 0);
	assert_true(rep.hdr.id == id);
	assert_int_equal(rep.result, 0);
	assert_int_equal(opens, 1);
	assert_int_equal(seen_pid, 42);	/* the process, not the thread */
	assert_int_equal(seen_uid, 1234);
	assert_int_equal(seen_flags, O_RDWR | O_NONBLOCK);

	/* private_data set in open comes back in read. */
	id = send_req(f, FUSD_OP_READ, 5, NULL, 0, 64);
	n = get_reply(f, &rep, data, sizeof(data));
	assert_true(rep.hdr.id == id);
	assert_int_equal(rep.result, 7);
	assert_int_equal(n, 7);
	assert_memory_equal(data, "pd=1001", 7);
	assert_int_equal(rep.flags, FUSD_REPLY_SET_OFFSET);
	assert_int_equal(rep.offset, 100);

	id = send_req(f, FUSD_OP_WRITE, 5, "hello", 5, 0);
	n = get_reply(f, &rep, data, sizeof(data));
	assert_int_equal(n, 0);
	assert_int_equal(rep.result, 5);
	assert_string_equal(written, "hello");

	id = send_req(f, FUSD_OP_RELEASE, 5, NULL, 0, 0);
	get_reply(f, &rep, data, sizeof(data));
	assert_true(rep.hdr.id == id);
	assert_int_equal(closes, 1);
	assert_int_equal(rep.result, 0);
}

static void test_refused_open_is_forgotten(void **state)
{
	struct fake *f = *state;
	struct fusd_reply rep;
	char data[64];

	open_result = -EACCES;
	send_req(f, FUSD_OP_OPEN, 9, NULL, 0, 0);
	get_reply(f, &rep, data, sizeof(data));
	assert_int_equal(rep.result, -EACCES);
	/* A read on the refused handle has no private data any more. */
	send_req(f, FUSD_OP_READ, 9, NULL, 0, 64);
	get_reply(f, &rep, data, sizeof(data));
	assert_memory_equal(data, "pd=0", 4);
}

static void test_deferred_reply(void **state)
{
	struct fake *f = *state;
	struct fusd_reply rep;
	char data[64];
	uint64_t id;

	send_req(f, FUSD_OP_OPEN, 1, NULL, 0, 0);	/* pd 1001 */
	get_reply(f, &rep, data, sizeof(data));
	opens = 999;					/* next pd: 2000 */
	send_req(f, FUSD_OP_OPEN, 2, NULL, 0, 0);
	get_reply(f, &rep, data, sizeof(data));

	id = send_req(f, FUSD_OP_READ, 2, NULL, 0, 32);
	assert_non_null(deferred);
	assert_no_reply(f);
	assert_int_equal(fusd_get_call_type(deferred), FUSD_OP_READ);
	assert_int_equal(fusd_get_length(deferred), 32);

	/* Other calls proceed while one is deferred. */
	send_req(f, FUSD_OP_READ, 1, NULL, 0, 32);
	get_reply(f, &rep, data, sizeof(data));
	assert_memory_equal(data, "pd=1001", 7);

	memcpy(fusd_get_read_buffer(deferred), "late", 4);
	assert_int_equal(fusd_return(deferred, 4), 0);
	assert_int_equal(get_reply(f, &rep, data, sizeof(data)), 4);
	assert_true(rep.hdr.id == id);
	assert_memory_equal(data, "late", 4);
}

static void send_interrupt(struct fake *f, uint64_t target)
{
	struct fusd_request req;

	memset(&req, 0, sizeof(req));
	req.hdr.size = sizeof(req);
	req.hdr.hdr_size = sizeof(req);
	req.hdr.opcode = FUSD_OP_INTERRUPT;
	req.hdr.id = ++f->next_id;
	req.fh = 2;
	req.u.interrupt.id = target;
	assert_int_equal(write(f->kern, &req, sizeof(req)), sizeof(req));
	fusd_dispatch(f->chan);
}

static void test_interrupt_runs_unblock(void **state)
{
	struct fake *f = *state;
	struct fusd_reply rep;
	char data[64];
	uint64_t id;

	opens = 999;
	send_req(f, FUSD_OP_OPEN, 2, NULL, 0, 0);
	get_reply(f, &rep, data, sizeof(data));
	id = send_req(f, FUSD_OP_READ, 2, NULL, 0, 32);
	assert_non_null(deferred);

	send_interrupt(f, id + 100);	/* not ours: ignored */
	assert_int_equal(unblocked, 0);
	assert_no_reply(f);

	send_interrupt(f, id);
	assert_int_equal(unblocked, 1);
	assert_no_reply(f);		/* an INTERRUPT gets no reply */
	/* The caller left: answering succeeds but sends nothing. */
	assert_int_equal(fusd_return(deferred, 0), 0);
	assert_no_reply(f);
	/* A second interrupt finds nothing to unblock. */
	send_interrupt(f, id);
	assert_int_equal(unblocked, 1);
}

static void test_interrupt_during_callback(void **state)
{
	struct fake *f = *state;

	reenter = f;
	send_req(f, FUSD_OP_READ, 3, NULL, 0, 8);
	/* Delivered once the callback deferred the call. */
	assert_int_equal(unblocked, 1);
	assert_int_equal(fusd_return(deferred, 0), 0);
	assert_no_reply(f);
}

static void test_fd_number_kept_until_last_call(void **state)
{
	struct fake *f = *state;
	int fd = f->chan, other;

	opens = 999;
	send_req(f, FUSD_OP_OPEN, 2, NULL, 0, 0);
	{
		struct fusd_reply rep;
		char data[16];

		get_reply(f, &rep, data, sizeof(data));
	}
	send_req(f, FUSD_OP_READ, 2, NULL, 0, 8);
	assert_non_null(deferred);
	assert_int_equal(fusd_unregister(fd), 0);
	/* The number is still taken: a new file cannot get it, so the
	 * late answer cannot land in someone else's file.
	 */
	assert_true(fcntl(fd, F_GETFD) >= 0);
	other = open("/dev/null", O_RDONLY);
	assert_true(other != fd);
	close(other);
	assert_int_equal(fusd_return(deferred, 0), -1);
	assert_int_equal(errno, EPIPE);
	/* Last call gone: the number is free again. */
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	f->chan = open("/dev/null", O_RDONLY);	/* for teardown */
	assert_non_null(fusd_dev_attach(f->chan, NULL, &fops));
}

static void test_read_overrun_becomes_eio(void **state)
{
	struct fake *f = *state;
	struct fusd_reply rep;
	char data[64];

	read_result_override = 100;	/* more than the 16 asked for */
	send_req(f, FUSD_OP_READ, 3, NULL, 0, 16);
	assert_int_equal(get_reply(f, &rep, data, sizeof(data)), 0);
	assert_int_equal(rep.result, -EIO);
}

static void test_unknown_opcode_and_defaults(void **state)
{
	struct fake *f = *state;
	struct fusd_reply rep;
	char data[64];
	struct fusd_file_operations none = { 0 };

	send_req(f, 0x7777, 3, NULL, 0, 0);
	get_reply(f, &rep, data, sizeof(data));
	assert_int_equal(rep.result, -ENOSYS);

	/* No llseek callback: SEEK_SET works, SEEK_END cannot. */
	send_req(f, FUSD_OP_LLSEEK, 3, NULL, 0, 0);
	get_reply(f, &rep, data, sizeof(data));
	assert_int_equal(rep.result, 0);

	/* A device with no callbacks at all. */
	f->chan = dup(f->chan);
	assert_non_null(fusd_dev_attach(f->chan, NULL, &none));
	send_req(f, FUSD_OP_OPEN, 4, NULL, 0, 0);
	get_reply(f, &rep, data, sizeof(data));
	assert_int_equal(rep.result, 0);
	send_req(f, FUSD_OP_READ, 4, NULL, 0, 8);
	get_reply(f, &rep, data, sizeof(data));
	assert_int_equal(rep.result, -EINVAL);
	send_req(f, FUSD_OP_WRITE, 4, "x", 1, 0);
	get_reply(f, &rep, data, sizeof(data));
	assert_int_equal(rep.result, -EINVAL);
}

static void test_return_after_unregister(void **state)
{
	struct fake *f = *state;
	struct fusd_reply rep;
	char data[64];

	opens = 999;
	send_req(f, FUSD_OP_OPEN, 2, NULL, 0, 0);
	get_reply(f, &rep, data, sizeof(data));
	send_req(f, FUSD_OP_READ, 2, NULL, 0, 32);
	assert_non_null(deferred);
	assert_int_equal(fusd_unregister(f->chan), 0);
	/* The channel is gone: the late answer fails cleanly. */
	assert_int_equal(fusd_return(deferred, 0), -1);
	assert_int_equal(errno, EPIPE);
	assert_int_equal(fusd_unregister(f->chan), -1);
	assert_int_equal(errno, EBADF);
	f->chan = open("/dev/null", O_RDONLY);	/* for teardown */
	assert_non_null(fusd_dev_attach(f->chan, NULL, &fops));
}

/* Send an IOCTL request by hand: the payload is the _IOC_WRITE data. */
static void send_ioctl(struct fake *f, unsigned int cmd, uint64_t arg,
		       int value)
{
	char buf[sizeof(struct fusd_request) + sizeof(int)];
	size_t plen = (_IOC_DIR(cmd) & _IOC_WRITE) ? sizeof(int) : 0;
	struct fusd_request req;

	memset(&req, 0, sizeof(req));
	req.hdr.size = sizeof(req) + plen;
	req.hdr.hdr_size = sizeof(req);
	req.hdr.opcode = FUSD_OP_IOCTL;
	req.hdr.id = ++f->next_id;
	req.fh = 1;
	req.u.ioctl.cmd = cmd;
	req.u.ioctl.arg = arg;
	req.u.ioctl.size = _IOC_DIR(cmd) ? _IOC_SIZE(cmd) : 0;
	memcpy(buf, &req, sizeof(req));
	memcpy(buf + sizeof(req), &value, plen);
	assert_int_equal(write(f->kern, buf, sizeof(req) + plen),
			 (ssize_t)(sizeof(req) + plen));
	fusd_dispatch(f->chan);
}

static void test_ioctl_encodings(void **state)
{
	struct fake *f = *state;
	struct fusd_reply rep;
	char data[64];
	int v;

	send_ioctl(f, _IOWR('t', 1, int), 0, 41);
	assert_int_equal(get_reply(f, &rep, data, sizeof(data)), sizeof(int));
	assert_int_equal(rep.result, 5);
	memcpy(&v, data, sizeof(v));
	assert_int_equal(v, 42);

	/* _IOR: the buffer starts zeroed, then comes back. */
	send_ioctl(f, _IOR('t', 2, int), 0, 0);
	assert_int_equal(get_reply(f, &rep, data, sizeof(data)), sizeof(int));
	memcpy(&v, data, sizeof(v));
	assert_int_equal(v, 1);

	/* _IOW: nothing comes back. */
	send_ioctl(f, _IOW('t', 3, int), 0, 9);
	assert_int_equal(get_reply(f, &rep, data, sizeof(data)), 0);
	assert_int_equal(rep.result, 5);

	/* _IO: the argument is the value. */
	send_ioctl(f, _IO('t', 4), 77, 0);
	assert_int_equal(get_reply(f, &rep, data, sizeof(data)), 0);
	assert_int_equal(rep.result, 77);
}

static void test_register_argument_errors(void **state)
{
	char longname[FUSD_NAME_MAX + 8];

	(void)state;
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(fusd_register(longname, NULL, NULL, 0666, NULL, &fops), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	assert_int_equal(fusd_register(NULL, NULL, NULL, 0666, NULL, &fops), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(fusd_register("x", NULL, NULL, 0666, NULL, NULL), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(fusd_unregister(-1), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(fusd_unregister(12345), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_read_write_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_open_is_forgotten, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupt_runs_unblock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupt_during_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_number_kept_until_last_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_overrun_becomes_eio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_opcode_and_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_return_after_unregister, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ioctl_encodings, setup, teardown),
		cmocka_unit_test(test_register_argument_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
