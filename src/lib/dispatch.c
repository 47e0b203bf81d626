// SPDX-License-Identifier: BSD-3-Clause
/*
 * Dispatch: turn each request read from a channel into a driver callback,
 * and the callback's result (now, or later through fusd_return) into a
 * reply.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "libfusd_i.h"

/*
 * The request whose callback runs on this thread (not the poll_diff
 * pseudo-calls): a poll mask the driver sets for the same open file while
 * it runs travels in that request's reply (FUSD_FEATURE_REPLY_POLL).
 */
static __thread struct fusd_call_ctx *fusd_running;

static int fusd_answer(struct fusd_call_ctx *ctx, ssize_t retval, int direct);

/* Does this request make the library's record of an open file? */
static int fusd_opens_file(uint16_t op)
{
	return op == FUSD_OP_OPEN || op == FUSD_OP_REOPEN;
}

static struct fusd_open **fusd_open_slot(struct fusd_dev *dev, uint64_t fh)
{
	struct fusd_open **p = &dev->opens[fh % FUSD_OPEN_BUCKETS];

	while (*p && (*p)->fh != fh)
		p = &(*p)->next;
	return p;
}


/* Forget an open file (after close or a refused open). */
static void fusd_open_remove(struct fusd_dev *dev, struct fusd_open *o)
{
	struct fusd_open **p = fusd_open_slot(dev, o->fh);

	o->closed = 1;
	if (*p == o) {
		*p = o->next;
		fusd_open_put(o);	/* the table's reference */
	}
}

static void fusd_deferred_unlink(struct fusd_call_ctx *ctx)
{
	struct fusd_call_ctx **p = &ctx->dev->deferred;

	if (!ctx->is_deferred)
		return;
	while (*p && *p != ctx)
		p = &(*p)->next_deferred;
	if (*p)
		*p = ctx->next_deferred;
	ctx->is_deferred = 0;
}

/* Drop one reference to a call; called with the table lock. */
/* A WRITE's payload is not needed once the call is answered. */
static void fusd_ctx_drop_payload(struct fusd_call_ctx *ctx)
{
	if (ctx->wbuf) {
		fusd_buf_put(ctx->wbuf);
		ctx->wbuf = NULL;
		ctx->wdata = NULL;
	}
}

/*
 * One freed call of small size kept per thread: a call's memory is then
 * the same from one request to the next, so the run loop neither enters
 * malloc nor touches new memory (under emulation, every page touched
 * after a context switch costs a page-table walk).
 */
#define FUSD_CTX_CACHE_ROOM 64
static __thread struct fusd_call_ctx *fusd_ctx_cache;

static void fusd_ctx_free(struct fusd_call_ctx *ctx)
{
	if (ctx->room <= FUSD_CTX_CACHE_ROOM && !fusd_ctx_cache) {
		fusd_ctx_cache = ctx;
		return;
	}
	free(ctx);
}

/* A thread that ends gives its kept call back. */
void fusd_ctx_cache_drop(void)
{
	free(fusd_ctx_cache);
	fusd_ctx_cache = NULL;
}

static struct fusd_call_ctx *fusd_ctx_alloc(size_t room)
{
	struct fusd_call_ctx *ctx = fusd_ctx_cache;

	if (ctx && room <= FUSD_CTX_CACHE_ROOM) {
		fusd_ctx_cache = NULL;
		return ctx;
	}
	if (room <= FUSD_CTX_CACHE_ROOM)
		room = FUSD_CTX_CACHE_ROOM;
	ctx = malloc(sizeof(*ctx) + room);
	if (ctx)
		ctx->room = room;
	return ctx;
}

static void fusd_ctx_put_locked(struct fusd_call_ctx *ctx)
{
	if (--ctx->refs)
		return;
	fusd_ctx_drop_payload(ctx);
	fusd_deferred_unlink(ctx);
	fusd_open_put(ctx->open);
	fusd_dev_put_locked(ctx->dev);
	fusd_ctx_free(ctx);
}

static void fusd_ctx_put(struct fusd_call_ctx *ctx)
{
	fusd_lock();
	fusd_ctx_put_locked(ctx);
	fusd_unlock();
}

/* A held answer was sent (loop.c): the dispatcher's reference goes. */
void fusd_ctx_done(struct fusd_call_ctx *ctx)
{
	if (ctx->detached)
		fusd_ctx_free(ctx);	/* nobody else knows it: no lock */
	else
		fusd_ctx_put(ctx);
}

