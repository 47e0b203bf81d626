/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file fusd.h
 * @brief libfusd: write a Linux character device as an ordinary program.
 *
 * A driver registers a name with fusd_register(); /dev/NAME appears.  Every
 * open, read, write, ... that any process makes on it calls one of the
 * driver's callbacks, and what the callback returns is what the system
 * call returns.  This API is source compatible with the classic FUSD
 * library (2003, kor/Godzil line): a classic driver compiles unchanged.
 *
 * Callbacks return a value >= 0 on success or a negative errno
 * (e.g. -EINVAL) on failure, as a kernel driver would.  A callback may
 * instead return -FUSD_NOREPLY to answer later with fusd_return().
 *
 * The wire protocol under this library is documented in <linux/fusd.h>.
 */
#ifndef FUSD_H
#define FUSD_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/select.h>

#include <linux/fusd.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Library version, derived from the project version. */
#define FUSD_LIB_VERSION_MAJOR 1

/**
 * Return -FUSD_NOREPLY from a callback to leave the caller blocked; answer
 * later with fusd_return() (or drop with fusd_destroy()).
 */
#define FUSD_NOREPLY 0x1000

/** Poll bits of the classic poll_diff protocol. */
#define FUSD_NOTIFY_INPUT  0x1
#define FUSD_NOTIFY_OUTPUT 0x2
#define FUSD_NOTIFY_EXCEPT 0x4

/** Marks the kor/Godzil-compatible API (6-argument fusd_register). */
#define FUSD_KOR_HACKED_VERSION

struct fusd_file_info;

/**
 * Callbacks of a device.  Any may be NULL: a missing open/close succeeds,
 * a missing read/write/ioctl fails with -EINVAL/-EINVAL/-ENOTTY.  The
 * library copies the table at registration; later versions may add
 * members at the end (see fusd_register_size()).
 */
