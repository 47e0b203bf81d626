// SPDX-License-Identifier: BSD-3-Clause
/*
 * Description: who may register what (root: any free name; others: the
 * user_prefix names and user_mode_max modes, else EPERM, nodes owned by
 * them), existing /dev entries refused (EEXIST), max_devices (ENOSPC) and
 * max_devices_per_user (EDQUOT), libfusd's messages for each, and no
 * kernel address in a request of any opcode
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"
#include "rawchan.h"

#define CONTROL "/dev/fusd/control"
#define PARAMS "/sys/module/fusd/parameters/"
#define USER_A 1234
#define USER_B 1235
#define GROUP 1234		/* both users' group, given the control node */

/* ------------------------------------------------------------ state */

static const char *const param_names[] = {
	"user_prefix", "user_mode_max", "max_devices", "max_devices_per_user",
};

#define NPARAMS (sizeof(param_names) / sizeof(param_names[0]))

static char saved_params[NPARAMS][128];
static struct stat saved_control;

/* Channels the test registered as root, closed after each test. */
static int root_fds[64];
static int nroot_fds;

/* An unprivileged registrant: a child that obeys commands on a pipe. */
struct agent {
	pid_t pid;
	uid_t uid;
	int cmd;		/* parent -> child */
	int res;		/* child -> parent */
};

static struct agent agents[4];

/* ------------------------------------------------------------ params */

static void param_path(char *path, size_t cap, const char *param)
{
	snprintf(path, cap, PARAMS "%s", param);
}

static void param_read(const char *param, char *buf, size_t cap)
{
	char path[128];

	param_path(path, sizeof(path), param);
	assert_true(itest_slurp(path, buf, cap) > 0);
	buf[strcspn(buf, "\n")] = '\0';
}

/* Write a parameter; 0 or the errno of the write. */
static int param_write(const char *param, const char *val)
{
	char path[128], line[256];
	int fd, err = 0;
	size_t len;

	param_path(path, sizeof(path), param);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	len = (size_t)snprintf(line, sizeof(line), "%s\n", val);
	if (write(fd, line, len) != (ssize_t)len)
		err = errno;
	close(fd);
	return err;
}

static void param_set(const char *param, const char *val)
{
	char back[128];

	assert_int_equal(param_write(param, val), 0);
	param_read(param, back, sizeof(back));
	print_message("%s = %s\n", param, back);
}

static void param_set_uint(const char *param, unsigned int val)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%u", val);
	param_set(param, buf);
}

