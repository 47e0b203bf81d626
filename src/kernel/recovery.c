// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Recovery: a device that outlives its daemon (FUSD_FEATURE_RECOVERY).
 *
 * When the control file of a recoverable channel is released, the channel
 * is "detached" instead of killed: the node, the open files and every call
 * stay, new calls queue up, and a timer (the grace period) runs.  A new
 * daemon of the same owner that registers the name with
 * FUSD_REGISTER_ATTACH takes the very same channel over (its endpoint
 * serves it from then on), so nothing a client holds has to change: it
 * first reads a REOPEN per open file, then the calls the previous daemon
 * had read and not answered (resent or failed, as it asked), then the
 * rest.  If nobody attaches in time, the timer kills the channel as the
 * daemon's death would have.
 */
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pid.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>

#include "fusd_i.h"

unsigned int fusd_max_grace_ms = 60000;
module_param_named(max_grace_ms, fusd_max_grace_ms, uint, 0644);
MODULE_PARM_DESC(max_grace_ms, "Longest a recoverable device waits for a new daemon, ms (default 60000)");

/* Channels waiting for a daemon, so that unloading can end their wait. */
static DEFINE_MUTEX(fusd_detached_lock);
static LIST_HEAD(fusd_detached);

/* No longer waiting for a daemon (reg_lock held). */
static void fusd_detached_forget(struct fusd_channel *chan)
{
	mutex_lock(&fusd_detached_lock);
	list_del_init(&chan->detached_entry);
	mutex_unlock(&fusd_detached_lock);
}

/*
 * The timer ran: if the grace period is over and no daemon attached, as
 * if the daemon had just died.  (A run left over from an earlier wait,
 * after an attach and a new detach, finds the deadline ahead: nothing.)
 */
static void fusd_grace_expired(struct work_struct *work)
{
	struct fusd_channel *chan = container_of(to_delayed_work(work),
						 struct fusd_channel,
						 grace_work);
	bool expire;

	mutex_lock(&chan->reg_lock);
	expire = chan->detached && !time_before(jiffies, chan->grace_end);
	if (expire) {
		spin_lock(&chan->lock);
		chan->detached = false;
		spin_unlock(&chan->lock);
	}
	if (!chan->detached)
		fusd_detached_forget(chan);
	mutex_unlock(&chan->reg_lock);
	if (expire)
		fusd_channel_kill(chan);
	fusd_channel_put(chan);	/* the timer's */
}

void fusd_recovery_init_channel(struct fusd_channel *chan)
{
	INIT_DELAYED_WORK(&chan->grace_work, fusd_grace_expired);
	INIT_LIST_HEAD(&chan->detached_entry);
}

/*
 * The daemon's end of 'chan' closed.  A recoverable device stays and
 * waits for the next daemon: true.  false: kill it as usual.
 */
bool fusd_recovery_detach(struct fusd_channel *chan)
{
	mutex_lock(&chan->reg_lock);
	if (!chan->dev || chan->dead ||
	    !(chan->features & FUSD_FEATURE_RECOVERY) || !chan->grace_ms) {
		mutex_unlock(&chan->reg_lock);
		return false;
	}
	spin_lock(&chan->lock);
	chan->detached = true;
	spin_unlock(&chan->lock);
	chan->grace_end = jiffies + msecs_to_jiffies(chan->grace_ms);
	mutex_lock(&fusd_detached_lock);
	if (list_empty(&chan->detached_entry))
		list_add_tail(&chan->detached_entry, &fusd_detached);
	mutex_unlock(&fusd_detached_lock);
	/* One reference per queued run of the timer. */
	kref_get(&chan->kref);
	if (!schedule_delayed_work(&chan->grace_work,
				   msecs_to_jiffies(chan->grace_ms)))
		fusd_channel_put(chan);
	mutex_unlock(&chan->reg_lock);
	return true;
}