typedef struct fusd_file_operations {
	/** A process opened the device.  Return 0 to accept. */
	int (*open)(struct fusd_file_info *file);
	/** Last close of a successfully opened file; called exactly once. */
	int (*close)(struct fusd_file_info *file);
	/** Fill up to @p length bytes of @p buffer; return the count. */
	ssize_t (*read)(struct fusd_file_info *file, char *buffer,
			size_t length, loff_t *offset);
	/** Consume up to @p length bytes; return how many were taken. */
	ssize_t (*write)(struct fusd_file_info *file, const char *buffer,
			 size_t length, loff_t *offset);
	/**
	 * ioctl(2).  For a command with _IOC_WRITE and/or _IOC_READ, @p data
	 * points to _IOC_SIZE(request) bytes: the caller's input, and what
	 * is left there is copied back for _IOC_READ when the callback
	 * returns >= 0.  For _IOC_NONE (e.g. _IO) @p data is the integer
	 * argument itself, cast to a pointer.  NULL: every ioctl fails
	 * -ENOTTY, and so should any command the driver does not know.
	 */
	int (*ioctl)(struct fusd_file_info *file, int request, void *data);
	/**
	 * Classic poll protocol.  Called after each successful open, and
	 * again each time the driver answers it with a state that differs
	 * from @p cached_state (FUSD_NOTIFY_* bits: what poll()/select() now
	 * report for the file).  Return the current state when it differs,
	 * or -FUSD_NOREPLY, keep @p file, and fusd_return(file, new_state)
	 * whenever the state changes, including when a read or write of the
	 * driver's own changes it (it is not asked again after reads or
	 * writes).  Destroy a held call in close.  The next poll_diff may be
	 * called from inside that fusd_return(): forget the held pointer
	 * before calling it, and do not hold a lock poll_diff takes.  poll()
	 * itself never waits for the driver.  Set: files start with nothing
	 * ready.
	 */
	int (*poll_diff)(struct fusd_file_info *file,
			 unsigned int cached_state);
	/**
	 * The caller of a call this driver deferred (-FUSD_NOREPLY) got a
	 * signal; called once per signal the kernel reports (also when it
	 * came while the callback was still running).  @p file is that
	 * deferred call, which stays valid: the caller keeps waiting for
	 * its answer, and every call is performed exactly once.  To end it
	 * early, answer fusd_return(file, -EINTR): the caller fails with
	 * EINTR, or restarts the call under SA_RESTART.  fusd_destroy() of
	 * an interrupted call does the same.  Or keep it and answer later
	 * with the real result, which the caller gets.  NULL: signals are
	 * ignored and the call waits until it is answered.
	 */
	int (*unblock)(struct fusd_file_info *file);
	/**
	 * mmap(2): share memory of the driver's with the caller.  Set
	 * @p *addr to the start of at least @p length bytes inside a
	 * MAP_SHARED mapping of shmem in this process (MAP_SHARED |
	 * MAP_ANONYMOUS, a memfd, a tmpfs file), page aligned, and
	 * @p *out_length to the bytes available there, and return 0: the
	 * caller's mapping then shows the very same pages.  Or name a memfd
	 * with fusd_mmap_set_fd() and return 0.  @p offset is the caller's
	 * offset into the device (fusd_get_offset() has it in full); @p flags
	 * holds the PROT_READ, PROT_WRITE and PROT_EXEC the caller asked for,
	 * plus 8 (classic FUSD's VM_SHARED) for MAP_SHARED.  A private,
	 * non-shmem, unaligned or too short range, or read-only memory for a
	 * shared writable mapping, is refused by the kernel: the caller gets
	 * EINVAL, ENODEV or EACCES and a message goes to stderr.  Return
	 * -errno to refuse.  -FUSD_NOREPLY defers as for any call: name the
	 * memory with fusd_mmap_set_addr() or fusd_mmap_set_fd(), then
	 * fusd_return(file, 0).  NULL: mmap() fails ENODEV.
	 */
	int (*mmap)(struct fusd_file_info *file, int offset, size_t length,
		    int flags, void **addr, size_t *out_length);
	/* fusd additions, not in classic FUSD: */
	/**
	 * lseek(2).  Return the new position or -errno.  When NULL, SEEK_SET
	 * and SEEK_CUR move the position and anything else fails -EINVAL,
	 * like the kernel's default for a device without a size.
	 */
	loff_t (*llseek)(struct fusd_file_info *file, loff_t offset,
			 int whence);
	/**
	 * close() of one descriptor (each dup'ed copy counts); its return
	 * value is close()'s.  Only requested from the kernel when set.
	 * Not awaited when the closing process is exiting.
	 */
	int (*flush)(struct fusd_file_info *file);
	/** fsync(2)/fdatasync(2).  NULL: fails -EINVAL, as for a kernel
	 * driver without fsync. */
	int (*fsync)(struct fusd_file_info *file, int datasync);
	/**
	 * A recoverable device (fusd_register_recoverable()) taken over
	 * from a previous daemon: called once for each file a client still
	 * holds open, before any call on it.  @p cookie is what the
	 * previous daemon last set for the file with fusd_set_cookie() (0 if
	 * never); *fusd_get_offset(@p file) is its position and
	 * @p file->flags its O_* flags.  Rebuild the file's state here (set
	 * private_data).  The return value is ignored: the file stays open
	 * until its client closes it.  NULL: nothing to rebuild.  (libfusd
	 * 1.4)
	 */
	int (*reopen)(struct fusd_file_info *file, uint64_t cookie);
} fusd_file_operations_t;

struct fusd_request;

/**
 * What a callback knows about the call it is answering.  One is made per
 * request; private_data is carried from call to call of the same open file.
 */
typedef struct fusd_file_info {
	/** What was passed to fusd_register(); changing it has no effect. */
	void *device_info;
	/** Per-open-file data the driver may set (e.g. in open).  A change
	 * made in a deferred call reaches the open file when it is answered. */
	void *private_data;
	/** O_* flags of the caller's open file. */
	unsigned int flags;
	pid_t pid;	/**< caller's process id (daemon's pid namespace) */
	uid_t uid;	/**< caller's fsuid (daemon's user namespace) */
	gid_t gid;	/**< caller's fsgid */

	/* ---- library-private below: do not touch ---- */
	int fd;				/**< channel of the device */
	struct fusd_request *fusd_msg;	/**< the request being answered */
} fusd_file_info_t;

/**
 * Create /dev/NAME and attach callbacks to it.
 *
 * @param name   node path; a leading "/dev/" is skipped.  Sub-directories
 *               are allowed ("drums/bam").  Characters: letters, digits,
 *               "-_.+:@" and "/".
 * @param clazz  class name, kept for information (may be NULL).
 * @param devname name under /sys/class/fusd/ (NULL or "": derived from
 *               name, with '/' turned into '!'); components as in name,
 *               separated by '!' (classic "pager!input").
 * @param mode   permission bits of the node (at most 0777); a classic
 *               S_IFCHR is ignored, setuid/setgid/sticky give EINVAL.
 * @param device_info passed back in every fusd_file_info.
 * @param fops   callbacks; the library copies the table, so it may be
 *               changed or freed afterwards (changes have no effect).
 * @return the device's channel descriptor (>= 0), or -1 with errno set:
 *         EEXIST name taken, EINVAL bad name or mode, ENAMETOOLONG,
 *         ENOENT/ENODEV fusd module not loaded, EACCES no access to
 *         /dev/fusd/control.
 *
 * fusd_register() is a macro: it calls fusd_register_size() with the
 * size of the table this program was compiled with, so that the table can
 * grow in later versions.  The function of that name (taken by
 * &fusd_register, or called as (fusd_register)(...)) is kept for
 * binaries built against libfusd 1.0 and reads a 1.0 table only.
 *
 * The library asks the kernel for the features it uses
 * (FUSD_FEATURE_REPLY_POLL) and uses those granted; on a kernel that
 * knows no features (protocol 1.0) it registers without them.
 */