/* Fusd devices that exist now (entries of /sys/class/fusd). */
static unsigned int count_devices(void)
{
	DIR *d = opendir("/sys/class/fusd");
	struct dirent *e;
	unsigned int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* ------------------------------------------------------------ root */

/* Register on a fresh channel; 0 (channel kept for cleanup) or errno. */
static int root_reg(const char *name, const char *devname, unsigned int mode)
{
	struct fusd_register reg;
	int fd = open(CONTROL, O_RDWR), err;

	assert_true(fd >= 0);
	raw_register_init(&reg, name, mode);
	if (devname)
		snprintf(reg.devname, sizeof(reg.devname), "%s", devname);
	if (ioctl(fd, FUSD_IOC_REGISTER, &reg) < 0) {
		err = errno;
		close(fd);
		return err;
	}
	assert_true(nroot_fds < (int)(sizeof(root_fds) / sizeof(root_fds[0])));
	root_fds[nroot_fds++] = fd;
	return 0;
}

static void root_close_all(void)
{
	while (nroot_fds > 0)
		close(root_fds[--nroot_fds]);
}

/* ------------------------------------------------------------ agents */

struct agent_cmd {
	char op;	/* 'R'egister, 'M' chmod, 'C'lose all, 'Q'uit */
	unsigned int mode;
	char name[FUSD_NAME_MAX];
	char devname[FUSD_NAME_MAX];
};

static void agent_main(int cmd, int res)
{
	int fds[64], nfds = 0;
	struct agent_cmd c;

	for (;;) {
		struct fusd_register reg;
		int fd, r = 0;

		if (read(cmd, &c, sizeof(c)) != (ssize_t)sizeof(c))
			_exit(0);
		switch (c.op) {
		case 'R':
			fd = open(CONTROL, O_RDWR);
			if (fd < 0) {
				r = errno;
				break;
			}
			raw_register_init(&reg, c.name, c.mode);
			memcpy(reg.devname, c.devname, sizeof(reg.devname));
			if (ioctl(fd, FUSD_IOC_REGISTER, &reg) < 0) {
				r = errno;
				close(fd);
			} else if (nfds < 64) {
				fds[nfds++] = fd;
			}
			break;
		case 'M':
			if (chmod(c.name, c.mode) < 0)
				r = errno;
			break;
		case 'C':
			while (nfds > 0)
				close(fds[--nfds]);
			break;
		default:
			_exit(0);
		}
		if (write(res, &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(1);
	}
}

/* Fork a registrant that runs as uid/GROUP, without any capability. */
static struct agent *agent_start(uid_t uid)
{
	struct agent *a = NULL;
	int cmd[2], res[2];
	size_t i;

	for (i = 0; i < sizeof(agents) / sizeof(agents[0]); i++)
		if (!agents[i].pid) {
			a = &agents[i];
			break;
		}
	assert_non_null(a);
	assert_int_equal(pipe(cmd), 0);
	assert_int_equal(pipe(res), 0);
	a->pid = fork();
	assert_true(a->pid >= 0);
	if (a->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(cmd[1]);
		close(res[0]);
		if (setgroups(0, NULL) || setgid(GROUP) || setuid(uid))
			_exit(1);
		agent_main(cmd[0], res[1]);
		_exit(0);
	}
	close(cmd[0]);
	close(res[1]);
	a->uid = uid;
	a->cmd = cmd[1];
	a->res = res[0];
	return a;
}

static int agent_do(struct agent *a, char op, const char *name,
		    const char *devname, unsigned int mode)
{
	struct agent_cmd c;
	int r;

	memset(&c, 0, sizeof(c));
	c.op = op;
	c.mode = mode;
	if (name)
		snprintf(c.name, sizeof(c.name), "%s", name);
	if (devname)
		snprintf(c.devname, sizeof(c.devname), "%s", devname);
	assert_int_equal(write(a->cmd, &c, sizeof(c)), sizeof(c));
	assert_int_equal(read(a->res, &r, sizeof(r)), sizeof(r));
	return r;
}

static int agent_reg(struct agent *a, const char *name, const char *devname,
		     unsigned int mode)
{
	int r = agent_do(a, 'R', name, devname, mode);

	print_message("uid %u registers '%s' devname '%s' mode 0%o: %s\n",
		      (unsigned int)a->uid, name,
		      devname ? devname : "", mode, r ? strerror(r) : "ok");
	return r;
}

static void agent_stop(struct agent *a)
{
	int status;

	if (!a->pid)
		return;
	kill(a->pid, SIGKILL);
	waitpid(a->pid, &status, 0);
	close(a->cmd);
	close(a->res);
	a->pid = 0;
}

/* ------------------------------------------------------------ fixtures */

static int group_setup(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NPARAMS; i++) {
		char path[128];

		param_path(path, sizeof(path), param_names[i]);
		if (itest_slurp(path, saved_params[i],
				sizeof(saved_params[i])) <= 0)
			return -1;
		saved_params[i][strcspn(saved_params[i], "\n")] = '\0';
	}
	if (stat(CONTROL, &saved_control))
		return -1;
	/* Let GROUP open the control node, as the packages' udev rule
	 * does for "fusd".
	 */
	if (chown(CONTROL, 0, GROUP) || chmod(CONTROL, 0660))
		return -1;
	return 0;
}

static int test_teardown(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(agents) / sizeof(agents[0]); i++)
		agent_stop(&agents[i]);
	root_close_all();
	for (i = 0; i < NPARAMS; i++)
		if (param_write(param_names[i], saved_params[i]))
			return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (chown(CONTROL, saved_control.st_uid, saved_control.st_gid) ||
	    chmod(CONTROL, saved_control.st_mode & 07777))
		return -1;
	return 0;
}

static void expect_node(const char *path, uid_t uid, gid_t gid,
			unsigned int mode)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_uid, uid);
	assert_int_equal(st.st_gid, gid);
	assert_int_equal(st.st_mode & 07777, mode);
}

/* ------------------------------------------------------------ tests */

static void test_defaults(void **state)
{
	char buf[128];

	(void)state;
	param_read("user_prefix", buf, sizeof(buf));
	assert_string_equal(buf, "fusd-");
	param_read("user_mode_max", buf, sizeof(buf));
	assert_string_equal(buf, "0666");
	param_read("max_devices", buf, sizeof(buf));
	assert_string_equal(buf, "4096");
	param_read("max_devices_per_user", buf, sizeof(buf));
	assert_string_equal(buf, "64");
}

