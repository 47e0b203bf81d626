#!/bin/sh
# Description: the udev rule fusd-dkms installs matches the control node as
# the kernel names it (subsystem, kernel name, DEVNAME), which is root-only
# until the rule applies. Runs in the VM; /fusd/60-fusd.rules is the
# installed rule. Exit: 0 pass, 1 fail.
rule=/fusd/60-fusd.rules
fail() { echo "udev rule: $*"; exit 1; }

[ -f "$rule" ] || fail "$rule missing"
kernel=$(sed -n 's/.*KERNEL=="\([^"]*\)".*/\1/p' "$rule")
subsys=$(sed -n 's/.*SUBSYSTEM=="\([^"]*\)".*/\1/p' "$rule")
[ -n "$kernel" ] && [ -n "$subsys" ] || fail "no KERNEL== or SUBSYSTEM== key"
uevent=/sys/class/$subsys/$kernel/uevent
[ -f "$uevent" ] || fail "no $uevent: the rule matches no device"
grep -qx 'DEVNAME=fusd/control' "$uevent" ||
	fail "$uevent is not /dev/fusd/control"
grep -q 'GROUP="fusd"' "$rule" && grep -q 'MODE="0660"' "$rule" ||
	fail "rule does not give the fusd group read-write access"
mode=$(stat -c %a /dev/fusd/control)
[ "$mode" = 600 ] || fail "/dev/fusd/control is $mode before udev, not 600"
echo "udev rule: matches $subsys/$kernel (/dev/fusd/control)"
