// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Calls: a client's system call travels to the daemon as a request and
 * comes back as a reply.  This file owns the request queue of a channel,
 * the daemon's read() and write() of it, reply validation, and the
 * caller's wait (exactly once: see fusd_call_wait).
 */
#include <linux/compat.h>
#include <linux/file.h>
#include <linux/ioctl.h>
#include <linux/pid_namespace.h>
#include <linux/poll.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/sched/coredump.h>
#include <linux/sched/task.h>
#include <linux/capability.h>
#include <linux/sched/signal.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/uidgid.h>

#include "fusd_i.h"

/* Who is calling, as the daemon sees it: its own pid and user namespaces. */
void fusd_call_set_caller(struct fusd_call *call, struct fusd_channel *chan)
{
	struct fusd_request *req = call->req;
	struct pid_namespace *pid_ns;
	struct user_namespace *user_ns;

	/* The daemon may be replaced meanwhile (recovery): RCU. */
	rcu_read_lock();
	pid_ns = ns_of_pid(rcu_dereference(chan->owner));
	user_ns = rcu_dereference(chan->cred)->user_ns;
	req->pid = task_pid_nr_ns(current, pid_ns);
	req->tgid = task_tgid_nr_ns(current, pid_ns);
	req->uid = from_kuid_munged(user_ns, current_fsuid());
	req->gid = from_kgid_munged(user_ns, current_fsgid());
	rcu_read_unlock();
}

/*
 * Most calls on a channel at once (queued or awaiting a reply, not
 * counting RELEASEs and INTERRUPTs): beyond it callers wait, or get
 * EAGAIN under O_NONBLOCK, so a daemon that stops answering can never make
 * the kernel hold unbounded memory.
 */
unsigned int fusd_max_pending = 1024;
module_param_named(max_pending, fusd_max_pending, uint, 0644);
MODULE_PARM_DESC(max_pending, "Most calls waiting on one daemon channel (default 1024)");

static void fusd_call_init(struct fusd_call *call, struct fusd_channel *chan,
			   u64 fh, u16 opcode, size_t msg_len)
{
	struct fusd_request *req = (struct fusd_request *)call->msg;

	refcount_set(&call->ref, 1);
	call->state = FUSD_CALL_NEW;
	INIT_LIST_HEAD(&call->link);
	init_completion(&call->done);
	call->msg_len = msg_len;
	call->req = req;
	req->hdr.size = msg_len;
	req->hdr.hdr_size = sizeof(*req);
	req->hdr.opcode = opcode;
	req->fh = fh;
	if (in_compat_syscall())
		req->flags |= FUSD_REQ_COMPAT;
	fusd_call_set_caller(call, chan);
}

/*
 * A call and, for a call a caller waits for, its INTERRUPT: one block, so
 * that a signal never finds the daemon impossible to tell.
 */
struct fusd_call *fusd_call_new(struct fusd_channel *chan, u64 fh, u16 opcode,
				size_t payload_len)
{
	size_t msg_len = sizeof(struct fusd_request) + payload_len;
	bool waited = opcode != FUSD_OP_RELEASE &&
		      opcode != FUSD_OP_INTERRUPT && opcode != FUSD_OP_REOPEN;
	struct fusd_call *call;
	size_t size, intr_at;

	size = ALIGN(struct_size(call, msg, msg_len), 8);
	intr_at = size;
	if (waited)
		size += struct_size(call, msg, sizeof(struct fusd_request));
	/* The payload is written over by the caller: zero only the rest. */
	call = kvmalloc(size, GFP_KERNEL_ACCOUNT);
	if (!call)
		return NULL;
	memset(call, 0, struct_size(call, msg, sizeof(struct fusd_request)));
	fusd_call_init(call, chan, fh, opcode, msg_len);
	if (waited) {
		call->intr = (struct fusd_call *)((u8 *)call + intr_at);
		memset(call->intr, 0, size - intr_at);
		fusd_call_init(call->intr, chan, fh, FUSD_OP_INTERRUPT,
			       sizeof(struct fusd_request));
		call->intr->owner = call;
	}
	return call;
}

/* An INTERRUPT's references are those of the call it is part of. */
static struct fusd_call *fusd_call_base(struct fusd_call *call)
{
	return call->owner ? call->owner : call;
}

static void fusd_call_get(struct fusd_call *call)
{
	refcount_inc(&fusd_call_base(call)->ref);
}

void fusd_call_put(struct fusd_call *call)
{
	if (!call)
		return;
	call = fusd_call_base(call);
	if (!refcount_dec_and_test(&call->ref))
		return;
	fusd_call_put(call->undo);
	if (call->caller)
		put_task_struct(call->caller);
	if (call->caller_cred)
		put_cred(call->caller_cred);
	if (call->bvec)
		fusd_call_unpin(call);
	if (call->mmap_file)
		fput(call->mmap_file);
	kvfree(call->data);
	kvfree(call);		/* its INTERRUPT too */
}