static void test_root_any_free_name(void **state)
{
	(void)state;
	assert_int_equal(root_reg("policy-any", NULL, 0777), 0);
	expect_node("/dev/policy-any", 0, 0, 0777);
	assert_int_equal(root_reg("policy-dir/node", NULL, 0600), 0);
	expect_node("/dev/policy-dir/node", 0, 0, 0600);
	/* A second node in a directory devtmpfs made is fine. */
	assert_int_equal(root_reg("policy-dir/other", NULL, 0600), 0);
	/* Any sysfs name too. */
	assert_int_equal(root_reg("policy-sys", "ttyPOLICY0", 0600), 0);
	assert_int_equal(access("/sys/class/fusd/ttyPOLICY0", F_OK), 0);
	/* The reserved directory stays refused. */
	assert_int_equal(root_reg("fusd/other", NULL, 0600), EINVAL);
}

static void test_existing_dev_entries(void **state)
{
	struct agent *a;

	(void)state;
	/* Kernel devices, for root too. */
	assert_int_equal(root_reg("null", NULL, 0666), EEXIST);
	assert_int_equal(root_reg("tty", NULL, 0666), EEXIST);
	assert_int_equal(root_reg("/dev/null", "policy-null", 0666), EEXIST);
	assert_int_equal(root_reg("console", "policy-console", 0600), EEXIST);
	/* A directory, a path through a device, a mount point (devpts). */
	assert_int_equal(root_reg("pts", "policy-pts", 0600), EEXIST);
	assert_int_equal(root_reg("null/x", NULL, 0600), EEXIST);
	assert_int_equal(root_reg("pts/policy", NULL, 0600), EEXIST);
	/* Something made by hand: a file and a symlink (not followed). */
	assert_int_equal(mknod("/dev/fusd-file", S_IFREG | 0600, 0), 0);
	assert_int_equal(symlink("/dev/policy-nowhere", "/dev/fusd-link"), 0);
	assert_int_equal(root_reg("fusd-file", NULL, 0600), EEXIST);
	assert_int_equal(root_reg("fusd-link", NULL, 0600), EEXIST);
	assert_int_equal(root_reg("fusd-link/x", NULL, 0600), EEXIST);
	/* The same for an unprivileged registrant inside the policy. */
	a = agent_start(USER_A);
	assert_int_equal(agent_reg(a, "fusd-file", NULL, 0600), EEXIST);
	assert_int_equal(agent_reg(a, "fusd-link", NULL, 0600), EEXIST);
	unlink("/dev/fusd-file");
	unlink("/dev/fusd-link");
	assert_int_equal(agent_reg(a, "fusd-file", NULL, 0600), 0);
	expect_node("/dev/fusd-file", USER_A, GROUP, 0600);
	/* An existing fusd node: EEXIST by the registry and by the path. */
	assert_int_equal(root_reg("fusd-file", "policy-other", 0600), EEXIST);
}

static void test_unprivileged_names_and_modes(void **state)
{
	struct agent *a;

	(void)state;
	a = agent_start(USER_A);
	/* Outside the prefix. */
	assert_int_equal(agent_reg(a, "policy-user", NULL, 0600), EPERM);
	assert_int_equal(agent_reg(a, "ttyUSB0", NULL, 0600), EPERM);
	assert_int_equal(agent_reg(a, "sda", NULL, 0600), EPERM);
	assert_int_equal(agent_reg(a, "fusd-", NULL, 0600), EPERM);
	assert_int_equal(agent_reg(a, "xfusd-a", NULL, 0600), EPERM);
	assert_int_equal(agent_reg(a, "input/fusd-a", NULL, 0600), EPERM);
	/* The sysfs name may not shadow one either. */
	assert_int_equal(agent_reg(a, "fusd-a", "ttyUSB0", 0600), EPERM);
	assert_int_equal(agent_reg(a, "fusd-a", "policy-a", 0600), EPERM);
	/* Bad names stay EINVAL, the reserved directory included. */
	assert_int_equal(agent_reg(a, "fusd/x", NULL, 0600), EINVAL);
	assert_int_equal(agent_reg(a, "fusd-a/../b", NULL, 0600), EINVAL);
	/* Modes beyond user_mode_max (0666). */
	assert_int_equal(agent_reg(a, "fusd-a", NULL, 0777), EPERM);
	assert_int_equal(agent_reg(a, "fusd-a", NULL, 0667), EPERM);
	assert_int_equal(agent_reg(a, "fusd-a", NULL, 0700), EPERM);
	assert_int_equal(agent_reg(a, "fusd-a", NULL, 04666), EINVAL);
	/* Inside: nodes owned by the registrant, with the mode asked. */
	assert_int_equal(agent_reg(a, "fusd-a", NULL, 0666), 0);
	expect_node("/dev/fusd-a", USER_A, GROUP, 0666);
	assert_int_equal(agent_reg(a, "/dev/fusd-b", NULL, 0640), 0);
	expect_node("/dev/fusd-b", USER_A, GROUP, 0640);
	assert_int_equal(agent_reg(a, "fusd-dir/c", NULL, 0600), 0);
	expect_node("/dev/fusd-dir/c", USER_A, GROUP, 0600);
	assert_int_equal(access("/sys/class/fusd/fusd-dir!c", F_OK), 0);
	assert_int_equal(agent_reg(a, "fusd-d", "fusd-sys!d", 0600), 0);
	assert_int_equal(access("/sys/class/fusd/fusd-sys!d", F_OK), 0);
	/* Taken names stay taken. */
	assert_int_equal(agent_reg(a, "fusd-e", "fusd-a", 0600), EEXIST);
	/* The owner may chmod its node: the mode limit is what the kernel
	 * creates, not a barrier (documented in registry.c and README).
	 */
	assert_int_equal(agent_do(a, 'M', "/dev/fusd-b", NULL, 0606), 0);
	expect_node("/dev/fusd-b", USER_A, GROUP, 0606);
	/* Root's names are out of its reach. */
	assert_int_equal(root_reg("policy-root", NULL, 0600), 0);
	assert_int_equal(agent_reg(a, "policy-root", NULL, 0600), EPERM);
	/* Its channels close: its nodes go. */
	assert_int_equal(agent_do(a, 'C', NULL, NULL, 0), 0);
	assert_int_equal(access("/dev/fusd-a", F_OK), -1);
	assert_int_equal(access("/dev/fusd-dir", F_OK), -1);
}

