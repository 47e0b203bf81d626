/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause */
/*
 * fusd: Framework for User-Space Devices -- kernel/user wire protocol.
 *
 * A driver daemon opens /dev/fusd/control.  Each open is a *channel*.  The
 * daemon registers one device on the channel with FUSD_IOC_REGISTER and the
 * node /dev/NAME appears.  From then on every system call a client makes on
 * /dev/NAME becomes a *request* that the daemon read()s from the channel fd,
 * and the daemon answers it by write()ing a *reply* to the same fd.  Nothing
 * else is needed: any language that can open, ioctl, read and write a file
 * descriptor can implement a device.
 *
 * Messages
 * --------
 * Every message starts with struct fusd_msg_header.  'size' is the whole
 * message (header + payload) in bytes and 'hdr_size' the size of the fixed
 * header the sender used; the payload starts at offset 'hdr_size'.  A
 * receiver must use these two fields, never sizeof(), to walk messages, so
 * that a later protocol minor version can grow the header.  The kernel
 * accepts a daemon's message header of any size from the one its opcode
 * had in 1.0 (FUSD_*_SIZE_V1_0) up: bytes it does not know must be zero
 * (else -EINVAL), and fields a shorter header lacks read as zero.
 *
 * Reading the channel (kernel -> daemon):
 *   - read() returns one or more whole requests (struct fusd_request
 *     followed by its payload).  It never splits a message.  A buffer of
 *     FUSD_MSG_MAX bytes always holds at least one request; a smaller
 *     buffer that cannot hold the next request gets -EINVAL and the
 *     request stays queued.
 *   - read() blocks until a request is queued, unless the channel is
 *     O_NONBLOCK (then -EAGAIN).  poll() reports POLLIN while requests are
 *     queued.  Several threads may read one channel: each queued request
 *     wakes one of them (pollers of the channel are all woken).
 *   - A buffer of io_max + FUSD_MSG_HDR_ROOM bytes always holds the next
 *     request (io_max: FUSD_IO_MAX unless raised, see FUSD_IOC_SET_IO_MAX).
 *   - A channel holds at most a module-wide number of calls queued or
 *     awaiting a reply (parameter max_pending, default 1024; RELEASEs and
 *     INTERRUPTs do not count).  Beyond it a caller waits before its call
 *     is queued (a signal ends that wait like any), or fails with EAGAIN
 *     if its file is O_NONBLOCK; close() is never held back.
 *
 * Writing the channel (daemon -> kernel):
 *   - write() carries one or more whole messages back to back: replies
 *     (struct fusd_reply followed by its payload) and poll notifications
 *     (struct fusd_notify_poll).  The return value is the number of
 *     bytes consumed.  A malformed reply (bad size, unknown opcode, non-zero
 *     reserved field, result out of range, payload longer than the request
 *     allows, FUSD_REPLY_SET_OFFSET with a negative offset or on a call
 *     other than READ and WRITE, id never issued) fails the write with
 *     -EINVAL; if the reply named a request that is still waiting, that
 *     caller gets -EIO.  When a later message of a write() is refused,
 *     the write() returns the bytes of the messages before it (consumed),
 *     and the refused one fails the next write() that starts with it.
 *   - A reply naming an id the kernel issued that awaits no reply (a
 *     call already answered, an INTERRUPT that is over, a call withdrawn
 *     before the daemon had it) is consumed silently: it is not an error
 *     for the daemon.  A call whose caller was killed still awaits its
 *     reply (see "Signals").
 *   - Replies are matched to requests by the 64-bit 'id' only.  Ids are
 *     never 0, unique on a channel and issued in increasing order; a
 *     request may come again under its id (an INTERRUPT re-sent after
 *     -EAGAIN, a request whose copy to the daemon's buffer failed).
 *
 * Results follow kernel conventions: a negative 'result' is -errno
 * (between -1 and -FUSD_ERRNO_MAX); zero or positive is the system call's
 * return value.  A reply may also set the file's poll mask in the same
 * step as the call completes (FUSD_REPLY_POLL, feature
 * FUSD_FEATURE_REPLY_POLL), so a caller that polls right after the call
 * returns never sees a mask older than the answer.
 *
 * Signals (every call happens exactly once):
 *   - A request the daemon has not read yet is withdrawn when its caller
 *     gets a signal; the daemon never sees it.  The system call fails
 *     with EINTR, or restarts under SA_RESTART.
 *   - Once the daemon has read it, a signal does not end the call.  The
 *     kernel queues one FUSD_OP_INTERRUPT naming it, and the caller keeps
 *     waiting (stop signals, ptrace and the freezer do not end this wait;
 *     only a fatal signal does).  The daemon answers the call either with
 *     its real result, which the caller gets, or with -EINTR: the caller
 *     then fails with EINTR, or restarts the call under SA_RESTART as a
 *     new request.  A daemon that ignores INTERRUPT behaves as a kernel
 *     driver that ignores signals until it answers.
 *   - A fatal signal abandons the call: nobody waits for it any more, but
 *     it stays pending until the daemon answers, and that late reply is
 *     consumed without error and still sets the file's poll mask (another
 *     process may share the file).  An OPEN accepted after its caller left
 *     is undone with a RELEASE, so RELEASE comes exactly once per accepted
 *     OPEN.  A signal that comes while the request is being copied to the
 *     daemon, when that copy fails, withdraws it as if it were still
 *     queued.
 *   - A channel that negotiated minor 0 keeps the 1.0 rule, made for
 *     daemons that do not answer interrupted calls: a signal withdraws
 *     the call even after the daemon read it, the INTERRUPT then needs no
 *     answer, and an OPEN read by the daemon is undone as above.
 *   - A caller killed while the daemon copies its payload (its read() of
 *     a WRITE, its reply to a READ) leaves at once; the copy goes on into
 *     pages that stay pinned until it ends.  The reply to a call whose
 *     caller was killed is not copied anywhere.  A channel on minor 0
 *     never lends its callers' memory, so its 1.0 rule stays whole.
 *   - A reply whose payload cannot be read fails the write() with
 *     -EFAULT and leaves the call waiting for a reply; the part already
 *     copied may have reached the caller's buffer (as with a read() that
 *     fails part-way).
 *
 * Requests, and what their reply carries:
 *   FUSD_OP_OPEN     new client file.  result 0 accepts, -errno refuses
 *                    (a positive result is malformed, as for RELEASE,
 *                    FLUSH, FSYNC and INTERRUPT).
 *                    The 'fh' of the request names this open file in
 *                    every later request until its FUSD_OP_RELEASE.
 *   FUSD_OP_RELEASE  last close of a client file that was opened
 *                    successfully; sent exactly once.  close() does not
 *                    wait for it (a daemon must never be able to block
 *                    an exiting process); the daemon still replies, and
 *                    the result is ignored.  Requests are delivered in
 *                    order, so a RELEASE precedes any later OPEN.
 *   FUSD_OP_READ     u.rw.size bytes wanted at u.rw.offset.  result n >= 0
 *                    with exactly n payload bytes (n <= u.rw.size).  If
 *                    FUSD_REPLY_SET_OFFSET is set the file position
 *                    becomes reply 'offset', otherwise it advances by n.
 *   FUSD_OP_WRITE    payload holds u.rw.size bytes to be written at
 *                    u.rw.offset.  result n <= u.rw.size bytes accepted;
 *                    offset rules as for READ.  No reply payload.
 *                    One read(), readv(), pread() ... (or write) is one
 *                    request of at most io_max bytes (a larger one is a
 *                    short transfer).  On minor 1 and later a large
 *                    payload (module parameter direct_min, 16 KiB) is
 *                    copied straight between the caller's memory, pinned
 *                    while it waits, and the daemon's buffer: by the
 *                    daemon's read() for a WRITE, by its reply's write()
 *                    for a READ.  A write() whose buffer is not readable,
 *                    or a large read() whose buffer cannot be pinned,
 *                    fails with EFAULT before the daemon sees the request;
 *                    a buffer that stops being accessible part-way makes
 *                    a shorter request (a large write() from memory that
 *                    cannot be pinned, such as mapped device memory, is
 *                    copied instead).  A smaller read() into a bad buffer
 *                    fails with EFAULT after the daemon answered.
 *   FUSD_OP_LLSEEK   u.seek.offset and u.seek.whence as given to lseek().
 *                    result is the new position (>= 0) or -errno.
 *   FUSD_OP_IOCTL    u.ioctl.cmd and u.ioctl.arg as given to ioctl().  The
 *                    kernel moves data by the _IOC encoding of cmd: if
 *                    _IOC_DIR has _IOC_WRITE, the payload holds the
 *                    _IOC_SIZE bytes at arg; if it has _IOC_READ, the
 *                    reply may carry up to u.ioctl.size bytes, copied to
 *                    arg when result >= 0; exactly the bytes the reply
 *                    carries are copied, the rest of the caller's buffer
 *                    is untouched (a driver that has less than the caller
 *                    asked for, as evdev's EVIOCGKEY(len), sends less).
 *                    With _IOC_NONE, arg is a
 *                    plain integer and nothing is copied.  result is
 *                    ioctl()'s return value (at most INT_MAX).  A daemon
 *                    that does not know cmd answers -ENOTTY.
 *                    FUSD_REQ_COMPAT in 'flags' marks a 32-bit caller.
 *   FUSD_OP_FLUSH    close() of one descriptor of the file (there may be
 *                    several, after dup or fork).  Sent only if the
 *                    daemon registered with FUSD_REGISTER_FLUSH.  result
 *                    (0 or -errno) is what close() returns.  A task that
 *                    is exiting does not wait for the reply.
 *   FUSD_OP_FSYNC    fsync() or fdatasync() (u.fsync.datasync set).
 *                    result 0 or -errno.
 *   FUSD_OP_INTERRUPT  the caller of request u.interrupt.id (same fh) got
 *                    a signal after the daemon read that request; see
 *                    "Signals" above.  It always follows the request it
 *                    names.  No reply is needed.  A daemon that has not
 *                    seen request u.interrupt.id yet (another thread
 *                    holds it; a single reader can tell by the id, since
 *                    ids are issued in increasing order and an INTERRUPT
 *                    always comes after its call) may reply to the INTERRUPT's own id with
 *                    result -EAGAIN: the kernel queues the INTERRUPT again
 *                    behind the requests waiting now, for as long as the
 *                    call it names waits.  Any other valid reply to it
 *                    (result 0 or -errno, no payload, no flags), or any
 *                    reply once that call is over, is consumed silently.
 *
 * Poll: the kernel keeps a poll mask per open file and never asks the
 *   daemon during poll().  Without FUSD_REGISTER_POLL a file starts
 *   readable and writable (like a driver without poll); with it, a file
 *   starts with nothing ready.  Either way, a FUSD_OP_NOTIFY_POLL sets
 *   the mask (it may be sent for an fh before its OPEN is answered).  A
 *   notification for an fh already released is dropped quietly; one with
 *   a payload, fh 0 or an fh never issued fails with -EINVAL.  When
 *   the daemon goes away every file polls EPOLLERR | EPOLLHUP.
 *
 *   Opcode FUSD_OP_POLL is reserved for its system call; a kernel
 *   speaking this minor version never sends it.
 *
 * Mmap (feature FUSD_FEATURE_MMAP; without it a client's mmap() fails
 *   with ENODEV, as for a driver without mmap):
 *   FUSD_OP_MMAP     a client's mmap(): u.mmap.offset (bytes into the
 *                    device, page aligned), u.mmap.length (bytes, whole
 *                    pages), u.mmap.prot (PROT_READ, PROT_WRITE,
 *                    PROT_EXEC) and u.mmap.flags (FUSD_MMAP_SHARED for
 *                    MAP_SHARED).  The caller's mapping becomes a mapping
 *                    of shmem memory the daemon owns: both then share the
 *                    same pages, with no copy and no call per access.  The
 *                    reply is result -errno (the caller's mmap() fails
 *                    with it), or result 0 with a struct fusd_mmap_reply
 *                    as payload naming the memory:
 *                    - 'addr' and 'length': a page-aligned address in the
 *                      daemon's own memory, inside one MAP_SHARED mapping
 *                      of shmem (MAP_SHARED | MAP_ANONYMOUS, a memfd, a
 *                      tmpfs file) that holds at least u.mmap.length bytes
 *                      from there;
 *                    - or, with FUSD_MMAP_FD in 'flags', 'fd' and
 *                      'offset': a shmem file descriptor of the daemon (a
 *                      memfd) and a page-aligned offset, with at least
 *                      u.mmap.length bytes of file from there ('length'
 *                      must be 0).
 *                    The kernel resolves the memory while it takes the
 *                    reply, in the daemon's context.  What it refuses
 *                    fails the daemon's write() with the error, and the
 *                    caller's mmap() with the same one: EINVAL for an
 *                    unaligned, unmapped, private or too short range,
 *                    ENODEV for memory that is not shmem, EBADF for a bad
 *                    fd, EACCES for a shared writable mapping of memory
 *                    the daemon maps read-only (or an fd not open for
 *                    writing, or not for reading), EDEADLK when the
 *                    daemon answers from the caller's own process.  The
 *                    caller's mapping then behaves as one of that shmem
 *                    file (fork, mremap, munmap, MAP_PRIVATE copy on
 *                    write, memfd write seals: EPERM for a shared
 *                    writable mapping), stays valid after the daemon
 *                    unmaps its memory or exits, and keeps the pages as
 *                    long as it exists.  A process that serves the device
 *                    itself (the thread group that opened the channel)
 *                    gets EDEADLK from mmap() at once: the caller holds
 *                    its address space locked while it waits.  The wait
 *                    for the answer is the same as for every call (see
 *                    "Signals"; SIGKILL always ends it).
 *
 * Recovery (feature FUSD_FEATURE_RECOVERY, 1.4): a device that outlives
 *   its daemon, so that a daemon can crash or be upgraded while clients
 *   keep their files open and never see an error.
 *   - A daemon asks for it in FUSD_IOC_REGISTER with 'grace_ms' > 0 (the
 *     kernel grants at most its module parameter max_grace_ms, default
 *     60000, and writes back what it granted).  When that channel closes
 *     (the daemon exits or is killed), the node and the clients' open
 *     files stay for the grace period.  Calls the daemon had read and not
 *     answered wait for the next daemon; new calls are queued for it
 *     (O_NONBLOCK ones fail with EAGAIN); poll() reports nothing ready.
 *     A signal ends a caller's wait as for a call not yet read.
 *   - Attach: a new daemon of the same owner (a control node opened
 *     with the node owner's fsuid, or with CAP_SYS_ADMIN: the credentials
 *     REGISTER's policy judges) registers the same name with
 *     FUSD_REGISTER_ATTACH, the same FUSD_REGISTER_FLUSH/POLL flags and
 *     minor 4 or later.  Errors: -ENOENT no device of that name, -EBUSY
 *     its daemon is still there (or it is not recoverable), -EPERM
 *     another owner, -EINVAL other flags.  It negotiates features afresh
 *     (ask FUSD_FEATURE_RECOVERY again to stay recoverable).  It reads
 *     first one FUSD_OP_REOPEN per open file, then the calls the previous
 *     daemon had read but not answered: those whose opcode has its bit
 *     (1 << opcode) in 'resend' come again with FUSD_REQ_RESENT in
 *     'flags', under their old ids (so ids are not in order after an
 *     attach); the others fail with EIO.  Then the calls queued since.
 *     Every file's poll mask is back to its registration default.
 *   - No attach within the grace period: the daemon's death as without
 *     recovery (EPIPE, node removed, EPOLLERR | EPOLLHUP).
 *   FUSD_OP_REOPEN   an open file the previous daemon had: 'fh' (the same
 *                    handle), 'f_flags', u.reopen.offset (the file
 *                    position) and u.reopen.cookie (what the previous
 *                    daemon last set for it with FUSD_REPLY_COOKIE, 0 if
 *                    never).  No reply (one is consumed silently).
 *   A reply with FUSD_REPLY_COOKIE (feature FUSD_FEATURE_RECOVERY) sets
 *   the 'cookie' of its call's open file (for an OPEN: of the new file,
 *   if accepted): an opaque value for the next daemon to rebuild its
 *   state from.  Without the flag 'cookie' must be 0.
 *
 * Channel ioctls:
 *   The kernel dispatches on _IOC_NR and reads an argument struct of any
 *   size _IOC_SIZE from its 1.0 size up (copy_struct_from_user rules): a
 *   larger struct whose unknown tail is zero works, a non-zero unknown
 *   tail fails with -E2BIG, and what the kernel writes back is cut to the
 *   caller's size.  A wrong direction or a too small struct: -ENOTTY.
 *   FUSD_IOC_REGISTER  once per channel: create the device.  Fails with
 *                    -EBUSY if the channel already has one, -EEXIST if the
 *                    name is taken or /dev/NAME (or a non-directory,
 *                    symlink or mount point on its path) exists as the
 *                    registrant sees it, -ENAMETOOLONG for a name,
 *                    devname or clazz without a NUL in FUSD_NAME_MAX
 *                    bytes, -EINVAL for a bad name, mode,
 *                    flag, reserved field or a 'size' other than
 *                    _IOC_SIZE, -EPROTO for a protocol major version the
 *                    kernel does not speak, -EPERM if the channel's
 *                    opener lacks CAP_SYS_ADMIN and the name, devname or
 *                    mode is outside the module's policy (parameters
 *                    user_prefix, default "fusd-", and user_mode_max),
 *                    -EDQUOT when that opener's uid has
 *                    max_devices_per_user devices, -ENOSPC when
 *                    max_devices exist.
 *   FUSD_IOC_VERSION returns the kernel's protocol version and, from 1.1,
 *                    every FUSD_FEATURE_* it has.  Needs no registration.
 *                    Its struct grew in 1.1, so its command number did: a
 *                    1.0 kernel answers only the 8-byte form (ENOTTY to
 *                    FUSD_IOC_VERSION as 1.1 defines it).
 *   FUSD_IOC_COPY_FROM_CALLER, FUSD_IOC_COPY_TO_CALLER  for ioctls whose
 *                    data _IOC_SIZE does not describe (pointers inside
 *                    structs, variable buffers): while IOCTL request 'id'
 *                    waits for its reply, copy 'len' bytes between the
 *                    caller's memory and the daemon's, with the caller's
 *                    own page protections (no forced writes).  The caller
 *                    stays inside its ioctl until every copy has ended.
 *                    The caller must be dumpable (checked at each copy)
 *                    with the daemon's uid and gid, or the daemon needs
 *                    CAP_SYS_PTRACE (the rule of ptrace), else -EPERM.
 *                    -EINVAL if 'id' is not an ioctl awaiting its reply
 *                    (or its caller left) or len > FUSD_IO_MAX; -EFAULT if
 *                    either range is not accessible.
 *   FUSD_IOC_SET_BATCH  most requests one read() returns (0, the default:
 *                    as many as fit).  1 suits several daemon threads
 *                    reading one channel, so that each takes one call.
 *   FUSD_IOC_EXCHANGE  (feature FUSD_FEATURE_EXCHANGE) a write() of the
 *                    'out_len' bytes at 'out_buf', then a read() into
 *                    'in_buf', in one system call: a daemon thread answers
 *                    a call and takes the next.  'out_done' is written
 *                    back before anything is read.  If the first message
 *                    is refused the call fails as write() would; if a
 *                    later one is, it returns 0 having read nothing, and
 *                    'out_done' says where it stopped.  Otherwise it
 *                    returns what read() would (0 if 'in_len' is 0),
 *                    blocking unless the channel is O_NONBLOCK or 'flags'
 *                    has FUSD_EXCHANGE_NONBLOCK, for at most 'timeout_ms'
 *                    (if not 0; then -ETIMEDOUT).  Waiting threads are
 *                    woken one per request, as in read().  A signal while
 *                    it waits after sending gives -EINTR, never a restart
 *                    (the replies are gone).  -EOPNOTSUPP without the
 *                    feature, -ENODEV before REGISTER, -EINVAL for unknown
 *                    flags, a non-zero reserved field or 'in_len' >
 *                    INT_MAX.
 *   FUSD_IOC_SET_IO_MAX  (feature FUSD_FEATURE_IO_MAX) the most payload
 *                    bytes one READ or WRITE request carries from now on:
 *                    in, the bytes wanted (0: FUSD_IO_MAX); out, what is
 *                    granted: at most the module parameter max_io
 *                    (default 1 MiB, never over 64 MiB) but always up to
 *                    FUSD_IO_MAX.  Requests already queued keep their
 *                    size.  -EOPNOTSUPP without the feature, -ENODEV
 *                    before REGISTER.
 *
 * Versioning and negotiation:
 *   The daemon passes FUSD_PROTO_MAJOR/MINOR in FUSD_IOC_REGISTER.  The
 *   kernel refuses another major version.  It speaks min(its minor, the
 *   daemon's minor) on the channel and writes that minor back into the
 *   struct, so a new daemon on an old kernel learns what it may use.
 *   Optional behaviour is negotiated per channel with feature bits: the
 *   daemon sets the FUSD_FEATURE_* it wants in 'features'; the kernel
 *   grants those it has (never fails for an unknown bit), writes the
 *   granted set back into 'features' and everything it has into
 *   'supported'.  A daemon uses only what was granted; one that cannot
 *   work without a feature checks 'features' and closes the channel.
 *   Structs are extended only at their end; sizes of old versions are
 *   kept below as FUSD_*_SIZE_V*.
 *
 * Changelog:
 *   1.0 (2026-11-23)  first version: open, release, read, write, llseek,
 *                     ioctl, flush, fsync, interrupt, poll notification.
 *   1.1 (2026-11-30)  exactly-once calls: a signal no longer withdraws a
 *                     request the daemon has read (INTERRUPT, then the
 *                     caller waits for the answer); -EAGAIN to an
 *                     INTERRUPT re-sends it; OPEN interruptible likewise.
 *                     Message headers accepted at any size from 1.0's;
 *                     channel ioctls dispatched on _IOC_NR with
 *                     copy_struct_from_user.  Feature negotiation
 *                     (fusd_register.features/supported, FUSD_IOC_VERSION
 *                     .features); FUSD_FEATURE_REPLY_POLL: a reply sets
 *                     the poll mask (fusd_reply.poll_mask, formerly
 *                     reserved0).  Classic sysfs names with '!'.
 *   1.2 (2026-11-30)  a faster data path: read_iter/write_iter, so
 *                     readv()/writev() are one request; large payloads
 *                     copied once, between the caller's pinned pages and
 *                     the daemon (a bad caller buffer fails before the
 *                     daemon sees the call); each queued request wakes one
 *                     daemon thread; FUSD_IOC_EXCHANGE (feature
 *                     FUSD_FEATURE_EXCHANGE): replies and the next
 *                     requests in one system call; FUSD_IOC_SET_IO_MAX
 *                     (FUSD_FEATURE_IO_MAX): requests larger than
 *                     FUSD_IO_MAX; FUSD_MSG_HDR_ROOM.
 *   1.3 (2026-11-30)  mmap (FUSD_FEATURE_MMAP): FUSD_OP_MMAP, its
 *                     fusd_request.u.mmap and struct fusd_mmap_reply; the
 *                     caller's mapping shares the daemon's shmem pages.
 *   1.4 (2026-11-30)  recovery (FUSD_FEATURE_RECOVERY): a device outlives
 *                     its channel for a grace period; FUSD_REGISTER_ATTACH,
 *                     fusd_register.grace_ms and .resend (formerly
 *                     reserved[0]); FUSD_OP_REOPEN; FUSD_REQ_RESENT;
 *                     FUSD_REPLY_COOKIE and fusd_reply.cookie (formerly
 *                     reserved[0]).
 */
