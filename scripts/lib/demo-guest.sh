#!/bin/sh
# Runs inside the demo VM: two user-space drivers, used by ordinary tools.
set -e
say() { printf '\n### %s\n' "$*"; }

say "starting the hello-world and echo daemons (ordinary processes)"
helloworld >/dev/null &
/fusd/bin/echo 2>/dev/null &
i=0
while [ ! -e /dev/hello-world ] || [ ! -e /dev/echo ]; do
	i=$((i + 1)); [ $i -lt 500 ] || { echo "nodes did not appear"; exit 1; }
	usleep 10000
done
ls -l /dev/hello-world /dev/echo

say "cat /dev/hello-world"
cat /dev/hello-world

say "echo 'fusd says hi' > /dev/echo; cat /dev/echo"
echo 'fusd says hi' > /dev/echo
cat /dev/echo

say "dd 4 KiB of random bytes through /dev/echo and compare"
dd if=/dev/urandom of=/tmp/in bs=4096 count=1 2>/dev/null
dd if=/tmp/in of=/dev/echo bs=4096 2>/dev/null
dd if=/dev/echo of=/tmp/out bs=4096 2>/dev/null
cmp /tmp/in /tmp/out && echo "identical"

say "/sys/class/fusd"
ls /sys/class/fusd

say "killing the daemons: the nodes disappear"
# shellcheck disable=SC2046 # one pid per word
kill $(pidof helloworld echo)
sleep 1
ls /dev/hello-world /dev/echo 2>&1 || true
[ "$(cat /dev/hello-world 2>/dev/null)" = "" ]
echo "DEMO-OK"