static void test_user_mode_max(void **state)
{
	struct agent *a;
	char buf[32];

	(void)state;
	param_set("user_mode_max", "0600");
	param_read("user_mode_max", buf, sizeof(buf));
	assert_string_equal(buf, "0600");
	a = agent_start(USER_A);
	assert_int_equal(agent_reg(a, "fusd-m", NULL, 0640), EPERM);
	assert_int_equal(agent_reg(a, "fusd-m", NULL, 0400), 0);
	expect_node("/dev/fusd-m", USER_A, GROUP, 0400);
	/* Root is not bound by it. */
	assert_int_equal(root_reg("fusd-root", NULL, 0666), 0);
	/* Written in octal, permission bits only. */
	param_set("user_mode_max", "644");
	param_read("user_mode_max", buf, sizeof(buf));
	assert_string_equal(buf, "0644");
	assert_int_equal(param_write("user_mode_max", "01777"), EINVAL);
	assert_int_equal(param_write("user_mode_max", "0999"), EINVAL);
	assert_int_equal(param_write("user_mode_max", "rw"), EINVAL);
	param_read("user_mode_max", buf, sizeof(buf));
	assert_string_equal(buf, "0644");
}

static void test_user_prefix(void **state)
{
	struct agent *a, *b;
	char buf[128];

	(void)state;
	a = agent_start(USER_A);
	b = agent_start(USER_B);
	/* A sub-directory. */
	param_set("user_prefix", "fusd-user/");
	assert_int_equal(agent_reg(a, "fusd-x", NULL, 0600), EPERM);
	assert_int_equal(agent_reg(a, "fusd-user", NULL, 0600), EPERM);
	assert_int_equal(agent_reg(a, "fusd-user/x", NULL, 0600), 0);
	expect_node("/dev/fusd-user/x", USER_A, GROUP, 0600);
	assert_int_equal(agent_reg(a, "fusd-user/y", "fusd-user!why", 0600),
			 0);
	assert_int_equal(agent_reg(a, "fusd-user/z", "fusd-z", 0600), EPERM);
	/* Per user: "%u" is the registrant's uid. */
	param_set("user_prefix", "fusd-%u-");
	assert_int_equal(agent_reg(a, "fusd-1234-gps", NULL, 0600), 0);
	expect_node("/dev/fusd-1234-gps", USER_A, GROUP, 0600);
	assert_int_equal(agent_reg(b, "fusd-1234-gps2", NULL, 0600), EPERM);
	assert_int_equal(agent_reg(b, "fusd-1235-gps", NULL, 0600), 0);
	expect_node("/dev/fusd-1235-gps", USER_B, GROUP, 0600);
	assert_int_equal(agent_reg(a, "fusd-x", NULL, 0600), EPERM);
	/* Refused prefixes leave the parameter as it was. */
	assert_int_equal(param_write("user_prefix", "../x"), EINVAL);
	assert_int_equal(param_write("user_prefix", "/abs"), EINVAL);
	assert_int_equal(param_write("user_prefix", "a//"), EINVAL);
	assert_int_equal(param_write("user_prefix", "fusd/"), EINVAL);
	assert_int_equal(param_write("user_prefix", "fusd"), EINVAL);
	assert_int_equal(param_write("user_prefix", "x!y"), EINVAL);
	assert_int_equal(param_write("user_prefix", "sp ace"), EINVAL);
	assert_int_equal(param_write("user_prefix", "%u%u"), EINVAL);
	assert_int_equal(param_write("user_prefix", "a%d"), EINVAL);
	/* "%u" needs a delimiter: uid 12 must not own fusd-1234... */
	assert_int_equal(param_write("user_prefix", "fusd-%u"), EINVAL);
	assert_int_equal(param_write("user_prefix", "fusd-%u0"), EINVAL);
	assert_int_equal(param_write("user_prefix",
				     "0123456789012345678901234567890123456789012345678901234567890123456789"),
			 ENOSPC);
	param_read("user_prefix", buf, sizeof(buf));
	assert_string_equal(buf, "fusd-%u-");
	/* "" lifts the name restriction (not the mode's). */
	param_set("user_prefix", "");
	assert_int_equal(agent_reg(a, "policy-free", NULL, 0600), 0);
	assert_int_equal(agent_reg(a, "policy-free2", NULL, 0777), EPERM);
}