/* The REOPENs of the open files, one call each, to fill under the lock. */
static int fusd_reopens_alloc(struct fusd_channel *chan, struct list_head *l)
{
	unsigned int n = 0, i;
	struct fusd_file *ff;
	struct fusd_call *call;
	int bkt;

	/* While detached no file can be accepted: the count only falls. */
	spin_lock(&chan->lock);
	hash_for_each(chan->files, bkt, ff, fh_node)
		n += ff->opened;
	spin_unlock(&chan->lock);
	for (i = 0; i < n; i++) {
		call = fusd_call_new(chan, 0, FUSD_OP_REOPEN, 0);
		if (!call)
			return -ENOMEM;
		list_add_tail(&call->link, l);
	}
	return 0;
}

static void fusd_reopens_free(struct list_head *l)
{
	struct fusd_call *call, *tmp;

	list_for_each_entry_safe(call, tmp, l, link) {
		list_del_init(&call->link);
		fusd_call_put(call);
	}
}

/* Each open file's REOPEN, and its poll mask back to the default. */
static void fusd_reopens_fill_locked(struct fusd_channel *chan,
				     struct list_head *l,
				     struct list_head *out)
{
	__poll_t mask = fusd_poll_default(chan);
	struct fusd_call *call;
	struct fusd_request *req;
	struct fusd_file *ff;
	int bkt;

	hash_for_each(chan->files, bkt, ff, fh_node) {
		fusd_file_poll_set(ff, mask);
		if (!ff->opened || list_empty(l))
			continue;
		call = list_first_entry(l, struct fusd_call, link);
		list_move_tail(&call->link, out);
		req = call->req;
		req->fh = ff->fh;
		req->f_flags = READ_ONCE(ff->filp->f_flags);
		req->u.reopen.offset = READ_ONCE(ff->filp->f_pos);
		req->u.reopen.cookie = ff->cookie;
		/* Nobody called: no caller to name. */
		req->pid = 0;
		req->tgid = 0;
		req->uid = 0;
		req->gid = 0;
		req->hdr.id = ++chan->next_id;
		call->no_reply = true;
		call->orphan = true;
		call->state = FUSD_CALL_QUEUED;
	}
}

/* Keep 'list' in id order (the order the previous daemon read them). */
static void fusd_insert_by_id(struct list_head *list, struct fusd_call *call)
{
	struct fusd_call *pos;

	list_for_each_entry(pos, list, link) {
		if (pos->req->hdr.id > call->req->hdr.id) {
			list_add_tail(&call->link, &pos->link);
			return;
		}
	}
	list_add_tail(&call->link, list);
}

/*
 * The calls the previous daemon read and did not answer: those 'resend'
 * names go back on the queue (in 'out', marked FUSD_REQ_RESENT), the
 * others fail with EIO; those nobody waits for are dropped.  Their
 * INTERRUPTs are taken back, to go again after the call if it is resent.
 */
static void fusd_sent_sort_locked(struct fusd_channel *chan, u32 resend,
				  struct list_head *out)
{
	struct fusd_call *call, *tmp;
	struct hlist_node *htmp;
	LIST_HEAD(intrs);
	int bkt;

	list_for_each_entry_safe(call, tmp, &chan->queue, link) {
		if (call->owner)
			list_move_tail(&call->link, &intrs);
	}
	hash_for_each_safe(chan->sent, bkt, htmp, call, hnode) {
		if (call->owner) {
			hash_del(&call->hnode);
			call->state = FUSD_CALL_QUEUED;	/* for the unlink */
			INIT_LIST_HEAD(&call->link);
			list_add_tail(&call->link, &intrs);
		}
	}
	/* Unlinked as queued calls; free to go again later (NEW). */
	list_for_each_entry_safe(call, tmp, &intrs, link) {
		fusd_call_unlink_locked(chan, call);
		call->state = FUSD_CALL_NEW;
	}

	hash_for_each_safe(chan->sent, bkt, htmp, call, hnode) {
		if (call->orphan) {
			fusd_call_unlink_locked(chan, call);
		} else if (resend & (1U << call->req->hdr.opcode)) {
			hash_del(&call->hnode);
			call->state = FUSD_CALL_QUEUED;
			call->req->flags |= FUSD_REQ_RESENT;
			fusd_insert_by_id(out, call);
		} else {
			call->result = -EIO;
			fusd_call_unlink_locked(chan, call);
			complete(&call->done);
		}
	}
}

/* Swap in the new daemon's credentials and thread group (RCU readers). */
static void fusd_identity_take(struct fusd_channel *old,
			       struct fusd_channel *own)
{
	const struct cred *cred;
	struct pid *pid;

