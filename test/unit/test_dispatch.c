// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: dispatch turns requests into callbacks and replies, over a
 * fake channel (a SOCK_SEQPACKET socket pair standing in for the kernel)
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <poll.h>
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
	struct fusd_dev *dev;
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
	f.dev = fusd_dev_attach(f.chan, (void *)0xd1, &fops, sizeof(fops), 0);
	if (!f.dev)
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

/* Open fh 2 (its private data makes reads defer) and have one READ of
 * 32 bytes held by the driver; returns that READ's id.
 */
static uint64_t hold_read(struct fake *f)
{
	struct fusd_reply rep;
	char data[64];
	uint64_t id;

	opens = 999;					/* next pd: 2000 */
	send_req(f, FUSD_OP_OPEN, 2, NULL, 0, 0);
	get_reply(f, &rep, data, sizeof(data));
	id = send_req(f, FUSD_OP_READ, 2, NULL, 0, 32);
	assert_non_null(deferred);
	return id;
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
	id = hold_read(f);
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

	id = hold_read(f);

	send_interrupt(f, id + 100);	/* not ours: ignored */
	assert_int_equal(unblocked, 0);
	assert_no_reply(f);

	send_interrupt(f, id);
	assert_int_equal(unblocked, 1);
	assert_no_reply(f);		/* an INTERRUPT gets no reply */
	/* The caller still waits (protocol 1.1): the answer is sent. */
	memcpy(fusd_get_read_buffer(deferred), "ok", 2);
	assert_int_equal(fusd_return(deferred, 2), 0);
	assert_int_equal(get_reply(f, &rep, data, sizeof(data)), 2);
	assert_true(rep.hdr.id == id);
	assert_int_equal(rep.result, 2);
	assert_memory_equal(data, "ok", 2);
	/* A second interrupt finds nothing to unblock. */
	send_interrupt(f, id);
	assert_int_equal(unblocked, 1);
	assert_no_reply(f);
}

