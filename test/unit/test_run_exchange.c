// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: fusd_run serves a lone device by exchanges: an OPEN, then
 * N one-byte READs answered directly by a classic read callback, each
 * reply exactly once, in order, with the callback's byte; the kernel's
 * FUSD_IOC_EXCHANGE is played by a wrapped ioctl().  "test_run_exchange N"
 * serves N READs (default 1000): run under valgrind --tool=callgrind with
 * two values of N, the difference gives libfusd's instructions per request.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "libfusd_i.h"

#define FH 7

int __real_ioctl(int fd, unsigned long cmd, ...);
int __wrap_ioctl(int fd, unsigned long cmd, ...);

static int chan, kern;
static unsigned long wanted = 1000, served;
static uint64_t next_id, awaited;	/* id whose reply comes next */
static int opened, reads, failed;

static void fail(const char *what)
{
	fprintf(stderr, "test_run_exchange: %s (request %llu)\n", what,
		(unsigned long long)awaited);
	failed = 1;
}

/* A reply the library sent: the one awaited, with what the callback gave. */
static void check_reply(const char *buf, size_t len)
{
	struct fusd_reply rep;
	int is_read = awaited > 1;
	size_t want = sizeof(rep) + (is_read ? 1 : 0);

	if (len != want) {
		fail("reply of the wrong size");
		return;
	}
	memcpy(&rep, buf, sizeof(rep));
	if (rep.hdr.opcode != FUSD_OP_REPLY || rep.hdr.size != want ||
	    rep.hdr.id != awaited || rep.result != (is_read ? 1 : 0) ||
	    (is_read && buf[sizeof(rep)] != 'x'))
		fail("wrong reply");
	awaited = 0;
	served += is_read;
}

/* The next request: the OPEN first, then READs of one byte. */
static size_t next_request(char *buf)
{
	struct fusd_request req;

	memset(&req, 0, sizeof(req));
	req.hdr.size = sizeof(req);
	req.hdr.hdr_size = sizeof(req);
	req.hdr.id = ++next_id;
	req.hdr.opcode = next_id == 1 ? FUSD_OP_OPEN : FUSD_OP_READ;
	req.fh = FH;
	req.u.rw.size = 1;
	memcpy(buf, &req, sizeof(req));
	awaited = req.hdr.id;
	return sizeof(req);
}

/* The kernel's end of FUSD_IOC_EXCHANGE, for the channel only. */
int __wrap_ioctl(int fd, unsigned long cmd, ...)
{
	struct fusd_exchange *ex;
	char rbuf[256];
	ssize_t n;
	va_list ap;

	va_start(ap, cmd);
	ex = va_arg(ap, struct fusd_exchange *);
	va_end(ap);
	if (fd != chan || cmd != FUSD_IOC_EXCHANGE)
		return __real_ioctl(fd, cmd, ex);
	/* The OPEN's reply is never held: it came by write(). */
	if (awaited == 1) {
		n = recv(kern, rbuf, sizeof(rbuf), MSG_DONTWAIT);
		if (n > 0)
			check_reply(rbuf, (size_t)n);
	}
	if (ex->out_len) {
		check_reply((const char *)(uintptr_t)ex->out_buf,
			    (size_t)ex->out_len);
		ex->out_done = ex->out_len;
	}
	if (awaited) {
		fail("no reply");
		awaited = 0;
	}
	if (served == wanted || failed) {
		fusd_unregister(chan);	/* fusd_run returns */
		return 0;
	}
	if (ex->in_len < sizeof(struct fusd_request)) {
		errno = EINVAL;
		return -1;
	}
	return (int)next_request((char *)(uintptr_t)ex->in_buf);
}

static int cb_open(struct fusd_file_info *file)
{
	opened++;
	file->private_data = &opened;
	return 0;
}

static ssize_t cb_read(struct fusd_file_info *file, char *buf, size_t len,
		       loff_t *offset)
{
	(void)offset;
	if (file->private_data != &opened || len != 1)
		fail("callback sees the wrong call");
	reads++;
	buf[0] = 'x';
	return 1;
}

static struct fusd_file_operations fops = {
	.open = cb_open,
	.read = cb_read,
};

int main(int argc, char **argv)
{
	int sv[2];

	if (argc > 1)
		wanted = strtoul(argv[1], NULL, 0);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv)) {
		perror("socketpair");
		return 1;
	}
	chan = sv[0];
	kern = sv[1];
	if (!fusd_dev_attach(chan, NULL, &fops, sizeof(fops),
			     FUSD_FEATURE_EXCHANGE | FUSD_FEATURE_REPLY_POLL |
			     FUSD_FEATURE_IO_MAX)) {
		perror("fusd_dev_attach");
		return 1;
	}
	fusd_run();
	close(kern);
	if (opened != 1 || (unsigned long)reads != wanted || served != wanted)
		fail("calls lost or repeated");
	if (failed)
		return 1;
	printf("%lu READs served by exchanges\n", served);
	return 0;
}
