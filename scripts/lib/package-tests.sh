# shellcheck shell=bash
# Packaging tests, sourced by scripts/test (which provides count and
# vm_suite). They run on this machine for real: build the .deb and .rpm
# sets, lint them, install an older version and upgrade to this one, let
# a kernel install rebuild the module, boot every kernel with the module
# DKMS built, then remove and purge and check nothing is left.
# Idempotent: everything a previous run installed is purged first.

# The "new kernel" of the hook test: a flavour scripts/test does not need
# otherwise, purged at the start of every run so its install is real.
FUSD_HOOK_KERNEL_META=linux-image-6.12-cloud-amd64
# An older release to upgrade from: this tree packaged as 0.0.1.
FUSD_OLD_VERSION=0.0.1

# check DESCRIPTION COMMAND...: one test, passing when COMMAND succeeds.
check() {
	local what=$1
	shift
	if "$@"; then
		echo "PASS $what"
		count 1 0
	else
		echo "FAIL $what"
		count 0 1
	fi
}

apt_quiet() {
	as_root env DEBIAN_FRONTEND=noninteractive apt-get "$@" -y -q \
		--no-install-recommends >>"$FUSD_BUILD/pkg/apt.log" 2>&1
}

# Packages dpkg knows in any state but "not-installed".
dpkg_known() {
	local p st
	for p in "$@"; do
		st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)
		[ -n "$st" ] && [ "$st" != not-installed ] && echo "$p"
	done
}

# purge_known PACKAGE...: purge those dpkg knows, if any.
purge_known() {
	local known
	known=$(dpkg_known "$@")
	# shellcheck disable=SC2086 # one word per package
	[ -z "$known" ] || apt_quiet purge $known
}

purge_fusd() { purge_known "${FUSD_DEBS[@]}"; }

hook_kernel_version() {
	apt-cache depends "$FUSD_HOOK_KERNEL_META" 2>/dev/null |
		sed -n 's/^ *Depends: linux-image-\(.*\)$/\1/p' | head -n 1
}

# dkms_state VERSION KVER: DKMS's word for that build ("installed", ...).
dkms_state() {
	dkms status -m fusd -v "$1" -k "$2" 2>/dev/null |
		sed -n 's/.*: \([a-z-]*\)$/\1/p' | head -n 1
}

installed_for() { # installed_for VERSION KVER...
	local v=$1 k m
	shift
	for k in "$@"; do
		[ "$(dkms_state "$v" "$k")" = installed ] || {
			echo "  dkms: fusd/$v on $k is '$(dkms_state "$v" "$k")'"
			return 1
		}
		m=$(fusd_dkms_module "$k")
		[ -n "$m" ] && [ "$(modinfo -F version "$m")" = "$v" ] || {
			echo "  $k: module '$m' is not version $v"
			return 1
		}
	done
}

# Every file the given .deb files ship is gone, so are the directories only
# fusd owns, and DKMS has no trace of fusd.
nothing_left() {
	local deb f left=0 files
	for deb in "$@"; do
		mapfile -t files < <(dpkg-deb -c "$deb" | awk '{ print substr($6, 2) }')
		if [ "${#files[@]}" = 0 ]; then
			echo "  cannot list $deb"
			return 1
		fi
		for f in "${files[@]}"; do
			[ -e "$f" ] || [ -L "$f" ] || continue
			[ -d "$f" ] && [ ! -L "$f" ] && continue # shared directories
			echo "  left behind: $f"
			left=1
		done
	done
	for f in /lib/modules/*/updates/dkms/fusd.ko* /usr/src/fusd-* \
		/var/lib/dkms/fusd /usr/libexec/fusd /usr/share/doc/fusd-dkms \
		/usr/share/doc/fusd-tools /usr/share/doc/libfusd1 \
		/usr/share/doc/libfusd-dev /usr/share/doc/python3-fusd \
		/usr/lib/python3/dist-packages/fusd; do
		[ -e "$f" ] && { echo "  left behind: $f"; left=1; }
	done
	return "$left"
}

# What an interrupted RPM scriptlet test may have left in DKMS and /usr/src.
# Only once no fusd .deb is known to dpkg: then nothing there is owned.
clean_dkms_leftovers() {
	local d
	[ -z "$(dpkg_known "${FUSD_DEBS[@]}")" ] || return 1
	for d in /var/lib/dkms/fusd/*/; do
		[ -d "$d" ] || continue
		d=${d%/}
		[ "${d##*/}" != source ] || continue
		as_root dkms remove -m fusd -v "${d##*/}" --all >/dev/null 2>&1 ||
			{ echo "  dkms remove fusd/${d##*/} failed"; return 1; }
	done
	as_root rm -rf /var/lib/dkms/fusd /usr/src/fusd-* \
		"${TMPDIR:-/tmp}"/dkms_rpm_safe_upgrade_lock.*
}