#ifndef _UAPI_LINUX_FUSD_H
#define _UAPI_LINUX_FUSD_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define FUSD_PROTO_MAJOR	1
#define FUSD_PROTO_MINOR	4

/* Path of the control node, relative to /dev. */
#define FUSD_CONTROL_NAME	"fusd/control"

/* Longest device name, including the terminating NUL. */
#define FUSD_NAME_MAX		128

/*
 * Most payload bytes one read or write request carries, unless the daemon
 * raised its channel's limit (FUSD_IOC_SET_IO_MAX).
 */
#define FUSD_IO_MAX		(128 * 1024)

/* Room for a request's header: a read buffer of io_max + this holds any. */
#define FUSD_MSG_HDR_ROOM	4096

/* A daemon read buffer of this size always holds the next request. */
#define FUSD_MSG_MAX		(FUSD_IO_MAX + FUSD_MSG_HDR_ROOM)

/* Largest errno a reply may carry (-result). */
#define FUSD_ERRNO_MAX		511

/* Request opcodes (struct fusd_msg_header.opcode, kernel -> daemon). */
#define FUSD_OP_OPEN		1
#define FUSD_OP_RELEASE		2
#define FUSD_OP_READ		3
#define FUSD_OP_WRITE		4
#define FUSD_OP_LLSEEK		5
#define FUSD_OP_IOCTL		6
#define FUSD_OP_POLL		7
#define FUSD_OP_FLUSH		8
#define FUSD_OP_FSYNC		9
#define FUSD_OP_MMAP		10
#define FUSD_OP_INTERRUPT	11
#define FUSD_OP_REOPEN		12