/*
 * A direct answer about to wait for this thread's next exchange, with
 * nobody else holding the call: it gives back its open file and its
 * device now (the run loop holds the device until the reply is sent),
 * so that the call ends without the table lock.  Table lock held.
 */
static void fusd_ctx_detach_locked(struct fusd_call_ctx *ctx)
{
	fusd_open_put(ctx->open);
	ctx->open = NULL;
	fusd_dev_put_locked(ctx->dev);
	ctx->detached = 1;
}

/* The driver is done with a call: it leaves the deferred list. */
static void fusd_ctx_answered_locked(struct fusd_call_ctx *ctx)
{
	ctx->answered = 1;
	fusd_deferred_unlink(ctx);
}

/* Make a call findable by INTERRUPT from before its callback runs: with
 * several dispatcher threads the INTERRUPT may arrive at any time.
 */
static void fusd_ctx_track_locked(struct fusd_call_ctx *ctx)
{
	struct fusd_dev *dev = ctx->dev;
	struct fusd_intr **p, *e;

	ctx->in_callback = 1;
	ctx->next_deferred = dev->deferred;
	dev->deferred = ctx;
	ctx->is_deferred = 1;
	/* An INTERRUPT that overtook the call (another thread read it
	 * first): delivered like one that comes while the callback runs.
	 */
	for (p = &dev->interrupts; (e = *p);) {
		if (e->target == ctx->req.hdr.id) {
			*p = e->next;
			free(e);
			ctx->interrupted = 1;
		} else {
			p = &e->next;
		}
	}
}

/* A call with 'cap' bytes of data, 'room' of them in the call itself. */
static struct fusd_call_ctx *fusd_ctx_new(struct fusd_dev *dev,
					  const struct fusd_request *req,
					  size_t cap, size_t room)
{
	struct fusd_call_ctx *ctx = fusd_ctx_alloc(room);
	struct fusd_open *o;

	if (!ctx)
		return NULL;
	/* Cleared up to the request, which is copied; the rest is set here,
	 * the reply is built whole when answered, and the data area is
	 * written before it is read (a large one would cost more than the
	 * call).
	 */
	memset(ctx, 0, offsetof(struct fusd_call_ctx, req));
	ctx->refs = 2;		/* the driver's and the dispatcher's */
	ctx->req = *req;
	ctx->payload_len = 0;
	ctx->cap = cap;
	ctx->ioctl_len = cap;	/* classic: the whole _IOC_SIZE buffer */
	ctx->wdata = NULL;
	ctx->wbuf = NULL;
	ctx->offset = req->u.rw.offset;
	ctx->info.device_info = dev->device_info;
	ctx->info.flags = req->f_flags;
	ctx->info.pid = (pid_t)req->tgid;
	ctx->info.uid = (uid_t)req->uid;
	ctx->info.gid = (gid_t)req->gid;
	ctx->info.fd = dev->fd;
	ctx->info.fusd_msg = &ctx->req;

	fusd_lock();
	ctx->dev = dev;
	dev->refs++;
	if (fusd_opens_file(req->hdr.opcode)) {
		o = calloc(1, sizeof(*o));
		if (o && pthread_mutex_init(&o->poll_lock, NULL)) {
			free(o);
			o = NULL;
		}
		if (o) {
			struct fusd_open **p = fusd_open_slot(dev, req->fh);

			o->fh = req->fh;
			o->refs = 1;
			o->next = *p;
			*p = o;
		}
	} else {
		o = *fusd_open_slot(dev, req->fh);
	}
	if (o) {
		o->refs++;
		ctx->open = o;
		ctx->info.private_data = o->private_data;
		ctx->private_in = o->private_data;
	}
	if (o || !fusd_opens_file(req->hdr.opcode))
		fusd_ctx_track_locked(ctx);
	fusd_unlock();
	if (!o && fusd_opens_file(req->hdr.opcode)) {
		fusd_lock();
		ctx->refs = 1;
		fusd_ctx_put_locked(ctx);
		fusd_unlock();
		return NULL;
	}
	return ctx;
}

static int fusd_send_notify(int fd, uint64_t fh, unsigned int mask)
{
	struct fusd_notify_poll msg;

	memset(&msg, 0, sizeof(msg));
	msg.hdr.size = sizeof(msg);
	msg.hdr.hdr_size = sizeof(msg);
	msg.hdr.opcode = FUSD_OP_NOTIFY_POLL;
	msg.fh = fh;
	msg.mask = mask;
	return write(fd, &msg, sizeof(msg)) == (ssize_t)sizeof(msg) ? 0 : -1;
}