/* Give the daemon a call; the channel keeps the reference passed in. */
static void fusd_queue_locked(struct fusd_channel *chan, struct fusd_call *call)
{
	lockdep_assert_held(&chan->lock);
	call->req->hdr.id = ++chan->next_id;
	call->state = FUSD_CALL_QUEUED;
	list_add_tail(&call->link, &chan->queue);
	if (call->req->hdr.opcode != FUSD_OP_INTERRUPT && !call->counted) {
		call->counted = true;
		chan->npending++;
	}
}

/*
 * A call was queued: one daemon thread waiting in read() takes it (they
 * wait exclusively), and every poller of the channel hears of it.
 */
void fusd_wake_reader(struct fusd_channel *chan)
{
	/* Keyed: an EPOLLEXCLUSIVE waiter for EPOLLOUT only is passed by. */
	wake_up_interruptible_poll(&chan->readers, EPOLLIN | EPOLLRDNORM);
}

/* The call leaves the channel: one pending call less. */
static void fusd_done_locked(struct fusd_channel *chan, struct fusd_call *call)
{
	lockdep_assert_held(&chan->lock);
	call->state = FUSD_CALL_DONE;
	if (call->counted) {
		call->counted = false;
		chan->npending--;
		wake_up(&chan->room);
	}
}

/* May one more call go on the channel (max_pending)? */
static bool fusd_below_cap(struct fusd_channel *chan)
{
	return READ_ONCE(chan->npending) < max(1U, READ_ONCE(fusd_max_pending));
}

static bool fusd_has_room(struct fusd_channel *chan)
{
	return fusd_below_cap(chan) || READ_ONCE(chan->dead);
}

/*
 * Queue a call.  Beyond max_pending the caller waits for room (nothing is
 * queued yet, so a signal simply restarts the call), or gets -EAGAIN if
 * its file is O_NONBLOCK.  A RELEASE and a call nobody waits for always
 * go: close() never blocks, and there is at most one of each per file.
 */
int fusd_call_submit(struct fusd_channel *chan, struct fusd_call *call)
{
	bool capped = !call->orphan &&
		      call->req->hdr.opcode != FUSD_OP_RELEASE;
	int err;

	for (;;) {
		spin_lock(&chan->lock);
		if (chan->dead) {
			spin_unlock(&chan->lock);
			return -EPIPE;
		}
		/* No daemon now (recovery): a non-blocking call does not wait
		 * for the next one.
		 */
		if (chan->detached && capped &&
		    call->req->f_flags & O_NONBLOCK &&
		    call->req->hdr.opcode != FUSD_OP_FLUSH) {
			spin_unlock(&chan->lock);
			return -EAGAIN;
		}
		if (!capped || fusd_below_cap(chan))
			break;
		spin_unlock(&chan->lock);
		/* close() (FLUSH) waits rather than fail with EAGAIN. */
		if (call->req->f_flags & O_NONBLOCK &&
		    call->req->hdr.opcode != FUSD_OP_FLUSH)
			return -EAGAIN;
		err = wait_event_interruptible(chan->room, fusd_has_room(chan));
		if (err)
			return err;
	}
	fusd_call_get(call);
	/* Nobody waits for a RELEASE: close() must never block on the
	 * daemon (an exiting task cannot even be killed out of the wait).
	 */
	if (call->req->hdr.opcode == FUSD_OP_RELEASE)
		call->orphan = true;
	fusd_queue_locked(chan, call);
	spin_unlock(&chan->lock);
	fusd_wake_reader(chan);
	return 0;
}

/* Take a call off the channel and drop the channel's reference. */
void fusd_call_unlink_locked(struct fusd_channel *chan,
			     struct fusd_call *call)
{
	lockdep_assert_held(&chan->lock);
	if (call->state == FUSD_CALL_QUEUED)
		list_del_init(&call->link);
	else if (call->state == FUSD_CALL_SENT)
		hash_del(&call->hnode);
	else
		return;		/* not on the channel: no reference to drop */
	fusd_done_locked(chan, call);
	/* Someone else still holds a reference: this never frees. */
	refcount_dec(&fusd_call_base(call)->ref);
}

/*
 * Queue the INTERRUPT of a call the daemon has fully received: never ahead
 * of the call it names.  One that needs no answer (its caller left) goes
 * out even though the call is over.
 */
static bool fusd_intr_queue_locked(struct fusd_channel *chan,
				   struct fusd_call *call)
{
	struct fusd_call *intr = call->intr;

	if (!intr || !call->interrupted || intr->state != FUSD_CALL_NEW ||
	    call->delivering || chan->dead)
		return false;
	if (call->state != FUSD_CALL_SENT && !intr->no_reply)
		return false;
	intr->req->u.interrupt.id = call->req->hdr.id;
	fusd_call_get(intr);	/* the channel's */
	fusd_queue_locked(chan, intr);
	return true;
}