/* fusd_request.flags */
#define FUSD_REQ_COMPAT		(1U << 0)	/* caller is a 32-bit task */
#define FUSD_REQ_RESENT		(1U << 1)	/* read by a previous daemon */

/* Daemon -> kernel opcodes. */
#define FUSD_OP_REPLY		0x100
#define FUSD_OP_NOTIFY_POLL	0x101

/* Common header of every message, both directions. */
struct fusd_msg_header {
	__u32 size;		/* header + payload, bytes */
	__u16 hdr_size;		/* bytes of fixed header; payload follows */
	__u16 opcode;		/* FUSD_OP_* */
	__u64 id;		/* request id; a reply echoes it */
};

/* Request: kernel -> daemon. */
struct fusd_request {
	struct fusd_msg_header hdr;
	__u64 fh;		/* open-file handle id, unique per channel */
	__u32 pid;		/* caller's thread id, daemon's pid namespace */
	__u32 tgid;		/* caller's process id, daemon's pid namespace */
	__u32 uid;		/* caller's fsuid, daemon's user namespace */
	__u32 gid;		/* caller's fsgid, daemon's user namespace */
	__u32 f_flags;		/* O_* flags of the caller's open file */
	__u32 flags;		/* FUSD_REQ_* */
	union {
		struct {
			__s64 offset;	/* file position */
			__u64 size;	/* bytes to read or write */
		} rw;
		struct {
			__s64 offset;
			__u32 whence;	/* SEEK_SET, SEEK_CUR, SEEK_END ... */
			__u32 pad;
			__s64 pos;	/* current file position */
		} seek;
		struct {
			__u32 cmd;	/* ioctl command */
			__u32 pad;
			__u64 arg;	/* ioctl argument, as passed */
			__u64 size;	/* _IOC_SIZE(cmd), 0 for _IOC_NONE */
		} ioctl;
		struct {
			__u32 datasync;	/* 1 for fdatasync() */
			__u32 pad;
		} fsync;
		struct {
			__u64 id;	/* request that was interrupted */
		} interrupt;
		struct {
			__s64 offset;	/* the file position */
			__u64 cookie;	/* set by FUSD_REPLY_COOKIE, or 0 */
		} reopen;
		struct {
			__u64 offset;	/* bytes into the device, page aligned */
			__u64 length;	/* bytes, whole pages */
			__u32 prot;	/* PROT_READ, PROT_WRITE, PROT_EXEC */
			__u32 flags;	/* FUSD_MMAP_SHARED */
		} mmap;
		__u64 raw[4];
	} u;
};