/*
 * Poll masks of one open file reach the kernel in the order the driver set
 * them, from any thread: each takes a number under the file's poll_lock,
 * and one is written (under that lock) only while no later one was set;
 * a later one will be, or was, written itself.
 */
static unsigned int fusd_poll_number(struct fusd_open *o)
{
	unsigned int seq;

	pthread_mutex_lock(&o->poll_lock);
	seq = ++o->poll_seq;
	pthread_mutex_unlock(&o->poll_lock);
	return seq;
}

/* Write mask number 'seq' as a notification, if it is still the latest. */
static int fusd_poll_send_if_latest(struct fusd_open *o, int fd, uint64_t fh,
				    unsigned int mask, unsigned int seq)
{
	int ret = 0;

	pthread_mutex_lock(&o->poll_lock);
	if (seq == o->poll_seq)
		ret = fusd_send_notify(fd, fh, mask);
	pthread_mutex_unlock(&o->poll_lock);
	return ret;
}

/*
 * A poll mask for the open file of 'ctx': carried by the reply of the
 * request whose callback runs on this thread if it is for the same file,
 * not answered yet, and the kernel granted FUSD_FEATURE_REPLY_POLL;
 * otherwise sent now.  'fd' is the channel, -1 if none.
 */
static int fusd_set_poll(struct fusd_call_ctx *ctx, int fd, unsigned int mask)
{
	struct fusd_call_ctx *cur = fusd_running;
	struct fusd_open *o = ctx->open;
	unsigned int seq;
	int stored = 0;

	if (fd < 0) {
		errno = EPIPE;
		return -1;
	}
	if (!o)
		return fusd_send_notify(fd, ctx->req.fh, mask);
	seq = fusd_poll_number(o);
	if (cur && cur->open == o &&
	    (ctx->dev->features & FUSD_FEATURE_REPLY_POLL)) {
		fusd_lock();
		if (!cur->answered) {
			cur->poll_mask = mask;
			cur->poll_seq = seq;
			cur->has_poll_mask = 1;
			stored = 1;
		}
		fusd_unlock();
		if (stored)
			return 0;
	}
	return fusd_poll_send_if_latest(o, fd, ctx->req.fh, mask, seq);
}

/* Send a reply straight from a request (no driver involved). */
static void fusd_reply_now(struct fusd_dev *dev, const struct fusd_request *req,
			   long long result)
{
	struct fusd_reply rep;
	size_t len = fusd_proto_reply(&rep, req, result, -1, 0);

	if (!dev->dead && write(dev->fd, &rep, len) < 0 && errno != EPIPE)
		perror("fusd: reply");
}

static long long fusd_call_driver(struct fusd_call_ctx *ctx,
				  const char *payload)
{
	struct fusd_file_operations *fops = &ctx->dev->fops;
	struct fusd_file_info *info = &ctx->info;

	switch (ctx->req.hdr.opcode) {
	case FUSD_OP_OPEN:
		return fops->open ? fops->open(info) : 0;
	case FUSD_OP_RELEASE:
		return fops->close ? fops->close(info) : 0;
	case FUSD_OP_READ:
		if (!fops->read)
			return -EINVAL;
		return fops->read(info, ctx->data, ctx->cap, &ctx->offset);
	case FUSD_OP_WRITE:
		if (!fops->write)
			return -EINVAL;
		return fops->write(info, ctx->wdata, ctx->cap, &ctx->offset);
	case FUSD_OP_IOCTL:
		if (!fops->ioctl)
			return -ENOTTY;
		memcpy(ctx->data, payload, ctx->payload_len);
		/* _IOC_NONE: the argument is a plain integer. */
		return fops->ioctl(info, (int)ctx->req.u.ioctl.cmd,
				   ctx->req.u.ioctl.size ? (void *)ctx->data :
				   (void *)(uintptr_t)ctx->req.u.ioctl.arg);
	case FUSD_OP_FLUSH:
		return fops->flush ? fops->flush(info) : 0;
	case FUSD_OP_FSYNC:
		return fops->fsync ? fops->fsync(info,
						 (int)ctx->req.u.fsync.datasync) :
				     -EINVAL;
	case FUSD_OP_LLSEEK:
		if (fops->llseek)
			return fops->llseek(info, ctx->req.u.seek.offset,
					    (int)ctx->req.u.seek.whence);
		return fusd_proto_default_llseek(&ctx->req);
	case FUSD_OP_MMAP:
		return fusd_mmap_call(ctx);
	case FUSD_OP_REOPEN:
		/* The full position ('u' is shared by every kind). */
		ctx->offset = ctx->req.u.reopen.offset;
		if (fops->reopen)
			fops->reopen(info, ctx->req.u.reopen.cookie);
		return 0;	/* no answer is needed; one is dropped */
	}
	return -ENOSYS;
}