static void test_per_user_limit(void **state)
{
	struct agent *a, *b;
	int i;

	(void)state;
	param_set_uint("max_devices_per_user", 2);
	a = agent_start(USER_A);
	b = agent_start(USER_B);
	assert_int_equal(agent_reg(a, "fusd-q0", NULL, 0600), 0);
	assert_int_equal(agent_reg(a, "fusd-q1", NULL, 0600), 0);
	assert_int_equal(agent_reg(a, "fusd-q2", NULL, 0600), EDQUOT);
	/* Another user has its own count. */
	assert_int_equal(agent_reg(b, "fusd-q3", NULL, 0600), 0);
	assert_int_equal(agent_reg(b, "fusd-q4", NULL, 0600), 0);
	assert_int_equal(agent_reg(b, "fusd-q5", NULL, 0600), EDQUOT);
	/* CAP_SYS_ADMIN is not counted. */
	for (i = 0; i < 3; i++) {
		char name[32];

		snprintf(name, sizeof(name), "policy-root%d", i);
		assert_int_equal(root_reg(name, NULL, 0600), 0);
	}
	/* Room comes back when a device goes. */
	assert_int_equal(agent_do(a, 'C', NULL, NULL, 0), 0);
	assert_int_equal(agent_reg(a, "fusd-q2", NULL, 0600), 0);
	/* Lowering the limit keeps what exists and refuses more. */
	param_set_uint("max_devices_per_user", 1);
	assert_int_equal(agent_reg(a, "fusd-q6", NULL, 0600), EDQUOT);
	assert_int_equal(access("/dev/fusd-q2", F_OK), 0);
	/* 0: no unprivileged registration at all. */
	param_set_uint("max_devices_per_user", 0);
	assert_int_equal(agent_do(a, 'C', NULL, NULL, 0), 0);
	assert_int_equal(agent_reg(a, "fusd-q7", NULL, 0600), EDQUOT);
	assert_int_equal(param_write("max_devices_per_user", "65537"), EINVAL);
	assert_int_equal(param_write("max_devices_per_user", "-1"), EINVAL);
}

static void test_total_limit(void **state)
{
	unsigned int n = count_devices();
	struct agent *a;

	(void)state;
	param_set_uint("max_devices", n + 2);
	assert_int_equal(root_reg("policy-t0", NULL, 0600), 0);
	a = agent_start(USER_A);
	assert_int_equal(agent_reg(a, "fusd-t1", NULL, 0600), 0);
	/* Full, for everyone. */
	assert_int_equal(root_reg("policy-t2", NULL, 0600), ENOSPC);
	assert_int_equal(agent_reg(a, "fusd-t3", NULL, 0600), ENOSPC);
	assert_int_equal(count_devices(), n + 2);
	assert_int_equal(agent_do(a, 'C', NULL, NULL, 0), 0);
	assert_int_equal(root_reg("policy-t2", NULL, 0600), 0);
	/* 0: none at all; the minor space bounds the parameter. */
	param_set_uint("max_devices", 0);
	assert_int_equal(root_reg("policy-t4", NULL, 0600), ENOSPC);
	assert_int_equal(param_write("max_devices", "65537"), EINVAL);
	param_set_uint("max_devices", 65536);
}

/* libfusd's fusd_register() run in a child (unprivileged if uid != 0);
 * returns its errno (0: registered) and what it printed on stderr.
 */