/* Reply: daemon -> kernel. */
struct fusd_reply {
	struct fusd_msg_header hdr;
	__s64 result;		/* >= 0 return value, < 0 -errno */
	__s64 offset;		/* new file position, see FUSD_REPLY_SET_OFFSET */
	__u32 flags;		/* FUSD_REPLY_* */
	__u32 poll_mask;	/* with FUSD_REPLY_POLL, else must be 0 */
	__u64 cookie;		/* with FUSD_REPLY_COOKIE, else must be 0 */
	__u64 reserved;		/* must be 0 */
};

/* fusd_reply.flags */
#define FUSD_REPLY_SET_OFFSET	(1U << 0)	/* 'offset' is the new f_pos */
/* 'poll_mask' becomes the poll mask of the request's file (as with
 * FUSD_OP_NOTIFY_POLL) before its caller is woken.  Needs
 * FUSD_FEATURE_REPLY_POLL.
 */
#define FUSD_REPLY_POLL		(1U << 1)
/* 'cookie' becomes the cookie of the call's open file (FUSD_OP_REOPEN).
 * Needs FUSD_FEATURE_RECOVERY; not in a reply to an INTERRUPT.
 */
#define FUSD_REPLY_COOKIE	(1U << 2)
#define FUSD_REPLY_FLAGS_ALL	(FUSD_REPLY_SET_OFFSET | FUSD_REPLY_POLL | \
				 FUSD_REPLY_COOKIE)