/* A poll mask to send as a notification once the table lock is dropped. */
struct fusd_pending_mask {
	struct fusd_open *open;		/* NULL: nothing to send */
	int fd;
	uint64_t fh;
	unsigned int mask, seq;
};

/*
 * The callback of 'ctx' returned 'ret'; called with the table lock.
 * A mask it set that no reply will carry is left in 'pm'.
 */
static void fusd_callback_end_locked(struct fusd_call_ctx *ctx, long long ret,
				     struct fusd_pending_mask *pm)
{
	struct fusd_dev *dev = ctx->dev;

	ctx->in_callback = 0;
	/* Answered by its callback: no longer the driver's to unblock (an
	 * INTERRUPT arriving now finds nothing and is kept, then answered
	 * -EAGAIN, which the kernel drops once this answer is in).
	 */
	if (ret != -FUSD_NOREPLY)
		fusd_deferred_unlink(ctx);
	pm->open = NULL;
	/* A deferred call never holds a poll mask back: send it now (also
	 * when the callback dropped its call with fusd_destroy).
	 */
	if (ctx->has_poll_mask && (ret == -FUSD_NOREPLY || ctx->answered)) {
		ctx->has_poll_mask = 0;
		pm->mask = ctx->poll_mask;
		pm->seq = ctx->poll_seq;
		pm->fd = dev->fd;
		pm->fh = ctx->req.fh;
		if (!dev->dead)
			pm->open = ctx->open;
	}
}

/* Send what fusd_callback_end_locked left; the call must still be held. */
static void fusd_pending_mask_send(const struct fusd_pending_mask *pm)
{
	if (pm->open &&
	    fusd_poll_send_if_latest(pm->open, pm->fd, pm->fh, pm->mask,
				     pm->seq) &&
	    errno != EPIPE)
		perror("fusd: poll notification");
}

/* Answer now, or remember a deferred call and drop the dispatcher's
 * reference.
 */
static void fusd_finish(struct fusd_call_ctx *ctx, long long ret)
{
	struct fusd_dev *dev = ctx->dev;
	struct fusd_pending_mask pm;
	int unblock_now;

	if (ret != -FUSD_NOREPLY) {
		/* The callback's end is recorded under the same lock. */
		fusd_answer(ctx, (ssize_t)ret, 1);	/* drops both */
		return;
	}
	fusd_lock();
	fusd_callback_end_locked(ctx, ret, &pm);
	/* An INTERRUPT that came while the callback ran is delivered now,
	 * once the driver holds the call.
	 */
	unblock_now = ctx->interrupted && !ctx->answered && dev->fops.unblock;
	fusd_unlock();
	fusd_pending_mask_send(&pm);
	if (unblock_now)
		dev->fops.unblock(&ctx->info);
	fusd_ctx_put(ctx);	/* the dispatcher's reference */
}

/*
 * A request with a higher id than a kept INTERRUPT is handled: the call
 * that INTERRUPT names was read before it.  If that call was not tracked
 * since, it is over, or still in another thread's hands: answer the
 * INTERRUPT -EAGAIN so that the kernel sends it again for as long as the
 * call waits (and drops the answer otherwise).
 */
static void fusd_intr_sweep(struct fusd_dev *dev, uint64_t id)
{
	struct fusd_intr **p, *e, *stale = NULL;

	/* Nearly always none: no lock for that (set under the lock). */
	if (!__atomic_load_n(&dev->interrupts, __ATOMIC_ACQUIRE))
		return;
	fusd_lock();
	for (p = &dev->interrupts; (e = *p);) {
		if (e->id < id) {
			*p = e->next;
			e->next = stale;
			stale = e;
		} else {
			p = &e->next;
		}
	}
	fusd_unlock();
	while ((e = stale)) {
		struct fusd_request req;

		stale = e->next;
		memset(&req, 0, sizeof(req));
		req.hdr.opcode = FUSD_OP_INTERRUPT;
		req.hdr.id = e->id;
		fusd_reply_now(dev, &req, -EAGAIN);
		free(e);
	}
}

static unsigned int fusd_classic_to_poll(unsigned int state)
{
	unsigned int mask = 0;

	if (state & FUSD_NOTIFY_INPUT)
		mask |= POLLIN | POLLRDNORM;
	if (state & FUSD_NOTIFY_OUTPUT)
		mask |= POLLOUT | POLLWRNORM;
	if (state & FUSD_NOTIFY_EXCEPT)
		mask |= POLLPRI;
	return mask;
}

