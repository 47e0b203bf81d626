#!/bin/sh
# Description: the udev rule fusd-dkms installs gives the fusd group, and
# only it, the right to run driver daemons. In the VM: the rule matches the
# control node as the kernel names it; udevadm applies it (group fusd, mode
# 0660); a user in the group is refused /dev/hello-world under the default
# fusd-* name rule, registers it once the administrator lifted the rule,
# and another user reads it; a user outside the group is refused.
# /fusd/60-fusd.rules is the installed rule, /fusd/bin/udevadm the host's.
# Exit: 0 pass, 1 fail.
rule=/fusd/60-fusd.rules
node=/dev/fusd/control
fail() { echo "udev rule: $*"; exit 1; }

[ -f "$rule" ] || fail "$rule missing"
kernel=$(sed -n 's/.*KERNEL=="\([^"]*\)".*/\1/p' "$rule")
subsys=$(sed -n 's/.*SUBSYSTEM=="\([^"]*\)".*/\1/p' "$rule")
[ -n "$kernel" ] && [ -n "$subsys" ] || fail "no KERNEL== or SUBSYSTEM== key"
sys=/sys/class/$subsys/$kernel
grep -qx 'DEVNAME=fusd/control' "$sys/uevent" 2>/dev/null ||
	fail "$sys is not $node: the rule matches no such device"
[ "$(stat -c %a $node)" = 600 ] || fail "$node is not 0600 before udev"

# Users: alice is in the fusd group (as the package's group would be),
# bob is not. The group id is what addgroup might have picked.
echo 'fusd:x:4242:alice' >>/etc/group
echo 'alice:x:4000:4000:alice:/tmp:/bin/sh' >>/etc/passwd
echo 'bob:x:4001:4001:bob:/tmp:/bin/sh' >>/etc/passwd
mkdir -p /etc/udev/rules.d /run/udev
cp "$rule" /etc/udev/rules.d/
udevadm test --action=add "$sys" >/tmp/udevadm.log 2>&1 ||
	{ cat /tmp/udevadm.log; fail "udevadm test failed"; }
[ "$(stat -c '%g %a' $node)" = '4242 660' ] ||
	fail "after udev $node is $(stat -c '%u:%g %a' $node), not group fusd 0660"

# Outside the group: refused.
if su bob -c 'timeout 5 helloworld' >/tmp/bob.log 2>&1; then
	fail "bob (not in fusd) could run a driver daemon"
fi
grep -q 'Permission denied' /tmp/bob.log || fail "bob: $(cat /tmp/bob.log)"

# In the group, under the module's default policy, only fusd-* names:
# alice's /dev/hello-world is refused, with the library saying why.
if su alice -c 'timeout 5 helloworld' >/tmp/alice.log 2>&1; then
	fail "alice registered /dev/hello-world outside the fusd- names"
fi
grep -q 'user_prefix' /tmp/alice.log || fail "alice: $(cat /tmp/alice.log)"
[ ! -e /dev/hello-world ] || fail "a refused registration left /dev/hello-world"

# An administrator may lift the name rule (user_prefix=""): then alice
# serves /dev/hello-world, which bob may read.
prefix=/sys/module/fusd/parameters/user_prefix
echo >"$prefix" || fail "cannot clear $prefix"
su alice -c 'helloworld >/dev/null 2>&1 &'
i=0
while [ ! -e /dev/hello-world ]; do
	i=$((i + 1))
	[ $i -lt 300 ] || fail "alice's daemon never registered /dev/hello-world"
	usleep 10000
done
[ "$(stat -c %u /dev/hello-world)" = 4000 ] || fail "/dev/hello-world is not alice's"
got=$(su bob -c 'cat /dev/hello-world')
kill "$(pidof helloworld)"
echo fusd- >"$prefix"
case $got in
*[Hh]ello*) ;;
*) fail "bob read '$got' from alice's /dev/hello-world" ;;
esac
echo "udev rule: group fusd 0660 on $node; member may serve, others may not"
