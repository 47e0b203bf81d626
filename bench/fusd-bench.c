// SPDX-License-Identifier: BSD-3-Clause
/*
 * fusd-bench: the same "zero" device served by fusd (zero-fusd) and by
 * CUSE (zero-cuse), measured against the kernel's own /dev/zero and
 * /dev/null, and a 64 MiB mapping of zero-fusd against read() of the
 * same device.  Each measurement runs for a fixed time; the three devices
 * take turns within each repetition (the order rotates), and the table
 * gives medians, [min-max] and the ratios of the medians.  Two more rows
 * put the echo example written in C (libfusd) beside the same example
 * written in Python (bindings/python, no libfusd), in the fusd column.
 *
 *   fusd-bench [--quick] [--reps N] [--seconds S] [--no-cuse]
 *              [--fusd PATH] [--cuse PATH] [--echo PATH] [--python PATH]
 *              [--echo-py PATH] [--title TEXT]
 *
 * The daemons are started and stopped here; by default they are the
 * zero-fusd, zero-cuse, echo and python3 next to this program, and
 * ../python/examples/echo.py from it.  Without an echo daemon (or python3)
 * its row says n/a.
 */
#define _GNU_SOURCE	/* asprintf */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "daemon.h"
#include "notifier.h"
#include "report.h"

#define MT_THREADS 4
#define MAX_IO (1024 * 1024)
#define MAX_POLL_SAMPLES 100000

static const char *const dev_name[NDEV] = { "fusd", "CUSE", "native" };
static const char *const read_node[NDEV] = {
	"/dev/" BENCH_DEV_FUSD, "/dev/" BENCH_DEV_CUSE, "/dev/zero"
};
static const char *const write_node[NDEV] = {
	"/dev/" BENCH_DEV_FUSD, "/dev/" BENCH_DEV_CUSE, "/dev/null"
};
/* The echo examples' nodes: examples/echo.c registers /dev/echo. */
#define ECHO_C_NODE "/dev/echo"
#define ECHO_PY_NODE "/dev/bench-echo-py"
/* python3 compiles what it imports on its first run in a boot, slowly
 * under emulation.
 */
#define ECHO_PY_WAIT_MS 120000

static struct daemon daemons[NDEV - 1];	/* no daemon for native */
static struct daemon echo_c = { NULL, ECHO_C_NODE, 0 };
static struct daemon echo_py = { NULL, ECHO_PY_NODE, 0 };
static const char *echo_py_script;
static double seconds = 0.5;
static int reps = 5;
static int use_cuse = 1;
static size_t map_size = BENCH_MAP_SIZE;	/* --quick: 1 MiB */

static void stop_daemons(void)
{
	daemon_stop(&daemons[DEV_FUSD]);
	daemon_stop(&daemons[DEV_CUSE]);
	daemon_stop(&echo_c);
	daemon_stop(&echo_py);
}

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fusd-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static void start_daemons(int threads)
{
	if (daemon_start(&daemons[DEV_FUSD], threads) < 0)
		exit(1);
	if (use_cuse && daemon_start(&daemons[DEV_CUSE], threads) < 0)
		die("CUSE daemon did not start (cuse module, /dev/cuse?); --no-cuse skips it");
}

static int open_node(const char *node)
{
	int fd = open(node, O_RDWR);

	if (fd < 0)
		die("open %s: %s", node, strerror(errno));
	return fd;
}

static uint64_t process_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------ operations */
/* One operation: bytes moved, or -1 with errno. */
typedef ssize_t (*op_fn)(int fd, char *buf, size_t size);

static ssize_t op_read(int fd, char *buf, size_t size)
{
	ssize_t n = read(fd, buf, size);

	if (n == 0) {
		errno = ENODATA;	/* a zero device never ends */
		return -1;
	}
	return n;
}

/* The echo examples give back what they hold from offset 0 on. */
static ssize_t op_pread0(int fd, char *buf, size_t size)
{
	ssize_t n = pread(fd, buf, size, 0);

	if (n == 0) {
		errno = ENODATA;
		return -1;
	}
	return n;
}

static ssize_t op_write(int fd, char *buf, size_t size)
{
	return write(fd, buf, size);
}