/* The call is over: its INTERRUPT, if still on the channel, goes too. */
static void fusd_intr_end_locked(struct fusd_channel *chan,
				 struct fusd_call *call)
{
	if (call->intr)
		fusd_call_unlink_locked(chan, call->intr);
}

/*
 * A fatal signal: the caller leaves for good.  A call the daemon has read
 * stays on the channel, with no waiter, until the daemon answers: its late
 * reply still sets the file's poll mask (another process may share the
 * file), and a late yes to an OPEN is undone with its RELEASE, so the
 * daemon's view of open files stays exact.  Its INTERRUPT goes on as
 * usual.  A call not read (its delivery failed) is simply withdrawn.
 */
static void fusd_abandon_locked(struct fusd_channel *chan,
				struct fusd_call *call)
{
	if (call->state == FUSD_CALL_SENT ||
	    call->state == FUSD_CALL_FILLING) {
		call->orphan = true;
		call->abandoned = true;	/* no more FUSD_IOC_COPY_* */
		return;
	}
	fusd_intr_end_locked(chan, call);
	fusd_call_unlink_locked(chan, call);
}

/*
 * Take a call's pages off it when no copy uses them now or later: a
 * WRITE's once the daemon has its payload (unless the next daemon may
 * need it again: recovery), an abandoned call's (whose late reply is not
 * copied).  The caller unpins them, unlocked.
 */
static struct bio_vec *fusd_take_pages_locked(struct fusd_channel *chan,
					      struct fusd_call *call,
					      unsigned int *nr)
{
	struct bio_vec *bvec = call->bvec;

	if (!bvec || call->delivering || call->state == FUSD_CALL_FILLING)
		return NULL;
	if (!call->abandoned && (call->req->hdr.opcode != FUSD_OP_WRITE ||
				 chan->features & FUSD_FEATURE_RECOVERY))
		return NULL;
	if (call->state != FUSD_CALL_SENT && call->state != FUSD_CALL_DONE)
		return NULL;
	*nr = call->nr_bvec;
	call->bvec = NULL;
	call->nr_bvec = 0;
	return bvec;
}

/* 1.0 daemons: a signal withdraws the call even after it was read. */
static s64 fusd_call_withdraw_v1_0(struct fusd_channel *chan,
				   struct fusd_call *call, bool *queued)
{
	if (call->req->hdr.opcode == FUSD_OP_OPEN) {
		call->orphan = true;	/* see fusd_abandon_locked */
		return -ERESTARTSYS;
	}
	call->interrupted = true;
	call->intr->no_reply = true;
	*queued = fusd_intr_queue_locked(chan, call);
	fusd_call_unlink_locked(chan, call);
	return -ERESTARTSYS;
}

/*
 * Wait for the daemon's answer; every call happens exactly once (the rule
 * of FUSE's request_wait_answer).  A signal while the daemon has not read
 * the call withdraws it: -ERESTARTSYS, and the system call restarts under
 * SA_RESTART or fails with EINTR.  Once the daemon has read it, a signal
 * only sends an INTERRUPT, and the caller waits on for the real answer;
 * only a fatal signal ends that wait.  Neither wait is ended by the
 * freezer, and the second not by stop signals.  -EINTR from the daemon
 * after an INTERRUPT lets the signal code choose between EINTR and a
 * restart.  'freeze' is TASK_FREEZABLE, or 0 for a caller that may hold
 * locks (a flush during exec holds cred_guard_mutex).
 */
s64 fusd_call_wait(struct fusd_channel *chan, struct fusd_call *call,
		   unsigned int freeze)
{
	bool wait_on = false, queued = false;
	struct bio_vec *bvec;
	unsigned int nr;
	s64 ret = 0;

	if (!wait_for_completion_state(&call->done,
				       TASK_INTERRUPTIBLE | freeze))
		return call->result;

	spin_lock(&chan->lock);
	if (call->state == FUSD_CALL_DONE) {
		/* The answer raced with the signal: use it. */
		ret = call->result;
	} else if (call->state == FUSD_CALL_QUEUED) {
		/* Never read: nothing happened, restarting is safe. */
		fusd_call_unlink_locked(chan, call);
		ret = -ERESTARTSYS;
	} else if (chan->proto_minor < 1) {
		ret = fusd_call_withdraw_v1_0(chan, call, &queued);
	} else {
		if (!call->interrupted) {
			call->interrupted = true;
			queued = fusd_intr_queue_locked(chan, call);
		}
		wait_on = true;
	}
	spin_unlock(&chan->lock);
	if (queued)
		fusd_wake_reader(chan);
	if (!wait_on)
		return ret;

	if (!wait_for_completion_state(&call->done, TASK_KILLABLE | freeze)) {
		ret = call->result;
		if (ret == -EINTR && signal_pending(current))
			return -ERESTARTSYS;
		return ret;
	}

	/* Killed: a late answer is dropped. */
	spin_lock(&chan->lock);
	fusd_abandon_locked(chan, call);
	bvec = fusd_take_pages_locked(chan, call, &nr);
	/* Answered (or failed) in the meantime: complete() goes with DONE. */
	ret = completion_done(&call->done) ? call->result : -EINTR;
	spin_unlock(&chan->lock);
	if (bvec)
		fusd_unpin(bvec, nr, false);
	return ret;
}

