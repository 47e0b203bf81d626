# shellcheck shell=bash
# The debug-kernel lane: fetch the newest 7.x kernel source from Debian
# (trixie-backports, through a private apt configuration: the system's
# sources are never touched), build it with KASAN, UBSAN, lockdep,
# DEBUG_ATOMIC_SLEEP, debugobjects and kmemleak from x86_64_defconfig +
# kvm_guest.config + test/vm/debug.config, and cache the built tree.
# Sourced after common.sh.
#
# Cache layout, outside the clone (FUSD_KCACHE, default /var/cache/fusd):
#   apt/                      private apt state (sources, lists, archives)
#   debs/linux-source-*.deb   the downloaded source packages
#   linux-VER-SHA/            one built kernel; VER = source package version,
#                             SHA = sha256 (12 hex) of the merged recipe:
#                             the fragments, the make targets, gcc's version
#     linux/                  the source tree, built in place (M= builds)
#     bzImage  config         copies of the results
#     build.log  merge.log    what the build said
#     ok                      written last: the entry is complete
#   linux-VER-SHA.lock        flock(1) lock: one build at a time

FUSD_KCACHE=${FUSD_KCACHE:-/var/cache/fusd}
# The kernel series to fetch (Debian source package linux-source-SERIES).
FUSD_KDEBUG_SERIES=${FUSD_KDEBUG_SERIES:-7.3}
FUSD_KDEBUG_SUITE=${FUSD_KDEBUG_SUITE:-trixie-backports}
FUSD_KDEBUG_FRAGMENT=$FUSD_TOP/test/vm/debug.config

# What building a kernel needs on top of FUSD_PACKAGES.
FUSD_KDEBUG_PACKAGES=(build-essential flex bison libelf-dev bc libssl-dev xz-utils)

# Set by fusd_kdebug_prepare: the built tree and its kernel image.
FUSD_KDEBUG_TREE=''
FUSD_KDEBUG_IMAGE=''

# Options for apt-get/apt-cache that use only the private configuration.
fusd_kdebug_apt_opts() {
	local d=$FUSD_KCACHE/apt
	printf '%s\n' -o Dir::Etc::sourcelist=/dev/null \
		-o "Dir::Etc::sourceparts=$d/etc/sources.list.d" \
		-o "Dir::Etc::preferencesparts=$d/etc/preferences.d" \
		-o "Dir::State=$d/state" -o "Dir::Cache=$d/cache"
}