int fusd_register(const char *name, const char *clazz, const char *devname,
		  mode_t mode, void *device_info,
		  struct fusd_file_operations *fops);

/**
 * fusd_register() with the size of the callback table: what the
 * fusd_register() macro calls.  A table smaller than this library's reads
 * as if the missing callbacks were NULL; a larger one (from a newer
 * <fusd.h>) works as long as every callback this library does not know is
 * NULL (the rule of the kernel's copy_struct_from_user()).
 * @param fops_size sizeof(struct fusd_file_operations) of the caller; a
 *               multiple of the size of a callback pointer.
 * @return as fusd_register(); errno E2BIG: the table sets a callback this
 *         library does not know; EINVAL: @p fops_size is not a whole number
 *         of callbacks.
 */
int fusd_register_size(const char *name, const char *clazz,
		       const char *devname, mode_t mode, void *device_info,
		       const struct fusd_file_operations *fops,
		       size_t fops_size);

/* The classic six-argument call, with the table's size added; each
 * argument is evaluated once. */
#define fusd_register(name, clazz, devname, mode, device_info, fops)        \
	fusd_register_size(name, clazz, devname, mode, device_info, fops,   \
			   sizeof(struct fusd_file_operations))

/** Recovery options of fusd_register_recoverable(). */
struct fusd_recovery {
	/** in: how long (ms) the device, its node and its clients' open
	 * files wait for a new daemon after this one exits or crashes (the
	 * fusd module caps it with its parameter max_grace_ms, 60 s by
	 * default); out: what was granted, 0 if the kernel has no recovery
	 * (then the device is an ordinary one). */
	unsigned int grace_ms;
	/** in: the calls the previous daemon had received but not answered
	 * that this one wants again (their fusd_msg flags carry
	 * FUSD_REQ_RESENT): bit (1 << FUSD_OP_*) for each kind, or
	 * FUSD_RESEND_ALL.  The others fail with EIO in their callers. */
	unsigned int resend;
	/** out: 1 if a device waiting for its daemon was taken over, 0 if
	 * it was registered afresh. */
	int attached;
};

/** Every kind of call, for fusd_recovery.resend. */
#define FUSD_RESEND_ALL							\
	((1U << FUSD_OP_OPEN) | (1U << FUSD_OP_READ) |			\
	 (1U << FUSD_OP_WRITE) | (1U << FUSD_OP_LLSEEK) |		\
	 (1U << FUSD_OP_IOCTL) | (1U << FUSD_OP_FLUSH) |		\
	 (1U << FUSD_OP_FSYNC) | (1U << FUSD_OP_MMAP))

/**
 * fusd_register() for a device that outlives its daemon: when this
 * process exits or is killed, /dev/NAME and every client's open file stay
 * for @p rec->grace_ms, calls wait, and the next process that calls this
 * function with the same name (the same user, or CAP_SYS_ADMIN) takes the
 * device over: its reopen callback hears of each open file, then it gets
 * the calls @p rec->resend asks for, then new ones.  Clients notice
 * nothing but the pause.  Without a waiting device it registers one, as
 * fusd_register() does.  Use the fusd_register_recoverable() macro.
 * @return as fusd_register(); errno EINVAL without @p rec or with
 *         grace_ms 0, EBUSY if a daemon serves the device now, EPERM if
 *         another user's device waits under this name.  (libfusd 1.4)
 */
int fusd_register_recoverable_size(const char *name, const char *clazz,
				   const char *devname, mode_t mode,
				   void *device_info,
				   const struct fusd_file_operations *fops,
				   size_t fops_size, struct fusd_recovery *rec);

#define fusd_register_recoverable(name, clazz, devname, mode, device_info, \
				  fops, rec)				    \
	fusd_register_recoverable_size(name, clazz, devname, mode,	    \
				       device_info, fops,		    \
				       sizeof(struct fusd_file_operations), \
				       rec)

