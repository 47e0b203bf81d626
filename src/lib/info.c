// SPDX-License-Identifier: BSD-3-Clause
/* Accessors for the request behind a fusd_file_info, and flag rendering. */
#include <stdio.h>

#include "libfusd_i.h"

static struct fusd_call_ctx *fusd_ctx(struct fusd_file_info *file)
{
	return (struct fusd_call_ctx *)file;
}

FUSD_API int fusd_get_call_type(struct fusd_file_info *file)
{
	return fusd_ctx(file)->req.hdr.opcode;
}

FUSD_API char *fusd_get_read_buffer(struct fusd_file_info *file)
{
	return fusd_ctx(file)->data;
}

FUSD_API const char *fusd_get_write_buffer(struct fusd_file_info *file)
{
	struct fusd_call_ctx *ctx = fusd_ctx(file);

	return ctx->wdata ? ctx->wdata : ctx->data;
}

FUSD_API size_t fusd_get_length(struct fusd_file_info *file)
{
	return fusd_ctx(file)->cap;
}

FUSD_API loff_t *fusd_get_offset(struct fusd_file_info *file)
{
	return &fusd_ctx(file)->offset;
}

FUSD_API int fusd_get_ioctl_request(struct fusd_file_info *file)
{
	return (int)fusd_ctx(file)->req.u.ioctl.cmd;
}

FUSD_API unsigned long fusd_get_ioctl_arg(struct fusd_file_info *file)
{
	return (unsigned long)fusd_ctx(file)->req.u.ioctl.arg;
}

FUSD_API void *fusd_get_ioctl_buffer(struct fusd_file_info *file)
{
	return fusd_ctx(file)->data;
}

FUSD_API int fusd_get_poll_diff_cached_state(struct fusd_file_info *file)
{
	return (int)fusd_ctx(file)->poll_cached;
}

/* Classic rendering: "RWE" with '-' for a missing bit; ring of 5 buffers
 * so that a few calls can share one printf().
 */
FUSD_API char *fusd_unparse_flags(int flags)
{
	static __thread char ring[5][4];
	static __thread unsigned int next;
	char *s = ring[next++ % 5];

	s[0] = (flags & FUSD_NOTIFY_INPUT) ? 'R' : '-';
	s[1] = (flags & FUSD_NOTIFY_OUTPUT) ? 'W' : '-';
	s[2] = (flags & FUSD_NOTIFY_EXCEPT) ? 'E' : '-';
	s[3] = '\0';
	return s;
}