static int lib_register(uid_t uid, const char *name, mode_t mode, char *msg,
			size_t cap)
{
	int pfd[2], status;
	ssize_t n, len = 0;
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static struct fusd_file_operations fops;

		dup2(pfd[1], 2);
		close(pfd[0]);
		if (uid && (setgroups(0, NULL) || setgid(GROUP) || setuid(uid)))
			_exit(100);
		if (fusd_register(name, "policy", NULL, mode, NULL, &fops) < 0)
			_exit(errno);
		_exit(0);
	}
	close(pfd[1]);
	while ((size_t)len < cap - 1 &&
	       (n = read(pfd[0], msg + len, cap - 1 - (size_t)len)) > 0)
		len += n;
	msg[len] = '\0';
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	print_message("fusd_register('%s') as uid %u: %s", name,
		      (unsigned int)uid, msg);
	return WEXITSTATUS(status);
}

static void test_library_messages(void **state)
{
	char msg[1024];

	(void)state;
	assert_int_equal(lib_register(0, "null", 0666, msg, sizeof(msg)),
			 EEXIST);
	assert_non_null(strstr(msg, "/dev/null already exists"));
	assert_int_equal(lib_register(USER_A, "policy-lib", 0600, msg,
				      sizeof(msg)), EPERM);
	assert_non_null(strstr(msg, "CAP_SYS_ADMIN"));
	assert_non_null(strstr(msg, "\"fusd-\""));
	assert_non_null(strstr(msg, "0666"));
	assert_int_equal(lib_register(USER_A, "fusd-lib", 0777, msg,
				      sizeof(msg)), EPERM);
	param_set_uint("max_devices_per_user", 0);
	assert_int_equal(lib_register(USER_A, "fusd-lib", 0600, msg,
				      sizeof(msg)), EDQUOT);
	assert_non_null(strstr(msg, "at most max_devices_per_user (0)"));
	param_set_uint("max_devices", 0);
	assert_int_equal(lib_register(0, "policy-lib", 0600, msg,
				      sizeof(msg)), ENOSPC);
	assert_non_null(strstr(msg, "max_devices (0) fusd devices is reached"));
	/* No access to the control node at all. */
	assert_int_equal(chmod(CONTROL, 0600), 0);
	assert_int_equal(lib_register(USER_A, "fusd-lib", 0600, msg,
				      sizeof(msg)), EACCES);
	assert_non_null(strstr(msg, "fusd"));
	assert_int_equal(chmod(CONTROL, 0660), 0);
}

/* ------------------------------------------------ no kernel addresses */

#define KADDR_MIN 0xffff800000000000ULL

/* A value the test chose itself may look like a kernel address. */
#define CHOSEN_ARG 0xffff888812345678ULL

static int ioctl_in = 0x1234;	/* same address in the forked client */

/*
 * Every 8-byte window at a 4-byte offset and every 32-bit word of a
 * request header must not look like a kernel address (nor its upper
 * half), except the words in 'chosen' (bit i: word i), which the caller
 * compares to their exact values.
 */
static void check_no_kernel_address(const struct fusd_request *req,
				    unsigned int chosen)
{
	const unsigned char *p = (const unsigned char *)req;
	size_t i;

	for (i = 0; i < sizeof(*req) / 4; i++) {
		uint32_t w;

		if (chosen & (1U << i))
			continue;
		memcpy(&w, p + 4 * i, 4);
		if (w >= (uint32_t)(KADDR_MIN >> 32))
			fail_msg("opcode %u: word %zu = 0x%x", req->hdr.opcode,
				 i, w);
		if (i + 1 < sizeof(*req) / 4 && !(chosen & (2U << i))) {
			uint64_t q;

			memcpy(&q, p + 4 * i, 8);
			if (q >= KADDR_MIN)
				fail_msg("opcode %u: bytes %zu..%zu = 0x%llx",
					 req->hdr.opcode, 4 * i, 4 * i + 7,
					 (unsigned long long)q);
		}
	}
}

/* The union bytes past 'used' must be zero (nothing left from the heap). */
static void check_union_tail(const struct fusd_request *req, size_t used)
{
	const unsigned char *u = (const unsigned char *)&req->u;
	size_t i;

	for (i = used; i < sizeof(req->u); i++)
		if (u[i])
			fail_msg("opcode %u: union byte %zu = 0x%x",
				 req->hdr.opcode, i, u[i]);
}

static void on_usr1(int sig)
{
	(void)sig;
}

/* The client's side: every operation, in order; exit 0 if all went as
 * the daemon below answers.
 */
static void kptr_client(const char *node)
{
	struct sigaction sa;
	char buf[16];
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;	/* no SA_RESTART */
	sigaction(SIGUSR1, &sa, NULL);
	fd = open(node, O_RDWR);
	if (fd < 0)
		_exit(10);
	if (read(fd, buf, sizeof(buf)) != 3)
		_exit(11);
	if (write(fd, "hello", 5) != 5)
		_exit(12);
	if (lseek(fd, 7, SEEK_SET) != 7)
		_exit(13);
	if (ioctl(fd, _IOW('p', 1, int), &ioctl_in) != 0)
		_exit(14);
	if (ioctl(fd, _IO('p', 2), (unsigned long)CHOSEN_ARG) != 0)
		_exit(15);
	if (fsync(fd) || fdatasync(fd))
		_exit(16);
	if (read(fd, buf, sizeof(buf)) != -1 || errno != EINTR)
		_exit(17);
	if (close(fd))
		_exit(18);
	_exit(0);
}