# fusd_kdebug_fetch: download linux-source-SERIES (newest version in the
# suite) into FUSD_KCACHE/debs; print the .deb's path.  Offline, the
# newest .deb already downloaded is used (with a note).
fusd_kdebug_fetch() {
	local d=$FUSD_KCACHE/apt pkg=linux-source-$FUSD_KDEBUG_SERIES ver deb opts
	mapfile -t opts < <(fusd_kdebug_apt_opts)
	mkdir -p "$d/etc/sources.list.d" "$d/etc/preferences.d" \
		"$d/state/lists/partial" "$d/cache/archives/partial" \
		"$FUSD_KCACHE/debs" || return 1
	cat >"$d/etc/sources.list.d/fusd-kdebug.sources" <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: $FUSD_KDEBUG_SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	if as_root apt-get "${opts[@]}" -qq update >"$d/update.log" 2>&1 &&
		ver=$(apt-cache "${opts[@]}" policy "$pkg" |
			sed -n 's/^ *Candidate: *//p') &&
		[ -n "$ver" ] && [ "$ver" != '(none)' ]; then
		deb=$FUSD_KCACHE/debs/${pkg}_${ver/*:/}_all.deb
		if [ ! -s "$deb" ]; then
			fusd_log "downloading $pkg $ver from $FUSD_KDEBUG_SUITE"
			# apt-get download writes to the cwd, as root (the _apt
			# user may not write here: apt says so, harmlessly).
			(cd "$FUSD_KCACHE/debs" &&
				as_root apt-get "${opts[@]}" -qq download "$pkg=$ver" \
					>"$d/download.log" 2>&1) || {
				cat "$d/download.log" >&2
				fusd_log "apt-get download $pkg=$ver failed"
				return 1
			}
		fi
	else
		deb=$(ls -v "$FUSD_KCACHE/debs/${pkg}_"*.deb 2>/dev/null | tail -n 1)
		if [ -z "$deb" ]; then
			cat "$d/update.log" >&2 2>/dev/null
			fusd_log "cannot find $pkg in $FUSD_KDEBUG_SUITE (see $d/update.log)"
			return 1
		fi
		fusd_log "apt index unavailable: using the cached $deb"
	fi
	[ -s "$deb" ] || { fusd_log "no $deb after the download"; return 1; }
	echo "$deb"
}

# fusd_kdebug_key DEB: the cache directory name for DEB and the recipe.
fusd_kdebug_key() {
	local ver sha
	ver=$(dpkg-deb -f "$1" Version) || return 1
	sha=$({
		echo "x86_64_defconfig kernel/configs/kvm_guest.config bzImage modules"
		gcc -dumpfullversion
		cat "$FUSD_KDEBUG_FRAGMENT"
	} | sha256sum | cut -c1-12)
	echo "linux-${ver//[^A-Za-z0-9._-]/_}-$sha"
}

# fusd_kdebug_check_config CONFIG: every option the fragment sets is set
# that way in CONFIG (merge_config.sh only warns when one is dropped).
fusd_kdebug_check_config() {
	local line opt bad=''
	while read -r line; do
		case $line in
		CONFIG_*=*) grep -qxF -- "$line" "$1" || bad+=" $line" ;;
		'# CONFIG_'*' is not set')
			opt=${line#\# }
			opt=${opt%% *}
			! grep -q "^$opt=" "$1" || bad+=" $opt=n"
			;;
		esac
	done <"$FUSD_KDEBUG_FRAGMENT"
	[ -z "$bad" ] || {
		fusd_log "debug.config options not in the final .config:$bad"
		return 1
	}
}

# fusd_kdebug_build DIR DEB: unpack the source package DEB into DIR/linux,
# configure and build it.  Runs under the entry's lock.
fusd_kdebug_build() {
	local dir=$1 deb=$2 tree=$1/linux tarball t0 mk
	t0=$SECONDS
	if [ ! -f "$tree/Makefile" ]; then
		fusd_log "unpacking $(basename "$deb") into $dir"
		rm -rf "$dir/deb" "$tree" && mkdir -p "$dir/deb" "$tree" || return 1
		dpkg-deb -x "$deb" "$dir/deb" || return 1
		tarball=$(ls "$dir"/deb/usr/src/linux-source-*.tar.* | head -n 1)
		tar -xaf "$tarball" -C "$tree" --strip-components=1 || return 1
		rm -rf "$dir/deb"
	fi
	mk=(make -C "$tree" ARCH=x86_64 -s)
	if [ ! -f "$dir/config" ]; then
		"${mk[@]}" x86_64_defconfig >"$dir/merge.log" 2>&1 &&
			(cd "$tree" && ARCH=x86_64 scripts/kconfig/merge_config.sh -m \
				.config kernel/configs/kvm_guest.config \
				"$FUSD_KDEBUG_FRAGMENT") >>"$dir/merge.log" 2>&1 &&
			"${mk[@]}" olddefconfig >>"$dir/merge.log" 2>&1 || {
			tail -n 20 "$dir/merge.log" >&2
			fusd_log "configuring the kernel failed (see $dir/merge.log)"
			return 1
		}
		fusd_kdebug_check_config "$tree/.config" || return 1
		cp "$tree/.config" "$dir/config"
	fi
	fusd_log "building the debug kernel in $tree (-j$(nproc); 20-40 min on 2 cores)"
	# all = bzImage + modules + Module.symvers, what M= builds need.
	if ! "${mk[@]}" -j"$(nproc)" all >"$dir/build.log" 2>&1; then
		grep -E 'error|Error' "$dir/build.log" | head -n 20 >&2
		fusd_log "building the kernel failed (see $dir/build.log)"
		return 1
	fi
	cp "$tree/arch/x86/boot/bzImage" "$dir/bzImage" || return 1
	echo "built in $((SECONDS - t0)) s" >"$dir/ok"
	fusd_log "debug kernel built in $((SECONDS - t0)) s"
}

# fusd_kdebug_prepare: fetch, build (or reuse) the debug kernel; sets
# FUSD_KDEBUG_TREE and FUSD_KDEBUG_IMAGE.  Fails with a message.
fusd_kdebug_prepare() {
	local deb key dir rc
	fusd_install_deps "${FUSD_KDEBUG_PACKAGES[@]}" || return 1
	deb=$(fusd_kdebug_fetch) || return 1
	key=$(fusd_kdebug_key "$deb") || return 1
	dir=$FUSD_KCACHE/$key
	mkdir -p "$dir" || return 1
	if [ ! -f "$dir/ok" ]; then
		# The lock file descriptor lives in the subshell only.
		(
			flock 9 || exit 1
			[ -f "$dir/ok" ] || fusd_kdebug_build "$dir" "$deb"
		) 9>"$dir.lock"
		rc=$?
		[ "$rc" = 0 ] || return 1
	else
		fusd_log "reusing the debug kernel in $dir ($(cat "$dir/ok"))"
	fi
	FUSD_KDEBUG_TREE=$dir/linux
	# shellcheck disable=SC2034 # used by the scripts that source this file
	FUSD_KDEBUG_IMAGE=$dir/bzImage
}

# fusd_kdebug_ko OUT: build fusd.ko out of tree against the debug kernel
# in OUT (src/kernel + include/uapi copied, as CMake does); the build's
# output goes to OUT/build.log.
fusd_kdebug_ko() {
	local out=$1
	rm -rf "$out" && mkdir -p "$out" || return 1
	cp -a "$FUSD_TOP/src" "$FUSD_TOP/include" "$out/" || return 1
	make -C "$FUSD_KDEBUG_TREE" M="$out/src/kernel" \
		FUSD_VERSION="$(fusd_version)" modules >"$out/build.log" 2>&1
}

# How much slower the suite runs on the debug kernel than on Debian's
# (TCG + KASAN + lockdep + kmemleak; measured 2-3 times): run-tests' limit
# is scaled by this, and the tests see it as FUSD_TIMEOUT_SCALE.
FUSD_KDEBUG_TIMEOUT_SCALE=${FUSD_KDEBUG_TIMEOUT_SCALE:-3}
# The whole VM run on the debug kernel (measured: 6 min with the fault
# and fuzz tests, boot and kmemleak scans included).
FUSD_KDEBUG_VM_TIMEOUT=${FUSD_KDEBUG_VM_TIMEOUT:-1500}

# fusd_kdebug_lane PAYLOAD: the debug lane for scripts/test, which provides
# count and vm_suite: build (or reuse) the kernel, build fusd.ko on it
# with zero warnings, run the whole suite with kmemleak, print the lane's
# FUSD-FIGURES lines.  A kernel that cannot be fetched
# or built is a failure, never a skip.
fusd_kdebug_lane() {
	local pl=$1 label=$FUSD_KDEBUG_SERIES-debug out ko n
	fusd_log "debug kernel $FUSD_KDEBUG_SERIES (KASAN, UBSAN, lockdep, kmemleak)"
	if ! fusd_kdebug_prepare; then
		echo "FAIL [$label] no debug kernel: fetching or building linux-source-$FUSD_KDEBUG_SERIES failed (see above)"
		count 0 1
		return
	fi
	out=$FUSD_BUILD/kernel/$label
	ko=$out/src/kernel/fusd.ko
	fusd_kdebug_ko "$out"
	n=$(grep -c -E "(warning|WARNING):" "$out/build.log")
	if [ -f "$ko" ] && [ "$n" = 0 ]; then
		echo "PASS fusd.ko builds without warnings for $label"
		count 1 0
	else
		grep -E "warning|WARNING|error" "$out/build.log"
		echo "FAIL fusd.ko for $label: $n warnings or no module (see $out/build.log)"
		count 0 1
		[ -f "$ko" ] || return
	fi
	# No sparse here: 7.3's scripts/checker-valid.sh wants a sparse that
	# knows __typeof_unqual__: newer than Debian 12's 0.6.4, the last release.
	vm_suite "$label" "$label" "$ko" "$pl" --kernel "$FUSD_KDEBUG_IMAGE" \
		--kmemleak --timeout-scale "$FUSD_KDEBUG_TIMEOUT_SCALE" \
		--timeout "$FUSD_KDEBUG_VM_TIMEOUT"
	grep -a '^FUSD-FIGURES' "$FUSD_BUILD/vm-$label.log" | sed "s/^/[$label] /"
}