static ssize_t op_ioctl(int fd, char *buf, size_t size)
{
	(void)buf;
	(void)size;
	return ioctl(fd, BENCH_IOC_NOP);
}

/* /dev/null has no ioctls: ENOTTY is its answer, the path is the same. */
static ssize_t op_ioctl_native(int fd, char *buf, size_t size)
{
	(void)buf;
	(void)size;
	if (ioctl(fd, BENCH_IOC_NOP) < 0 && errno != ENOTTY)
		return -1;
	return 0;
}

/*
 * The passes over a whole region (map_size bytes), which read every byte
 * and add them up, 8 at a time: every device serves zeros, so a sum that
 * is not 0 is an error, and the compiler cannot leave the reading out.
 */
static uint64_t sum_bytes(const char *p, size_t size)
{
	const uint64_t *w = (const uint64_t *)p;
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < size / 8; i++)
		sum += w[i];
	for (i = size & ~(size_t)7; i < size; i++)
		sum += (unsigned char)p[i];
	return sum;
}

/* One pass: mmap the region, read it, munmap. */
static ssize_t map_pass(int fd, size_t size, int flags)
{
	void *p = mmap(NULL, size, PROT_READ, flags, fd, 0);
	uint64_t sum;

	if (p == MAP_FAILED)
		die("mmap of %zu bytes: %s", size, strerror(errno));
	sum = sum_bytes(p, size);
	if (munmap(p, size) < 0)
		die("munmap: %s", strerror(errno));
	if (sum)
		die("mapping of %zu bytes: not all zeros", size);
	return (ssize_t)size;
}

/* A fusd device: the daemon's shmem pages, shared. */
static ssize_t op_map_shared(int fd, char *buf, size_t size)
{
	(void)buf;
	return map_pass(fd, size, MAP_SHARED);
}

/* /dev/zero: a private mapping (shared, it would be shmem of its own). */
static ssize_t op_map_private(int fd, char *buf, size_t size)
{
	(void)buf;
	return map_pass(fd, size, MAP_PRIVATE);
}

/* One pass: the region by read() in chunks of up to MAX_IO into buf. */
static ssize_t op_read_pass(int fd, char *buf, size_t size)
{
	size_t done = 0, want;
	uint64_t sum = 0;
	ssize_t n;

	while (done < size) {
		want = size - done < MAX_IO ? size - done : MAX_IO;
		n = op_read(fd, buf, want);
		if (n < 0)
			return -1;
		sum += sum_bytes(buf, (size_t)n);
		done += (size_t)n;
	}
	if (sum)
		die("read of %zu bytes: not all zeros", size);
	return (ssize_t)size;
}

struct span {
	uint64_t ns;	/* elapsed */
	uint64_t ops;
	uint64_t bytes;
};

/*
 * Repeat op for the measurement time.  The clock is read once per batch,
 * batches doubling up to about 1 ms, so cheap native operations are not
 * dominated by clock_gettime().
 */
static void run_for(op_fn op, int fd, char *buf, size_t size, struct span *s)
{
	uint64_t t0 = notifier_now_ns(), t = t0, prev = t0;
	uint64_t limit = (uint64_t)(seconds * 1e9);
	unsigned int batch = 1, i;
	ssize_t n;

	memset(s, 0, sizeof(*s));
	do {
		for (i = 0; i < batch; i++) {
			n = op(fd, buf, size);
			if (n < 0)
				die("operation of %zu bytes: %s", size, strerror(errno));
			s->bytes += (uint64_t)n;
		}
		s->ops += batch;
		t = notifier_now_ns();
		if (t - prev < 1000000 && batch < 65536)
			batch *= 2;
		prev = t;
	} while (t - t0 < limit);
	s->ns = t - t0;
}

/* ------------------------------------------------------------ metrics */
enum {
	M_RT_NS, M_RT_OPS, M_ECHO_C, M_ECHO_PY,
	M_READ_4K, M_READ_64K, M_READ_1M,
	M_WRITE_4K, M_WRITE_64K, M_WRITE_1M,
	M_MAP, M_MAP_READ, M_MAP_RATIO,
	M_IOCTL, M_POLL, M_MT, M_CPU, M_COUNT
};