/**
 * Remember @p cookie for the open file of the call @p file (sent with the
 * call's answer): after a restart of a recoverable device, the next
 * daemon's reopen callback gets it.  An integer, never a pointer: it
 * must mean something to another process.  Typically set in open.
 * @return 0, or -1 with errno EINVAL.  (libfusd 1.4)
 */
int fusd_set_cookie(struct fusd_file_info *file, uint64_t cookie);

/** Remove a device: its node disappears and open files fail with EPIPE.
 * @return 0, or -1 with errno EBADF if @p fd is not a fusd device. */
int fusd_unregister(int fd);

/**
 * Answer a call that a callback deferred with -FUSD_NOREPLY, then free
 * @p file.  For a read, the data must already be in fusd_get_read_buffer().
 * The answer is always sent, also for a call whose caller got a signal
 * (unblock): that caller still waits for it.
 * @return 0, or -1 with errno set (EINVAL: the kernel refused the reply).
 */
int fusd_return(struct fusd_file_info *file, ssize_t retval);

/**
 * Set what poll(), select() and epoll report for the open file behind
 * @p file (any fusd_file_info of it that the driver still holds, e.g. in
 * a callback or deferred), and wake its sleepers.  @p mask holds POLL*
 * bits (POLLIN, POLLOUT, POLLPRI, POLLERR, POLLHUP, POLLRDNORM, ...).
 * Without poll_diff a file starts readable and writable; after the first
 * notification it reports exactly the mask given.
 *
 * Called from a callback for the same open file while the call it
 * answers is still unanswered (and the kernel granted
 * FUSD_FEATURE_REPLY_POLL), the mask is not sent at once but travels in
 * that call's reply (the last mask set wins), so the new mask and the
 * call's result reach the caller in one step: a program that polls after
 * a read never sees a mask older than the data it read.  If the callback
 * defers the call instead (-FUSD_NOREPLY), the mask is sent as soon as the
 * callback returns.  Answering a classic poll_diff with fusd_return()
 * behaves the same.  Anywhere else (another file, another thread, a
 * deferred call being answered later) the mask is sent at once.
 * @return 0, or -1 with errno (EPIPE: device unregistered; EINVAL).
 */
int fusd_notify_poll(struct fusd_file_info *file, unsigned int mask);

/**
 * For an ioctl with _IOC_READ: send back only the first @p length bytes
 * of fusd_get_ioctl_buffer() (0 to _IOC_SIZE), and leave the rest of the
 * caller's buffer untouched, as evdev's EVIOCGKEY(len) or hidraw do when
 * they have less than the caller asked for.  Without this call the whole
 * _IOC_SIZE buffer goes back (classic behaviour).  Call it in the ioctl
 * callback or on a deferred ioctl before fusd_return(); the last call
 * counts.  Nothing is copied back when the ioctl fails (result < 0).
 * @return 0, or -1 with errno EINVAL: @p file is NULL, not an ioctl, an
 *         ioctl without _IOC_READ, or @p length exceeds _IOC_SIZE.
 */
int fusd_set_ioctl_length(struct fusd_file_info *file, size_t length);

/**
 * Let one read or write request of device @p fd carry up to @p bytes
 * (default FUSD_IO_MAX, 128 KiB): the read and write callbacks then get
 * up to that many bytes at once.  The kernel grants at most its max_io
 * module parameter (default 1 MiB); 0 restores the default.
 * @return the bytes granted, or -1 with errno EBADF (@p fd is not a
 *         registered device), EINVAL (@p bytes too large) or EOPNOTSUPP
 *         (the kernel speaks a protocol older than 1.2).
 */
ssize_t fusd_set_io_max(int fd, size_t bytes);

/**
 * Answer the mmap call @p file with @p length bytes at @p addr, in a
 * MAP_SHARED shmem mapping of this process (what the mmap callback's
 * *addr and *out_length say), for a call answered later with
 * fusd_return(file, 0).  0, or -1 with errno EINVAL if @p file is not an
 * mmap call.  (libfusd 1.3)
 */
int fusd_mmap_set_addr(struct fusd_file_info *file, void *addr,
		       size_t length);

/**
 * Answer the mmap call @p file with the shmem file @p fd (a memfd) from
 * byte @p offset (page aligned), which must hold the whole mapping: the
 * driver need not map the memory itself.  Call it in the mmap callback
 * and return 0, or before fusd_return(file, 0) of a deferred call; @p fd
 * must stay open until then.  A write-sealed memfd cannot be mapped
 * shared and writable (EPERM), as with mmap() itself.  0, or -1 with
 * errno EINVAL.  (libfusd 1.3)
 */