/*
 * Poll state of one open file (daemon -> kernel, no reply).  'mask' holds
 * EPOLL* bits (EPOLLIN, EPOLLOUT, EPOLLPRI, EPOLLERR, EPOLLHUP, EPOLLRDHUP,
 * EPOLLRDNORM, EPOLLRDBAND, EPOLLWRNORM, EPOLLWRBAND, EPOLLMSG); poll(),
 * select() and epoll on that file report it from then on, and sleepers
 * whose events it holds are woken.  hdr.id must be 0.
 */
struct fusd_notify_poll {
	struct fusd_msg_header hdr;
	__u64 fh;		/* open file, from its requests */
	__u32 mask;
	__u32 reserved0;	/* must be 0 */
	__u64 reserved[2];	/* must be 0 */
};

/* fusd_request.u.mmap.flags */
#define FUSD_MMAP_SHARED	(1U << 0)	/* MAP_SHARED, else MAP_PRIVATE */

/* Payload of a successful reply to FUSD_OP_MMAP (1.3). */
struct fusd_mmap_reply {
	__u64 addr;		/* start, in the daemon's memory */
	__u64 length;		/* bytes there; 0 with FUSD_MMAP_FD */
	__u64 offset;		/* FUSD_MMAP_FD: bytes into the file */
	__s32 fd;		/* FUSD_MMAP_FD: the daemon's descriptor */
	__u32 flags;		/* FUSD_MMAP_FD, or 0 for addr/length */
	__u64 reserved[2];	/* must be 0 */
};