static struct metric metrics[M_COUNT] = {
	[M_RT_NS] = { "1-byte read round trip, ns", 1, {{0}}, {0} },
	[M_RT_OPS] = { "1-byte read, ops/s", 0, {{0}}, {0} },
	[M_ECHO_C] = { "1-byte pread round trip, echo example in C, ns", 1, {{0}}, {0} },
	[M_ECHO_PY] = { "1-byte pread round trip, echo example in Python, ns", 1, {{0}}, {0} },
	[M_READ_4K] = { "read 4 KiB, MB/s", 0, {{0}}, {0} },
	[M_READ_64K] = { "read 64 KiB, MB/s", 0, {{0}}, {0} },
	[M_READ_1M] = { "read 1 MiB, MB/s", 0, {{0}}, {0} },
	[M_WRITE_4K] = { "write 4 KiB, MB/s", 0, {{0}}, {0} },
	[M_WRITE_64K] = { "write 64 KiB, MB/s", 0, {{0}}, {0} },
	[M_WRITE_1M] = { "write 1 MiB, MB/s", 0, {{0}}, {0} },
	/* Labels with the region's size: map_labels(). */
	[M_MAP] = { NULL, 0, {{0}}, {0} },
	[M_MAP_READ] = { NULL, 0, {{0}}, {0} },
	[M_MAP_RATIO] = { NULL, 0, {{0}}, {0} },
	[M_IOCTL] = { "ioctl round trip, ns", 1, {{0}}, {0} },
	[M_POLL] = { "poll wake-up latency, µs", 1, {{0}}, {0} },
	[M_MT] = { "1-byte read, " "4 client threads, 4 daemon threads, ops/s", 0, {{0}}, {0} },
	[M_CPU] = { "CPU per 1-byte read, client + daemon, µs", 1, {{0}}, {0} },
};

static char *iobuf;

static void measure_roundtrip(int dev)
{
	int fd = open_node(read_node[dev]);
	const struct daemon *d = dev == DEV_NATIVE ? NULL : &daemons[dev];
	uint64_t c0, d0, cpu;
	struct span s;

	c0 = process_cpu_ns();
	d0 = d ? daemon_cpu_ns(d) : 0;
	run_for(op_read, fd, iobuf, 1, &s);
	cpu = process_cpu_ns() - c0 + (d ? daemon_cpu_ns(d) - d0 : 0);
	close(fd);
	metric_add(&metrics[M_RT_NS], dev, (double)s.ns / (double)s.ops);
	metric_add(&metrics[M_RT_OPS], dev, (double)s.ops * 1e9 / (double)s.ns);
	metric_add(&metrics[M_CPU], dev, (double)cpu / 1e3 / (double)s.ops);
}

/*
 * pread() of 1 byte at offset 0 from an echo daemon holding one byte (the
 * fusd column) or from /dev/zero (native).  CUSE has no echo: n/a.
 */
static void measure_echo(int dev, int metric, int is_write, size_t size)
{
	const char *node = metric == M_ECHO_C ? ECHO_C_NODE : ECHO_PY_NODE;
	struct span s;
	int fd;

	(void)is_write, (void)size;
	if (dev == DEV_CUSE)
		return;
	fd = open_node(dev == DEV_NATIVE ? "/dev/zero" : node);
	run_for(op_pread0, fd, iobuf, 1, &s);
	close(fd);
	metric_add(&metrics[metric], dev, (double)s.ns / (double)s.ops);
}

/* Start an echo daemon and give it one byte to hold; 0 when it is up. */
static int start_echo(struct daemon *d, char *const argv[], int wait_ms)
{
	int fd;

	if (access(argv[0], X_OK) < 0 || (argv[1] && access(argv[1], R_OK) < 0))
		return -1;
	if (daemon_run(d, argv, wait_ms) < 0)
		die("%s did not start", d->prog);
	fd = open_node(d->node);
	if (write(fd, "x", 1) != 1)
		die("write to %s: %s", d->node, strerror(errno));
	close(fd);
	return 0;
}

