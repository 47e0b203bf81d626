// SPDX-License-Identifier: BSD-3-Clause
/* Wire format helpers: walking a batch of requests, building replies. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "libfusd_i.h"

/*
 * Take the request at *off out of a read() batch.  Returns 1 and advances
 * *off, 0 at the end of the batch, -1 if the bytes are not a well-formed
 * request (the rest of the batch is then unusable).
 */
int fusd_proto_next(const char *buf, size_t len, size_t *off,
		    struct fusd_request *req, const char **payload,
		    size_t *payload_len)
{
	struct fusd_msg_header hdr;
	size_t left = len - *off;

	if (*off >= len)
		return 0;
	if (left < sizeof(hdr))
		return -1;
	memcpy(&hdr, buf + *off, sizeof(hdr));	/* may be unaligned */
	if (hdr.hdr_size < sizeof(*req) || hdr.size < hdr.hdr_size ||
	    hdr.size > left)
		return -1;
	/* A newer kernel's longer header: use the part we know. */
	memcpy(req, buf + *off, sizeof(*req));
	*payload = buf + *off + hdr.hdr_size;
	*payload_len = hdr.size - hdr.hdr_size;
	*off += hdr.size;
	return 1;
}

/* Fill a reply header for 'req'; returns the message size. */
size_t fusd_proto_reply(struct fusd_reply *rep, const struct fusd_request *req,
			long long result, loff_t offset, size_t data_len)
{
	memset(rep, 0, sizeof(*rep));
	rep->hdr.size = sizeof(*rep) + data_len;
	rep->hdr.hdr_size = sizeof(*rep);
	rep->hdr.opcode = FUSD_OP_REPLY;
	rep->hdr.id = req->hdr.id;
	rep->result = result;
	if ((req->hdr.opcode == FUSD_OP_READ ||
	     req->hdr.opcode == FUSD_OP_WRITE) && offset >= 0) {
		rep->flags = FUSD_REPLY_SET_OFFSET;
		rep->offset = offset;
	}
	return rep->hdr.size;
}

/* lseek for a driver without an llseek callback: a device has no size. */
loff_t fusd_proto_default_llseek(const struct fusd_request *req)
{
	long long pos;

	switch (req->u.seek.whence) {
	case SEEK_SET:
		pos = req->u.seek.offset;
		break;
	case SEEK_CUR:
		if (__builtin_add_overflow(req->u.seek.pos, req->u.seek.offset,
					   &pos))
			return -EOVERFLOW;
		break;
	default:
		return -EINVAL;
	}
	return pos < 0 ? -EINVAL : pos;
}