/* fusd_mmap_reply.flags */
#define FUSD_MMAP_FD		(1U << 0)	/* 'fd' and 'offset' name it */
#define FUSD_MMAP_REPLY_FLAGS_ALL	FUSD_MMAP_FD

#define FUSD_MMAP_REPLY_SIZE_V1_3	48

#define FUSD_REQUEST_SIZE_V1_0	80
#define FUSD_NOTIFY_POLL_SIZE_V1_0	48
#define FUSD_REPLY_SIZE_V1_0	56

/* FUSD_IOC_REGISTER argument. */
struct fusd_register {
	__u32 size;		/* sizeof(struct fusd_register) of the caller */
	__u16 major;		/* in: FUSD_PROTO_MAJOR */
	__u16 minor;		/* in: FUSD_PROTO_MINOR; out: minor in use */
	__u32 mode;		/* node permission bits (0777 at most) */
	__u32 flags;		/* FUSD_REGISTER_* */
	char name[FUSD_NAME_MAX];	/* node path under /dev, NUL-ended */
	char devname[FUSD_NAME_MAX];	/* sysfs name; "" = derived from name */
	char clazz[FUSD_NAME_MAX];	/* informational class name, may be "" */
	__u32 dev_major;	/* out: device number of the new node */
	__u32 dev_minor;	/* out */
	__u32 io_max;		/* out: largest read/write payload (bytes) */
	__u32 reserved0;	/* must be 0 */
	__u64 features;		/* in: FUSD_FEATURE_* wanted; out: granted */
	__u64 supported;	/* out: every FUSD_FEATURE_* of this kernel */
	__u32 grace_ms;		/* in/out: FUSD_FEATURE_RECOVERY, else 0 */
	__u32 resend;		/* FUSD_REGISTER_ATTACH: 1 << FUSD_OP_* */
	__u64 reserved;		/* must be 0 */
};