static void measure_throughput(int dev, int metric, int is_write, size_t size)
{
	int fd = open_node(is_write ? write_node[dev] : read_node[dev]);
	struct span s;

	run_for(is_write ? op_write : op_read, fd, iobuf, size, &s);
	close(fd);
	/* MB = 10^6 bytes; bytes actually moved (short transfers count). */
	metric_add(&metrics[metric], dev, (double)s.bytes * 1e3 / (double)s.ns);
}

/* One figure of passes over the region: MB/s. */
static double region_rate(int dev, int metric, op_fn op, int fd)
{
	struct span s;
	double rate;

	run_for(op, fd, iobuf, map_size, &s);
	rate = (double)s.bytes * 1e3 / (double)s.ns;
	metric_add(&metrics[metric], dev, rate);
	return rate;
}

/*
 * The region through a mapping and by read(), back to back on the same
 * open file (the order alternates between repetitions), and the ratio of
 * the two.  CUSE has no mmap: its read() alone is measured.
 */
static void measure_map(int dev)
{
	op_fn map_op = dev == DEV_NATIVE ? op_map_private : op_map_shared;
	int fd = open_node(read_node[dev]);
	int has_map = dev != DEV_CUSE;
	int map_first = metrics[M_MAP_READ].n[dev] % 2 == 0;
	double map_rate = 0, read_rate;

	if (has_map && map_first)
		map_rate = region_rate(dev, M_MAP, map_op, fd);
	read_rate = region_rate(dev, M_MAP_READ, op_read_pass, fd);
	if (has_map && !map_first)
		map_rate = region_rate(dev, M_MAP, map_op, fd);
	close(fd);
	if (has_map)
		metric_add(&metrics[M_MAP_RATIO], dev, map_rate / read_rate);
}

static void measure_ioctl(int dev)
{
	int fd = open_node(write_node[dev]);
	struct span s;

	run_for(dev == DEV_NATIVE ? op_ioctl_native : op_ioctl, fd, NULL, 0, &s);
	close(fd);
	metric_add(&metrics[M_IOCTL], dev, (double)s.ns / (double)s.ops);
}

/* Native poll wake-up: the client's own notifier thread writes an eventfd. */
static int native_efd = -1;

static void fire_eventfd(void *target)
{
	uint64_t one = 1;

	if (write(*(int *)target, &one, sizeof(one)) != sizeof(one))
		die("eventfd write: %s", strerror(errno));
}

static void arm(int dev, int fd)
{
	uint64_t v;

	if (dev != DEV_NATIVE) {
		if (ioctl(fd, BENCH_IOC_ARM_POLL) < 0)
			die("%s: arm poll: %s", dev_name[dev], strerror(errno));
		return;
	}
	/* Drain it: not readable until the next fire. */
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		die("eventfd read: %s", strerror(errno));
	notifier_arm(&native_efd);
}