bool fusd_channel_has_calls(struct fusd_channel *chan)
{
	bool ret;

	spin_lock(&chan->lock);
	ret = !list_empty(&chan->queue);
	spin_unlock(&chan->lock);
	return ret;
}

/*
 * The copy of a call to the daemon ended ('ok' or not).  An INTERRUPT that
 * arrived meanwhile goes out now, after the call itself; a call the daemon
 * failed to receive goes back to the head of the queue.
 */
static void fusd_delivered(struct fusd_channel *chan, struct fusd_call *call,
			   bool ok)
{
	struct bio_vec *bvec = NULL;
	bool queued = false;
	unsigned int nr;

	spin_lock(&chan->lock);
	call->delivering = false;
	if (ok) {
		queued = fusd_intr_queue_locked(chan, call);
		bvec = fusd_take_pages_locked(chan, call, &nr);
	} else if (call->no_reply && !chan->dead) {
		/* The channel's reference came with it; give it back. */
		fusd_call_get(call);
		call->state = FUSD_CALL_QUEUED;
		list_add(&call->link, &chan->queue);
	} else if (call->state == FUSD_CALL_SENT &&
		   (call->interrupted || call->abandoned)) {
		/* Its caller got a signal and the daemon never had it:
		 * withdrawn, as if it had still been queued.
		 */
		call->result = -EINTR;
		fusd_call_unlink_locked(chan, call);
		complete(&call->done);
	} else if (call->state == FUSD_CALL_SENT) {
		hash_del(&call->hnode);
		call->state = FUSD_CALL_QUEUED;
		list_add(&call->link, &chan->queue);
	}
	spin_unlock(&chan->lock);
	if (bvec)
		fusd_unpin(bvec, nr, false);
	if (queued)
		fusd_wake_reader(chan);
}

/* Payload bytes of a request that sit in the caller's pages (WRITE). */
static size_t fusd_call_paged(const struct fusd_call *call)
{
	return call->req->hdr.opcode == FUSD_OP_WRITE ? call->direct_len : 0;
}

/* Copy a whole request to the daemon's buffer. */
static int fusd_call_deliver(const struct fusd_call *call, char __user *buf)
{
	size_t paged = fusd_call_paged(call), head = call->msg_len - paged;

	if (copy_to_user(buf, call->msg, head))
		return -EFAULT;
	return paged ? fusd_pages_to_user(call, buf + head, paged) : 0;
}

/*
 * Wait for a call to be queued, for at most '*timeout' jiffies (what is
 * left stays there): 0, or -ERESTARTSYS, -ETIMEDOUT.  Exclusive: one new call wakes one daemon
 * thread.  A thread woken for a call takes it even if a signal or the
 * timeout came too, so that no wake-up is lost.
 */
static int fusd_wait_calls(struct fusd_channel *chan, long *timeout)
{
	DEFINE_WAIT(wait);
	int ret = 0;

	for (;;) {
		prepare_to_wait_exclusive(&chan->readers, &wait,
					  TASK_INTERRUPTIBLE);
		if (fusd_channel_has_calls(chan))
			break;
		if (signal_pending(current))
			ret = -ERESTARTSYS;
		else if (!*timeout)
			ret = -ETIMEDOUT;
		if (ret)
			break;
		*timeout = schedule_timeout(*timeout);
	}
	finish_wait(&chan->readers, &wait);
	/* Off the queue now: a wake-up that chose us came with a call. */
	if (ret && fusd_channel_has_calls(chan))
		ret = 0;
	return ret;
}

