// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * mmap: a client's mapping becomes a mapping of shmem memory the daemon
 * owns, so both share the very same pages.
 *
 * The daemon answers FUSD_OP_MMAP with an address in its own MAP_SHARED
 * shmem memory, or with a shmem fd.  That is resolved in the daemon's
 * context while the kernel takes the reply (fusd_mmap_take_reply): the
 * call then holds a reference on the shmem file and the page offset.  In
 * the client's ->mmap the VMA is switched to that file and the file's own
 * mmap runs, as dma-buf does for its exporters: faults, swap, fork and
 * the pages' lifetime are shmem's, with no fault handler and no pinning
 * here.
 */
#include <linux/fcntl.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/task_work.h>
#include <linux/uaccess.h>

#include "fusd_i.h"

/* Memory at an address in the daemon's (current) address space. */
static int fusd_mmap_from_addr(struct fusd_call *call,
			       const struct fusd_mmap_reply *r, bool write)
{
	struct mm_struct *mm = current->mm;
	u64 len = call->req->u.mmap.length;
	struct vm_area_struct *vma;
	int err = 0;

	if (!PAGE_ALIGNED(r->addr) || r->length < len)
		return -EINVAL;
	if (mmap_read_lock_killable(mm))
		return -EINTR;
	vma = vma_lookup(mm, r->addr);
	if (!vma || len > vma->vm_end - r->addr)
		err = -EINVAL;	/* unmapped, or too short in one mapping */
	else if (!(vma->vm_flags & VM_SHARED))
		err = -EINVAL;	/* private: the daemon's view is its own */
	else if (!shmem_file(vma->vm_file))
		err = -ENODEV;
	else if (write && !(vma->vm_flags & VM_WRITE))
		err = -EACCES;
	if (!err) {
		call->mmap_file = get_file(vma->vm_file);
		call->mmap_pgoff = vma->vm_pgoff +
				   ((r->addr - vma->vm_start) >> PAGE_SHIFT);
		call->mmap_may_write = vma->vm_flags & VM_WRITE;
	}
	mmap_read_unlock(mm);
	return err;
}

/* Memory in a shmem file the daemon has open. */
static int fusd_mmap_from_fd(struct fusd_call *call,
			     const struct fusd_mmap_reply *r, bool write)
{
	u64 len = call->req->u.mmap.length;
	struct file *file;
	int err = 0;

	if (!PAGE_ALIGNED(r->offset) || r->length || r->offset > S64_MAX - len)
		return -EINVAL;
	file = fget(r->fd);
	if (!file)
		return -EBADF;
	if (!shmem_file(file))
		err = -ENODEV;
	else if (r->offset + len > i_size_read(file_inode(file)))
		err = -EINVAL;
	else if (!(file->f_mode & FMODE_READ) ||
		 (write && !(file->f_mode & FMODE_WRITE)))
		err = -EACCES;
	if (err) {
		fput(file);
		return err;
	}
	call->mmap_file = file;
	call->mmap_pgoff = r->offset >> PAGE_SHIFT;
	call->mmap_may_write = file->f_mode & FMODE_WRITE;
	return 0;
}

/*
 * Take the payload of a reply to FUSD_OP_MMAP, in the daemon's context.
 * -EFAULT if it cannot be read (the call waits on, as for any reply);
 * otherwise 0, with what the memory turned out to be in call->mmap_err.
 */
int fusd_mmap_take_reply(struct fusd_call *call, const char __user *ubuf,
			 size_t len)
{
	const struct fusd_request *req = call->req;
	bool write = (req->u.mmap.flags & FUSD_MMAP_SHARED) &&
		     (req->u.mmap.prot & PROT_WRITE);
	struct fusd_mmap_reply r;

	if (len != sizeof(r))
		return -EINVAL;	/* fusd_reply_ok() saw to it already */
	if (copy_from_user(&r, ubuf, sizeof(r)))
		return -EFAULT;
	if (r.flags & ~FUSD_MMAP_REPLY_FLAGS_ALL || r.reserved[0] ||
	    r.reserved[1])
		call->mmap_err = -EINVAL;
	else if (!current->mm || current->mm == call->caller_mm)
		call->mmap_err = -EDEADLK;	/* its mmap_lock is held */
	else if (r.flags & FUSD_MMAP_FD)
		call->mmap_err = fusd_mmap_from_fd(call, &r, write);
	else
		call->mmap_err = fusd_mmap_from_addr(call, &r, write);
	return 0;
}