/*
 * Classic poll_diff, on top of notifications: the driver is asked with
 * the state the kernel holds, answers (now or later) when it differs,
 * the kernel is notified, and the driver is asked again.
 */
static void fusd_poll_cycle(struct fusd_dev *dev,
			    const struct fusd_request *open_req,
			    unsigned int cached)
{
	struct fusd_request req = *open_req;
	struct fusd_call_ctx *ctx;

	req.hdr.opcode = FUSD_OP_POLL;
	req.hdr.id = 0;
	ctx = fusd_ctx_new(dev, &req, 0, 0);
	if (!ctx)
		return;
	ctx->poll_cached = cached;
	fusd_lock();
	if (!ctx->open || ctx->open->closed || dev->dead) {
		/* Closed meanwhile: poll_diff must not see it again. */
		fusd_unlock();
		fusd_destroy(&ctx->info);
		fusd_ctx_put(ctx);
		return;
	}
	fusd_unlock();
	fusd_finish(ctx, dev->fops.poll_diff(&ctx->info, cached));
}

/* Was call 'id' dropped by the driver?  Forgets it; table lock held. */
static int fusd_undrop_locked(struct fusd_dev *dev, uint64_t id)
{
	struct fusd_dropped **p, *d;

	for (p = &dev->dropped; (d = *p); p = &d->next) {
		if (d->id == id) {
			*p = d->next;
			free(d);
			return 1;
		}
	}
	return 0;
}

/*
 * The caller of a request got a signal: run unblock() if the driver holds
 * the call (deferred), later if its callback still runs, and keep the
 * INTERRUPT if the call is not tracked yet.  The call stays unanswered:
 * its caller waits for the driver's answer.
 */
static void fusd_interrupt(struct fusd_dev *dev, const struct fusd_request *req)
{
	struct fusd_call_ctx *ctx;
	struct fusd_intr *e = NULL;
	int again = 0, eintr = 0;

	fusd_lock();
	for (ctx = dev->deferred; ctx; ctx = ctx->next_deferred)
		if (ctx->req.hdr.id == req->u.interrupt.id)
			break;
	if (ctx) {
		ctx->interrupted = 1;
		if (ctx->in_callback || ctx->answered)
			ctx = NULL;	/* fusd_finish delivers it */
		else
			ctx->refs++;
	} else if (fusd_undrop_locked(dev, req->u.interrupt.id)) {
		eintr = 1;	/* a call the driver dropped: end it */
	} else {
		/* Not tracked yet: keep it until the call is, or until a
		 * later request shows it is stale (fusd_intr_sweep).
		 */
		e = malloc(sizeof(*e));
		if (e) {
			e->id = req->hdr.id;
			e->target = req->u.interrupt.id;
			e->next = dev->interrupts;
			dev->interrupts = e;
		} else {
			again = 1;	/* the kernel sends it again */
		}
	}
	fusd_unlock();
	if (again)
		fusd_reply_now(dev, req, -EAGAIN);
	if (eintr) {
		struct fusd_request call = { .hdr.id = req->u.interrupt.id };

		fusd_reply_now(dev, &call, -EINTR);
	}
	if (!ctx)
		return;
	if (dev->fops.unblock)
		dev->fops.unblock(&ctx->info);
	fusd_ctx_put(ctx);
}

