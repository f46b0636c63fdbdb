#!/bin/bash
# What the maintainer scripts cost: `dpkg -i` and `dpkg -P` of the default
# package against the very same package with its maintainer scripts,
# triggers and templates removed (dpkg's own cost for those files), and
# against the "floor": the stripped package plus only the Debian mechanisms
# the package keeps, as debhelper would generate them (debconf's frontend
# for the reboot note in postinst and `db_purge` in postrm, one
# `deb-systemd-helper enable` of the units on install, `mask` on remove,
# `purge` and `unmask` on purge; the same templates and triggers).
# Interleaved in one fresh copy of the e2e suite's cached base chroot,
# through its sandbox.sh (private network and mount namespaces, /proc/sys
# read-only but net). Prints `run N INSTALL_S PURGE_S STRIPPED_INSTALL_S
# STRIPPED_PURGE_S FLOOR_INSTALL_S FLOOR_PURGE_S` lines, or one
# `not measured: WHY` line when the chroot harness or its cache is not
# there.
#
#   dpkg-cost.sh WORK DEB_DIR RUNS
set -euo pipefail

work=${1:?usage: dpkg-cost.sh WORK DEB_DIR RUNS}
deb_dir=${2:?usage: dpkg-cost.sh WORK DEB_DIR RUNS}
runs=${3:?usage: dpkg-cost.sh WORK DEB_DIR RUNS}
# shellcheck source=tests/bench/chroot-base.sh
. "$(dirname "$(realpath "$0")")/chroot-base.sh"
deb=$(ls "$deb_dir"/pve-tcp-hardening_*.deb)

# floor_package DEB DIR OUT: DEB with its scripts replaced by the Debian
# mechanisms alone (see above), built as OUT.
floor_package() {
	local ctl=$2/DEBIAN package units
	dpkg-deb -R "$1" "$2"
	package=$(dpkg-deb -f "$1" Package)
	units=$(sed -n 's/^UNITS="\(.*\)"$/\1/p' "$ctl/postinst")
	[ -n "$units" ] || { echo "not measured: no UNITS= line in $1's postinst"; exit 0; }
	rm -f "$ctl"/{preinst,postinst,prerm,postrm,config}
	printf '#!/bin/sh\nset -e\n. /usr/share/debconf/confmodule\nexit 0\n' >"$ctl/config"
	cat >"$ctl/postinst" <<-EOF
		#!/bin/sh
		set -e
		. /usr/share/debconf/confmodule
		if [ "\$1" = configure ]; then
		    db_capb escape
		    db_subst $package/reboot-required details "the floor's note"
		    db_fset $package/reboot-required seen false
		    db_input high $package/reboot-required || true
		    db_go || true
		    deb-systemd-helper enable $units >/dev/null || true
		fi
		db_stop
		exit 0
	EOF
	cat >"$ctl/postrm" <<-EOF
		#!/bin/sh
		set -e
		if [ "\$1" = remove ]; then
		    deb-systemd-helper mask $units >/dev/null || true
		fi
		if [ "\$1" = purge ]; then
		    . /usr/share/debconf/confmodule
		    deb-systemd-helper purge $units >/dev/null || true
		    deb-systemd-helper unmask $units >/dev/null || true
		    db_purge
		fi
		exit 0
	EOF
	chmod 0755 "$ctl/config" "$ctl/postinst" "$ctl/postrm"
	dpkg-deb --root-owner-group -b "$2" "$3" >/dev/null
}

root=$work/dpkg-cost/root
mkdir -p "$root"
tar --numeric-owner --xattrs -xf "$base" -C "$root"
cp "$deb" "$root/tmp/full.deb"
dpkg-deb -R "$deb" "$work/dpkg-cost/stripped"
rm -f "$work"/dpkg-cost/stripped/DEBIAN/{preinst,postinst,prerm,postrm,config,templates,triggers}
dpkg-deb --root-owner-group -b "$work/dpkg-cost/stripped" "$root/tmp/stripped.deb" >/dev/null
floor_package "$deb" "$work/dpkg-cost/floor" "$root/tmp/floor.deb"

# The chroot stands in for a host: the install that applies is measured.
# Each pair is interleaved so that a busy moment weighs on both.
# shellcheck disable=SC2016 # expanded in the chroot
"$sandbox" run "$root" env PVE_TCP_HARDENING_APPLY_IN_CHROOT=1 DEBIAN_FRONTEND=noninteractive \
	sh -ec '
	now() { date +%s.%N; }
	for run in $(seq "$1"); do
		t0=$(now); dpkg -i /tmp/full.deb >/tmp/cost.log 2>&1
		t1=$(now); dpkg -P pve-tcp-hardening >>/tmp/cost.log 2>&1
		t2=$(now); dpkg -i /tmp/stripped.deb >>/tmp/cost.log 2>&1
		t3=$(now); dpkg -P pve-tcp-hardening >>/tmp/cost.log 2>&1
		t4=$(now); dpkg -i /tmp/floor.deb >>/tmp/cost.log 2>&1
		t5=$(now); dpkg -P pve-tcp-hardening >>/tmp/cost.log 2>&1
		t6=$(now)
		echo "$run $t0 $t1 $t2 $t3 $t4 $t5 $t6"
	done' sh "$runs" |
	awk '{ printf "run %d %.3f %.3f %.3f %.3f %.3f %.3f\n", $1, $3 - $2, $4 - $3, $5 - $4, $6 - $5, $7 - $6, $8 - $7 }'
rm -rf "$work/dpkg-cost"
