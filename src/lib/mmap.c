// SPDX-License-Identifier: BSD-3-Clause
/*
 * mmap: a client's mmap() is answered with shared memory of the driver's,
 * either an address inside its own MAP_SHARED shmem mapping (the classic
 * callback's *addr) or a memfd and an offset (fusd_mmap_set_fd).  The
 * kernel checks that memory and maps the very same pages into the client.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "libfusd_i.h"

/* Classic FUSD passed the VMA's flags: VM_READ, VM_WRITE, VM_EXEC have
 * the values of PROT_READ, PROT_WRITE, PROT_EXEC, and VM_SHARED is 8.
 */
#define FUSD_CLASSIC_VM_SHARED 0x8

static struct fusd_mmap_reply *fusd_mmap_answer(struct fusd_call_ctx *ctx)
{
	return (struct fusd_mmap_reply *)ctx->data;
}

static struct fusd_call_ctx *fusd_mmap_ctx(struct fusd_file_info *file)
{
	struct fusd_call_ctx *ctx = (struct fusd_call_ctx *)file;

	if (!ctx || ctx->req.hdr.opcode != FUSD_OP_MMAP) {
		errno = EINVAL;
		return NULL;
	}
	return ctx;
}

FUSD_API int fusd_mmap_set_addr(struct fusd_file_info *file, void *addr,
				size_t length)
{
	struct fusd_call_ctx *ctx = fusd_mmap_ctx(file);
	struct fusd_mmap_reply *r;

	if (!ctx)
		return -1;
	r = fusd_mmap_answer(ctx);
	memset(r, 0, sizeof(*r));
	r->addr = (uintptr_t)addr;
	r->length = length;
	ctx->mmap_named = 1;
	return 0;
}

FUSD_API int fusd_mmap_set_fd(struct fusd_file_info *file, int fd,
			      off_t offset)
{
	struct fusd_call_ctx *ctx = fusd_mmap_ctx(file);
	struct fusd_mmap_reply *r;

	if (!ctx)
		return -1;
	if (fd < 0 || offset < 0) {
		errno = EINVAL;
		return -1;
	}
	r = fusd_mmap_answer(ctx);
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->offset = (uint64_t)offset;
	r->flags = FUSD_MMAP_FD;
	ctx->mmap_named = 1;
	return 0;
}

/* Run the driver's mmap callback for a FUSD_OP_MMAP request. */
long long fusd_mmap_call(struct fusd_call_ctx *ctx)
{
	const struct fusd_request *req = &ctx->req;
	int flags = (int)(req->u.mmap.prot &
			  (PROT_READ | PROT_WRITE | PROT_EXEC));
	void *addr = NULL;
	size_t out_length = 0;
	int ret;

	if (!ctx->dev->fops.mmap)
		return -ENODEV;
	if (req->u.mmap.flags & FUSD_MMAP_SHARED)
		flags |= FUSD_CLASSIC_VM_SHARED;
	/* The full offset for fusd_get_offset() ('offset' is an int). */
	ctx->offset = (loff_t)req->u.mmap.offset;
	memset(fusd_mmap_answer(ctx), 0, sizeof(struct fusd_mmap_reply));
	ret = ctx->dev->fops.mmap(&ctx->info, (int)req->u.mmap.offset,
				  (size_t)req->u.mmap.length, flags, &addr,
				  &out_length);
	/* fusd_mmap_set_fd() or _set_addr() in the callback take precedence
	 * over *addr (a deferred call names its memory that way).
	 */
	if (ret == 0 && !ctx->mmap_named)
		fusd_mmap_set_addr(&ctx->info, addr, out_length);
	return ret;
}

/* Bytes of the reply's payload for a result of the mmap callback. */
size_t fusd_mmap_reply_len(struct fusd_call_ctx *ctx, ssize_t *retval)
{
	if (*retval != 0)
		return 0;
	if (!ctx->mmap_named) {
		fprintf(stderr, "fusd: mmap answered 0 without naming memory "
			"(fusd_mmap_set_addr or fusd_mmap_set_fd)\n");
		*retval = -EINVAL;
		return 0;
	}
	return sizeof(struct fusd_mmap_reply);
}