# rpm_txn RPM TAG ARG [RPM TAG ARG]...: run those scriptlets (POSTIN, PREUN;
# ARG 1 = install/upgrade, 0 = erase) with /bin/sh as ONE rpm transaction.
# One root bash stands for rpm: dkms --rpm_safe_upgrade tells transactions
# apart by the scriptlet's parent's parent. The loop keeps bash from
# exec'ing sh in its own place.
rpm_txn() {
	local dir=$FUSD_BUILD/pkg/txn runs=() i=0 body
	rm -rf "$dir" && mkdir -p "$dir" || return 1
	while [ $# -ge 3 ]; do
		body=$(rpm -qp --qf "%{$2}" "$1") || return 1
		[ "$body" != '(none)' ] || { echo "  $1 has no $2 scriptlet"; return 1; }
		i=$((i + 1))
		printf '%s\n' "$body" >"$dir/$i.sh"
		runs+=("$dir/$i.sh:$3")
		shift 3
	done
	# shellcheck disable=SC2016 # expanded by the inner bash
	as_root bash -c 'for r in "$@"; do sh "${r%:*}" "${r##*:}" >/dev/null || exit 1; done; exit 0' \
		rpm "${runs[@]}"
}

# Only where no .deb owns anything of fusd in DKMS and /usr/src.
rpm_scriptlets_on_clean_dkms() {
	clean_dkms_leftovers || { echo "  fusd .debs still known to dpkg"; return 1; }
	rpm_scriptlets_ok "$@"
}

# Unpack (or delete) the DKMS tree an RPM carries, as rpm -i (rpm -e) would.
rpm_tree() { # rpm_tree add|del RPM VERSION
	case $1 in
	add) (cd / && rpm2cpio "$2" | as_root cpio -idm --quiet "./usr/src/fusd-$3/*") ;;
	del) as_root rm -rf "/usr/src/fusd-$3" ;;
	esac
}

# The fusd-dkms.rpm scriptlets, run against this machine's DKMS in the order
# rpm runs them: install OLD (%post); upgrade to NEW (NEW's %post, then
# OLD's %preun); reinstall NEW over itself, as a same-version release bump
# does (%post, then %preun of the same version: --rpm_safe_upgrade must
# keep the module); erase NEW (%preun). Every kernel must end with NEW,
# then with nothing.
rpm_scriptlets_ok() {
	local old_rpm=$1 new_rpm=$2 old_v=$3 new_v=$4
	shift 4
	rpm_tree add "$old_rpm" "$old_v" &&
		rpm_txn "$old_rpm" POSTIN 1 &&
		installed_for "$old_v" "$@" || return 1
	rpm_tree add "$new_rpm" "$new_v" &&
		rpm_txn "$new_rpm" POSTIN 2 "$old_rpm" PREUN 1 &&
		rpm_tree del "$old_rpm" "$old_v" &&
		installed_for "$new_v" "$@" || return 1
	[ ! -e "/var/lib/dkms/fusd/$old_v" ] || { echo "  fusd/$old_v still in DKMS"; return 1; }
	rpm_txn "$new_rpm" POSTIN 2 "$new_rpm" PREUN 1 &&
		installed_for "$new_v" "$@" || { echo "  same-version upgrade lost the module"; return 1; }
	rpm_txn "$new_rpm" PREUN 0 &&
		rpm_tree del "$new_rpm" "$new_v" || return 1
	[ ! -e "/var/lib/dkms/fusd/$new_v" ] &&
		[ -z "$(ls /lib/modules/*/updates/dkms/fusd.ko* 2>/dev/null)" ] ||
		{ echo "  fusd/$new_v left in DKMS after erase"; return 1; }
}