	cred = rcu_replace_pointer(old->cred,
				   get_cred(rcu_dereference_protected(own->cred, 1)),
				   lockdep_is_held(&old->reg_lock));
	pid = rcu_replace_pointer(old->owner,
				  get_pid(rcu_dereference_protected(own->owner, 1)),
				  lockdep_is_held(&old->reg_lock));
	synchronize_rcu();
	put_cred(cred);
	put_pid(pid);
}

/*
 * FUSD_REGISTER_ATTACH from the fresh channel 'own' (its reg_lock held)
 * to 'old', the channel of the device args->name.  Fills in what
 * REGISTER returns.
 */
int fusd_recovery_attach(struct fusd_channel *old, struct fusd_channel *own,
			 struct fusd_register *args)
{
	LIST_HEAD(reopens);
	LIST_HEAD(reopened);
	LIST_HEAD(resent);
	int ret;

	ret = fusd_reopens_alloc(old, &reopens);
	if (ret)
		goto out_free;

	/* Inside own->reg_lock: a fresh channel is locked only by its own
	 * endpoint, never while another channel's lock is held.
	 */
	mutex_lock_nested(&old->reg_lock, SINGLE_DEPTH_NESTING);
	ret = -EBUSY;
	if (!old->detached || !old->dev)
		goto out_unlock;
	ret = -EPERM;
	if (!fusd_registry_may_attach(rcu_dereference_protected(own->cred, 1),
				      old->dev->uid))
		goto out_unlock;
	ret = -EINVAL;
	if ((args->flags & ~FUSD_REGISTER_ATTACH) != old->reg_flags)
		goto out_unlock;
	/* The timer's reference stays with it if it runs now: it will find
	 * the device attached and do nothing.
	 */
	if (cancel_delayed_work(&old->grace_work))
		fusd_channel_put(old);	/* ours keeps it */
	fusd_detached_forget(old);
	fusd_identity_take(old, own);

	spin_lock(&old->lock);
	old->detached = false;
	old->proto_minor = min_t(u16, args->minor, FUSD_PROTO_MINOR);
	WRITE_ONCE(old->features, args->features & FUSD_FEATURES_ALL);
	old->grace_ms = min(args->grace_ms, READ_ONCE(fusd_max_grace_ms));
	if (!old->grace_ms)
		WRITE_ONCE(old->features,
			   old->features & ~FUSD_FEATURE_RECOVERY);
	fusd_sent_sort_locked(old, args->resend, &resent);
	fusd_reopens_fill_locked(old, &reopens, &reopened);
	/* REOPENs first, then the resent calls, then those queued since. */
	list_splice(&resent, &old->queue);
	list_splice(&reopened, &old->queue);
	spin_unlock(&old->lock);

	args->minor = old->proto_minor;
	args->io_max = old->io_max;
	args->features = old->features;
	args->supported = FUSD_FEATURES_ALL;
	args->grace_ms = old->grace_ms;
	args->dev_major = MAJOR(old->dev->dev.devt);
	args->dev_minor = MINOR(old->dev->dev.devt);
	ret = 0;
out_unlock:
	mutex_unlock(&old->reg_lock);
	if (!ret)
		fusd_wake_reader(old);
out_free:
	fusd_reopens_free(&reopens);	/* files closed meanwhile */
	return ret;
}

/* Unloading: nobody can attach any more; end every wait now. */
void fusd_recovery_exit(void)
{
	struct fusd_channel *chan;

	for (;;) {
		mutex_lock(&fusd_detached_lock);
		chan = list_first_entry_or_null(&fusd_detached,
						struct fusd_channel,
						detached_entry);
		if (chan) {
			list_del_init(&chan->detached_entry);
			kref_get(&chan->kref);
		}
		mutex_unlock(&fusd_detached_lock);
		if (!chan)
			break;
		mutex_lock(&chan->reg_lock);
		chan->grace_end = jiffies;
		mutex_unlock(&chan->reg_lock);
		mod_delayed_work(system_wq, &chan->grace_work, 0);
		flush_delayed_work(&chan->grace_work);
		fusd_channel_put(chan);
	}
}