ssize_t fusd_channel_read_calls(struct fusd_channel *chan, char __user *buf,
				size_t count, bool nonblock, long timeout)
{
	u32 limit = READ_ONCE(chan->batch_max), handed = 0;
	struct fusd_call *call;
	size_t done = 0;
	int err = 0;
	bool more;

	spin_lock(&chan->lock);
	while (list_empty(&chan->queue)) {
		spin_unlock(&chan->lock);
		if (nonblock)
			return -EAGAIN;
		err = fusd_wait_calls(chan, &timeout);
		if (err)
			return err;
		spin_lock(&chan->lock);
	}

	/* Hand out as many whole requests as fit; never split one. */
	while (!list_empty(&chan->queue) && (!limit || handed < limit)) {
		call = list_first_entry(&chan->queue, struct fusd_call, link);
		if (call->msg_len > count - done)
			break;
		list_del_init(&call->link);
		if (call->no_reply) {
			/* Delivered is done: the channel's reference is ours. */
			fusd_done_locked(chan, call);
		} else {
			call->state = FUSD_CALL_SENT;
			hash_add(chan->sent, &call->hnode, call->req->hdr.id);
			fusd_call_get(call);
		}
		call->delivering = true;
		spin_unlock(&chan->lock);

		if (fusd_call_deliver(call, buf + done)) {
			fusd_delivered(chan, call, false);
			fusd_call_put(call);
			err = -EFAULT;
			spin_lock(&chan->lock);
			break;
		}
		fusd_delivered(chan, call, true);
		done += call->msg_len;
		handed++;
		fusd_call_put(call);
		spin_lock(&chan->lock);
	}
	more = !list_empty(&chan->queue);
	spin_unlock(&chan->lock);
	/* Calls left (a batch limit, a small buffer): another thread's. */
	if (more)
		fusd_wake_reader(chan);
	if (done)
		return done;
	return err ? err : -EINVAL;
}

#define FUSD_POLL_BITS (EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLERR | EPOLLHUP | \
			EPOLLRDHUP | EPOLLRDNORM | EPOLLRDBAND | EPOLLWRNORM | \
			EPOLLWRBAND | EPOLLMSG)

/* Does this reply fit the request it answers?  Never trust the daemon. */
static bool fusd_reply_ok(struct fusd_channel *chan,
			  const struct fusd_call *call,
			  const struct fusd_reply *rep, size_t len)
{
	const struct fusd_request *req = call->req;
	s64 res = rep->result;

	if (rep->flags & ~FUSD_REPLY_FLAGS_ALL || rep->reserved)
		return false;
	if (rep->flags & FUSD_REPLY_COOKIE) {
		if (!(chan->features & FUSD_FEATURE_RECOVERY) ||
		    req->hdr.opcode == FUSD_OP_INTERRUPT)
			return false;
	} else if (rep->cookie) {
		return false;
	}
	if (rep->flags & FUSD_REPLY_POLL) {
		if (!(chan->features & FUSD_FEATURE_REPLY_POLL) ||
		    rep->poll_mask & ~(__force u32)FUSD_POLL_BITS ||
		    req->hdr.opcode == FUSD_OP_INTERRUPT)
			return false;
	} else if (rep->poll_mask) {
		return false;
	}
	if (res < -FUSD_ERRNO_MAX || (res < 0 && len))
		return false;
	if (rep->flags & FUSD_REPLY_SET_OFFSET) {
		if (rep->offset < 0 || (req->hdr.opcode != FUSD_OP_READ &&
					req->hdr.opcode != FUSD_OP_WRITE))
			return false;
	}

	switch (req->hdr.opcode) {
	case FUSD_OP_OPEN:
	case FUSD_OP_RELEASE:
	case FUSD_OP_FLUSH:
	case FUSD_OP_FSYNC:
	case FUSD_OP_INTERRUPT:
		return res <= 0 && !len;
	case FUSD_OP_READ:
		return res < 0 || (res == len && len <= req->u.rw.size);
	case FUSD_OP_WRITE:
		return !len && res <= (s64)req->u.rw.size;
	case FUSD_OP_LLSEEK:
		return !len;
	case FUSD_OP_MMAP:
		return res < 0 || (!res && len == sizeof(struct fusd_mmap_reply));
	case FUSD_OP_IOCTL:
		if (res > INT_MAX)
			return false;
		if (!(_IOC_DIR(req->u.ioctl.cmd) & _IOC_READ))
			return !len;
		return len <= req->u.ioctl.size;
	}
	return false;
}

static struct fusd_call *fusd_find_sent_locked(struct fusd_channel *chan,
					       u64 id)
{
	struct fusd_call *call;

	hash_for_each_possible(chan->sent, call, hnode, id)
		if (call->req->hdr.id == id)
			return call;
	return NULL;
}

/* The open file 'fh', or NULL (closed: messages for it are dropped). */
static struct fusd_file *fusd_file_find_locked(struct fusd_channel *chan,
					       u64 fh)
{
	struct fusd_file *ff;

	lockdep_assert_held(&chan->lock);
	hash_for_each_possible(chan->files, ff, fh_node, fh)
		if (ff->fh == fh)
			return ff;
	return NULL;
}

/* Set a file's poll mask and wake its pollers (chan->lock held). */
void fusd_file_poll_set(struct fusd_file *ff, __poll_t mask)
{
	WRITE_ONCE(ff->poll_mask, mask);
	if (mask)
		wake_up_interruptible_poll(&ff->poll_wq, mask);
}

