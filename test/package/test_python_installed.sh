#!/bin/sh
# Description: python3-fusd as installed serves a device. In the VM, with
# the payload of the installed packages: the guest's python3 (this
# machine's, prefix /fusd/python) imports fusd from its dist-packages,
# where the package's files were copied, with no PYTHONPATH and no other
# copy of the module anywhere; the installed echo example then registers
# /dev/pkg-echo and echoes what the shell writes, and goes away on SIGTERM.
# Exit: 0 pass, 1 fail.
site=/fusd/python/lib/python3/dist-packages
example=/fusd/python/examples/echo.py
node=/dev/pkg-echo
fail() { echo "python3-fusd: $*"; exit 1; }

unset PYTHONPATH
command -v python3 >/dev/null || fail "no python3 in the payload"
[ -f "$site/fusd/__init__.py" ] || fail "$site/fusd missing"
[ ! -e /fusd/python/fusd ] || fail "a copy of the source tree's module is in the payload"
where=$(cd / && python3 -c 'import fusd; print(fusd.__file__)') ||
	fail "python3 cannot import fusd"
[ "$where" = "$site/fusd/__init__.py" ] || fail "fusd imported from $where"

python3 "$example" --name "$node" >/dev/null 2>/tmp/pkg-echo.log &
pid=$!
i=0
while [ ! -e "$node" ]; do
	i=$((i + 1))
	kill -0 "$pid" 2>/dev/null || fail "echo.py exited: $(cat /tmp/pkg-echo.log)"
	[ $i -lt 6000 ] || fail "no $node after 60 s"
	usleep 10000
done
echo 'from the package' >"$node" || fail "write to $node failed"
got=$(cat "$node") || fail "read of $node failed"
kill -TERM "$pid"
wait "$pid"
[ "$got" = 'from the package' ] || fail "read '$got' from $node"
i=0
while [ -e "$node" ]; do
	i=$((i + 1))
	[ $i -lt 500 ] || fail "$node still there after its daemon ended"
	usleep 10000
done
echo "python3-fusd: fusd from $site; the installed echo.py echoes through $node"
