/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Kernel-version differences, all in one place.  Prefer a feature test;
 * fall back to a version test only where the difference is a prototype
 * that cannot be detected by the preprocessor.
 */
#ifndef FUSD_COMPAT_H
#define FUSD_COMPAT_H

#include <linux/version.h>
#include <linux/device.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/coredump.h>
#include <linux/mm.h>
#include <linux/uio.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0)
#error "fusd needs Linux 6.1 or newer"
#endif

/* 6.2 made the device_type devnode() callback take a const device. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
#define FUSD_DEVNODE_CONST const
#else
#define FUSD_DEVNODE_CONST
#endif

/*
 * fusd_task_dumpable(task): is @task dumpable "as its owner" right now,
 * the state in which ptrace lets a process with the same credentials in?
 * Up to 7.1 that is get_dumpable(mm) == SUID_DUMP_USER, read from the
 * mm's flags.  7.2 moved dumpability to task->exec_state (RCU-managed,
 * replaced at execve, shared by CLONE_VM siblings), renamed the values
 * TASK_DUMPABLE_*, and its getter task_exec_state_get_dumpable() is not
 * exported; neither is ptrace_may_access(), which would anyway add LSM
 * hooks and change the rule.  struct task_exec_state is public
 * (<linux/sched/exec_state.h>), so read it the way that getter and
 * ptracer_access_allowed() do: under rcu_read_lock(), with READ_ONCE().
 * The task is pinned by the caller, and its exec_state lives as long as
 * the task_struct.  Feature test: SUID_DUMP_USER is a macro until 7.1.
 */
#ifdef SUID_DUMP_USER
static inline bool fusd_task_dumpable(struct task_struct *task)
{
	return get_dumpable(task->mm) == SUID_DUMP_USER;
}
#else
#include <linux/sched/exec_state.h>

static inline bool fusd_task_dumpable(struct task_struct *task)
{
	const struct task_exec_state *es;
	bool ret;

	rcu_read_lock();
	es = rcu_dereference(task->exec_state);
	ret = es && READ_ONCE(es->dumpable) == TASK_DUMPABLE_OWNER;
	rcu_read_unlock();
	return ret;
}
#endif

/*
 * Pin the pages of the next contiguous piece of a user-backed iterator
 * (FOLL_PIN: the rule for memory written behind its owner's back), with
 * write access when the iterator is a destination; advance past them.
 * 6.3 added iov_iter_extract_pages() for exactly this.  Before it only
 * iov_iter_get_pages2() exists, which takes plain references (FOLL_GET),
 * so there the first segment is pinned by hand and every page is
 * released the same way, with unpin_user_page().
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
static inline ssize_t fusd_iter_pin_pages(struct iov_iter *iter,
					  struct page **pages, size_t max,
					  unsigned int maxpages, size_t *off)
{
	return iov_iter_extract_pages(iter, &pages, max, maxpages, 0, off);
}
#else
static inline ssize_t fusd_iter_pin_pages(struct iov_iter *iter,
					  struct page **pages, size_t max,
					  unsigned int maxpages, size_t *off)
{
	unsigned int flags = iov_iter_rw(iter) == READ ? FOLL_WRITE : 0;
	size_t skip = iter->iov_offset, len;
	const struct iovec *iov = iter->iov;
	unsigned long addr, nr = iter->nr_segs;
	int got;

	if (iter_is_ubuf(iter)) {
		addr = (unsigned long)iter->ubuf + skip;
		len = iter->count;
	} else {
		while (nr && iov->iov_len == skip) {
			iov++;
			nr--;
			skip = 0;
		}
		if (!nr)
			return 0;
		addr = (unsigned long)iov->iov_base + skip;
		len = min(iter->count, iov->iov_len - skip);
	}
	len = min(len, max);
	*off = offset_in_page(addr);
	got = pin_user_pages_fast(addr & PAGE_MASK,
				  min_t(unsigned long, maxpages,
					DIV_ROUND_UP(len + *off, PAGE_SIZE)),
				  flags, pages);
	if (got <= 0)
		return got ? got : -EFAULT;
	len = min(len, (size_t)got * PAGE_SIZE - *off);
	iov_iter_advance(iter, len);
	return len;
}
#endif

static inline void fusd_unpin_page(struct page *page, bool dirty)
{
	if (dirty)
		unpin_user_pages_dirty_lock(&page, 1, true);
	else
		unpin_user_page(page);
}

/* 6.3 made vm_flags read-only outside the vm_flags_*() helpers. */
static inline void fusd_vma_clear_maywrite(struct vm_area_struct *vma)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_clear(vma, VM_MAYWRITE);
#else
	vma->vm_flags &= ~VM_MAYWRITE;
#endif
}

/*
 * Does this VMA count in its file's i_mmap_writable once linked?  From
 * 6.7 only shared mappings that may be written do (vma_is_shared_maywrite);
 * before, every shared one did.
 */
static inline bool fusd_vma_counts_writable(struct vm_area_struct *vma)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
	return vma_is_shared_maywrite(vma);
#else
	return vma->vm_flags & VM_SHARED;
#endif
}

/*
 * Run a file's own mmap on a VMA already set to it.  From 6.17 shmem has
 * only ->mmap_prepare, which vfs_mmap() knows how to apply to an existing
 * VMA; before, call_mmap() (->mmap) is the way.
 */
static inline int fusd_file_mmap(struct file *file, struct vm_area_struct *vma)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 17, 0)
	return vfs_mmap(file, vma);
#else
	return call_mmap(file, vma);
#endif
}

#endif /* FUSD_COMPAT_H */
