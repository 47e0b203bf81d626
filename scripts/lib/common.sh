# shellcheck shell=bash
# Shared by scripts/demo, test and bench: install what a fresh Debian 12
# machine lacks, find the test kernels, build everything.

FUSD_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FUSD_BUILD=${FUSD_BUILD:-$FUSD_TOP/build}

fusd_log() { printf '==> %s\n' "$*" >&2; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian packages every entry point needs.  The kernels are Debian 12's:
# 6.1 (linux-image-amd64) and 6.12 (linux-image-6.12-amd64).
FUSD_PACKAGES=(
	build-essential cmake pkg-config libcmocka-dev
	qemu-system-x86 busybox-static cpio kmod xz-utils
	linux-image-amd64 linux-headers-amd64
	linux-image-6.12-amd64 linux-headers-6.12-amd64
	linux-source-6.12 sparse gcc-multilib groff-base shellcheck strace
	libfuse3-dev
	python3 python3-setuptools python3-venv python3-wheel
)

# What scripts/package needs on top: Debian and RPM packaging tools.
# shellcheck disable=SC2034 # used by the scripts that source this file
FUSD_PACKAGE_BUILD_DEPS=(
	build-essential cmake pkg-config dpkg-dev debhelper dh-dkms rpm
	dh-python python3-all python3-setuptools pybuild-plugin-pyproject
)

# fusd_installed PACKAGE: dpkg has it installed (held or not).
fusd_installed() {
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

# fusd_install_deps [PACKAGE...]: install what is missing (default: the
# packages every entry point needs).
fusd_install_deps() {
	local missing=() p
	[ $# -gt 0 ] || set -- "${FUSD_PACKAGES[@]}"
	for p in "$@"; do
		fusd_installed "$p" || missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		fusd_log "all needed Debian packages are installed"
		return
	fi
	fusd_log "installing: ${missing[*]}"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null
}

# The project version, from CMakeLists.txt's project(fusd VERSION x.y.z).
# shellcheck disable=SC2120 # scripts/package passes a staged tree
fusd_version() {
	sed -n 's/^project(fusd VERSION \([0-9.]*\).*/\1/p' "${1:-$FUSD_TOP}/CMakeLists.txt"
}

# The Python package's versions: pyproject.toml's and fusd.__version__,
# on one line; both must be the project version.
# shellcheck disable=SC2120 # scripts/package passes a staged tree
fusd_python_version() {
	local py=${1:-$FUSD_TOP}/bindings/python
	echo "$(sed -n 's/^version = "\([0-9.]*\)"$/\1/p' "$py/pyproject.toml")" \
		"$(sed -n 's/^__version__ = "\([0-9.]*\)"$/\1/p' "$py/fusd/__init__.py")"
}

# Kernel release a Debian metapackage (e.g. linux-image-amd64) points at.
fusd_kver_of() {
	local deps
	deps=$(dpkg-query -W -f='${Depends}\n' "$1" | tr ',' '\n')
	sed -n 's/^ *linux-image-\([^ ]*\).*/\1/p' <<<"$deps" | head -n 1
}

# The kernels every test run covers, one per line.
fusd_kernels() {
	fusd_kver_of linux-image-amd64
	fusd_kver_of linux-image-6.12-amd64
}

# Build library, examples, tests and fusd.ko for each kernel.
fusd_build() {
	local kdirs='' k
	for k in $(fusd_kernels); do
		kdirs+="${kdirs:+;}/lib/modules/$k/build"
	done
	cmake -S "$FUSD_TOP" -B "$FUSD_BUILD" -DFUSD_WERROR=ON \
		-DFUSD_KDIRS="$kdirs" >/dev/null
	local rc=0
	cmake --build "$FUSD_BUILD" -j"$(nproc)" >"$FUSD_BUILD/build.log" 2>&1 || rc=$?
	grep -E 'warning|error|Building fusd.ko' "$FUSD_BUILD/build.log" >&2 || true
	[ "$rc" = 0 ] || { fusd_log "build failed (see $FUSD_BUILD/build.log)"; return 1; }
}

fusd_ko() { echo "$FUSD_BUILD/kernel/$1/src/kernel/fusd.ko"; }

# The host's Python for the guest: DIR/python/bin/python3.X and its
# standard library in DIR/python/lib/python3.X (the interpreter finds it
# there from its own path, so the prefix is /fusd/python), with
# DIR/bin/python3 a link to it (/init puts /fusd/bin first in PATH).
# Left out: what no driver needs and what would drag in big libraries:
# the tests, IDLE, Tk, 2to3, pydoc's data, ensurepip, venv, distutils,
# the build configuration (25 MB), sqlite3, dbm, ssl/hashlib (OpenSSL;
# hashlib falls back to its builtin digests), curses, readline, the CJK
# codecs and the test modules.  No __pycache__: the guest compiles what it
# imports once per boot (about 3 s under TCG), which costs less than the
# 4 MB the compiled files would add to every initramfs.  ldd in run-vm
# finds the libraries of the interpreter and of lib-dynload.
fusd_python_runtime() {
	local dir=$1/python py ver std
	py=$(readlink -f /usr/bin/python3) || {
		fusd_log "no /usr/bin/python3 (apt-get install python3)"
		return 1
	}
	ver=${py##*/}
	std=/usr/lib/$ver
	[ -f "$std/os.py" ] || { fusd_log "no standard library in $std"; return 1; }
	mkdir -p "$dir/bin" "$dir/lib" "$1/bin"
	cp "$py" "$dir/bin/$ver"
	ln -sf "$ver" "$dir/bin/python3"
	ln -sf ../python/bin/python3 "$1/bin/python3"
	tar -C /usr/lib -cf - --exclude=__pycache__ --exclude="$ver/test" \
		--exclude="$ver/idlelib" --exclude="$ver/tkinter" \
		--exclude="$ver/turtledemo" --exclude="$ver/ensurepip" \
		--exclude="$ver/venv" --exclude="$ver/lib2to3" \
		--exclude="$ver/pydoc_data" --exclude="$ver/distutils" \
		--exclude="$ver/sqlite3" --exclude="$ver/dbm" --exclude="$ver/curses" \
		--exclude="$ver/config-*" --exclude="$ver/site-packages" \
		--exclude="$ver/dist-packages" \
		--exclude='lib-dynload/_test*' --exclude='lib-dynload/_xx*' \
		--exclude='lib-dynload/xxlimited*' --exclude='lib-dynload/_ctypes_test*' \
		--exclude='lib-dynload/_codecs_*' --exclude='lib-dynload/nis.*' \
		--exclude='lib-dynload/_dbm.*' --exclude='lib-dynload/_gdbm.*' \
		--exclude='lib-dynload/_sqlite3.*' --exclude='lib-dynload/_ssl.*' \
		--exclude='lib-dynload/_hashlib.*' --exclude='lib-dynload/_curses*' \
		--exclude='lib-dynload/readline.*' --exclude='lib-dynload/ossaudiodev.*' \
		--exclude='lib-dynload/audioop.*' "$ver" | tar -C "$dir/lib" -xf -
}

# The Python package and its examples from the source tree, beside the
# interpreter: DIR/python/fusd and DIR/python/examples (PYTHONPATH=
# /fusd/python in the guest, which test_python sets).
fusd_python_package() {
	local src=$FUSD_TOP/bindings/python
	[ -d "$src/fusd" ] || { fusd_log "no $src/fusd"; return 1; }
	mkdir -p "$1/python"
	tar -C "$src" -cf - --exclude=__pycache__ fusd examples |
		tar -C "$1/python" -xf -
}

# Lay out what the guest gets: bin/ (daemons), lib/, tests/, run-tests,
# python/ (interpreter, standard library, the fusd package).
fusd_payload() {
	local dir=$1
	rm -rf "$dir"
	mkdir -p "$dir"/{bin,lib,tests}
	cp -a "$FUSD_BUILD"/libfusd.so* "$dir/lib/"
	cp "$FUSD_BUILD"/examples/* "$FUSD_BUILD"/fusdctl "$dir/bin/"
	if [ -d "$FUSD_BUILD/test-bin" ]; then
		cp "$FUSD_BUILD"/test-bin/* "$dir/bin/"
	fi
	cp "$FUSD_BUILD"/test/integration/test_* "$dir/tests/"
	# The benchmark and its daemons (zero-cuse needs libfuse3).  libfuse
	# stops its worker threads with pthread_cancel, for which glibc
	# dlopen()s libgcc_s: ldd cannot see that, so it is shipped here.
	cp "$FUSD_BUILD"/bench/fusd-bench "$FUSD_BUILD"/bench/zero-* "$dir/bin/"
	cp -L "$(gcc -print-file-name=libgcc_s.so.1)" "$dir/lib/"
	# A real tracer for the exactly-once tests (strace -p).
	cp "$(command -v strace)" "$dir/bin/"
	cp "$FUSD_TOP/test/vm/run-tests" "$dir/"
	fusd_python_runtime "$dir" && fusd_python_package "$dir"
}

# checkpatch.pl ships only inside the kernel source tarball: unpack it once.
fusd_checkpatch() {
	local dir=$FUSD_BUILD/checkpatch tarball
	if [ ! -x "$dir/scripts/checkpatch.pl" ]; then
		tarball=$(ls /usr/src/linux-source-6.12*.tar.xz | head -n 1)
		mkdir -p "$dir"
		tar -xJf "$tarball" -C "$dir" --strip-components=1 --wildcards \
			'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' \
			'*/scripts/const_structs.checkpatch'
	fi
	echo "$dir/scripts/checkpatch.pl"
}

# ------------------------------------------------ installed packages
# Guest payload from what the packages installed, not the build tree:
# bin/ = fusdctl and the example drivers, lib/ = the packaged libfusd.so.1.
# The libfusd.so.1 that the libfusd1 package installed.
fusd_packaged_lib() {
	dpkg -L libfusd1 2>/dev/null | grep '/libfusd\.so\.1$'
}

# python/: this machine's python3 (fusd_python_runtime) with the module
# python3-fusd installed in its dist-packages (python/lib/python3/
# dist-packages, which the guest's python3 searches as /usr's does
# /usr/lib/python3/dist-packages) and its example drivers in
# python/examples, as test_python expects them.
fusd_installed_payload() {
	local dir=$1 lib files mod ex
	lib=$(fusd_packaged_lib) || {
		fusd_log "libfusd1 is not installed"
		return 1
	}
	files=$(dpkg -L python3-fusd 2>/dev/null)
	mod=$(grep '/dist-packages/fusd/__init__\.py$' <<<"$files") &&
		ex=$(grep '/examples/echo\.py$' <<<"$files") || {
		fusd_log "python3-fusd is not installed (or has no module or examples)"
		return 1
	}
	rm -rf "$dir"
	mkdir -p "$dir"/{bin,lib,tests} "$dir/python/lib/python3/dist-packages" \
		"$dir/python/examples"
	cp /usr/bin/fusdctl /usr/libexec/fusd/examples/* "$dir/bin/" &&
		cp -a "$lib"* "$dir/lib/" &&
		cp "$FUSD_TOP/test/vm/run-tests" "$dir/" &&
		fusd_python_runtime "$dir" &&
		cp -r "$(dirname "$mod")" "$dir/python/lib/python3/dist-packages/" &&
		cp "$(dirname "$ex")"/*.py "$dir/python/examples/"
}

# The module DKMS installed for a kernel (fusd.ko, or fusd.ko.xz on 6.12).
fusd_dkms_module() {
	ls "/lib/modules/$1/updates/dkms/"fusd.ko* 2>/dev/null | head -n 1
}

# fusd_dkms_ko KVER DEST: copy it to DEST, decompressed for busybox insmod.
fusd_dkms_ko() {
	local m
	m=$(fusd_dkms_module "$1")
	mkdir -p "$(dirname "$2")"
	case $m in
	*.xz) xz -dc "$m" >"$2" ;;
	*.ko) cp "$m" "$2" ;;
	*) fusd_log "no DKMS-built fusd module for $1"; return 1 ;;
	esac
}

# shellcheck disable=SC2034 # used by the scripts that source this file
FUSD_DEBS=(fusd-dkms libfusd1 libfusd-dev fusd-tools python3-fusd)

# fusd_debs_in DIR VERSION: the paths of the five .debs of VERSION in DIR,
# one per line; fails naming the first one missing.
fusd_debs_in() {
	local p f
	for p in "${FUSD_DEBS[@]}"; do
		f=$(ls "$1/${p}_${2}_"*.deb 2>/dev/null) || { echo "  no $p .deb" >&2; return 1; }
		echo "$f"
	done
}

# Build the .debs with scripts/package and install them with apt-get.
fusd_install_packages() {
	local out=$FUSD_BUILD/packages debs
	"$FUSD_TOP/scripts/package" --out "$out" --no-rpm || return 1
	fusd_log "apt-get install ./*.deb (DKMS builds fusd.ko for each kernel)"
	debs=$(fusd_debs_in "$out" "$(fusd_version)") || return 1
	mapfile -t debs <<<"$debs"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${debs[@]}" >"$out/apt.log" 2>&1 || {
		tail -n 30 "$out/apt.log" >&2
		fusd_log "installing the packages failed (see $out/apt.log)"
		return 1
	}
}