/* Set the poll mask of open file 'fh' and wake its pollers. */
void fusd_file_set_poll_locked(struct fusd_channel *chan, u64 fh,
			       __poll_t mask)
{
	struct fusd_file *ff = fusd_file_find_locked(chan, fh);

	if (ff)
		fusd_file_poll_set(ff, mask);
}

/*
 * A reply to an INTERRUPT: -EAGAIN (the daemon has not seen the call yet)
 * queues it again for as long as the call it names waits; anything else
 * ends it.
 */
static bool fusd_intr_answered_locked(struct fusd_channel *chan,
				      struct fusd_call *intr, bool again)
{
	struct fusd_call *call = intr->owner;

	/* Its call still waits (also while its reply is being copied in,
	 * which may yet fail): then the INTERRUPT goes again.
	 */
	if (again && (call->state == FUSD_CALL_SENT ||
		      call->state == FUSD_CALL_FILLING)) {
		hash_del(&intr->hnode);
		intr->state = FUSD_CALL_QUEUED;
		list_add_tail(&intr->link, &chan->queue);
		return true;
	}
	fusd_call_unlink_locked(chan, intr);
	return false;
}

/*
 * Read a message header of hdr->hdr_size bytes at 'ubuf' into 'msg' of
 * 'ksize' bytes: any size from the one of protocol 1.0 ('min') up; bytes
 * beyond what this kernel knows must be zero.  0, -EINVAL or -EFAULT.
 */
static int fusd_take_header(void *msg, size_t ksize, size_t min,
			    const struct fusd_msg_header *hdr,
			    const char __user *ubuf, size_t avail)
{
	int err;

	if (hdr->hdr_size < min || hdr->size < hdr->hdr_size ||
	    hdr->size > avail)
		return -EINVAL;
	err = copy_struct_from_user(msg, ksize, ubuf, hdr->hdr_size);
	if (err)
		return err == -EFAULT ? -EFAULT : -EINVAL;
	/* What was checked above, not what user space may have changed. */
	memcpy(msg, hdr, sizeof(*hdr));
	return 0;
}

/*
 * Take a reply's payload: a READ's data straight into its caller's pinned
 * pages, anything else into a buffer the caller copies from.  Runs with
 * the call off the channel (FILLING), so nothing else touches it.
 */
static int fusd_reply_take_data(struct fusd_call *call,
				const char __user *ubuf, size_t len)
{
	if (call->req->hdr.opcode == FUSD_OP_MMAP)
		return fusd_mmap_take_reply(call, ubuf, len);
	if (call->bvec)
		return fusd_pages_from_user(call, ubuf, len);
	call->data = kvmalloc(len, GFP_KERNEL_ACCOUNT);
	if (!call->data)
		return -ENOMEM;
	if (copy_from_user(call->data, ubuf, len)) {
		kvfree(call->data);
		call->data = NULL;
		return -EFAULT;
	}
	return 0;
}

/*
 * Copy a valid reply's payload in, with the call off the channel's lists
 * while chan->lock is dropped.  On failure the call goes back as it was
 * (the daemon may try again) and its INTERRUPT, if a signal came
 * meanwhile, is queued.
 */
static int fusd_reply_fill_locked(struct fusd_channel *chan,
				  struct fusd_call *call,
				  const char __user *ubuf, size_t len)
	__must_hold(&chan->lock)
{
	int err;

	hash_del(&call->hnode);
	call->state = FUSD_CALL_FILLING;
	spin_unlock(&chan->lock);
	err = fusd_reply_take_data(call, ubuf, len);
	spin_lock(&chan->lock);
	if (!err)
		return 0;
	call->state = FUSD_CALL_SENT;
	hash_add(chan->sent, &call->hnode, call->req->hdr.id);
	/* Woken under the lock, as fusd_done_locked() does for 'room'. */
	if (fusd_intr_queue_locked(chan, call))
		fusd_wake_reader(chan);
	return err;
}

/*
 * Apply one reply at 'ubuf'.  Returns the bytes it used, or -errno.
 * 'avail' is what is left of the daemon's write().
 */