/*
 * A shared mapping that may become writable counts in its file's
 * i_mmap_writable, which is how memfd's F_SEAL_WRITE knows there are
 * none.  mmap_region() counts it once the VMA is linked, after ->mmap
 * returns, and its own check ran on the device file, not this one.  So
 * the check is made here (mapping_map_writable() fails on a sealed file)
 * and its count kept until the client's mmap() has returned, when the
 * VMA's own count has taken over: a seal can never slip in between.
 */
struct fusd_writable_hold {
	struct callback_head work;
	struct file *shm;
	struct file *dev_file;	/* keeps this module until the work ran */
};

static void fusd_writable_release(struct callback_head *work)
{
	struct fusd_writable_hold *hold =
		container_of(work, struct fusd_writable_hold, work);
	struct file *dev_file = hold->dev_file;

	mapping_unmap_writable(hold->shm->f_mapping);
	fput(hold->shm);
	kfree(hold);
	fput(dev_file);
}

static int fusd_hold_writable(struct file *shm, struct file *dev_file)
{
	struct fusd_writable_hold *hold;
	int err;

	/* The release runs on the way back to user space. */
	if (current->flags & PF_KTHREAD)
		return -EINVAL;
	hold = kmalloc(sizeof(*hold), GFP_KERNEL);
	if (!hold)
		return -ENOMEM;
	err = mapping_map_writable(shm->f_mapping);
	if (err) {
		kfree(hold);
		return err;
	}
	hold->shm = get_file(shm);
	hold->dev_file = get_file(dev_file);
	init_task_work(&hold->work, fusd_writable_release);
	if (task_work_add(current, &hold->work, TWA_RESUME))
		fusd_writable_release(&hold->work);
	return 0;
}

/* The client's VMA becomes a mapping of the daemon's shmem file. */
static int fusd_mmap_install(struct file *file, struct fusd_call *call,
			     struct vm_area_struct *vma)
{
	struct file *shm = call->mmap_file;
	unsigned int seals = READ_ONCE(SHMEM_I(file_inode(shm))->seals);
	bool sealed = seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE);
	int err;

	if ((vma->vm_flags & VM_SHARED) && (sealed || !call->mmap_may_write)) {
		if (vma->vm_flags & VM_WRITE)
			return sealed ? -EPERM : -EACCES;
		/* Nor by mprotect() later. */
		fusd_vma_clear_maywrite(vma);
	}
	if (fusd_vma_counts_writable(vma)) {
		err = fusd_hold_writable(shm, file);
		if (err)
			return err;
	}
	vma_set_file(vma, shm);
	vma->vm_pgoff = call->mmap_pgoff;
	return fusd_file_mmap(shm, vma);
}

static u32 fusd_mmap_prot(const struct vm_area_struct *vma)
{
	return (vma->vm_flags & VM_READ ? PROT_READ : 0) |
	       (vma->vm_flags & VM_WRITE ? PROT_WRITE : 0) |
	       (vma->vm_flags & VM_EXEC ? PROT_EXEC : 0);
}

/*
 * ->mmap of a client file.  It runs with the caller's mmap_lock held for
 * writing: the daemon's answer is awaited like any call (SIGKILL ends the
 * wait), and a daemon that maps its own device is refused at once rather
 * than left to block on that lock.
 */
int fusd_client_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct fusd_file *ff = file->private_data;
	struct fusd_channel *chan = ff->chan;
	struct fusd_call *call;
	int ret;

	if (!(chan->features & FUSD_FEATURE_MMAP))
		return -ENODEV;
	if (task_tgid(current) == rcu_access_pointer(chan->owner))
		return -EDEADLK;
	call = fusd_client_call(file, ff, FUSD_OP_MMAP, 0);
	if (!call)
		return -ENOMEM;
	call->req->u.mmap.offset = (u64)vma->vm_pgoff << PAGE_SHIFT;
	call->req->u.mmap.length = vma->vm_end - vma->vm_start;
	call->req->u.mmap.prot = fusd_mmap_prot(vma);
	call->req->u.mmap.flags = vma->vm_flags & VM_SHARED ?
				  FUSD_MMAP_SHARED : 0;
	call->caller_mm = current->mm;

	ret = fusd_client_run(ff, call);
	if (!ret && !call->mmap_file)
		ret = -EIO;	/* cannot happen: a 0 result names memory */
	if (!ret)
		ret = fusd_mmap_install(file, call, vma);
	fusd_call_put(call);
	return ret;
}