#define FUSD_REGISTER_SIZE_V1_0	448	/* 1.1 is the same size */

/* fusd_register.flags */
#define FUSD_REGISTER_FLUSH	(1U << 0)	/* send FUSD_OP_FLUSH on close() */
#define FUSD_REGISTER_POLL	(1U << 1)	/* files start with mask 0 */
#define FUSD_REGISTER_ATTACH	(1U << 2)	/* take over a device (1.4) */
#define FUSD_REGISTER_FLAGS_ALL	(FUSD_REGISTER_FLUSH | FUSD_REGISTER_POLL | \
				 FUSD_REGISTER_ATTACH)

/* Feature bits (fusd_register.features, fusd_version.features). */
#define FUSD_FEATURE_REPLY_POLL	(1ULL << 0)	/* FUSD_REPLY_POLL in replies */
#define FUSD_FEATURE_EXCHANGE	(1ULL << 1)	/* FUSD_IOC_EXCHANGE (1.2) */
#define FUSD_FEATURE_IO_MAX	(1ULL << 2)	/* FUSD_IOC_SET_IO_MAX (1.2) */
#define FUSD_FEATURE_MMAP	(1ULL << 3)	/* FUSD_OP_MMAP is sent (1.3) */
#define FUSD_FEATURE_RECOVERY	(1ULL << 4)	/* outlives its channel (1.4) */
#define FUSD_FEATURES_ALL	(FUSD_FEATURE_REPLY_POLL | \
				 FUSD_FEATURE_EXCHANGE | FUSD_FEATURE_IO_MAX | \
				 FUSD_FEATURE_MMAP | FUSD_FEATURE_RECOVERY)

