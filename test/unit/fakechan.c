// SPDX-License-Identifier: BSD-3-Clause
/* A fake kernel end of a channel for unit tests. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "fakechan.h"

void fakechan_open(struct fakechan *f, const struct fusd_file_operations *fops,
		   uint64_t features)
{
	int sv[2];

	memset(f, 0, sizeof(*f));
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	f->chan = sv[0];
	f->kern = sv[1];
	f->dev = fusd_dev_attach(f->chan, NULL, fops, sizeof(*fops), features);
	assert_non_null(f->dev);
}

void fakechan_close(struct fakechan *f)
{
	fusd_unregister(f->chan);	/* closes the library's end */
	close(f->kern);
}

uint64_t fakechan_send(struct fakechan *f, uint16_t op, uint64_t fh,
		       uint64_t u0)
{
	struct fusd_request req;

	memset(&req, 0, sizeof(req));
	req.hdr.size = sizeof(req);
	req.hdr.hdr_size = sizeof(req);
	req.hdr.opcode = op;
	req.hdr.id = ++f->next_id;
	req.fh = fh;
	if (op == FUSD_OP_INTERRUPT)
		req.u.interrupt.id = u0;
	else
		req.u.rw.size = u0;
	assert_int_equal(write(f->kern, &req, sizeof(req)), sizeof(req));
	fusd_dispatch(f->chan);
	return req.hdr.id;
}

int fakechan_next(struct fakechan *f, struct fusd_reply *rep,
		  struct fusd_notify_poll *np, size_t *payload)
{
	char buf[sizeof(*rep) + 4096];
	struct fusd_msg_header hdr;
	ssize_t n = recv(f->kern, buf, sizeof(buf), MSG_DONTWAIT);

	if (n < 0) {
		assert_int_equal(errno, EAGAIN);
		return -1;
	}
	assert_true(n >= (ssize_t)sizeof(hdr));
	memcpy(&hdr, buf, sizeof(hdr));
	assert_int_equal(hdr.size, n);
	if (hdr.opcode == FUSD_OP_NOTIFY_POLL) {
		assert_int_equal(n, sizeof(*np));
		memcpy(np, buf, sizeof(*np));
	} else {
		assert_int_equal(hdr.opcode, FUSD_OP_REPLY);
		assert_true(n >= (ssize_t)sizeof(*rep));
		memcpy(rep, buf, sizeof(*rep));
		if (payload)
			*payload = (size_t)n - sizeof(*rep);
	}
	return hdr.opcode;
}