static ssize_t fusd_write_reply(struct fusd_channel *chan,
				const struct fusd_msg_header *hdr,
				const char __user *ubuf, size_t avail)
{
	struct fusd_call *call;
	struct fusd_reply rep;
	bool bad, queued = false;
	size_t len = 0;
	int err;

	err = fusd_take_header(&rep, sizeof(rep), FUSD_REPLY_SIZE_V1_0, hdr,
			       ubuf, avail);
	if (err == -EFAULT)
		return err;
	/* The request bounds the payload (fusd_reply_ok); this only keeps
	 * the arithmetic sane, whatever io_max became since.
	 */
	bad = err || hdr->size - hdr->hdr_size > SZ_64M;
	if (!bad)
		len = hdr->size - hdr->hdr_size;

	spin_lock(&chan->lock);
	call = fusd_find_sent_locked(chan, hdr->id);
	if (!call) {
		/* An id we issued whose caller is gone: drop it quietly. */
		bool late = !bad && hdr->id && hdr->id <= chan->next_id;

		spin_unlock(&chan->lock);
		return late ? (ssize_t)hdr->size : -EINVAL;
	}
	bad = bad || !fusd_reply_ok(chan, call, &rep, len);

	if (call->req->hdr.opcode == FUSD_OP_INTERRUPT) {
		queued = fusd_intr_answered_locked(chan, call,
						   !bad && rep.result == -EAGAIN);
		spin_unlock(&chan->lock);
		if (queued)
			fusd_wake_reader(chan);
		return bad ? -EINVAL : (ssize_t)hdr->size;
	}

	/* Nobody waits for an abandoned call's data: not copied. */
	if (!bad && len && !call->abandoned) {
		err = fusd_reply_fill_locked(chan, call, ubuf + hdr->hdr_size,
					     len);
		if (err) {
			spin_unlock(&chan->lock);
			return err;
		}
	}
	if (bad) {
		call->result = -EIO;
	} else if (call->mmap_err) {
		/* Memory the kernel refused: both sides learn why. */
		call->result = call->mmap_err;
		err = call->mmap_err;
	} else {
		call->result = rep.result;
		call->offset = rep.offset;
		call->reply_flags = rep.flags;
		call->data_len = len;
		/* Before the caller wakes: a poll right after sees it. */
		if (rep.flags & FUSD_REPLY_POLL)
			fusd_file_set_poll_locked(chan, call->req->fh,
						  (__force __poll_t)rep.poll_mask);
		if (rep.flags & FUSD_REPLY_COOKIE) {
			struct fusd_file *ff =
				fusd_file_find_locked(chan, call->req->fh);

			if (ff)
				ff->cookie = rep.cookie;
		}
	}
	/* A late yes to an OPEN nobody waits for: close it again. */
	if (call->orphan && call->undo) {
		if (!bad && call->result == 0) {
			fusd_queue_locked(chan, call->undo);
			call->undo = NULL;
			queued = true;
		}
	}
	fusd_intr_end_locked(chan, call);
	if (call->state == FUSD_CALL_SENT)
		hash_del(&call->hnode);
	fusd_done_locked(chan, call);
	complete(&call->done);
	spin_unlock(&chan->lock);

	if (queued)
		fusd_wake_reader(chan);
	fusd_call_put(call);	/* the channel's reference */
	if (bad)
		return -EINVAL;
	return err ? err : (ssize_t)hdr->size;
}

/* A poll notification: set the file's mask and wake its pollers. */
static ssize_t fusd_write_notify(struct fusd_channel *chan,
				 const struct fusd_msg_header *hdr,
				 const char __user *ubuf, size_t avail)
{
	struct fusd_notify_poll msg;
	int err;

	err = fusd_take_header(&msg, sizeof(msg), FUSD_NOTIFY_POLL_SIZE_V1_0,
			       hdr, ubuf, avail);
	if (err)
		return err;
	if (hdr->size != hdr->hdr_size || hdr->id || msg.reserved0 ||
	    msg.reserved[0] || msg.reserved[1] ||
	    msg.mask & ~(__force u32)FUSD_POLL_BITS)
		return -EINVAL;

	spin_lock(&chan->lock);
	if (!msg.fh || msg.fh > chan->next_fh) {
		spin_unlock(&chan->lock);
		return -EINVAL;
	}
	/* An fh already closed: dropped quietly. */
	fusd_file_set_poll_locked(chan, msg.fh, (__force __poll_t)msg.mask);
	spin_unlock(&chan->lock);
	return hdr->size;
}

static ssize_t fusd_write_one(struct fusd_channel *chan,
			      const char __user *ubuf, size_t avail)
{
	struct fusd_msg_header hdr;

	if (avail < sizeof(hdr))
		return -EINVAL;
	if (copy_from_user(&hdr, ubuf, sizeof(hdr)))
		return -EFAULT;
	if (hdr.opcode == FUSD_OP_NOTIFY_POLL)
		return fusd_write_notify(chan, &hdr, ubuf, avail);
	if (hdr.opcode != FUSD_OP_REPLY)
		hdr.hdr_size = 0;	/* refused, its caller gets -EIO */
	return fusd_write_reply(chan, &hdr, ubuf, avail);
}

ssize_t fusd_channel_write_replies(struct fusd_channel *chan,
				   const char __user *buf, size_t count)
{
	size_t done = 0;
	ssize_t ret;

	while (done < count) {
		/* A write may hold millions of tiny replies. */
		if (done && fatal_signal_pending(current))
			break;
		cond_resched();
		ret = fusd_write_one(chan, buf + done, count - done);
		if (ret < 0)
			return done ? done : ret;
		done += ret;
	}
	return done;
}

