// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * One copy each way: a READ or WRITE call carries the caller's own pages,
 * pinned while the caller sleeps in its system call.  The daemon's read()
 * copies a WRITE's payload straight from them, and its reply copies a
 * READ's data straight into them: no kernel buffer in between.  Small
 * transfers still go through the call's own buffer, where pinning costs
 * more than the copy it saves.
 */
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/uio.h>

#include "fusd_i.h"

/*
 * Transfers of at least this many bytes use the caller's pages.  Measured
 * (bench/, QEMU): 4 KiB is 5% faster through the call's buffer, 64 KiB
 * 20-40% faster straight.
 */
unsigned int fusd_direct_min = 16384;
module_param_named(direct_min, fusd_direct_min, uint, 0644);
MODULE_PARM_DESC(direct_min, "Smallest read/write copied straight between caller and daemon (bytes, default 16384)");

/* The most a daemon may raise its channel's io_max to (FUSD_IOC_SET_IO_MAX). */
unsigned int fusd_max_io = 1024 * 1024;
module_param_named(max_io, fusd_max_io, uint, 0644);
MODULE_PARM_DESC(max_io, "Largest read/write payload a daemon may ask for (bytes, default 1 MiB)");

/*
 * A channel on minor 0 keeps the 1.0 rule that a signal withdraws a call
 * the daemon is working on: its callers' memory is never lent.
 */
bool fusd_want_direct(struct fusd_channel *chan, struct iov_iter *iter,
		      size_t size)
{
	return chan->proto_minor >= 1 && user_backed_iter(iter) && size &&
	       size >= READ_ONCE(fusd_direct_min);
}

/*
 * Pin up to 'size' bytes of the caller's buffer described by 'iter' into
 * call->bvec.  Returns the bytes pinned (possibly fewer: a bad address
 * after the first page ends the transfer there, as a short read or
 * write), or -EFAULT/-ENOMEM.  'iter' is left where it was.
 */
ssize_t fusd_call_pin(struct fusd_call *call, struct iov_iter *iter,
		      size_t size)
{
	unsigned long segs;
	struct page **pages;
	unsigned int max, n = 0, i;
	size_t done = 0;
	ssize_t got = 0;

	/* Each segment of a readv()/writev() may start and end mid-page
	 * (a ubuf iterator is one segment; 6.1 leaves its nr_segs 0).
	 */
	segs = iter_is_ubuf(iter) ? 1 : iter->nr_segs;
	max = DIV_ROUND_UP(size, PAGE_SIZE) + 2 * min_t(size_t, segs, size);

	call->bvec = kvmalloc_array(max, sizeof(*call->bvec),
				    GFP_KERNEL_ACCOUNT);
	pages = kvmalloc_array(max, sizeof(*pages), GFP_KERNEL_ACCOUNT);
	if (!call->bvec || !pages) {
		kvfree(pages);
		kvfree(call->bvec);
		call->bvec = NULL;
		return -ENOMEM;
	}
	while (done < size && n < max) {
		size_t off, left;

		got = fusd_iter_pin_pages(iter, pages, size - done, max - n,
					  &off);
		if (got <= 0)
			break;
		left = got;
		for (i = 0; left; i++) {
			size_t len = min_t(size_t, left, PAGE_SIZE - off);

			bvec_set_page(&call->bvec[n++], pages[i], len, off);
			left -= len;
			off = 0;
		}
		done += got;
	}
	kvfree(pages);
	call->nr_bvec = n;
	call->direct_len = done;
	iov_iter_revert(iter, done);
	if (done)
		return done;
	kvfree(call->bvec);
	call->bvec = NULL;
	return got < 0 ? got : -EFAULT;
}

/* Release pages pinned by fusd_call_pin(); 'dirty': they were written. */
void fusd_unpin(struct bio_vec *bvec, unsigned int nr, bool dirty)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		fusd_unpin_page(bvec[i].bv_page, dirty);
	kvfree(bvec);
}

void fusd_call_unpin(struct fusd_call *call)
{
	fusd_unpin(call->bvec, call->nr_bvec, call->pages_written);
	call->bvec = NULL;
	call->nr_bvec = 0;
}

/* Copy 'len' bytes between the pinned pages and the daemon's 'buf'. */
static int fusd_pages_copy(const struct fusd_call *call, void __user *buf,
			   size_t len, bool to_user)
{
	unsigned int i;

	for (i = 0; len && i < call->nr_bvec; i++) {
		const struct bio_vec *bv = &call->bvec[i];
		size_t n = min_t(size_t, len, bv->bv_len);
		void *kaddr = kmap_local_page(bv->bv_page) + bv->bv_offset;
		unsigned long left;

		left = to_user ? copy_to_user(buf, kaddr, n) :
				 copy_from_user(kaddr, buf, n);
		kunmap_local(kaddr);
		if (left)
			return -EFAULT;
		buf += n;
		len -= n;
	}
	return 0;
}

/* Daemon's read(): the first 'len' bytes of a WRITE's payload to 'buf'. */
int fusd_pages_to_user(const struct fusd_call *call, char __user *buf,
		       size_t len)
{
	return fusd_pages_copy(call, buf, len, true);
}

/* Daemon's reply: 'len' bytes of a READ's data from 'buf'. */
int fusd_pages_from_user(struct fusd_call *call, const char __user *buf,
			 size_t len)
{
	call->pages_written = true;
	return fusd_pages_copy(call, (void __user *)buf, len, false);
}
