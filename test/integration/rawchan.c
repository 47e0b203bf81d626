// SPDX-License-Identifier: BSD-3-Clause
/* Speaking the wire protocol by hand, without libfusd. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "itest.h"
#include "rawchan.h"

void raw_register_init(struct fusd_register *reg, const char *name,
		       unsigned int mode)
{
	memset(reg, 0, sizeof(*reg));
	reg->size = sizeof(*reg);
	reg->major = FUSD_PROTO_MAJOR;
	reg->minor = FUSD_PROTO_MINOR;
	reg->mode = mode;
	snprintf(reg->name, sizeof(reg->name), "%s", name);
}

int raw_register(const char *name, unsigned int mode)
{
	return raw_register_flags(name, mode, 0);
}

int raw_register_flags(const char *name, unsigned int mode, uint32_t flags)
{
	struct fusd_register reg;
	int fd = open("/dev/fusd/control", O_RDWR);

	assert_true(fd >= 0);
	raw_register_init(&reg, name, mode);
	reg.flags = flags;
	assert_int_equal(ioctl(fd, FUSD_IOC_REGISTER, &reg), 0);
	assert_int_equal(reg.minor, FUSD_PROTO_MINOR);
	assert_int_equal(reg.io_max, FUSD_IO_MAX);
	return fd;
}

/* One read() may return several requests: keep the rest per channel. */
static struct {
	int fd;
	char buf[4096];
	size_t len, off;
} left[8];

size_t raw_read_request(int chan, struct fusd_request *req, void *payload,
			size_t cap)
{
	char *buf = malloc(FUSD_MSG_MAX);
	size_t plen, i, n;

	assert_non_null(buf);
	for (i = 0; i < 8 && !(left[i].len && left[i].fd == chan); i++)
		;
	if (i < 8) {
		n = left[i].len - left[i].off;
		memcpy(buf, left[i].buf + left[i].off, n);
		left[i].len = 0;
	} else {
		ssize_t r = read(chan, buf, FUSD_MSG_MAX);

		assert_true(r >= (ssize_t)sizeof(*req));
		n = (size_t)r;
	}
	memcpy(req, buf, sizeof(*req));
	assert_int_equal(req->hdr.hdr_size, sizeof(*req));
	assert_true(req->hdr.size <= n);
	if (req->hdr.size < n) {
		for (i = 0; i < 8 && left[i].len; i++)
			;
		assert_true(i < 8);
		assert_true(n - req->hdr.size <= sizeof(left[i].buf));
		left[i].fd = chan;
		left[i].off = 0;
		left[i].len = n - req->hdr.size;
		memcpy(left[i].buf, buf + req->hdr.size, left[i].len);
	}
	plen = req->hdr.size - sizeof(*req);
	assert_true(plen <= cap);
	if (plen)
		memcpy(payload, buf + sizeof(*req), plen);
	free(buf);
	return plen;
}

ssize_t raw_reply(int chan, uint64_t id, int64_t result, const void *data,
		  size_t len)
{
	struct fusd_reply rep;

	memset(&rep, 0, sizeof(rep));
	rep.hdr.id = id;
	rep.result = result;
	return raw_reply_rep(chan, &rep, data, len);
}

ssize_t raw_reply_rep(int chan, const struct fusd_reply *r, const void *data,
		      size_t len)
{
	char *buf = malloc(sizeof(struct fusd_reply) + len);
	struct fusd_reply rep = *r;
	ssize_t n;

	assert_non_null(buf);
	rep.hdr.size = sizeof(rep) + len;
	rep.hdr.hdr_size = sizeof(rep);
	rep.hdr.opcode = FUSD_OP_REPLY;
	memcpy(buf, &rep, sizeof(rep));
	if (len)
		memcpy(buf + sizeof(rep), data, len);
	n = write(chan, buf, sizeof(rep) + len);
	free(buf);
	return n;
}

uint64_t raw_accept_open(int chan)
{
	struct fusd_request req;

	raw_read_request(chan, &req, NULL, 0);
	assert_int_equal(req.hdr.opcode, FUSD_OP_OPEN);
	assert_int_equal(raw_reply(chan, req.hdr.id, 0, NULL, 0),
			 sizeof(struct fusd_reply));
	return req.fh;
}

struct raw_acceptor {
	int chan;
	uint64_t fh;
};

static void *raw_acceptor_main(void *arg)
{
	struct raw_acceptor *a = arg;

	a->fh = raw_accept_open(a->chan);
	return NULL;
}

int raw_open(int chan, const char *path, uint64_t *fh)
{
	struct raw_acceptor a = { .chan = chan };
	pthread_t t;
	int fd;

	assert_int_equal(pthread_create(&t, NULL, raw_acceptor_main, &a), 0);
	fd = open(path, O_RDWR);
	pthread_join(t, NULL);
	assert_true(fd >= 0);
	if (fh)
		*fh = a.fh;
	return fd;
}

int raw_register_features(const char *name, uint16_t minor,
			  uint64_t features)
{
	struct fusd_register reg;
	int fd = open("/dev/fusd/control", O_RDWR);

	assert_true(fd >= 0);
	raw_register_init(&reg, name, 0666);
	reg.minor = minor;
	reg.features = features;
	assert_int_equal(ioctl(fd, FUSD_IOC_REGISTER, &reg), 0);
	assert_int_equal(reg.minor, minor);
	/* Recovery needs a grace period, which is not asked here. */
	assert_true(reg.features ==
		    (minor ? features & ~FUSD_FEATURE_RECOVERY : 0));
	assert_true(reg.supported == FUSD_FEATURES_ALL);
	assert_int_equal(reg.io_max, FUSD_IO_MAX);
	return fd;
}