static void fusd_handle(struct fusd_dev *dev, struct fusd_buf *owner,
			const struct fusd_request *req,
			const char *payload, size_t payload_len)
{
	struct fusd_call_ctx *ctx, *prev;
	size_t cap = 0, room;
	long long ret;

	if (req->hdr.opcode == FUSD_OP_INTERRUPT) {
		fusd_interrupt(dev, req);	/* no reply expected */
		return;
	}
	fusd_intr_sweep(dev, req->hdr.id);

	switch (req->hdr.opcode) {
	case FUSD_OP_READ:
		cap = req->u.rw.size;
		break;
	case FUSD_OP_WRITE:
		cap = payload_len;
		break;
	case FUSD_OP_IOCTL:
		cap = req->u.ioctl.size;
		if (payload_len > cap) {
			fusd_reply_now(dev, req, -EIO);
			return;
		}
		break;
	case FUSD_OP_MMAP:
		cap = sizeof(struct fusd_mmap_reply);
		break;
	case FUSD_OP_OPEN:
	case FUSD_OP_REOPEN:
	case FUSD_OP_RELEASE:
	case FUSD_OP_LLSEEK:
	case FUSD_OP_FLUSH:
	case FUSD_OP_FSYNC:
		break;
	default:
		/* A request this library does not know: refuse it. */
		fusd_reply_now(dev, req, -ENOSYS);
		return;
	}
	if (cap > FUSD_IO_MAX && cap > dev->io_max) {
		fusd_reply_now(dev, req, -EIO);
		return;
	}

	/* A WRITE's payload stays where it was read, if that buffer can be
	 * kept; else it is copied (the driver may keep the pointer until it
	 * answers).
	 */
	room = req->hdr.opcode == FUSD_OP_WRITE && owner ? 0 : cap;
	ctx = fusd_ctx_new(dev, req, cap, room);
	if (!ctx) {
		fusd_reply_now(dev, req, -ENOMEM);
		return;
	}
	ctx->payload_len = payload_len;
	/* An ioctl's buffer goes back whole: never with stale bytes. */
	if (req->hdr.opcode == FUSD_OP_IOCTL)
		memset(ctx->data, 0, cap);
	if (req->hdr.opcode == FUSD_OP_WRITE) {
		if (owner) {
			__atomic_add_fetch(&owner->refs, 1, __ATOMIC_RELAXED);
			ctx->wbuf = owner;
			ctx->wdata = payload;
		} else {
			memcpy(ctx->data, payload, cap);
			ctx->wdata = ctx->data;
		}
	}
	prev = fusd_running;
	fusd_running = ctx;
	ret = fusd_call_driver(ctx, payload);
	fusd_running = prev;
	fusd_finish(ctx, ret);
}


/* Handle every request in one read() batch. */
static void fusd_dispatch_batch(struct fusd_dev *dev, struct fusd_buf *owner,
				const char *buf, size_t len)
{
	struct fusd_request req;
	const char *payload;
	size_t off = 0, plen;
	int r;

	while ((r = fusd_proto_next(buf, len, &off, &req, &payload,
				    &plen)) > 0)
		fusd_handle(dev, owner, &req, payload, plen);
	if (r < 0)
		fprintf(stderr, "fusd: malformed request batch from kernel\n");
}

/* Requests in memory of the caller's: WRITE payloads are copied. */
void fusd_dispatch_buffer(struct fusd_dev *dev, const char *buf, size_t len)
{
	fusd_dispatch_batch(dev, NULL, buf, len);
}

/*
 * Requests in a read buffer that WRITE calls may keep.  The batch holds
 * it too: a callback that dispatches on this thread reads into another.
 */
void fusd_dispatch_shared(struct fusd_dev *dev, struct fusd_buf *owner,
			  size_t len)
{
	__atomic_add_fetch(&owner->refs, 1, __ATOMIC_RELAXED);
	fusd_dispatch_batch(dev, owner, owner->data, len);
	fusd_buf_put(owner);
}

/*
 * Answer a call.  'direct': the callback's own return value (its end is
 * recorded under the same lock), whose reply may wait for the run loop's
 * next exchange with the kernel (loop.c); the dispatcher's reference
 * goes with the driver's then.
 */