/* FUSD_IOC_COPY_FROM_CALLER / FUSD_IOC_COPY_TO_CALLER argument. */
struct fusd_copy {
	__u64 id;		/* the FUSD_OP_IOCTL request being answered */
	__u64 caller_addr;	/* address in the caller's memory */
	__u64 buf;		/* address in the daemon's memory */
	__u64 len;		/* bytes, at most FUSD_IO_MAX */
};

/* FUSD_IOC_VERSION argument (8 bytes in 1.0, which lacked 'features'). */
struct fusd_version {
	__u16 major;
	__u16 minor;
	__u32 reserved;
	__u64 features;		/* out: every FUSD_FEATURE_* of this kernel */
};

#define FUSD_VERSION_SIZE_V1_0	8

/*
 * FUSD_IOC_EXCHANGE argument: a write() of replies, then a read() of
 * requests, in one system call (feature FUSD_FEATURE_EXCHANGE).
 */
struct fusd_exchange {
	__u64 out_buf;		/* replies and notifications, as for write() */
	__u64 out_len;		/* bytes at out_buf; 0: send nothing */
	__u64 in_buf;		/* requests are placed here, as by read() */
	__u64 in_len;		/* bytes at in_buf; 0: only send */
	__u32 flags;		/* FUSD_EXCHANGE_* */
	__u32 reserved0;	/* must be 0 */
	__u64 out_done;		/* out: bytes of out_buf consumed */
	__u32 timeout_ms;	/* most a blocking wait lasts; 0: no limit */
	__u32 reserved1;	/* must be 0 */
};

#define FUSD_EXCHANGE_SIZE_V1_2	56

/* fusd_exchange.flags */
#define FUSD_EXCHANGE_NONBLOCK	(1U << 0)	/* as O_NONBLOCK, this call only */
#define FUSD_EXCHANGE_FLAGS_ALL	FUSD_EXCHANGE_NONBLOCK

#define FUSD_IOC_MAGIC		0xFD
#define FUSD_IOC_REGISTER	_IOWR(FUSD_IOC_MAGIC, 1, struct fusd_register)
#define FUSD_IOC_VERSION	_IOR(FUSD_IOC_MAGIC, 2, struct fusd_version)
#define FUSD_IOC_SET_BATCH	_IOW(FUSD_IOC_MAGIC, 3, __u32)
/* _IOC_NR of each channel ioctl: the kernel dispatches on these. */
#define FUSD_IOC_NR_REGISTER	1
#define FUSD_IOC_NR_VERSION	2
#define FUSD_IOC_NR_SET_BATCH	3
#define FUSD_IOC_NR_COPY_FROM_CALLER 4
#define FUSD_IOC_NR_COPY_TO_CALLER 5
#define FUSD_IOC_NR_EXCHANGE	6
#define FUSD_IOC_NR_SET_IO_MAX	7
#define FUSD_IOC_COPY_FROM_CALLER _IOW(FUSD_IOC_MAGIC, 4, struct fusd_copy)
#define FUSD_IOC_COPY_TO_CALLER	_IOW(FUSD_IOC_MAGIC, 5, struct fusd_copy)
#define FUSD_IOC_EXCHANGE	_IOWR(FUSD_IOC_MAGIC, 6, struct fusd_exchange)
#define FUSD_IOC_SET_IO_MAX	_IOWR(FUSD_IOC_MAGIC, 7, __u32)

#endif /* _UAPI_LINUX_FUSD_H */