/* Read the next request: opcode, caller and header checked. */
static size_t kptr_next(int chan, struct fusd_request *req, void *payload,
			size_t cap, unsigned int opcode, pid_t client,
			unsigned int chosen)
{
	size_t plen = raw_read_request(chan, req, payload, cap);

	print_message("opcode %u id %llu fh %llu\n", req->hdr.opcode,
		      (unsigned long long)req->hdr.id,
		      (unsigned long long)req->fh);
	assert_int_equal(req->hdr.opcode, opcode);
	check_no_kernel_address(req, chosen);
	assert_int_equal(req->hdr.hdr_size, sizeof(*req));
	assert_int_equal(req->hdr.size, sizeof(*req) + plen);
	assert_true(req->hdr.id > 0 && req->hdr.id < 1000);
	assert_true(req->fh > 0 && req->fh < 1000);
	assert_int_equal(req->pid, client);
	assert_int_equal(req->tgid, client);
	assert_int_equal(req->uid, 0);
	assert_int_equal(req->gid, 0);
	/* An INTERRUPT is no file operation: it has no f_flags. */
	if (opcode != FUSD_OP_INTERRUPT)
		assert_int_equal(req->f_flags & O_ACCMODE, O_RDWR);
	assert_int_equal(req->flags, 0);
	return plen;
}

/* Word index of a request field, for the 'chosen' mask. */
#define WORD(field) (offsetof(struct fusd_request, field) / 4)
#define CHOSEN64(field) (3U << WORD(field))