static int fusd_answer(struct fusd_call_ctx *ctx, ssize_t retval, int direct)
{
	struct fusd_file_info *file = &ctx->info;
	struct fusd_pending_mask pm;
	size_t data_len = 0, len;
	int fd, ret = 0, err = 0, has_mask, held = 0, detached = 0, may_wait;
	uint16_t op = ctx->req.hdr.opcode;

	/* An ioctl that reads hands back its (possibly updated) buffer: all
	 * of it, unless the driver said less (fusd_set_ioctl_length).
	 */
	if (op == FUSD_OP_IOCTL && retval >= 0 &&
	    (_IOC_DIR(ctx->req.u.ioctl.cmd) & _IOC_READ))
		data_len = ctx->ioctl_len;
	if (op == FUSD_OP_READ && retval > 0) {
		if ((size_t)retval > ctx->cap) {
			fprintf(stderr, "fusd: read callback returned %zd, "
				"more than the %zu bytes asked for\n", retval,
				ctx->cap);
			retval = -EIO;
		} else {
			data_len = (size_t)retval;
		}
	}
	if (op == FUSD_OP_MMAP)
		data_len = fusd_mmap_reply_len(ctx, &retval);

	fusd_lock();
	if (direct)
		fusd_callback_end_locked(ctx, retval, &pm);
	if (ctx->answered) {
		fusd_unlock();
		if (direct) {
			fusd_pending_mask_send(&pm);
			fusd_ctx_put(ctx);
		}
		errno = EINVAL;	/* answered twice: a driver bug */
		return -1;
	}
	if (direct)
		ctx->refs--;	/* the dispatcher's; the driver's is left */
	fusd_ctx_drop_payload(ctx);
	if (op == FUSD_OP_POLL) {
		int live = ctx->open && !ctx->open->closed && !ctx->dev->dead;

		fusd_ctx_answered_locked(ctx);
		fd = ctx->dev->fd;
		fusd_unlock();
		if (live && retval >= 0) {
			if (fusd_set_poll(ctx, fd,
					  fusd_classic_to_poll((unsigned int)retval)))
				ret = -1;
			else if ((unsigned int)retval != ctx->poll_cached)
				fusd_poll_cycle(ctx->dev, &ctx->req,
						(unsigned int)retval);
		}
		fusd_ctx_put(ctx);
		return ret;
	}
	fusd_ctx_answered_locked(ctx);
	/* -1 once unregistered.  An interrupted caller still waits for this
	 * answer (the kernel drops it quietly if the caller was killed).
	 */
	fd = ctx->dev->dead ? -1 : ctx->dev->fd;
	has_mask = ctx->has_poll_mask;
	ctx->has_poll_mask = 0;
	/* May this answer wait for the run loop's next exchange?  Not one
	 * that carries a poll mask, opens a file (its poll cycle follows)
	 * or names memory (a refusal must be reported now).
	 */
	may_wait = direct && !has_mask && !fusd_opens_file(op) &&
		   op != FUSD_OP_MMAP;
	if (ctx->open) {
		if (file->private_data != ctx->private_in)
			ctx->open->private_data = file->private_data;
		if ((op == FUSD_OP_OPEN && retval != 0) ||
		    op == FUSD_OP_RELEASE)
			fusd_open_remove(ctx->dev, ctx->open);
	}
	if (may_wait && fd >= 0 && ctx->refs == 1 &&
	    fusd_may_hold(ctx->dev)) {
		fusd_ctx_detach_locked(ctx);
		detached = 1;
	}
	fusd_unlock();

	len = fusd_proto_reply(&ctx->reply, &ctx->req, retval, ctx->offset,
			       data_len);
	if (ctx->has_cookie && ctx->dev->features & FUSD_FEATURE_RECOVERY) {
		ctx->reply.flags |= FUSD_REPLY_COOKIE;
		ctx->reply.cookie = ctx->cookie;
	}
	if (detached) {
		fusd_hold_reply(ctx, len);	/* this loop's: it holds it */
		return 0;
	}
	/* A mask set by the callback (see fusd_set_poll) rides along while
	 * no later one was set for the file; the file's poll_lock keeps it
	 * in order with the others.
	 */
	if (has_mask && ctx->open) {
		pthread_mutex_lock(&ctx->open->poll_lock);
		if (ctx->poll_seq == ctx->open->poll_seq) {
			ctx->reply.flags |= FUSD_REPLY_POLL;
			ctx->reply.poll_mask = ctx->poll_mask;
		}
	}
	if (fd < 0) {
		ret = -1;
		err = EPIPE;
	} else if (may_wait && fusd_hold_reply(ctx, len)) {
		held = 1;	/* sent, and the reference dropped, by loop.c */
	} else if (write(fd, &ctx->reply, len) < 0) {
		ret = -1;
		err = errno;
		/* The kernel refused the memory an mmap answer named. */
		if (op == FUSD_OP_MMAP && err != EPIPE)
			fprintf(stderr, "fusd: mmap answer refused: %s\n",
				strerror(err));
		/* A refused reply must not take the poll mask with it. */
		if ((ctx->reply.flags & FUSD_REPLY_POLL) && err != EPIPE)
			fusd_send_notify(fd, ctx->req.fh, ctx->poll_mask);
	}
	if (has_mask && ctx->open)
		pthread_mutex_unlock(&ctx->open->poll_lock);
	/* A taken-over file's poll mask is back to its default, too. */
	if (!ret && fusd_opens_file(op) && retval == 0 &&
	    ctx->dev->fops.poll_diff)
		fusd_poll_cycle(ctx->dev, &ctx->req, 0);
	if (!held)
		fusd_ctx_put(ctx);
	errno = err ? err : errno;
	return ret;
}

FUSD_API int fusd_set_cookie(struct fusd_file_info *file, uint64_t cookie)
{
	struct fusd_call_ctx *ctx = (struct fusd_call_ctx *)file;

	if (!ctx) {
		errno = EINVAL;
		return -1;
	}
	ctx->cookie = cookie;
	ctx->has_cookie = 1;
	return 0;
}