# rpm_has_python RPM VERSION: the module in a site-packages directory,
# setuptools' metadata of VERSION beside it, the examples in its docs.
rpm_has_python() {
	local list re
	list=$(rpm -qlp "$1" 2>/dev/null) || return 1
	for re in '/site-packages/fusd/__init__\.py$' '/site-packages/fusd/uapi\.py$' \
		"/site-packages/fusd-${2//./\\.}-py3[.0-9]*\\.egg-info\$" \
		'/doc/python3-fusd[^/]*/examples/echo\.py$' \
		'/doc/python3-fusd[^/]*/examples/gpio\.py$'; do
		grep -q -- "$re" <<<"$list" || { echo "  nothing matches $re"; return 1; }
	done
}

rpm_has() { # rpm_has RPM PATH...: the package lists every PATH
	local list p
	list=$(rpm -qlp "$1" 2>/dev/null) || return 1
	shift
	for p in "$@"; do
		grep -qxF "$p" <<<"$list" || { echo "  missing: $p"; return 1; }
	done
}

# The library a program loads is the file libfusd1 installed (paths are
# compared after symlinks: /lib is /usr/lib on Debian 12).
links_to_packaged_lib() {
	local got want
	got=$(ldd "$1" 2>/dev/null | awk '$1 == "libfusd.so.1" { print $3 }')
	want=$(fusd_packaged_lib)
	[ -n "$got" ] && [ -n "$want" ] &&
		[ "$(realpath "$got")" = "$(realpath "$want")" ]
}

# The release tarball stands on its own: scripts/package run from an
# unpacked copy (no git there) builds the same five .debs.
tarball_self_contained() {
	local t=$FUSD_BUILD/pkg/from-tarball v=$1
	rm -rf "$t" && mkdir -p "$t" || return 1
	tar -xzf "$FUSD_BUILD/pkg/new/fusd-$v.tar.gz" -C "$t" || return 1
	[ ! -e "$t/fusd-$v/.git" ] || return 1
	FUSD_BUILD=$t/build "$t/fusd-$v/scripts/package" --out "$t/out" --no-rpm \
		>"$t/log" 2>&1 || { tail -n 5 "$t/log"; return 1; }
	fusd_debs_in "$t/out" "$v" >/dev/null
}

# scripts/package must refuse to build when debian/changelog and
# CMakeLists.txt name different versions: try it on a copy of the tree.
package_refuses_mismatch() {
	local t=$FUSD_BUILD/pkg/mismatch
	rm -rf "$t" && mkdir -p "$t" || return 1
	tar -C "$FUSD_TOP" --exclude=./build --exclude=./.git -cf - . | tar -xf - -C "$t"
	sed -i 's/^project(fusd VERSION [0-9.]*/project(fusd VERSION 9.9.9/' "$t/CMakeLists.txt"
	if FUSD_BUILD=$t/build "$t/scripts/package" --out "$t/out" >"$t/log" 2>&1; then
		echo "  scripts/package built a mismatched tree"
		return 1
	fi
	grep -q 'debian/changelog is at .* but CMakeLists.txt at 9.9.9' "$t/log" &&
		[ ! -e "$t/out" ]
}

dkms_guard_ok() {
	(
		# dkms.conf is shell that dkms sources; these are its inputs.
		# shellcheck disable=SC2034
		kernel_source_dir=/nonexistent
		# shellcheck disable=SC1091
		. "$FUSD_TOP/dkms.conf"
		for k in 6.1.0-56-amd64 6.12.117+deb12-amd64 6.19.3 7.0.0 10.2.1; do
			[[ $k =~ $BUILD_EXCLUSIVE_KERNEL ]] || { echo "  refuses $k"; exit 1; }
		done
		for k in 5.10.0-30-amd64 6.0.12-1 4.19.0 3.16.0; do
			[[ $k =~ $BUILD_EXCLUSIVE_KERNEL ]] && { echo "  accepts $k"; exit 1; }
		done
		exit 0
	)
}

