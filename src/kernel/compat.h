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
 * Pages of a user-space buffer the CPU will copy to or from while its
 * owner sleeps.  6.3 added iov_iter_extract_pages(), which pins them
 * (FOLL_PIN, the rule for memory written behind the owner's back); before
 * it, iov_iter_get_pages2() takes plain references.  Both advance the
 * iterator and ask for write access when it is a destination.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
static inline ssize_t fusd_iter_pin_pages(struct iov_iter *iter,
					  struct page **pages, size_t max,
					  unsigned int maxpages, size_t *off)
{
	return iov_iter_extract_pages(iter, &pages, max, maxpages, 0, off);
}

static inline void fusd_unpin_page(struct page *page, bool dirty)
{
	if (dirty)
		unpin_user_pages_dirty_lock(&page, 1, true);
	else
		unpin_user_page(page);
}
#else
static inline ssize_t fusd_iter_pin_pages(struct iov_iter *iter,
					  struct page **pages, size_t max,
					  unsigned int maxpages, size_t *off)
{
	return iov_iter_get_pages2(iter, pages, max, maxpages, off);
}

static inline void fusd_unpin_page(struct page *page, bool dirty)
{
	if (dirty)
		set_page_dirty_lock(page);
	put_page(page);
}
#endif

#endif /* FUSD_COMPAT_H */