static void test_no_kernel_address_reaches_user_space(void **state)
{
	struct fusd_register reg;
	struct fusd_version ver;
	struct fusd_request req;
	char payload[64];
	uint64_t read_id;
	int chan, status;
	pid_t client;

	(void)state;
	/* What REGISTER and VERSION write back. */
	chan = open(CONTROL, O_RDWR);
	assert_true(chan >= 0);
	memset(&ver, 0, sizeof(ver));
	assert_int_equal(ioctl(chan, FUSD_IOC_VERSION, &ver), 0);
	assert_true(ver.features < KADDR_MIN && ver.reserved == 0);
	raw_register_init(&reg, "policy-kptr", 0600);
	reg.flags = FUSD_REGISTER_FLUSH;
	reg.features = FUSD_FEATURES_ALL;
	assert_int_equal(ioctl(chan, FUSD_IOC_REGISTER, &reg), 0);
	{
		const unsigned char *p = (const unsigned char *)&reg;
		size_t i;

		for (i = 0; i + 8 <= sizeof(reg); i += 4) {
			uint64_t q;

			memcpy(&q, p + i, 8);
			assert_true(q < KADDR_MIN);
		}
		assert_int_equal(reg.reserved0, 0);
		assert_int_equal(reg.reserved, 0);
	}

	client = fork();
	assert_true(client >= 0);
	if (client == 0)
		kptr_client("/dev/policy-kptr");

	kptr_next(chan, &req, payload, sizeof(payload), FUSD_OP_OPEN, client,
		  0);
	check_union_tail(&req, 0);
	assert_int_equal(raw_reply(chan, req.hdr.id, 0, NULL, 0),
			 sizeof(struct fusd_reply));

	kptr_next(chan, &req, payload, sizeof(payload), FUSD_OP_READ, client,
		  0);
	assert_int_equal(req.u.rw.offset, 0);
	assert_int_equal(req.u.rw.size, 16);
	check_union_tail(&req, 16);
	assert_int_equal(raw_reply(chan, req.hdr.id, 3, "abc", 3),
			 sizeof(struct fusd_reply) + 3);

	assert_int_equal(kptr_next(chan, &req, payload, sizeof(payload),
				   FUSD_OP_WRITE, client, 0), 5);
	assert_memory_equal(payload, "hello", 5);
	assert_int_equal(req.u.rw.offset, 3);
	assert_int_equal(req.u.rw.size, 5);
	check_union_tail(&req, 16);
	assert_int_equal(raw_reply(chan, req.hdr.id, 5, NULL, 0),
			 sizeof(struct fusd_reply));

	kptr_next(chan, &req, payload, sizeof(payload), FUSD_OP_LLSEEK, client,
		  0);
	assert_int_equal(req.u.seek.offset, 7);
	assert_int_equal(req.u.seek.whence, SEEK_SET);
	assert_int_equal(req.u.seek.pad, 0);
	assert_int_equal(req.u.seek.pos, 8);
	check_union_tail(&req, 24);
	assert_int_equal(raw_reply(chan, req.hdr.id, 7, NULL, 0),
			 sizeof(struct fusd_reply));

	/* arg is the client's pointer: the test's own, compared exactly. */
	assert_int_equal(kptr_next(chan, &req, payload, sizeof(payload),
				   FUSD_OP_IOCTL, client,
				   CHOSEN64(u.ioctl.arg)), sizeof(int));
	assert_int_equal(req.u.ioctl.cmd, _IOW('p', 1, int));
	assert_int_equal(req.u.ioctl.pad, 0);
	assert_int_equal(req.u.ioctl.arg, (uintptr_t)&ioctl_in);
	assert_int_equal(req.u.ioctl.size, sizeof(int));
	assert_memory_equal(payload, &ioctl_in, sizeof(int));
	check_union_tail(&req, 24);
	assert_int_equal(raw_reply(chan, req.hdr.id, 0, NULL, 0),
			 sizeof(struct fusd_reply));

	/* A chosen value that looks like a kernel address comes back as is:
	 * the scan above would have caught it anywhere else.
	 */
	kptr_next(chan, &req, payload, sizeof(payload), FUSD_OP_IOCTL, client,
		  CHOSEN64(u.ioctl.arg));
	assert_int_equal(req.u.ioctl.cmd, _IO('p', 2));
	assert_true(req.u.ioctl.arg == CHOSEN_ARG);
	assert_int_equal(req.u.ioctl.size, 0);
	check_union_tail(&req, 24);
	assert_int_equal(raw_reply(chan, req.hdr.id, 0, NULL, 0),
			 sizeof(struct fusd_reply));

	kptr_next(chan, &req, payload, sizeof(payload), FUSD_OP_FSYNC, client,
		  0);
	assert_int_equal(req.u.fsync.datasync, 0);
	check_union_tail(&req, 4);
	assert_int_equal(raw_reply(chan, req.hdr.id, 0, NULL, 0),
			 sizeof(struct fusd_reply));
	kptr_next(chan, &req, payload, sizeof(payload), FUSD_OP_FSYNC, client,
		  0);
	assert_int_equal(req.u.fsync.datasync, 1);
	check_union_tail(&req, 4);
	assert_int_equal(raw_reply(chan, req.hdr.id, 0, NULL, 0),
			 sizeof(struct fusd_reply));

	/* A read the daemon holds, then a signal: INTERRUPT. */
	kptr_next(chan, &req, payload, sizeof(payload), FUSD_OP_READ, client,
		  0);
	assert_int_equal(req.u.rw.offset, 7);
	read_id = req.hdr.id;
	assert_int_equal(kill(client, SIGUSR1), 0);
	kptr_next(chan, &req, payload, sizeof(payload), FUSD_OP_INTERRUPT,
		  client, 0);
	assert_true(req.u.interrupt.id == read_id);
	check_union_tail(&req, 8);
	assert_int_equal(raw_reply(chan, read_id, -EINTR, NULL, 0),
			 sizeof(struct fusd_reply));

	kptr_next(chan, &req, payload, sizeof(payload), FUSD_OP_FLUSH, client,
		  0);
	check_union_tail(&req, 0);
	assert_int_equal(raw_reply(chan, req.hdr.id, 0, NULL, 0),
			 sizeof(struct fusd_reply));
	kptr_next(chan, &req, payload, sizeof(payload), FUSD_OP_RELEASE,
		  client, 0);
	check_union_tail(&req, 0);
	raw_reply(chan, req.hdr.id, 0, NULL, 0);

	assert_int_equal(waitpid(client, &status, 0), client);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(chan);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_defaults, test_teardown),
		cmocka_unit_test_teardown(test_root_any_free_name,
					  test_teardown),
		cmocka_unit_test_teardown(test_existing_dev_entries,
					  test_teardown),
		cmocka_unit_test_teardown(test_unprivileged_names_and_modes,
					  test_teardown),
		cmocka_unit_test_teardown(test_user_mode_max, test_teardown),
		cmocka_unit_test_teardown(test_user_prefix, test_teardown),
		cmocka_unit_test_teardown(test_per_user_limit, test_teardown),
		cmocka_unit_test_teardown(test_total_limit, test_teardown),
		cmocka_unit_test_teardown(test_library_messages,
					  test_teardown),
		cmocka_unit_test_teardown(
			test_no_kernel_address_reaches_user_space,
			test_teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_policy: needs root\n");
		return 77;
	}
	return itest_run(tests, group_setup, group_teardown);
}