# Guest payload: what the packages installed, the smoke subset of the
# integration suite (test_python runs the Python examples python3-fusd
# installed, on the module it installed), the downstream program, the udev
# rule's check, the installed Python module's check and the demo's guest
# script.
package_payload() {
	local dir=$1 t
	fusd_installed_payload "$dir" || return 1
	for t in test_examples test_classic_examples test_register test_status \
		test_poll test_python; do
		cp "$FUSD_BUILD/test/integration/$t" "$dir/tests/" || return 1
	done
	cp /lib/udev/rules.d/60-fusd.rules "$dir/" &&
		cp "$(command -v udevadm)" "$dir/bin/" &&
		install -m 755 "$FUSD_TOP/test/package/test_udev_rule.sh" "$dir/tests/test_udev_rule" &&
		install -m 755 "$FUSD_TOP/test/package/test_python_installed.sh" \
			"$dir/tests/test_python_installed" &&
		cp "$FUSD_BUILD/pkg/downstream" "$dir/tests/test_downstream" &&
		install -m 755 "$FUSD_TOP/scripts/lib/demo-guest.sh" "$dir/tests/test_demo"
}

fusd_package_tests() {
	local pkg=$FUSD_BUILD/pkg new old version hook_k k out
	local kernels
	rm -rf "$pkg"
	mkdir -p "$pkg"
	fusd_install_deps "${FUSD_PACKAGE_BUILD_DEPS[@]}" dkms lintian adduser \
		udev rpm2cpio cpio || {
		echo "FAIL installing the packaging tools"
		count 0 1
		return
	}
	new=$pkg/new
	old=$pkg/old
	version=$(fusd_version)

	fusd_log "packages: purging what an earlier run installed"
	# An earlier run stopped inside apt leaves dpkg half-configured.
	as_root dpkg --configure -a >>"$pkg/apt.log" 2>&1
	purge_fusd && clean_dkms_leftovers
	hook_k=$(hook_kernel_version)
	purge_known "linux-image-$hook_k" "linux-headers-$hook_k"
	check "nothing of fusd or the $hook_k kernel is installed before the package tests" \
		test -z "$(dpkg_known "${FUSD_DEBS[@]}" "linux-image-$hook_k")"

	fusd_log "packages: scripts/package ($version and $FUSD_OLD_VERSION)"
	check "scripts/package builds the tarball, .debs and .rpms of $version" \
		"$FUSD_TOP/scripts/package" --out "$new"
	check "scripts/package builds the packages of an older version ($FUSD_OLD_VERSION)" \
		"$FUSD_TOP/scripts/package" --out "$old" --version "$FUSD_OLD_VERSION"
	check "the package set of $version is complete (tarball, 5 .deb, 5 .rpm + .src.rpm)" \
		test -f "$new/fusd-$version.tar.gz" \
		-a "$(ls "$new"/*.deb 2>/dev/null | wc -l)" = 5 \
		-a "$(ls "$new"/*.rpm 2>/dev/null | wc -l)" = 6

	local lrc=0
	out=$(lintian --fail-on error,warning "$new"/*.changes 2>&1) || lrc=$?
	check "lintian: no error or warning on the source and the 5 .debs" \
		test "$lrc" = 0 -a -z "$(grep -E '^(E|W):' <<<"$out")"
	grep -v 'running with root privileges' <<<"$out" | sed '/^$/d; s/^/  /'
	check "fusd-dkms depends on dkms and on kernel headers" \
		grep -q 'dkms.*linux-headers\|linux-headers.*dkms' \
		<<<"$(dpkg-deb -f "$new/fusd-dkms_${version}_all.deb" Depends)"
	check "fusd-dkms's dkms.conf carries version $version" \
		grep -qx "PACKAGE_VERSION=\"$version\"" <<<"$(dpkg-deb --fsys-tarfile \
		"$new/fusd-dkms_${version}_all.deb" | tar -xOf - "./usr/src/fusd-$version/dkms.conf")"
	check "dkms.conf builds only for Linux 6.1 and newer (BUILD_EXCLUSIVE_KERNEL)" \
		dkms_guard_ok
	check "scripts/package refuses a tree whose debian/changelog disagrees with CMakeLists.txt" \
		package_refuses_mismatch
	check "the release tarball stands alone: its own scripts/package rebuilds the 5 .debs" \
		tarball_self_contained "$version"

	# RPMs: this machine has no dnf, so check what rpmbuild produced.
	local r=$new rv=$version-1
	check "rpm: fusd-dkms is noarch with the DKMS tree, udev rule and modules-load.d entry" \
		rpm_has "$r/fusd-dkms-$rv.noarch.rpm" "/usr/src/fusd-$version/dkms.conf" \
		"/usr/src/fusd-$version/src/kernel/main.c" "/usr/src/fusd-$version/src/kernel/Kbuild" \
		"/usr/src/fusd-$version/src/kernel/Makefile" \
		"/usr/src/fusd-$version/include/uapi/linux/fusd.h" \
		/usr/lib/udev/rules.d/60-fusd.rules /usr/lib/modules-load.d/fusd.conf \
		/usr/lib/sysusers.d/fusd.conf
	check "rpm: fusd-dkms runs dkms add/install in %post and dkms remove in %preun" \
		grep -qz "postinstall.*dkms add -m fusd -v $version.*dkms install.*preuninstall.*dkms remove -m fusd -v $version" \
		<<<"$(rpm -qp --scripts "$r/fusd-dkms-$rv.noarch.rpm" | tr '\n' ' ')"
	check "rpm: libfusd holds the shared library" \
		rpm_has "$r/libfusd-$rv.x86_64.rpm" /usr/lib64/libfusd.so.1 /usr/lib64/libfusd.so.1.4.0
	check "rpm: libfusd-devel holds headers, .so, .pc and man pages" \
		rpm_has "$r/libfusd-devel-$rv.x86_64.rpm" /usr/include/fusd.h \
		/usr/include/linux/fusd.h /usr/lib64/libfusd.so /usr/lib64/pkgconfig/libfusd.pc \
		/usr/share/man/man3/fusd.3 /usr/share/man/man3/fusd_register.3
	check "rpm: fusd-tools holds fusdctl, its man page and the examples" \
		rpm_has "$r/fusd-tools-$rv.x86_64.rpm" /usr/bin/fusdctl \
		/usr/share/man/man1/fusdctl.1 /usr/libexec/fusd/examples/helloworld \
		/usr/libexec/fusd/examples/echo
	check "rpm: python3-fusd is noarch with the module, its metadata of $version and the examples" \
		rpm_has_python "$r/python3-fusd-$rv.noarch.rpm" "$version"
	check "rpm: libfusd-devel and fusd-tools require this exact libfusd" \
		test "$(rpm -qpR "$r/libfusd-devel-$rv.x86_64.rpm" | grep -c "libfusd(x86-64) = $rv")" = 1 \
		-a "$(rpm -qpR "$r/fusd-tools-$rv.x86_64.rpm" | grep -c "libfusd(x86-64) = $rv")" = 1

	# Debian: a fresh install of this release.
	mapfile -t kernels < <(fusd_kernels)
	fusd_log "packages: apt-get install ./*.deb ($version), DKMS builds for ${kernels[*]}"
	check "apt-get install of the $version .debs succeeds on a machine without fusd" \
		apt_quiet install "$new"/*.deb
	check "DKMS built and installed fusd $version for ${kernels[*]}" \
		installed_for "$version" "${kernels[@]}"
	check "fusd-dkms created the fusd group and installed the udev rule and modules-load.d entry" \
		test -n "$(getent group fusd)" -a -f /lib/udev/rules.d/60-fusd.rules \
		-a -f /usr/lib/modules-load.d/fusd.conf

	fusd_log "packages: apt-get install $FUSD_HOOK_KERNEL_META's kernel ($hook_k)"
	check "no fusd module for $hook_k before its kernel is installed" \
		test -z "$(fusd_dkms_module "$hook_k")"
	check "apt-get install linux-image-$hook_k linux-headers-$hook_k succeeds" \
		apt_quiet install "linux-image-$hook_k" "linux-headers-$hook_k"
	check "the kernel's install hook made DKMS build fusd $version for $hook_k" \
		installed_for "$version" "$hook_k"

	# python3-fusd: Debian's python3 imports the module it installed, and
	# its struct layouts are the C header's (test/python/check_layout.py
	# against the installed copy).
	check "python3-fusd: /usr/bin/python3 imports fusd from /usr/lib/python3/dist-packages" \
		test "$(cd / && /usr/bin/python3 -c 'import fusd; print(fusd.__file__)')" = \
		/usr/lib/python3/dist-packages/fusd/__init__.py
	check "python3-fusd: the installed fusd.uapi layouts equal linux/fusd.h's" \
		/usr/bin/python3 -B "$FUSD_TOP/test/python/check_layout.py" \
		"$FUSD_BUILD/test/python/uapi_layout" /usr/lib/python3/dist-packages

	# A downstream program: only the installed -dev package and pkg-config.
	# shellcheck disable=SC2046 # pkg-config's flags are words
	check "a downstream program builds with pkg-config --cflags --libs libfusd (installed -dev)" \
		cc -Wall -Wextra -Werror -o "$pkg/downstream" \
		"$FUSD_TOP/test/package/downstream.c" $(pkg-config --cflags --libs libfusd)
	check "the downstream program links to the packaged libfusd.so.1" \
		links_to_packaged_lib "$pkg/downstream"

	check "a VM payload can be made from the installed packages alone" \
		package_payload "$pkg/payload"
	for k in "${kernels[@]}" "$hook_k"; do
		local ko=$pkg/ko/$k/fusd.ko
		if fusd_dkms_ko "$k" "$ko"; then
			vm_suite "dkms-$k" "$k" "$ko" "$pkg/payload"
		else
			echo "FAIL [dkms-$k] no DKMS-built module to boot with"
			count 0 1
		fi
	done

	fusd_log "packages: remove, then purge"
	local debs=("$new"/*.deb) all=("${kernels[@]}" "$hook_k")
	check "apt-get remove of the fusd packages succeeds" \
		apt_quiet remove "${FUSD_DEBS[@]}"
	check "after remove: no module for any kernel, no udev rule, no file of any package" \
		nothing_left "${debs[@]}"
	check "apt-get purge of what remove left (fusd-dkms's postrm, for the group) succeeds" \
		purge_fusd
	check "after purge: dpkg knows no fusd package, the fusd group is gone, nothing left" \
		test -z "$(dpkg_known "${FUSD_DEBS[@]}")" -a -z "$(getent group fusd)" \
		-a -z "$(nothing_left "${debs[@]}")"

	# Upgrade: the older release, then this one over it.
	fusd_log "packages: install $FUSD_OLD_VERSION, then upgrade to $version"
	check "apt-get install of the older $FUSD_OLD_VERSION .debs succeeds" \
		apt_quiet install "$old"/*.deb
	check "DKMS built and installed fusd $FUSD_OLD_VERSION for ${all[*]}" \
		installed_for "$FUSD_OLD_VERSION" "${all[@]}"
	check "apt-get install of the $version .debs upgrades $FUSD_OLD_VERSION" \
		apt_quiet install "$new"/*.deb
	check "after the upgrade DKMS has fusd $version installed for ${all[*]}" \
		installed_for "$version" "${all[@]}"
	check "after the upgrade nothing of fusd $FUSD_OLD_VERSION is left in DKMS or /usr/src" \
		test ! -e "/var/lib/dkms/fusd/$FUSD_OLD_VERSION" -a ! -e "/usr/src/fusd-$FUSD_OLD_VERSION" \
		-a "$(dpkg-query -W -f='${Version}\n' "${FUSD_DEBS[@]}" | sort -u)" = "$version"
	check "apt-get purge after the upgrade leaves nothing and no fusd group" \
		eval 'apt_quiet purge "${FUSD_DEBS[@]}" && test -z "$(dpkg_known "${FUSD_DEBS[@]}")" -a -z "$(getent group fusd)" && nothing_left "${debs[@]}"'

	# The RPM's DKMS scriptlets, on this machine's DKMS (no dnf here).
	fusd_log "packages: fusd-dkms.rpm scriptlets: install $FUSD_OLD_VERSION, upgrade, erase"
	check "fusd-dkms.rpm scriptlets: install, upgrade, same-version upgrade and erase keep DKMS right on ${all[*]}" \
		rpm_scriptlets_on_clean_dkms "$old/fusd-dkms-$FUSD_OLD_VERSION-1.noarch.rpm" \
		"$new/fusd-dkms-$version-1.noarch.rpm" "$FUSD_OLD_VERSION" "$version" "${all[@]}"
	clean_dkms_leftovers

	# Leave no extra kernel behind: it would become the default boot entry.
	fusd_log "packages: purging the $hook_k kernel again"
	check "purging the $hook_k kernel leaves no /lib/modules/$hook_k" \
		eval 'apt_quiet purge "linux-image-$hook_k" "linux-headers-$hook_k" && test ! -e "/lib/modules/$hook_k"'
}
