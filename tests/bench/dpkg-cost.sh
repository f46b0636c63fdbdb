#!/bin/bash
# What the maintainer scripts cost: `dpkg -i` and `dpkg -P` of the default
# package against the very same package with its maintainer scripts,
# triggers and templates removed (dpkg's own cost for those files),
# interleaved in one fresh copy of the e2e suite's cached base chroot,
# through its sandbox.sh (private network and mount namespaces, /proc/sys
# read-only but net). Prints `run N INSTALL_S PURGE_S STRIPPED_INSTALL_S
# STRIPPED_PURGE_S` lines, or one `not measured: WHY` line when the chroot
# harness or its cache is not there.
#
#   dpkg-cost.sh WORK DEB_DIR RUNS
set -euo pipefail

work=${1:?usage: dpkg-cost.sh WORK DEB_DIR RUNS}
deb_dir=${2:?usage: dpkg-cost.sh WORK DEB_DIR RUNS}
runs=${3:?usage: dpkg-cost.sh WORK DEB_DIR RUNS}
# shellcheck source=tests/bench/chroot-base.sh
. "$(dirname "$(realpath "$0")")/chroot-base.sh"
deb=$(ls "$deb_dir"/pve-tcp-hardening_*.deb)

root=$work/dpkg-cost/root
mkdir -p "$root"
tar --numeric-owner --xattrs -xf "$base" -C "$root"
cp "$deb" "$root/tmp/full.deb"
dpkg-deb -R "$deb" "$work/dpkg-cost/stripped"
rm -f "$work"/dpkg-cost/stripped/DEBIAN/{preinst,postinst,prerm,postrm,config,templates,triggers}
dpkg-deb --root-owner-group -b "$work/dpkg-cost/stripped" "$root/tmp/stripped.deb" >/dev/null

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
		t4=$(now)
		echo "$run $t0 $t1 $t2 $t3 $t4"
	done' sh "$runs" |
	awk '{ printf "run %d %.3f %.3f %.3f %.3f\n", $1, $3 - $2, $4 - $3, $5 - $4, $6 - $5 }'
rm -rf "$work/dpkg-cost"