FUSD_API int fusd_return(struct fusd_file_info *file, ssize_t retval)
{
	if (!file) {
		errno = EINVAL;
		return -1;
	}
	return fusd_answer((struct fusd_call_ctx *)file, retval, 0);
}

/* The channel of a call's device; -1 with errno if there is none. */
static int fusd_ctx_channel(struct fusd_call_ctx *ctx)
{
	int fd;

	if (!ctx) {
		errno = EINVAL;
		return -1;
	}
	fusd_lock();
	fd = ctx->dev->dead ? -1 : ctx->dev->fd;
	fusd_unlock();
	if (fd < 0)
		errno = EPIPE;
	return fd;
}

static int fusd_copy(struct fusd_file_info *file, unsigned long caller_addr,
		     void *buf, size_t len, unsigned long cmd)
{
	struct fusd_call_ctx *ctx = (struct fusd_call_ctx *)file;
	struct fusd_copy cp;
	int fd;

	if (file && ctx->req.hdr.opcode != FUSD_OP_IOCTL) {
		errno = EINVAL;
		return -1;
	}
	fd = fusd_ctx_channel(ctx);
	if (fd < 0)
		return -1;
	memset(&cp, 0, sizeof(cp));
	cp.id = ctx->req.hdr.id;
	cp.caller_addr = caller_addr;
	cp.buf = (uintptr_t)buf;
	cp.len = len;
	return ioctl(fd, cmd, &cp) ? -1 : 0;
}

FUSD_API int fusd_copy_from_caller(struct fusd_file_info *file, void *dst,
				   unsigned long caller_addr, size_t len)
{
	return fusd_copy(file, caller_addr, dst, len,
			 FUSD_IOC_COPY_FROM_CALLER);
}

FUSD_API int fusd_copy_to_caller(struct fusd_file_info *file,
				 unsigned long caller_addr, const void *src,
				 size_t len)
{
	return fusd_copy(file, caller_addr, (void *)src, len,
			 FUSD_IOC_COPY_TO_CALLER);
}

FUSD_API int fusd_notify_poll(struct fusd_file_info *file, unsigned int mask)
{
	struct fusd_call_ctx *ctx = (struct fusd_call_ctx *)file;
	int fd = fusd_ctx_channel(ctx);

	return fd < 0 ? -1 : fusd_set_poll(ctx, fd, mask);
}

FUSD_API int fusd_set_ioctl_length(struct fusd_file_info *file, size_t length)
{
	struct fusd_call_ctx *ctx = (struct fusd_call_ctx *)file;

	if (!ctx || ctx->req.hdr.opcode != FUSD_OP_IOCTL ||
	    !(_IOC_DIR(ctx->req.u.ioctl.cmd) & _IOC_READ) ||
	    length > ctx->cap) {
		errno = EINVAL;
		return -1;
	}
	ctx->ioctl_len = length;
	return 0;
}

/*
 * Remember a call dropped unanswered: its caller still waits, and when a
 * signal reaches it (an INTERRUPT) the call ends with EINTR, as it did in
 * classic FUSD.  Not for the poll_diff pseudo-calls nor RELEASE, which
 * nobody waits for.  Called with the table lock.
 */
static void fusd_drop_locked(struct fusd_call_ctx *ctx)
{
	struct fusd_dropped *d;
	uint16_t op = ctx->req.hdr.opcode;

	if (op == FUSD_OP_POLL || op == FUSD_OP_RELEASE || ctx->dev->dead)
		return;
	d = malloc(sizeof(*d));
	if (!d)
		return;		/* the caller waits until killed */
	d->id = ctx->req.hdr.id;
	d->next = ctx->dev->dropped;
	ctx->dev->dropped = d;
}

FUSD_API void fusd_destroy(struct fusd_file_info *file)
{
	struct fusd_call_ctx *ctx = (struct fusd_call_ctx *)file;
	int eintr = 0;

	if (!ctx)
		return;
	fusd_lock();
	if (!ctx->answered) {
		/* The caller got a signal and still waits (protocol 1.1): the
		 * classic "unblock, then destroy" ends its call with EINTR,
		 * as it did when the caller had already left.
		 */
		eintr = ctx->interrupted && ctx->req.hdr.opcode != FUSD_OP_POLL;
		if (!eintr) {
			fusd_drop_locked(ctx);
			fusd_ctx_answered_locked(ctx);
			fusd_ctx_drop_payload(ctx);
			fusd_ctx_put_locked(ctx);
		}
	}
	fusd_unlock();
	if (eintr && fusd_return(file, -EINTR) && errno != EPIPE)
		perror("fusd_destroy: reply");
}
