// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: protocol 1.1 spoken by hand: channel ioctl structs that grow,
 * feature negotiation, longer message headers, FUSD_REPLY_POLL, -EAGAIN to
 * an INTERRUPT, the 1.0 signal contract, short _IOC_READ ioctl replies
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "itest.h"
#include "rawchan.h"

#define RSIZE sizeof(struct fusd_reply)

/* A register struct from a future minor version: 16 more bytes. */
struct reg_big {
	struct fusd_register r;
	__u64 extra[2];
};

/* FUSD_IOC_VERSION's argument as protocol 1.0 had it. */
struct version_v1_0 {
	__u16 major;
	__u16 minor;
	__u32 reserved;
};

#define IOC_REG_BIG _IOWR(FUSD_IOC_MAGIC, FUSD_IOC_NR_REGISTER, struct reg_big)
#define IOC_VERSION_V1_0 \
	_IOR(FUSD_IOC_MAGIC, FUSD_IOC_NR_VERSION, struct version_v1_0)

/* evdev's EVIOCGKEY(len) with len 767; the client's buffer holds 96. */
#define EVIOCGKEY_767 _IOC(_IOC_READ, 'E', 0x18, 767)
#define GUARD_LO 64
#define KEYBUF 96
#define GUARD_HI 1024

/* A client system call run in its own thread, so the test can play daemon. */
struct client {
	pthread_t thread;
	int op;			/* 'o'pen, 'r'ead, 'p' read then poll, 'i'octl */
	const char *path;
	int fd;
	size_t len;
	char buf[256];
	unsigned char region[GUARD_LO + KEYBUF + GUARD_HI];
	ssize_t ret;
	int err;
	short revents;		/* 'p': poll(..., 0) right after the read */
	int poll_ret;
};

static void *client_main(void *arg)
{
	struct client *c = arg;
	struct pollfd pfd;

	switch (c->op) {
	case 'o':
		c->ret = open(c->path, O_RDWR);
		break;
	case 'r':
	case 'p':
		c->ret = read(c->fd, c->buf, c->len);
		break;
	case 'i':
		c->ret = ioctl(c->fd, EVIOCGKEY_767, c->region + GUARD_LO);
		break;
	}
	c->err = errno;
	if (c->op == 'p') {
		pfd.fd = c->fd;
		pfd.events = POLLIN | POLLOUT | POLLPRI | POLLRDNORM |
			     POLLWRNORM;
		pfd.revents = 0;
		c->poll_ret = poll(&pfd, 1, 0);
		c->revents = pfd.revents;
	}
	return NULL;
}

static void client_start(struct client *c, int op, int fd, size_t len)
{
	c->op = op;
	c->fd = fd;
	c->len = len;
	c->ret = 0;
	c->err = 0;
	assert_int_equal(pthread_create(&c->thread, NULL, client_main, c), 0);
}

static ssize_t client_join(struct client *c)
{
	pthread_join(c->thread, NULL);
	return c->ret;
}

static void no_handler(int sig)
{
	(void)sig;
}

static void set_sigusr1(int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = no_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = flags;
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
}

/* One registered device with one client file open on it. */
struct dev {
	char path[64];
	int chan;
	int cfd;
	uint64_t fh;
	struct fusd_register reg;	/* as the kernel wrote it back */
};

static void dev_up(struct dev *d, const char *name, uint32_t flags,
		   uint64_t features, uint16_t minor)
{
	static struct client c;

	snprintf(d->path, sizeof(d->path), "/dev/%s", name);
	d->chan = open("/dev/fusd/control", O_RDWR);
	assert_true(d->chan >= 0);
	raw_register_init(&d->reg, name, 0666);
	d->reg.flags = flags;
	d->reg.features = features;
	d->reg.minor = minor;
	assert_int_equal(ioctl(d->chan, FUSD_IOC_REGISTER, &d->reg), 0);
	assert_int_equal(d->reg.minor, minor);
	c.path = d->path;
	client_start(&c, 'o', -1, 0);
	d->fh = raw_accept_open(d->chan);
	d->cfd = (int)client_join(&c);
	assert_true(d->cfd >= 0);
}

