// SPDX-License-Identifier: BSD-3-Clause
/* Description: request batches are walked safely and replies are encoded right */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "libfusd_i.h"

/* Append one request with 'plen' payload bytes of 'fill' to buf. */
static size_t put_req(char *buf, size_t off, uint16_t op, uint64_t id,
		      size_t plen, char fill)
{
	struct fusd_request req;

	memset(&req, 0, sizeof(req));
	req.hdr.size = sizeof(req) + plen;
	req.hdr.hdr_size = sizeof(req);
	req.hdr.opcode = op;
	req.hdr.id = id;
	req.u.rw.size = plen;
	memcpy(buf + off, &req, sizeof(req));
	memset(buf + off + sizeof(req), fill, plen);
	return off + sizeof(req) + plen;
}

static void test_batch_walk(void **state)
{
	char buf[1024];
	struct fusd_request req;
	const char *payload;
	size_t off = 0, plen, len;

	(void)state;
	/* Odd payload lengths leave the next header unaligned. */
	len = put_req(buf, 0, FUSD_OP_WRITE, 7, 3, 'a');
	len = put_req(buf, len, FUSD_OP_READ, 8, 0, 0);
	len = put_req(buf, len, FUSD_OP_WRITE, 9, 5, 'z');

	assert_int_equal(fusd_proto_next(buf, len, &off, &req, &payload, &plen), 1);
	assert_int_equal(req.hdr.id, 7);
	assert_int_equal(plen, 3);
	assert_memory_equal(payload, "aaa", 3);
	assert_int_equal(fusd_proto_next(buf, len, &off, &req, &payload, &plen), 1);
	assert_int_equal(req.hdr.id, 8);
	assert_int_equal(req.hdr.opcode, FUSD_OP_READ);
	assert_int_equal(plen, 0);
	assert_int_equal(fusd_proto_next(buf, len, &off, &req, &payload, &plen), 1);
	assert_int_equal(req.hdr.id, 9);
	assert_memory_equal(payload, "zzzzz", 5);
	assert_int_equal(off, len);
	assert_int_equal(fusd_proto_next(buf, len, &off, &req, &payload, &plen), 0);
}

static void test_batch_malformed(void **state)
{
	char buf[512];
	struct fusd_request req, *r = (struct fusd_request *)buf;
	const char *payload;
	size_t off, plen, len;

	(void)state;
	len = put_req(buf, 0, FUSD_OP_WRITE, 1, 10, 'x');

	off = 0;	/* truncated: claims more than was read */
	assert_int_equal(fusd_proto_next(buf, len - 1, &off, &req, &payload, &plen), -1);
	off = 0;	/* shorter than a header */
	assert_int_equal(fusd_proto_next(buf, 8, &off, &req, &payload, &plen), -1);
	off = 0;
	r->hdr.hdr_size = 8;	/* header smaller than protocol 1.0's */
	assert_int_equal(fusd_proto_next(buf, len, &off, &req, &payload, &plen), -1);
	r->hdr.hdr_size = sizeof(req);
	r->hdr.size = 4;	/* size smaller than its own header */
	off = 0;
	assert_int_equal(fusd_proto_next(buf, len, &off, &req, &payload, &plen), -1);
	assert_int_equal(off, 0);
}

static void test_longer_header_from_newer_kernel(void **state)
{
	char buf[512];
	struct fusd_request req, *r = (struct fusd_request *)buf;
	const char *payload;
	size_t off = 0, plen;

	(void)state;
	memset(buf, 0, sizeof(buf));
	r->hdr.size = sizeof(req) + 16 + 4;
	r->hdr.hdr_size = sizeof(req) + 16;
	r->hdr.opcode = FUSD_OP_WRITE;
	r->hdr.id = 3;
	memcpy(buf + sizeof(req) + 16, "data", 4);
	assert_int_equal(fusd_proto_next(buf, r->hdr.size, &off, &req, &payload, &plen), 1);
	assert_int_equal(plen, 4);
	assert_memory_equal(payload, "data", 4);
}

static void test_reply_encoding(void **state)
{
	struct fusd_request req;
	struct fusd_reply rep;

	(void)state;
	memset(&req, 0, sizeof(req));
	req.hdr.id = 0x1122334455667788ULL;
	req.hdr.opcode = FUSD_OP_READ;
	assert_int_equal(fusd_proto_reply(&rep, &req, 5, 42, 5), sizeof(rep) + 5);
	assert_int_equal(rep.hdr.opcode, FUSD_OP_REPLY);
	assert_int_equal(rep.hdr.hdr_size, sizeof(rep));
	assert_true(rep.hdr.id == 0x1122334455667788ULL);
	assert_int_equal(rep.result, 5);
	assert_int_equal(rep.flags, FUSD_REPLY_SET_OFFSET);
	assert_int_equal(rep.offset, 42);
	assert_int_equal(rep.poll_mask, 0);
	assert_int_equal(rep.cookie | rep.reserved, 0);

	req.hdr.opcode = FUSD_OP_OPEN;	/* no offset for non-I/O calls */
	assert_int_equal(fusd_proto_reply(&rep, &req, -EACCES, 42, 0), sizeof(rep));
	assert_int_equal(rep.flags, 0);
	assert_int_equal(rep.result, -EACCES);
}

static void test_default_llseek(void **state)
{
	struct fusd_request req;

	(void)state;
	memset(&req, 0, sizeof(req));
	req.u.seek.pos = 100;
	req.u.seek.offset = 10;
	req.u.seek.whence = SEEK_SET;
	assert_int_equal(fusd_proto_default_llseek(&req), 10);
	req.u.seek.whence = SEEK_CUR;
	assert_int_equal(fusd_proto_default_llseek(&req), 110);
	req.u.seek.offset = -200;
	assert_int_equal(fusd_proto_default_llseek(&req), -EINVAL);
	req.u.seek.whence = SEEK_END;
	req.u.seek.offset = 0;
	assert_int_equal(fusd_proto_default_llseek(&req), -EINVAL);
	req.u.seek.whence = SEEK_CUR;
	req.u.seek.pos = 0x7fffffffffffffffLL;
	req.u.seek.offset = 1;
	assert_int_equal(fusd_proto_default_llseek(&req), -EOVERFLOW);
}

static void test_unparse_flags(void **state)
{
	(void)state;
	assert_string_equal(fusd_unparse_flags(0), "---");
	assert_string_equal(fusd_unparse_flags(FUSD_NOTIFY_INPUT), "R--");
	assert_string_equal(fusd_unparse_flags(FUSD_NOTIFY_OUTPUT |
					       FUSD_NOTIFY_EXCEPT), "-WE");
	assert_string_equal(fusd_unparse_flags(7), "RWE");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch_walk),
		cmocka_unit_test(test_batch_malformed),
		cmocka_unit_test(test_longer_header_from_newer_kernel),
		cmocka_unit_test(test_reply_encoding),
		cmocka_unit_test(test_default_llseek),
		cmocka_unit_test(test_unparse_flags),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