static uint64_t fired_at(int dev, int fd)
{
	uint64_t stamp;

	if (dev == DEV_NATIVE)
		return notifier_stamp();
	if (ioctl(fd, BENCH_IOC_GET_STAMP, &stamp) < 0)
		die("%s: get stamp: %s", dev_name[dev], strerror(errno));
	return stamp;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* One figure: the median of the wake-ups seen in the measurement time. */
static void measure_poll(int dev)
{
	static uint64_t sample[MAX_POLL_SAMPLES];
	int fd = dev == DEV_NATIVE ? native_efd : open_node(read_node[dev]);
	uint64_t t0 = notifier_now_ns(), t1, stamp;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t n = 0;
	int r;

	do {
		arm(dev, fd);
		r = poll(&p, 1, 10000);
		t1 = notifier_now_ns();
		if (r != 1)
			die("%s: poll: %s", dev_name[dev], r ? strerror(errno) : "timed out");
		stamp = fired_at(dev, fd);
		sample[n++] = t1 > stamp ? t1 - stamp : 0;
	} while (n < MAX_POLL_SAMPLES && t1 - t0 < (uint64_t)(seconds * 1e9));
	if (dev != DEV_NATIVE)
		close(fd);
	qsort(sample, n, sizeof(*sample), cmp_u64);
	metric_add(&metrics[M_POLL], dev, (double)sample[n / 2] / 1e3);
}

struct mt_arg {
	int dev;
	pthread_barrier_t *start;
	struct span s;
};

static void *mt_thread(void *p)
{
	struct mt_arg *a = p;
	int fd = open_node(read_node[a->dev]);
	char byte;

	pthread_barrier_wait(a->start);
	run_for(op_read, fd, &byte, 1, &a->s);
	close(fd);
	return NULL;
}

static void measure_mt(int dev)
{
	struct mt_arg a[MT_THREADS];
	pthread_t th[MT_THREADS];
	pthread_barrier_t start;
	uint64_t ops = 0, ns = 0;
	int i;

	pthread_barrier_init(&start, NULL, MT_THREADS);
	for (i = 0; i < MT_THREADS; i++) {
		a[i].dev = dev;
		a[i].start = &start;
		if (pthread_create(&th[i], NULL, mt_thread, &a[i]))
			die("pthread_create failed");
	}
	for (i = 0; i < MT_THREADS; i++) {
		pthread_join(th[i], NULL);
		ops += a[i].s.ops;
		if (a[i].s.ns > ns)
			ns = a[i].s.ns;
	}
	pthread_barrier_destroy(&start);
	metric_add(&metrics[M_MT], dev, (double)ops * 1e9 / (double)ns);
}

/* Every repetition runs each device once, starting one further along. */
static void interleave(void (*fn)(int dev, int metric, int is_write, size_t size),
		       int metric, int is_write, size_t size)
{
	int r, k, dev;

	for (r = 0; r < reps; r++)
		for (k = 0; k < NDEV; k++) {
			dev = (k + r) % NDEV;
			if (dev == DEV_CUSE && !use_cuse)
				continue;
			fn(dev, metric, is_write, size);
		}
}

static void do_roundtrip(int dev, int m, int w, size_t sz)
{
	(void)m, (void)w, (void)sz;
	measure_roundtrip(dev);
}

static void do_map(int dev, int m, int w, size_t sz)
{
	(void)m, (void)w, (void)sz;
	measure_map(dev);
}

static void do_ioctl(int dev, int m, int w, size_t sz)
{
	(void)m, (void)w, (void)sz;
	measure_ioctl(dev);
}

static void do_poll(int dev, int m, int w, size_t sz)
{
	(void)m, (void)w, (void)sz;
	measure_poll(dev);
}

static void do_mt(int dev, int m, int w, size_t sz)
{
	(void)m, (void)w, (void)sz;
	measure_mt(dev);
}

/* ------------------------------------------------------------ main */
/* path of a program next to this one */
static char *sibling(const char *name)
{
	char self[PATH_MAX], *out;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n < 0)
		die("readlink /proc/self/exe: %s", strerror(errno));
	self[n] = '\0';
	if (asprintf(&out, "%s/%s", dirname(self), name) < 0)
		die("out of memory");
	return out;
}