static void dev_down(struct dev *d)
{
	close(d->chan);
	close(d->cfd);
	assert_int_equal(itest_wait_path(d->path, 0, 5000), 0);
}

/* Nothing is queued on the channel. */
static void assert_chan_empty(int chan)
{
	char buf[256];

	assert_int_equal(fcntl(chan, F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(read(chan, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(fcntl(chan, F_SETFL, 0), 0);
}

/*
 * Write one reply whose header is 'hdr_size' bytes: struct fusd_reply cut
 * or zero-extended to that size, the last header byte set to 'tail' if the
 * header is longer than the struct, then 'len' payload bytes.
 */
static ssize_t reply_ext(int chan, uint64_t id, int64_t result,
			 uint32_t flags, uint32_t poll_mask, size_t hdr_size,
			 unsigned char tail, const void *data, size_t len)
{
	char *buf = calloc(1, hdr_size + len + RSIZE);
	struct fusd_reply rep;
	ssize_t n;

	assert_non_null(buf);
	memset(&rep, 0, sizeof(rep));
	rep.hdr.size = (uint32_t)(hdr_size + len);
	rep.hdr.hdr_size = (uint16_t)hdr_size;
	rep.hdr.opcode = FUSD_OP_REPLY;
	rep.hdr.id = id;
	rep.result = result;
	rep.flags = flags;
	rep.poll_mask = poll_mask;
	memcpy(buf, &rep, hdr_size < RSIZE ? hdr_size : RSIZE);
	if (hdr_size > RSIZE)
		buf[hdr_size - 1] = (char)tail;
	if (len)
		memcpy(buf + hdr_size, data, len);
	n = write(chan, buf, hdr_size + len);
	free(buf);
	return n;
}

/* A poll notification with a header of 'hdr_size' bytes (see reply_ext). */
static ssize_t notify_ext(int chan, uint64_t fh, uint32_t mask,
			  size_t hdr_size, unsigned char tail)
{
	char buf[256];
	struct fusd_notify_poll np;

	memset(buf, 0, sizeof(buf));
	memset(&np, 0, sizeof(np));
	np.hdr.size = (uint32_t)hdr_size;
	np.hdr.hdr_size = (uint16_t)hdr_size;
	np.hdr.opcode = FUSD_OP_NOTIFY_POLL;
	np.fh = fh;
	np.mask = mask;
	memcpy(buf, &np, hdr_size < sizeof(np) ? hdr_size : sizeof(np));
	if (hdr_size > sizeof(np))
		buf[hdr_size - 1] = (char)tail;
	return write(chan, buf, hdr_size);
}

static short poll_now(int fd)
{
	struct pollfd pfd = {
		.fd = fd,
		.events = POLLIN | POLLOUT | POLLPRI | POLLRDNORM | POLLWRNORM,
	};

	assert_true(poll(&pfd, 1, 0) >= 0);
	return pfd.revents;
}

static void assert_no_node(const char *path)
{
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(errno, ENOENT);
}

/* 1: FUSD_IOC_REGISTER's struct may grow; bad sizes and numbers fail. */
static void test_register_struct_growth(void **state)
{
	struct reg_big big, busy;
	struct fusd_register reg;
	int fd;

	(void)state;
	fd = open("/dev/fusd/control", O_RDWR);
	assert_true(fd >= 0);

	/* Larger, with a non-zero unknown tail: E2BIG, nothing created. */
	memset(&big, 0, sizeof(big));
	raw_register_init(&big.r, "abi-reg", 0600);
	big.r.size = sizeof(big);
	big.extra[1] = 1;
	assert_int_equal(ioctl(fd, IOC_REG_BIG, &big), -1);
	assert_int_equal(errno, E2BIG);
	assert_no_node("/dev/abi-reg");
	big.extra[1] = 0;

	/* 'size' other than _IOC_SIZE: EINVAL, either way round. */
	big.r.size = sizeof(big.r);
	assert_int_equal(ioctl(fd, IOC_REG_BIG, &big), -1);
	assert_int_equal(errno, EINVAL);
	raw_register_init(&reg, "abi-reg", 0600);
	reg.size = sizeof(big);
	assert_int_equal(ioctl(fd, FUSD_IOC_REGISTER, &reg), -1);
	assert_int_equal(errno, EINVAL);
	assert_no_node("/dev/abi-reg");

	/* Smaller than 1.0's struct, wrong direction, unknown nr or magic:
	 * not this ioctl at all.
	 */
	raw_register_init(&reg, "abi-reg", 0600);
	assert_int_equal(ioctl(fd, _IOWR(FUSD_IOC_MAGIC, FUSD_IOC_NR_REGISTER,
					 char[440]), &reg), -1);
	assert_int_equal(errno, ENOTTY);
	assert_int_equal(ioctl(fd, _IOW(FUSD_IOC_MAGIC, FUSD_IOC_NR_REGISTER,
					struct fusd_register), &reg), -1);
	assert_int_equal(errno, ENOTTY);
	assert_int_equal(ioctl(fd, _IOR(FUSD_IOC_MAGIC, FUSD_IOC_NR_REGISTER,
					struct fusd_register), &reg), -1);
	assert_int_equal(errno, ENOTTY);
	assert_int_equal(ioctl(fd, _IOWR(FUSD_IOC_MAGIC, 0x7f,
					 struct fusd_register), &reg), -1);
	assert_int_equal(errno, ENOTTY);
	assert_int_equal(ioctl(fd, _IOWR(FUSD_IOC_MAGIC, 0,
					 struct fusd_register), &reg), -1);
	assert_int_equal(errno, ENOTTY);
	assert_int_equal(ioctl(fd, _IOWR('X', FUSD_IOC_NR_REGISTER,
					 struct fusd_register), &reg), -1);
	assert_int_equal(errno, ENOTTY);
	assert_no_node("/dev/abi-reg");

	/* Larger with a zero tail: accepted, out fields written back, the
	 * tail the kernel does not know left alone.  The failures above did
	 * not use up the channel.
	 */
	memset(&big, 0, sizeof(big));
	raw_register_init(&big.r, "abi-reg", 0600);
	big.r.size = sizeof(big);
	assert_int_equal(ioctl(fd, IOC_REG_BIG, &big), 0);
	assert_int_equal(big.r.minor, FUSD_PROTO_MINOR);
	assert_int_equal(big.r.io_max, FUSD_IO_MAX);
	assert_true(big.r.supported == FUSD_FEATURES_ALL);
	assert_true(big.extra[0] == 0 && big.extra[1] == 0);
	assert_int_equal(itest_wait_path("/dev/abi-reg", 1, 5000), 0);

	/* The long struct reaches the same checks: one device per channel. */
	memset(&busy, 0, sizeof(busy));
	raw_register_init(&busy.r, "abi-reg2", 0600);
	busy.r.size = sizeof(busy);
	assert_int_equal(ioctl(fd, IOC_REG_BIG, &busy), -1);
	assert_int_equal(errno, EBUSY);
	assert_no_node("/dev/abi-reg2");

	close(fd);
	assert_int_equal(itest_wait_path("/dev/abi-reg", 0, 5000), 0);
}

/* 2: unknown feature bits are dropped, known ones granted. */
static void test_feature_negotiation(void **state)
{
	struct fusd_register reg;
	int fd;

	(void)state;
	fd = open("/dev/fusd/control", O_RDWR);
	assert_true(fd >= 0);
	raw_register_init(&reg, "abi-feat", 0600);
	reg.features = FUSD_FEATURE_REPLY_POLL | (1ULL << 63);
	reg.supported = 0x5a5a;		/* out only: overwritten */
	assert_int_equal(ioctl(fd, FUSD_IOC_REGISTER, &reg), 0);
	assert_true(reg.features == FUSD_FEATURE_REPLY_POLL);
	assert_true(reg.supported == FUSD_FEATURES_ALL);
	assert_int_equal(reg.minor, FUSD_PROTO_MINOR);
	close(fd);
	assert_int_equal(itest_wait_path("/dev/abi-feat", 0, 5000), 0);

	fd = open("/dev/fusd/control", O_RDWR);
	assert_true(fd >= 0);
	raw_register_init(&reg, "abi-feat", 0600);
	reg.features = 0;
	reg.minor = FUSD_PROTO_MINOR + 7;	/* a future daemon */
	assert_int_equal(ioctl(fd, FUSD_IOC_REGISTER, &reg), 0);
	assert_true(reg.features == 0);
	assert_true(reg.supported == FUSD_FEATURES_ALL);
	assert_int_equal(reg.minor, FUSD_PROTO_MINOR);	/* min of both */
	close(fd);
	assert_int_equal(itest_wait_path("/dev/abi-feat", 0, 5000), 0);
}

/* 3: FUSD_IOC_VERSION in its 1.0 and 1.1 sizes, before registering. */
static void test_version_sizes(void **state)
{
	unsigned char guarded[sizeof(struct version_v1_0) + 64];
	struct version_v1_0 v10;
	struct fusd_version v;
	size_t i;
	int fd;

	(void)state;
	fd = open("/dev/fusd/control", O_RDWR);
	assert_true(fd >= 0);

	memset(guarded, 0x5a, sizeof(guarded));
	assert_int_equal(ioctl(fd, IOC_VERSION_V1_0, guarded), 0);
	memcpy(&v10, guarded, sizeof(v10));
	assert_int_equal(v10.major, FUSD_PROTO_MAJOR);
	assert_int_equal(v10.minor, FUSD_PROTO_MINOR);
	assert_int_equal(v10.reserved, 0);
	for (i = sizeof(v10); i < sizeof(guarded); i++)
		assert_int_equal(guarded[i], 0x5a);

	memset(&v, 0xff, sizeof(v));
	assert_int_equal(ioctl(fd, FUSD_IOC_VERSION, &v), 0);
	assert_int_equal(v.major, FUSD_PROTO_MAJOR);
	assert_int_equal(v.minor, FUSD_PROTO_MINOR);
	assert_int_equal(v.reserved, 0);
	assert_true(v.features == FUSD_FEATURES_ALL);

	/* A newer caller's larger struct: what this kernel does not know
	 * reads as zero, not as what was there before.
	 */
	{
		struct {
			struct fusd_version v;
			__u64 later[3];
		} big;

		memset(&big, 0xff, sizeof(big));
		assert_int_equal(ioctl(fd, _IOR(FUSD_IOC_MAGIC,
						FUSD_IOC_NR_VERSION, big),
				       &big), 0);
		assert_int_equal(big.v.major, FUSD_PROTO_MAJOR);
		assert_true(big.v.features == FUSD_FEATURES_ALL);
		for (i = 0; i < 3; i++)
			assert_true(big.later[i] == 0);
	}

	/* Smaller than 1.0's struct, or the wrong direction: ENOTTY. */
	assert_int_equal(ioctl(fd, _IOR(FUSD_IOC_MAGIC, FUSD_IOC_NR_VERSION,
					__u32), &v), -1);
	assert_int_equal(errno, ENOTTY);
	assert_int_equal(ioctl(fd, _IOW(FUSD_IOC_MAGIC, FUSD_IOC_NR_VERSION,
					struct fusd_version), &v), -1);
	assert_int_equal(errno, ENOTTY);
	assert_int_equal(ioctl(fd, _IOWR(FUSD_IOC_MAGIC, FUSD_IOC_NR_VERSION,
					 struct fusd_version), &v), -1);
	assert_int_equal(errno, ENOTTY);
	close(fd);
}

/* 4: replies and poll notifications with headers longer than 1.1's. */
static void test_long_message_headers(void **state)
{
	static struct client c, c2;
	struct fusd_request req, req2;
	char out[2 * (RSIZE + 16) + 8];
	struct fusd_reply rep;
	struct dev d;

	(void)state;
	dev_up(&d, "abi-hdr", FUSD_REGISTER_POLL, 0, FUSD_PROTO_MINOR);

	/* A zero tail: accepted, the payload starts at hdr_size. */
	memset(c.buf, '.', sizeof(c.buf));
	client_start(&c, 'r', d.cfd, 8);
	raw_read_request(d.chan, &req, NULL, 0);
	assert_int_equal(reply_ext(d.chan, req.hdr.id, 5, 0, 0, RSIZE + 16, 0,
				   "hello", 5), RSIZE + 16 + 5);
	assert_int_equal(client_join(&c), 5);
	assert_memory_equal(c.buf, "hello", 5);
	assert_int_equal(c.buf[5], '.');

	/* An odd size works the same. */
	client_start(&c, 'r', d.cfd, 8);
	raw_read_request(d.chan, &req, NULL, 0);
	assert_int_equal(reply_ext(d.chan, req.hdr.id, 3, 0, 0, RSIZE + 1, 0,
				   "odd", 3), RSIZE + 1 + 3);
	assert_int_equal(client_join(&c), 3);
	assert_memory_equal(c.buf, "odd", 3);

	/* A non-zero unknown tail: EINVAL, the caller gets EIO. */
	client_start(&c, 'r', d.cfd, 8);
	raw_read_request(d.chan, &req, NULL, 0);
	assert_int_equal(reply_ext(d.chan, req.hdr.id, 5, 0, 0, RSIZE + 16, 1,
				   "hello", 5), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(client_join(&c), -1);
	assert_int_equal(c.err, EIO);

	/* Shorter than 1.0's header: EINVAL, EIO. */
	client_start(&c, 'r', d.cfd, 8);
	raw_read_request(d.chan, &req, NULL, 0);
	assert_int_equal(reply_ext(d.chan, req.hdr.id, 0, 0, 0,
				   FUSD_REPLY_SIZE_V1_0 - 8, 0, NULL, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(client_join(&c), -1);
	assert_int_equal(c.err, EIO);

	/* Two replies in one write, the first with a long header: the
	 * kernel walks by hdr.size.
	 */
	client_start(&c, 'r', d.cfd, 8);
	raw_read_request(d.chan, &req, NULL, 0);
	client_start(&c2, 'r', d.cfd, 8);
	raw_read_request(d.chan, &req2, NULL, 0);
	memset(out, 0, sizeof(out));
	memset(&rep, 0, sizeof(rep));
	rep.hdr.opcode = FUSD_OP_REPLY;
	rep.hdr.hdr_size = RSIZE + 16;
	rep.hdr.size = RSIZE + 16 + 4;
	rep.hdr.id = req.hdr.id;
	rep.result = 4;
	memcpy(out, &rep, RSIZE);
	memcpy(out + RSIZE + 16, "one!", 4);
	rep.hdr.hdr_size = RSIZE;
	rep.hdr.size = RSIZE + 4;
	rep.hdr.id = req2.hdr.id;
	memcpy(out + RSIZE + 20, &rep, RSIZE);
	memcpy(out + 2 * RSIZE + 20, "two!", 4);
	assert_int_equal(write(d.chan, out, 2 * RSIZE + 24), 2 * RSIZE + 24);
	assert_int_equal(client_join(&c), 4);
	assert_int_equal(client_join(&c2), 4);
	assert_memory_equal(c.buf, "one!", 4);
	assert_memory_equal(c2.buf, "two!", 4);

	/* Poll notifications: FUSD_REGISTER_POLL files start with 0. */
	assert_int_equal(poll_now(d.cfd), 0);
	assert_int_equal(notify_ext(d.chan, d.fh, POLLIN | POLLRDNORM,
				    sizeof(struct fusd_notify_poll) + 16, 0),
			 sizeof(struct fusd_notify_poll) + 16);
	assert_int_equal(poll_now(d.cfd), POLLIN | POLLRDNORM);
	assert_int_equal(notify_ext(d.chan, d.fh, POLLOUT,
				    sizeof(struct fusd_notify_poll) + 16, 0x80),
			 -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(notify_ext(d.chan, d.fh, POLLOUT,
				    FUSD_NOTIFY_POLL_SIZE_V1_0 - 8, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(poll_now(d.cfd), POLLIN | POLLRDNORM);
	assert_chan_empty(d.chan);
	dev_down(&d);
}

/* 5: a reply sets the poll mask before its caller wakes. */
static void test_reply_poll(void **state)
{
	static struct client c;
	struct fusd_request req;
	struct dev d;

	(void)state;
	dev_up(&d, "abi-poll", FUSD_REGISTER_POLL, FUSD_FEATURE_REPLY_POLL,
	       FUSD_PROTO_MINOR);
	assert_true(d.reg.features == FUSD_FEATURE_REPLY_POLL);
	assert_int_equal(poll_now(d.cfd), 0);

	client_start(&c, 'p', d.cfd, 8);
	raw_read_request(d.chan, &req, NULL, 0);
	assert_int_equal(reply_ext(d.chan, req.hdr.id, 4, FUSD_REPLY_POLL,
				   POLLIN | POLLRDNORM, RSIZE, 0, "more", 4),
			 RSIZE + 4);
	assert_int_equal(client_join(&c), 4);
	assert_memory_equal(c.buf, "more", 4);
	assert_int_equal(c.poll_ret, 1);
	assert_int_equal(c.revents, POLLIN | POLLRDNORM);

	client_start(&c, 'p', d.cfd, 8);
	raw_read_request(d.chan, &req, NULL, 0);
	assert_int_equal(reply_ext(d.chan, req.hdr.id, 4, FUSD_REPLY_POLL, 0,
				   RSIZE, 0, "last", 4), RSIZE + 4);
	assert_int_equal(client_join(&c), 4);
	assert_int_equal(c.poll_ret, 0);
	assert_int_equal(c.revents, 0);

	/* An error result may set the mask too (EAGAIN, now writable). */
	client_start(&c, 'p', d.cfd, 8);
	raw_read_request(d.chan, &req, NULL, 0);
	assert_int_equal(reply_ext(d.chan, req.hdr.id, -EAGAIN,
				   FUSD_REPLY_POLL, POLLOUT | POLLWRNORM,
				   RSIZE, 0, NULL, 0), RSIZE);
	assert_int_equal(client_join(&c), -1);
	assert_int_equal(c.err, EAGAIN);
	assert_int_equal(c.revents, POLLOUT | POLLWRNORM);

	/* A mask with bits outside the EPOLL set: EINVAL, EIO, mask kept. */
	client_start(&c, 'r', d.cfd, 8);
	raw_read_request(d.chan, &req, NULL, 0);
	assert_int_equal(reply_ext(d.chan, req.hdr.id, 0, FUSD_REPLY_POLL,
				   POLLIN | (1U << 30), RSIZE, 0, NULL, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(client_join(&c), -1);
	assert_int_equal(c.err, EIO);
	assert_int_equal(poll_now(d.cfd), POLLOUT | POLLWRNORM);

	/* poll_mask without the flag: EINVAL, EIO. */
	client_start(&c, 'r', d.cfd, 8);
	raw_read_request(d.chan, &req, NULL, 0);
	assert_int_equal(reply_ext(d.chan, req.hdr.id, 0, 0, POLLIN, RSIZE, 0,
				   NULL, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(client_join(&c), -1);
	assert_int_equal(c.err, EIO);
	assert_int_equal(poll_now(d.cfd), POLLOUT | POLLWRNORM);
	dev_down(&d);

	/* Not granted (not asked for): FUSD_REPLY_POLL is EINVAL, EIO. */
	dev_up(&d, "abi-poll", FUSD_REGISTER_POLL, 0, FUSD_PROTO_MINOR);
	assert_true(d.reg.features == 0);
	client_start(&c, 'r', d.cfd, 8);
	raw_read_request(d.chan, &req, NULL, 0);
	assert_int_equal(reply_ext(d.chan, req.hdr.id, 0, FUSD_REPLY_POLL,
				   POLLIN, RSIZE, 0, NULL, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(client_join(&c), -1);
	assert_int_equal(c.err, EIO);
	assert_int_equal(poll_now(d.cfd), 0);
	client_start(&c, 'r', d.cfd, 8);
	raw_read_request(d.chan, &req, NULL, 0);
	assert_int_equal(reply_ext(d.chan, req.hdr.id, 0, 0, POLLIN, RSIZE, 0,
				   NULL, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(client_join(&c), -1);
	assert_int_equal(c.err, EIO);
	dev_down(&d);
}

/* Read the INTERRUPT that must follow request 'req'. */
static void read_interrupt(int chan, const struct fusd_request *req,
			   struct fusd_request *intr)
{
	raw_read_request(chan, intr, NULL, 0);
	assert_int_equal(intr->hdr.opcode, FUSD_OP_INTERRUPT);
	assert_true(intr->u.interrupt.id == req->hdr.id);
	assert_true(intr->fh == req->fh);
	assert_true(intr->hdr.id > req->hdr.id);
}

/* 6: 1.1: a signalled caller waits for the answer; -EAGAIN re-sends. */
static void test_interrupt_again_then_answer(void **state)
{
	struct fusd_request req, intr, intr2, again;
	static struct client c;
	struct dev d;

	(void)state;
	set_sigusr1(0);		/* no SA_RESTART */
	dev_up(&d, "abi-intr", 0, 0, FUSD_PROTO_MINOR);

	client_start(&c, 'r', d.cfd, 8);
	raw_read_request(d.chan, &req, NULL, 0);
	assert_int_equal(req.hdr.opcode, FUSD_OP_READ);
	pthread_kill(c.thread, SIGUSR1);
	read_interrupt(d.chan, &req, &intr);
	/* "Not seen yet": the INTERRUPT comes again, the same message. */
	assert_int_equal(raw_reply(d.chan, intr.hdr.id, -EAGAIN, NULL, 0),
			 RSIZE);
	raw_read_request(d.chan, &intr2, NULL, 0);
	assert_int_equal(intr2.hdr.opcode, FUSD_OP_INTERRUPT);
	assert_true(intr2.hdr.id == intr.hdr.id);
	assert_true(intr2.u.interrupt.id == req.hdr.id);
	/* The real answer reaches the caller despite its signal. */
	assert_int_equal(raw_reply(d.chan, req.hdr.id, 4, "data", 4),
			 RSIZE + 4);
	assert_int_equal(client_join(&c), 4);
	assert_memory_equal(c.buf, "data", 4);
	/* The call is over: -EAGAIN to its INTERRUPT is consumed silently
	 * and queues nothing.
	 */
	assert_int_equal(raw_reply(d.chan, intr.hdr.id, -EAGAIN, NULL, 0),
			 RSIZE);
	assert_chan_empty(d.chan);

	/* -EINTR to the call itself: EINTR without SA_RESTART. */
	client_start(&c, 'r', d.cfd, 8);
	raw_read_request(d.chan, &req, NULL, 0);
	pthread_kill(c.thread, SIGUSR1);
	read_interrupt(d.chan, &req, &intr);
	assert_int_equal(raw_reply(d.chan, req.hdr.id, -EINTR, NULL, 0),
			 RSIZE);
	assert_int_equal(client_join(&c), -1);
	assert_int_equal(c.err, EINTR);
	assert_int_equal(raw_reply(d.chan, intr.hdr.id, 0, NULL, 0), RSIZE);
	assert_chan_empty(d.chan);

	/* Under SA_RESTART, -EINTR restarts the call as a new request. */
	set_sigusr1(SA_RESTART);
	client_start(&c, 'r', d.cfd, 8);
	raw_read_request(d.chan, &req, NULL, 0);
	pthread_kill(c.thread, SIGUSR1);
	read_interrupt(d.chan, &req, &intr);
	assert_int_equal(raw_reply(d.chan, req.hdr.id, -EINTR, NULL, 0),
			 RSIZE);
	raw_read_request(d.chan, &again, NULL, 0);
	assert_int_equal(again.hdr.opcode, FUSD_OP_READ);
	assert_true(again.hdr.id > intr.hdr.id);
	assert_int_equal(raw_reply(d.chan, again.hdr.id, 3, "new", 3),
			 RSIZE + 3);
	assert_int_equal(client_join(&c), 3);
	assert_memory_equal(c.buf, "new", 3);
	assert_chan_empty(d.chan);
	set_sigusr1(0);
	dev_down(&d);
}

/* 7: a 1.0 daemon keeps 1.0's rule: a signal ends a read call at once. */
static void test_v1_0_daemon_signal_ends_call(void **state)
{
	struct fusd_request req, intr;
	static struct client c;
	struct dev d;

	(void)state;
	set_sigusr1(0);
	dev_up(&d, "abi-v10", 0, 0, 0);
	assert_int_equal(d.reg.minor, 0);

	client_start(&c, 'r', d.cfd, 8);
	raw_read_request(d.chan, &req, NULL, 0);
	pthread_kill(c.thread, SIGUSR1);
	assert_int_equal(client_join(&c), -1);
	assert_int_equal(c.err, EINTR);
	read_interrupt(d.chan, &req, &intr);
	/* Late answers, to the call or to the INTERRUPT: consumed. */
	assert_int_equal(raw_reply(d.chan, req.hdr.id, 4, "late", 4),
			 RSIZE + 4);
	assert_int_equal(raw_reply(d.chan, intr.hdr.id, -EAGAIN, NULL, 0),
			 RSIZE);
	assert_chan_empty(d.chan);

	/* The file still works. */
	client_start(&c, 'r', d.cfd, 8);
	raw_read_request(d.chan, &req, NULL, 0);
	assert_int_equal(raw_reply(d.chan, req.hdr.id, 2, "ok", 2), RSIZE + 2);
	assert_int_equal(client_join(&c), 2);
	assert_memory_equal(c.buf, "ok", 2);
	dev_down(&d);
}

/* 8: an _IOC_READ ioctl reply shorter than _IOC_SIZE copies only itself. */
static void test_short_ioctl_read_reply(void **state)
{
	unsigned char keys[KEYBUF];
	struct fusd_request req;
	static struct client c;
	struct dev d;
	size_t i;

	(void)state;
	dev_up(&d, "abi-ioc", 0, 0, FUSD_PROTO_MINOR);
	for (i = 0; i < KEYBUF; i++)
		keys[i] = (unsigned char)(i * 7 + 1);
	memset(c.region, 0xa5, GUARD_LO);
	memset(c.region + GUARD_LO, 0, KEYBUF);
	memset(c.region + GUARD_LO + KEYBUF, 0x5a, GUARD_HI);

	client_start(&c, 'i', d.cfd, 0);
	assert_int_equal(raw_read_request(d.chan, &req, NULL, 0), 0);
	assert_int_equal(req.hdr.opcode, FUSD_OP_IOCTL);
	assert_int_equal(req.u.ioctl.cmd, EVIOCGKEY_767);
	assert_int_equal(req.u.ioctl.size, 767);
	assert_true(req.u.ioctl.arg ==
		    (uint64_t)(uintptr_t)(c.region + GUARD_LO));
	assert_int_equal(raw_reply(d.chan, req.hdr.id, KEYBUF, keys, KEYBUF),
			 RSIZE + KEYBUF);
	assert_int_equal(client_join(&c), KEYBUF);
	assert_memory_equal(c.region + GUARD_LO, keys, KEYBUF);
	for (i = 0; i < GUARD_LO; i++)
		assert_int_equal(c.region[i], 0xa5);
	for (i = 0; i < GUARD_HI; i++)
		assert_int_equal(c.region[GUARD_LO + KEYBUF + i], 0x5a);

	/* More than _IOC_SIZE: EINVAL, EIO, nothing copied. */
	{
		unsigned char *big = malloc(768);

		assert_non_null(big);
		memset(big, 0xee, 768);
		client_start(&c, 'i', d.cfd, 0);
		raw_read_request(d.chan, &req, NULL, 0);
		assert_int_equal(raw_reply(d.chan, req.hdr.id, 768, big, 768),
				 -1);
		assert_int_equal(errno, EINVAL);
		assert_int_equal(client_join(&c), -1);
		assert_int_equal(c.err, EIO);
		free(big);
	}
	assert_memory_equal(c.region + GUARD_LO, keys, KEYBUF);
	for (i = 0; i < GUARD_HI; i++)
		assert_int_equal(c.region[GUARD_LO + KEYBUF + i], 0x5a);
	dev_down(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_struct_growth),
		cmocka_unit_test(test_feature_negotiation),
		cmocka_unit_test(test_version_sizes),
		cmocka_unit_test(test_long_message_headers),
		cmocka_unit_test(test_reply_poll),
		cmocka_unit_test(test_interrupt_again_then_answer),
		cmocka_unit_test(test_v1_0_daemon_signal_ends_call),
		cmocka_unit_test(test_short_ioctl_read_reply),
	};

	return itest_run(tests, NULL, NULL);
}