static void test_interrupt_during_callback(void **state)
{
	struct fake *f = *state;

	struct fusd_reply rep;
	char data[16];
	uint64_t id;

	reenter = f;
	id = send_req(f, FUSD_OP_READ, 3, NULL, 0, 8);
	/* Delivered once the callback deferred the call. */
	assert_int_equal(unblocked, 1);
	assert_no_reply(f);
	/* The classic idiom: the caller fails with EINTR (or restarts). */
	assert_int_equal(fusd_return(deferred, -EINTR), 0);
	assert_int_equal(get_reply(f, &rep, data, sizeof(data)), 0);
	assert_true(rep.hdr.id == id);
	assert_int_equal(rep.result, -EINTR);
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
	assert_non_null(fusd_dev_attach(f->chan, NULL, &fops, sizeof(fops), 0));
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
	assert_non_null(fusd_dev_attach(f->chan, NULL, &none, sizeof(none), 0));
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

	hold_read(f);
	assert_int_equal(fusd_unregister(f->chan), 0);
	/* The channel is gone: the late answer fails cleanly. */
	assert_int_equal(fusd_return(deferred, 0), -1);
	assert_int_equal(errno, EPIPE);
	assert_int_equal(fusd_unregister(f->chan), -1);
	assert_int_equal(errno, EBADF);
	f->chan = open("/dev/null", O_RDONLY);	/* for teardown */
	assert_non_null(fusd_dev_attach(f->chan, NULL, &fops, sizeof(fops), 0));
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

/* Send one message with a chosen id (a batch a dispatcher thread took
 * out of order), and let the library handle it.
 */
static void send_raw(struct fake *f, uint16_t op, uint64_t id, uint64_t fh,
		     uint64_t u0)
{
	struct fusd_request req;

	memset(&req, 0, sizeof(req));
	req.hdr.size = sizeof(req);
	req.hdr.hdr_size = sizeof(req);
	req.hdr.opcode = op;
	req.hdr.id = id;
	req.fh = fh;
	req.u.raw[0] = u0;	/* rw.offset is 0 then: u.raw[1] is size */
	if (op == FUSD_OP_READ) {
		req.u.raw[0] = 0;
		req.u.rw.size = u0;
	}
	assert_int_equal(write(f->kern, &req, sizeof(req)), sizeof(req));
	if (id > f->next_id)
		f->next_id = id;
	fusd_dispatch(f->chan);
}

static void test_destroy_of_interrupted_call_answers_eintr(void **state)
{
	struct fake *f = *state;
	struct fusd_reply rep;
	char data[64];
	uint64_t id;

	id = hold_read(f);
	send_interrupt(f, id);
	assert_int_equal(unblocked, 1);
	/* Classic drivers destroy in unblock: the waiting caller gets EINTR. */
	fusd_destroy(deferred);
	assert_int_equal(get_reply(f, &rep, data, sizeof(data)), 0);
	assert_true(rep.hdr.id == id);
	assert_int_equal(rep.result, -EINTR);

	/* A call nobody interrupted is dropped without an answer. */
	deferred = NULL;
	send_req(f, FUSD_OP_READ, 2, NULL, 0, 32);
	assert_non_null(deferred);
	fusd_destroy(deferred);
	assert_no_reply(f);
}

static void test_interrupt_before_call_is_tracked(void **state)
{
	struct fake *f = *state;
	struct fusd_reply rep;
	char data[64];

	opens = 999;
	send_req(f, FUSD_OP_OPEN, 2, NULL, 0, 0);	/* id 1, pd 2000 */
	get_reply(f, &rep, data, sizeof(data));
	/* Another thread holds READ 2 while this one reads its INTERRUPT 3. */
	send_raw(f, FUSD_OP_INTERRUPT, 3, 2, 2);
	assert_int_equal(unblocked, 0);
	assert_no_reply(f);		/* kept, not answered */
	assert_non_null(f->dev->interrupts);
	/* READ 2 is tracked: the kept INTERRUPT is delivered once it is
	 * deferred, and nothing is answered -EAGAIN (3 > 2).
	 */
	send_raw(f, FUSD_OP_READ, 2, 2, 16);
	assert_non_null(deferred);
	assert_int_equal(unblocked, 1);
	assert_null(f->dev->interrupts);
	assert_no_reply(f);
	assert_int_equal(fusd_return(deferred, -EINTR), 0);
	assert_int_equal(get_reply(f, &rep, data, sizeof(data)), 0);
	assert_true(rep.hdr.id == 2);
	assert_int_equal(rep.result, -EINTR);
	/* The next request finds nothing stale. */
	send_req(f, FUSD_OP_LLSEEK, 2, NULL, 0, 0);
	get_reply(f, &rep, data, sizeof(data));
	assert_true(rep.hdr.id == 4);
	assert_no_reply(f);
	assert_int_equal(unblocked, 1);
}

static void test_early_interrupt_answered_call(void **state)
{
	struct fake *f = *state;
	struct fusd_reply rep;
	char data[64];

	/* The INTERRUPT overtakes a call the driver answers at once: no
	 * unblock (the driver does not hold it), the answer goes out.
	 */
	send_req(f, FUSD_OP_OPEN, 5, NULL, 0, 0);	/* id 1, pd 1001 */
	get_reply(f, &rep, data, sizeof(data));
	send_raw(f, FUSD_OP_INTERRUPT, 3, 5, 2);
	send_raw(f, FUSD_OP_READ, 2, 5, 16);
	assert_int_equal(unblocked, 0);
	assert_int_equal(get_reply(f, &rep, data, sizeof(data)), 7);
	assert_true(rep.hdr.id == 2);
	assert_memory_equal(data, "pd=1001", 7);
	assert_null(f->dev->interrupts);
}

static void test_stale_interrupt_gets_eagain(void **state)
{
	struct fake *f = *state;
	struct fusd_reply rep;
	char data[64];
	uint64_t id;

	id = send_req(f, FUSD_OP_OPEN, 5, NULL, 0, 0);	/* id 1 */
	get_reply(f, &rep, data, sizeof(data));
	/* INTERRUPT 2 names the OPEN, answered already: nothing to match. */
	send_interrupt(f, id);
	assert_no_reply(f);
	assert_non_null(f->dev->interrupts);
	/* A later request (3 > 2): the INTERRUPT is answered -EAGAIN first
	 * (the kernel re-sends it if its call still waits), then the read.
	 */
	id = send_req(f, FUSD_OP_READ, 5, NULL, 0, 16);
	assert_int_equal(get_reply(f, &rep, data, sizeof(data)), 0);
	assert_true(rep.hdr.id == 2);
	assert_int_equal(rep.hdr.size, sizeof(rep));
	assert_int_equal(rep.result, -EAGAIN);
	assert_int_equal(rep.flags, 0);
	assert_int_equal(rep.poll_mask, 0);
	assert_int_equal(get_reply(f, &rep, data, sizeof(data)), 7);
	assert_true(rep.hdr.id == id);
	assert_null(f->dev->interrupts);
	assert_int_equal(unblocked, 0);

	/* Kept INTERRUPTs are freed with the device. */
	send_interrupt(f, id);
	send_interrupt(f, id + 50);
	assert_non_null(f->dev->interrupts);
	assert_no_reply(f);
}

/* ---- the poll mask carried by a reply (FUSD_FEATURE_REPLY_POLL) ---- */

static unsigned int pb_masks[2];
static int pb_nmasks, pb_defer, pb_answer_self, pb_classic, pb_poll_calls;
static struct fusd_file_info *pb_other, *pb_poll;

static ssize_t pb_read(struct fusd_file_info *file, char *buf, size_t len,
		       loff_t *offset)
{
	int i;

	(void)len;
	(void)offset;
	memcpy(buf, "xy", 2);
	for (i = 0; i < pb_nmasks; i++)
		assert_int_equal(fusd_notify_poll(pb_other ? pb_other : file,
						  pb_masks[i]), 0);
	if (pb_classic) {
		struct fusd_file_info *held = pb_poll;

		pb_poll = NULL;	/* poll_diff is called again from here */
		assert_int_equal(fusd_return(held, FUSD_NOTIFY_INPUT), 0);
	}
	if (pb_defer) {
		deferred = file;
		return -FUSD_NOREPLY;
	}
	if (pb_answer_self) {
		assert_int_equal(fusd_return(file, 2), 0);
		/* Answered: this one goes on its own, after the reply. */
		assert_int_equal(fusd_notify_poll(file, POLLHUP), 0);
		return -FUSD_NOREPLY;
	}
	return 2;
}

static int pb_poll_diff(struct fusd_file_info *file, unsigned int cached)
{
	(void)cached;
	pb_poll_calls++;
	pb_poll = file;
	return -FUSD_NOREPLY;
}

static const struct fusd_file_operations pb_fops = {
	.read = pb_read,
};

static const struct fusd_file_operations pb_classic_fops = {
	.read = pb_read,
	.poll_diff = pb_poll_diff,
};

/* Serve the fake channel with another table and kernel features. */
static void reattach(struct fake *f, const struct fusd_file_operations *t,
		     uint64_t features)
{
	int fd = dup(f->chan);

	assert_true(fd >= 0);
	assert_int_equal(fusd_unregister(f->chan), 0);
	f->chan = fd;
	f->dev = fusd_dev_attach(fd, NULL, t, sizeof(*t), features);
	assert_non_null(f->dev);
	pb_nmasks = pb_defer = pb_answer_self = pb_classic = 0;
	pb_poll_calls = 0;
	pb_other = pb_poll = NULL;
}

/* Read one message of any kind; returns its opcode. */
static int get_msg(struct fake *f, struct fusd_reply *rep,
		   struct fusd_notify_poll *np)
{
	char buf[sizeof(*rep) + 256];
	struct fusd_msg_header hdr;
	ssize_t n = recv(f->kern, buf, sizeof(buf), MSG_DONTWAIT);

	assert_true(n >= (ssize_t)sizeof(hdr));
	memcpy(&hdr, buf, sizeof(hdr));
	assert_int_equal(hdr.size, n);
	if (hdr.opcode == FUSD_OP_NOTIFY_POLL) {
		assert_int_equal(n, sizeof(*np));
		memcpy(np, buf, sizeof(*np));
	} else {
		assert_int_equal(hdr.opcode, FUSD_OP_REPLY);
		memcpy(rep, buf, sizeof(*rep));
	}
	return hdr.opcode;
}

/* A poll mask rides only on calls of a file the library knows is open. */
static void open_fh(struct fake *f, uint64_t fh)
{
	struct fusd_reply rep;
	struct fusd_notify_poll np;

	send_req(f, FUSD_OP_OPEN, fh, NULL, 0, 0);
	assert_int_equal(get_msg(f, &rep, &np), FUSD_OP_REPLY);
	assert_int_equal(rep.result, 0);
}

static void test_poll_mask_in_reply(void **state)
{
	struct fake *f = *state;
	struct fusd_reply rep;
	struct fusd_notify_poll np;
	uint64_t id;

	reattach(f, &pb_fops, FUSD_FEATURE_REPLY_POLL);
	open_fh(f, 7);
	pb_masks[0] = POLLIN;
	pb_masks[1] = POLLOUT | POLLWRNORM;	/* the last one wins */
	pb_nmasks = 2;
	id = send_req(f, FUSD_OP_READ, 7, NULL, 0, 16);
	assert_int_equal(get_msg(f, &rep, &np), FUSD_OP_REPLY);
	assert_true(rep.hdr.id == id);
	assert_int_equal(rep.result, 2);
	assert_int_equal(rep.hdr.size, sizeof(rep) + 2);
	assert_int_equal(rep.flags, FUSD_REPLY_SET_OFFSET | FUSD_REPLY_POLL);
	assert_int_equal(rep.poll_mask, POLLOUT | POLLWRNORM);
	assert_no_reply(f);		/* no separate notification */

	/* Without a mask set, a reply carries none. */
	pb_nmasks = 0;
	send_req(f, FUSD_OP_READ, 7, NULL, 0, 16);
	assert_int_equal(get_msg(f, &rep, &np), FUSD_OP_REPLY);
	assert_int_equal(rep.flags, FUSD_REPLY_SET_OFFSET);
	assert_int_equal(rep.poll_mask, 0);
	assert_no_reply(f);
}

static void test_poll_mask_without_feature(void **state)
{
	struct fake *f = *state;
	struct fusd_reply rep;
	struct fusd_notify_poll np;

	reattach(f, &pb_fops, 0);
	pb_masks[0] = POLLIN;
	pb_nmasks = 1;
	send_req(f, FUSD_OP_READ, 7, NULL, 0, 16);
	assert_int_equal(get_msg(f, &rep, &np), FUSD_OP_NOTIFY_POLL);
	assert_true(np.fh == 7);
	assert_int_equal(np.mask, POLLIN);
	assert_true(np.hdr.id == 0);
	assert_int_equal(get_msg(f, &rep, &np), FUSD_OP_REPLY);
	assert_int_equal(rep.flags, FUSD_REPLY_SET_OFFSET);
	assert_int_equal(rep.poll_mask, 0);
	assert_no_reply(f);
}

static void test_poll_mask_of_deferred_call_goes_at_once(void **state)
{
	struct fake *f = *state;
	struct fusd_reply rep;
	struct fusd_notify_poll np;
	uint64_t id;

	reattach(f, &pb_fops, FUSD_FEATURE_REPLY_POLL);
	pb_masks[0] = POLLPRI;
	pb_nmasks = 1;
	pb_defer = 1;
	id = send_req(f, FUSD_OP_READ, 7, NULL, 0, 16);
	assert_non_null(deferred);
	/* Sent when the callback deferred, not held behind the call. */
	assert_int_equal(get_msg(f, &rep, &np), FUSD_OP_NOTIFY_POLL);
	assert_true(np.fh == 7);
	assert_int_equal(np.mask, POLLPRI);
	assert_no_reply(f);
	/* A notification for the deferred call, answered later: at once. */
	assert_int_equal(fusd_notify_poll(deferred, POLLIN), 0);
	assert_int_equal(get_msg(f, &rep, &np), FUSD_OP_NOTIFY_POLL);
	assert_int_equal(np.mask, POLLIN);
	assert_int_equal(fusd_return(deferred, 2), 0);
	assert_int_equal(get_msg(f, &rep, &np), FUSD_OP_REPLY);
	assert_true(rep.hdr.id == id);
	assert_int_equal(rep.flags, FUSD_REPLY_SET_OFFSET);
	assert_no_reply(f);
}

static void test_poll_mask_other_file_or_answered(void **state)
{
	struct fake *f = *state;
	struct fusd_reply rep;
	struct fusd_notify_poll np;
	struct fusd_file_info *held;

	reattach(f, &pb_fops, FUSD_FEATURE_REPLY_POLL);
	open_fh(f, 7);
	open_fh(f, 8);
	pb_defer = 1;
	send_req(f, FUSD_OP_READ, 8, NULL, 0, 16);	/* fh 8 held */
	held = deferred;
	assert_non_null(held);
	pb_defer = 0;

	/* In fh 7's read, a mask for fh 8: sent on its own, at once. */
	pb_other = held;
	pb_masks[0] = POLLIN;
	pb_nmasks = 1;
	send_req(f, FUSD_OP_READ, 7, NULL, 0, 16);
	assert_int_equal(get_msg(f, &rep, &np), FUSD_OP_NOTIFY_POLL);
	assert_true(np.fh == 8);
	assert_int_equal(get_msg(f, &rep, &np), FUSD_OP_REPLY);
	assert_int_equal(rep.flags, FUSD_REPLY_SET_OFFSET);
	assert_no_reply(f);
	fusd_destroy(held);
	assert_no_reply(f);

	/* The callback answers itself: that reply carries the mask; one set
	 * after the answer follows on its own.
	 */
	pb_other = NULL;
	pb_answer_self = 1;
	pb_masks[0] = POLLOUT;
	send_req(f, FUSD_OP_READ, 7, NULL, 0, 16);
	assert_int_equal(get_msg(f, &rep, &np), FUSD_OP_REPLY);
	assert_int_equal(rep.result, 2);
	assert_int_equal(rep.flags, FUSD_REPLY_SET_OFFSET | FUSD_REPLY_POLL);
	assert_int_equal(rep.poll_mask, POLLOUT);
	assert_int_equal(get_msg(f, &rep, &np), FUSD_OP_NOTIFY_POLL);
	assert_int_equal(np.mask, POLLHUP);
	assert_no_reply(f);
}

/* Masks of one file set by two threads reach the kernel in the order
 * they were set, although one of them waits for its call's reply.
 */
static struct fusd_file_info *order_held;

static void *order_other_thread(void *arg)
{
	(void)arg;
	/* Not in a callback: sent at once, and it is the latest. */
	assert_int_equal(fusd_notify_poll(order_held, 0), 0);
	return NULL;
}

static ssize_t order_read(struct fusd_file_info *file, char *buf,
			  size_t len, loff_t *offset)
{
	pthread_t t;

	(void)len; (void)offset;
	if (!order_held) {
		order_held = file;
		return -FUSD_NOREPLY;
	}
	/* Data consumed elsewhere first: POLLIN, then (another thread,
	 * under the driver's own ordering) nothing ready.
	 */
	assert_int_equal(fusd_notify_poll(file, POLLIN), 0);
	assert_int_equal(pthread_create(&t, NULL, order_other_thread, NULL), 0);
	pthread_join(t, NULL);
	memcpy(buf, "ok", 2);
	return 2;
}

static const struct fusd_file_operations order_fops = { .read = order_read };

static void test_poll_masks_keep_their_order(void **state)
{
	struct fake *f = *state;
	struct fusd_reply rep;
	struct fusd_notify_poll np;

	reattach(f, &order_fops, FUSD_FEATURE_REPLY_POLL);
	order_held = NULL;
	open_fh(f, 7);
	send_req(f, FUSD_OP_READ, 7, NULL, 0, 16);	/* held */
	assert_non_null(order_held);
	send_req(f, FUSD_OP_READ, 7, NULL, 0, 16);
	assert_int_equal(get_msg(f, &rep, &np), FUSD_OP_NOTIFY_POLL);
	assert_int_equal(np.mask, 0);
	assert_int_equal(get_msg(f, &rep, &np), FUSD_OP_REPLY);
	assert_int_equal(rep.result, 2);
	/* The older POLLIN does not ride on the reply: it would undo 0. */
	assert_int_equal(rep.flags & FUSD_REPLY_POLL, 0);
	assert_int_equal(rep.poll_mask, 0);
	assert_no_reply(f);
	fusd_destroy(order_held);
}

/* A call the driver dropped without an answer: its caller's INTERRUPT
 * ends it with EINTR (classic FUSD), once, and is not kept.
 */
static struct fusd_file_info *drop_held;

static ssize_t drop_read(struct fusd_file_info *file, char *buf, size_t len,
			 loff_t *offset)
{
	(void)buf; (void)len; (void)offset;
	drop_held = file;
	return -FUSD_NOREPLY;
}

static const struct fusd_file_operations drop_fops = { .read = drop_read };

static void test_interrupt_of_dropped_call(void **state)
{
	struct fake *f = *state;
	struct fusd_reply rep;
	char data[64];
	uint64_t id;

	reattach(f, &drop_fops, 0);
	open_fh(f, 2);
	drop_held = NULL;
	id = send_req(f, FUSD_OP_READ, 2, NULL, 0, 8);
	assert_non_null(drop_held);
	fusd_destroy(drop_held);
	assert_no_reply(f);
	send_interrupt(f, id);
	assert_int_equal(get_reply(f, &rep, data, sizeof(data)), 0);
	assert_true(rep.hdr.id == id);
	assert_int_equal(rep.result, -EINTR);
	/* A second INTERRUPT for it is no longer matched as dropped: kept,
	 * then answered -EAGAIN by the next request.
	 */
	send_interrupt(f, id);
	assert_no_reply(f);
}

static void test_classic_poll_diff_answer_in_reply(void **state)
{
	struct fake *f = *state;
	struct fusd_reply rep;
	struct fusd_notify_poll np;
	char data[16];

	reattach(f, &pb_classic_fops, FUSD_FEATURE_REPLY_POLL);
	send_req(f, FUSD_OP_OPEN, 7, NULL, 0, 0);
	get_reply(f, &rep, data, sizeof(data));
	assert_int_equal(pb_poll_calls, 1);	/* asked after the open */
	assert_non_null(pb_poll);

	/* The read answers the file's held poll_diff: the new state rides
	 * on the read's reply, and poll_diff is asked again.
	 */
	pb_classic = 1;
	send_req(f, FUSD_OP_READ, 7, NULL, 0, 16);
	assert_int_equal(get_msg(f, &rep, &np), FUSD_OP_REPLY);
	assert_int_equal(rep.result, 2);
	assert_int_equal(rep.flags, FUSD_REPLY_SET_OFFSET | FUSD_REPLY_POLL);
	assert_int_equal(rep.poll_mask, POLLIN | POLLRDNORM);
	assert_no_reply(f);
	assert_int_equal(pb_poll_calls, 2);
	assert_non_null(pb_poll);

	/* Outside a callback of that file: a notification, as before. */
	assert_int_equal(fusd_return(pb_poll, 0), 0);
	assert_int_equal(get_msg(f, &rep, &np), FUSD_OP_NOTIFY_POLL);
	assert_int_equal(np.mask, 0);
	assert_int_equal(pb_poll_calls, 3);
	fusd_destroy(pb_poll);
}

/* ---- short ioctl replies ---- */

static long ioctl_len;		/* -1: leave the default */
static int ioctl_len_ret, ioctl_len_errno, ioctl_defer;
static struct fusd_file_info *ioctl_held;

static int len_ioctl(struct fusd_file_info *file, int cmd, void *data)
{
	if (_IOC_DIR((unsigned int)cmd) & _IOC_READ)
		memcpy(data, "abcdefghijklmnop", _IOC_SIZE((unsigned int)cmd));
	if (ioctl_len >= 0) {
		errno = 0;
		ioctl_len_ret = fusd_set_ioctl_length(file, (size_t)ioctl_len);
		ioctl_len_errno = errno;
	}
	if (ioctl_defer) {
		ioctl_held = file;
		return -FUSD_NOREPLY;
	}
	return 0;
}

static const struct fusd_file_operations len_fops = {
	.ioctl = len_ioctl,
	.read = pb_read,
};

static void test_ioctl_length(void **state)
{
	struct fake *f = *state;
	struct fusd_reply rep;
	char data[64];

	reattach(f, &len_fops, 0);
	ioctl_defer = 0;

	/* Classic default: the whole _IOC_SIZE buffer. */
	ioctl_len = -1;
	send_ioctl(f, _IOR('t', 5, char[16]), 0, 0);
	assert_int_equal(get_reply(f, &rep, data, sizeof(data)), 16);

	ioctl_len = 3;
	send_ioctl(f, _IOR('t', 5, char[16]), 0, 0);
	assert_int_equal(ioctl_len_ret, 0);
	assert_int_equal(get_reply(f, &rep, data, sizeof(data)), 3);
	assert_int_equal(rep.hdr.size, sizeof(rep) + 3);
	assert_memory_equal(data, "abc", 3);

	ioctl_len = 0;
	send_ioctl(f, _IOWR('t', 5, char[16]), 0, 0);
	assert_int_equal(ioctl_len_ret, 0);
	assert_int_equal(get_reply(f, &rep, data, sizeof(data)), 0);
	assert_int_equal(rep.result, 0);

	ioctl_len = 16;
	send_ioctl(f, _IOR('t', 5, char[16]), 0, 0);
	assert_int_equal(ioctl_len_ret, 0);
	assert_int_equal(get_reply(f, &rep, data, sizeof(data)), 16);

	/* Longer than _IOC_SIZE: refused, the default stays. */
	ioctl_len = 17;
	send_ioctl(f, _IOR('t', 5, char[16]), 0, 0);
	assert_int_equal(ioctl_len_ret, -1);
	assert_int_equal(ioctl_len_errno, EINVAL);
	assert_int_equal(get_reply(f, &rep, data, sizeof(data)), 16);

	/* No _IOC_READ: refused. */
	ioctl_len = 0;
	send_ioctl(f, _IOW('t', 5, int), 0, 1);
	assert_int_equal(ioctl_len_ret, -1);
	assert_int_equal(ioctl_len_errno, EINVAL);
	get_reply(f, &rep, data, sizeof(data));
	send_ioctl(f, _IO('t', 5), 0, 0);
	assert_int_equal(ioctl_len_ret, -1);
	assert_int_equal(ioctl_len_errno, EINVAL);
	get_reply(f, &rep, data, sizeof(data));

	/* Not an ioctl, or no call at all. */
	errno = 0;
	assert_int_equal(fusd_set_ioctl_length(NULL, 0), -1);
	assert_int_equal(errno, EINVAL);
	pb_defer = 1;
	send_req(f, FUSD_OP_READ, 1, NULL, 0, 16);
	assert_non_null(deferred);
	errno = 0;
	assert_int_equal(fusd_set_ioctl_length(deferred, 0), -1);
	assert_int_equal(errno, EINVAL);
	fusd_destroy(deferred);

	/* A deferred ioctl, shortened before its answer. */
	ioctl_len = -1;
	ioctl_defer = 1;
	send_ioctl(f, _IOR('t', 6, char[16]), 0, 0);
	assert_non_null(ioctl_held);
	assert_no_reply(f);
	assert_int_equal(fusd_set_ioctl_length(ioctl_held, 5), 0);
	assert_int_equal(fusd_return(ioctl_held, 1), 0);
	assert_int_equal(get_reply(f, &rep, data, sizeof(data)), 5);
	assert_int_equal(rep.result, 1);
	assert_memory_equal(data, "abcde", 5);
	ioctl_defer = 0;
}

/* ---- the callback table ---- */

static int alt_reads;

static ssize_t alt_read(struct fusd_file_info *file, char *buf, size_t len,
			loff_t *offset)
{
	(void)file;
	(void)buf;
	(void)len;
	(void)offset;
	alt_reads++;
	return 0;
}

static void test_fops_copied(void **state)
{
	struct fake *f = *state;
	struct fusd_file_operations t = { .read = alt_read };
	struct fusd_reply rep;
	char data[16];

	reattach(f, &t, 0);
	t.read = NULL;		/* the library kept its own copy */
	alt_reads = 0;
	send_req(f, FUSD_OP_READ, 1, NULL, 0, 8);
	get_reply(f, &rep, data, sizeof(data));
	assert_int_equal(rep.result, 0);
	assert_int_equal(alt_reads, 1);

	/* A shorter table: the missing callbacks are NULL. */
	t.read = alt_read;
	t.write = cb_write;
	f->chan = dup(f->chan);
	f->dev = fusd_dev_attach(f->chan, NULL, &t,
				 offsetof(struct fusd_file_operations, write),
				 0);
	assert_non_null(f->dev);
	send_req(f, FUSD_OP_READ, 1, NULL, 0, 8);
	get_reply(f, &rep, data, sizeof(data));
	assert_int_equal(alt_reads, 2);
	send_req(f, FUSD_OP_WRITE, 1, "x", 1, 0);
	get_reply(f, &rep, data, sizeof(data));
	assert_int_equal(rep.result, -EINVAL);
}

static void test_register_size(void **state)
{
	struct {
		struct fusd_file_operations ops;
		void (*newer)(void);	/* a callback of a later <fusd.h> */
	} big;
	int (*classic)(const char *, const char *, const char *, mode_t,
		       void *, struct fusd_file_operations *) = &fusd_register;

	(void)state;
	/* The 1.0 table: every member up to fsync, eleven callbacks. */
	assert_int_equal(FUSD_FOPS_SIZE_V1_0, 11 * sizeof(void (*)(void)));
	assert_true(FUSD_FOPS_SIZE_V1_0 <= sizeof(struct fusd_file_operations));
	assert_non_null(classic);

	memset(&big, 0, sizeof(big));
	big.ops.read = cb_read;
	/* A non-zero unknown tail: refused before anything else. */
	big.newer = (void (*)(void))cb_read;
	errno = 0;
	assert_int_equal(fusd_register_size("x", NULL, NULL, 0666, NULL,
					    &big.ops, sizeof(big)), -1);
	assert_int_equal(errno, E2BIG);
	/* A zero tail passes the checks (then fails for want of a kernel
	 * module here, or registers).
	 */
	big.newer = NULL;
	errno = 0;
	{
		int fd = fusd_register_size("fusd-unit-test-x", NULL, NULL,
					    0666, NULL, &big.ops, sizeof(big));

		if (fd >= 0) {
			fusd_unregister(fd);
		} else {
			assert_int_not_equal(errno, E2BIG);
			assert_int_not_equal(errno, EINVAL);
		}
	}
	/* Not whole callbacks. */
	errno = 0;
	assert_int_equal(fusd_register_size("x", NULL, NULL, 0666, NULL,
					    &big.ops, 3), -1);
	assert_int_equal(errno, EINVAL);
	/* NULL table through either entry point. */
	errno = 0;
	assert_int_equal(fusd_register_size("x", NULL, NULL, 0666, NULL,
					    NULL, sizeof(big.ops)), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal((fusd_register)("x", NULL, NULL, 0666, NULL, NULL),
			 -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(classic(NULL, NULL, NULL, 0666, NULL, &big.ops), -1);
	assert_int_equal(errno, EINVAL);
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
		cmocka_unit_test_setup_teardown(test_destroy_of_interrupted_call_answers_eintr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupt_before_call_is_tracked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_early_interrupt_answered_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_interrupt_gets_eagain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_poll_mask_in_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_poll_mask_without_feature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_poll_mask_of_deferred_call_goes_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_poll_mask_other_file_or_answered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_poll_masks_keep_their_order,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupt_of_dropped_call,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_classic_poll_diff_answer_in_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ioctl_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fops_copied, setup, teardown),
		cmocka_unit_test(test_register_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