/* The region rows' labels name its size, e.g. "64 MiB via mmap, MB/s". */
static void map_labels(void)
{
	static char lab[3][96];
	char size[32];

	if (map_size % (1024 * 1024) == 0)
		snprintf(size, sizeof(size), "%zu MiB", map_size / (1024 * 1024));
	else
		snprintf(size, sizeof(size), "%zu KiB", map_size / 1024);
	snprintf(lab[0], sizeof(lab[0]), "%s via mmap, MB/s", size);
	snprintf(lab[1], sizeof(lab[1]),
		 "%s by read() in 1 MiB chunks, MB/s", size);
	snprintf(lab[2], sizeof(lab[2]),
		 "%s via mmap / by read(), same device, ratio", size);
	metrics[M_MAP].label = lab[0];
	metrics[M_MAP_READ].label = lab[1];
	metrics[M_MAP_RATIO].label = lab[2];
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [--quick] [--reps N] [--seconds S] [--no-cuse]\n"
		"       [--fusd PATH] [--cuse PATH] [--echo PATH] [--python PATH]\n"
		"       [--echo-py PATH] [--title TEXT]\n", prog);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "reps", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 's' },
		{ "no-cuse", no_argument, NULL, 'n' },
		{ "fusd", required_argument, NULL, 'f' },
		{ "cuse", required_argument, NULL, 'c' },
		{ "title", required_argument, NULL, 't' },
		{ "echo", required_argument, NULL, 'e' },
		{ "python", required_argument, NULL, 'p' },
		{ "echo-py", required_argument, NULL, 'y' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	static const size_t sizes[3] = { 4096, 65536, MAX_IO };
	const char *title = NULL;
	char *echo_c_argv[2], *echo_py_argv[5];
	int opt, i, have_c, have_py;

	daemons[DEV_FUSD] = (struct daemon){ NULL, "/dev/" BENCH_DEV_FUSD, 0 };
	daemons[DEV_CUSE] = (struct daemon){ NULL, "/dev/" BENCH_DEV_CUSE, 0 };
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'q':
			seconds = 0.02;
			reps = 1;
			map_size = 1024 * 1024;
			break;
		case 'r':
			reps = atoi(optarg);
			break;
		case 's':
			seconds = atof(optarg);
			break;
		case 'n':
			use_cuse = 0;
			break;
		case 'f':
			daemons[DEV_FUSD].prog = optarg;
			break;
		case 'c':
			daemons[DEV_CUSE].prog = optarg;
			break;
		case 't':
			title = optarg;
			break;
		case 'e':
			echo_c.prog = optarg;
			break;
		case 'p':
			echo_py.prog = optarg;
			break;
		case 'y':
			echo_py_script = optarg;
			break;
		default:
			usage(argv[0]);
		}
	}
	if (optind != argc || reps < 1 || reps > REPORT_MAX_REPS || !(seconds > 0))
		usage(argv[0]);
	if (!daemons[DEV_FUSD].prog)
		daemons[DEV_FUSD].prog = sibling("zero-fusd");
	if (!daemons[DEV_CUSE].prog)
		daemons[DEV_CUSE].prog = sibling("zero-cuse");
	if (!echo_c.prog)
		echo_c.prog = sibling("echo");
	if (!echo_py.prog)
		echo_py.prog = sibling("python3");
	if (!echo_py_script)
		echo_py_script = sibling("../python/examples/echo.py");
	map_labels();

	iobuf = calloc(1, MAX_IO);
	native_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!iobuf || native_efd < 0 || notifier_start(fire_eventfd) < 0)
		die("setup: %s", strerror(errno));
	atexit(stop_daemons);

	start_daemons(1);
	interleave(do_roundtrip, 0, 0, 0);
	/* The echo examples, C and Python, one after the other. */
	echo_c_argv[0] = (char *)echo_c.prog;
	echo_c_argv[1] = NULL;
	have_c = start_echo(&echo_c, echo_c_argv, 20000) == 0;
	if (have_c)
		interleave(measure_echo, M_ECHO_C, 0, 1);
	daemon_stop(&echo_c);
	echo_py_argv[0] = (char *)echo_py.prog;
	echo_py_argv[1] = (char *)echo_py_script;
	echo_py_argv[2] = "--name";
	echo_py_argv[3] = ECHO_PY_NODE;
	echo_py_argv[4] = NULL;
	have_py = start_echo(&echo_py, echo_py_argv, ECHO_PY_WAIT_MS) == 0;
	if (have_py)
		interleave(measure_echo, M_ECHO_PY, 0, 1);
	daemon_stop(&echo_py);
	for (i = 0; i < 3; i++) {
		interleave(measure_throughput, M_READ_4K + i, 0, sizes[i]);
		interleave(measure_throughput, M_WRITE_4K + i, 1, sizes[i]);
	}
	interleave(do_map, 0, 0, 0);
	interleave(do_ioctl, 0, 0, 0);
	interleave(do_poll, 0, 0, 0);
	stop_daemons();
	start_daemons(MT_THREADS);
	interleave(do_mt, 0, 0, 0);
	stop_daemons();

	if (title)
		printf("### %s\n\n", title);
	printf("Medians of %d runs of %.2f s per device, [min–max]; ratios of the "
	       "medians.%s%s%s\n\n", reps, seconds,
	       use_cuse ? "" : " CUSE not measured (--no-cuse).",
	       have_c ? "" : " No C echo example (--echo).",
	       have_py ? "" : " No python3 or echo.py (--python, --echo-py).");
	report_print(metrics, M_COUNT);
	return 0;
}