/* An ioctl's caller lends its memory to FUSD_IOC_COPY_* while it waits. */
void fusd_call_lend_memory(struct fusd_call *call)
{
	if (!current->mm)
		return;
	call->caller = get_task_struct(current);
	call->caller_cred = get_current_cred();
}

/* Wait until no FUSD_IOC_COPY_* is running on this (finished) call. */
void fusd_call_drain_copies(struct fusd_channel *chan, struct fusd_call *call)
{
	wait_event(chan->copies, !READ_ONCE(call->copying));
}

/*
 * May the daemon (current) reach into the caller's memory?  The ptrace
 * rule, simplified: the same credentials and a caller dumpable now, or
 * CAP_SYS_PTRACE, asked (and audited) only when the first part fails.
 * The caller is pinned inside its ioctl, so its mm cannot change.
 */
static bool fusd_may_reach(const struct fusd_call *call)
{
	const struct cred *d = current_cred(), *c = call->caller_cred;

	if (c->user_ns == d->user_ns &&
	    uid_eq(c->uid, d->euid) && uid_eq(c->euid, d->euid) &&
	    uid_eq(c->suid, d->euid) && gid_eq(c->gid, d->egid) &&
	    gid_eq(c->egid, d->egid) && gid_eq(c->sgid, d->egid) &&
	    fusd_task_dumpable(call->caller))
		return true;
	return capable(CAP_SYS_PTRACE);
}

/*
 * Copy between the memory of an ioctl's caller and the daemon's.  The
 * caller is pinned inside its ioctl for the whole time its memory is
 * touched (fusd_call_drain_copies), so the copy can never reach a process
 * that has moved on, or exec'ed.  The daemon's own memory is touched only
 * outside that window, so a daemon cannot stall it.  The caller's page
 * protections apply (no FOLL_FORCE).
 */
int fusd_channel_copy(struct fusd_channel *chan, const struct fusd_copy *cp,
		      bool to_caller)
{
	struct fusd_call *call;
	void *kbuf = NULL;
	int ret = 0, n = 0;

	if (cp->len > FUSD_IO_MAX)
		return -EINVAL;
	if (cp->len) {
		kbuf = kvmalloc(cp->len, GFP_KERNEL_ACCOUNT);
		if (!kbuf)
			return -ENOMEM;
	}
	if (to_caller && cp->len &&
	    copy_from_user(kbuf, u64_to_user_ptr(cp->buf), cp->len)) {
		ret = -EFAULT;
		goto out;
	}

	spin_lock(&chan->lock);
	call = fusd_find_sent_locked(chan, cp->id);
	if (!call || call->req->hdr.opcode != FUSD_OP_IOCTL ||
	    !call->caller || call->abandoned) {
		spin_unlock(&chan->lock);
		ret = -EINVAL;
		goto out;
	}
	call->copying++;	/* pins the caller in its ioctl */
	fusd_call_get(call);
	spin_unlock(&chan->lock);

	if (!fusd_may_reach(call))
		ret = -EPERM;
	else if (cp->len)
		n = access_process_vm(call->caller, cp->caller_addr, kbuf,
				      cp->len, to_caller ? FOLL_WRITE : 0);

	spin_lock(&chan->lock);
	call->copying--;
	spin_unlock(&chan->lock);
	wake_up_all(&chan->copies);
	fusd_call_put(call);

	if (ret)
		goto out;
	if (n != cp->len)
		ret = -EFAULT;
	else if (!to_caller && cp->len &&
		 copy_to_user(u64_to_user_ptr(cp->buf), kbuf, cp->len))
		ret = -EFAULT;
out:
	kvfree(kbuf);
	return ret;
}

/* The daemon is gone: every call still on the channel fails with -EPIPE. */
void fusd_channel_fail_all(struct fusd_channel *chan)
{
	struct fusd_call *call, *tmp;
	struct hlist_node *htmp;
	struct fusd_file *ff;
	LIST_HEAD(failed);
	int bkt;

	spin_lock(&chan->lock);
	WRITE_ONCE(chan->dead, true);
	list_splice_init(&chan->queue, &failed);
	hash_for_each_safe(chan->sent, bkt, htmp, call, hnode) {
		hash_del(&call->hnode);
		list_add_tail(&call->link, &failed);
	}
	list_for_each_entry(call, &failed, link) {
		fusd_done_locked(chan, call);
		call->result = -EPIPE;
		complete(&call->done);
	}
	/* Pollers learn of the death: files now poll EPOLLERR | EPOLLHUP. */
	hash_for_each(chan->files, bkt, ff, fh_node)
		wake_up_interruptible_poll(&ff->poll_wq, EPOLLERR | EPOLLHUP);
	spin_unlock(&chan->lock);

	list_for_each_entry_safe(call, tmp, &failed, link) {
		list_del_init(&call->link);
		fusd_call_put(call);
	}
	wake_up_interruptible_all(&chan->readers);
	wake_up_all(&chan->room);	/* they see the channel dead */
}