int fusd_mmap_set_fd(struct fusd_file_info *file, int fd, off_t offset);

/**
 * For an ioctl whose data _IOC_SIZE does not describe (a pointer inside a
 * struct, a variable-length buffer): while answering that ioctl (in the
 * callback, or deferred), copy @p len bytes (at most FUSD_IO_MAX) from
 * the caller's address @p caller_addr into @p dst.  The caller's memory
 * protections apply.
 * @return 0, or -1 with errno: EFAULT (range not accessible), EINVAL (@p
 * file is not an ioctl awaiting its answer, its caller left, or @p len is
 * too large), EPERM (the driver may not reach that caller: it needs
 * CAP_SYS_PTRACE, or a dumpable caller with its own uid and gid), EPIPE
 * (device unregistered).
 */
int fusd_copy_from_caller(struct fusd_file_info *file, void *dst,
			  unsigned long caller_addr, size_t len);

/** The reverse of fusd_copy_from_caller(): write @p len bytes from @p src
 * to the caller's address @p caller_addr.  Read-only caller memory gives
 * EFAULT.  Same errors. */
int fusd_copy_to_caller(struct fusd_file_info *file, unsigned long caller_addr,
			const void *src, size_t len);

/** Free a deferred fusd_file_info without answering (e.g. after close).
 * A caller that still waits gets no answer until a signal reaches it:
 * then the call is answered -EINTR (at once if it already got one, see
 * unblock), as in classic FUSD. */
void fusd_destroy(struct fusd_file_info *file);

/** Read and handle the pending requests of one device channel. */
void fusd_dispatch(int fd);

/** Serve every registered device until none is left.  Uses poll(), so any
 * descriptor number works.  With a single device and a kernel speaking
 * protocol 1.2 it waits in the kernel instead, answering each call and
 * taking the next in one system call. */
void fusd_run(void);

/**
 * Serve every registered device with @p nthreads threads (the caller is
 * one of them) until none is left.  Callbacks then run concurrently and
 * must lock their own data; deferred answers may come from any thread.
 * @return 0 when no device is left, -1 with errno EINVAL for nthreads < 1.
 */
int fusd_run_mt(int nthreads);

/**
 * One descriptor for an application's own event loop (epoll, poll,
 * select, libevent...): it becomes readable whenever any fusd device has
 * requests.  Then call fusd_dispatch_ready().  Devices registered later
 * are included.  @return the descriptor (owned by the library), or -1.
 */
int fusd_epoll_fd(void);

/** Handle every device that has requests now; never blocks.
 * @return how many devices were handled, or -1 with errno. */
int fusd_dispatch_ready(void);

/** Add every device channel to @p set and raise @p *max accordingly.
 * Channels numbered FD_SETSIZE or above cannot be put in an fd_set and
 * are skipped: use fusd_run() or poll() on them instead. */
void fusd_fdset_add(fd_set *set, int *max);

/** fusd_dispatch() every device channel that is set in @p set. */
void fusd_dispatch_fdset(fd_set *set);

/** Classic "RWE" rendering of FUSD_NOTIFY_* bits (static ring buffer). */
char *fusd_unparse_flags(int flags);

/** @name Direct access to the request being answered. */
/**@{*/
int fusd_get_call_type(struct fusd_file_info *file); /**< FUSD_OP_* */
char *fusd_get_read_buffer(struct fusd_file_info *file);
const char *fusd_get_write_buffer(struct fusd_file_info *file);
size_t fusd_get_length(struct fusd_file_info *file);
loff_t *fusd_get_offset(struct fusd_file_info *file);
int fusd_get_poll_diff_cached_state(struct fusd_file_info *file);
int fusd_get_ioctl_request(struct fusd_file_info *file);
unsigned long fusd_get_ioctl_arg(struct fusd_file_info *file);
void *fusd_get_ioctl_buffer(struct fusd_file_info *file);
/**@}*/

/** Classic helper: register with a table built in place; prints a
 * warning if registration fails. */
#define fusd_simple_register(name, clazz, devname, perms, arg, ops...)      \
	do {                                                                \
		static struct fusd_file_operations fusd_simple_fops_ = { ops }; \
		if (fusd_register(name, clazz, devname, perms, arg,         \
				  &fusd_simple_fops_) < 0)                  \
			perror("warning: fusd unavailable");                \
	} while (0)

#ifdef __cplusplus
}
#endif

#endif /* FUSD_H */
