#!/bin/bash
# Time `apt-get install` and `apt-get purge` of the default package, each run
# in a fresh copy of the e2e suite's cached base chroot, through its
# sandbox.sh (private network and mount namespaces, /proc/sys read-only but
# net). Prints `run N INSTALL_S PURGE_S` lines, or one `not measured: WHY`
# line when the chroot harness or its cache is not there.
#
#   install-purge.sh WORK DEB_DIR RUNS
set -euo pipefail

work=${1:?usage: install-purge.sh WORK DEB_DIR RUNS}
deb_dir=${2:?usage: install-purge.sh WORK DEB_DIR RUNS}
runs=${3:?usage: install-purge.sh WORK DEB_DIR RUNS}
# shellcheck source=tests/bench/chroot-base.sh
. "$(dirname "$(realpath "$0")")/chroot-base.sh"
deb=$(ls "$deb_dir"/pve-tcp-hardening_*.deb)

for run in $(seq "$runs"); do
	root=$work/chroot.$run/root
	mkdir -p "$root"
	tar --numeric-owner --xattrs -xf "$base" -C "$root"
	cp "$deb" "$root/tmp/bench.deb"
	# The chroot stands in for a host: measure the install that applies.
	# shellcheck disable=SC2016 # expanded in the chroot
	"$sandbox" run "$root" env PVE_TCP_HARDENING_APPLY_IN_CHROOT=1 sh -ec '
		t0=$(date +%s.%N)
		apt-get install -y /tmp/bench.deb >/tmp/bench.log 2>&1
		t1=$(date +%s.%N)
		apt-get purge -y pve-tcp-hardening >>/tmp/bench.log 2>&1
		t2=$(date +%s.%N)
		echo "$t0 $t1 $t2"' |
		awk -v run="$run" '{ printf "run %d %.3f %.3f\n", run, $2 - $1, $3 - $2 }'
	rm -rf "$work/chroot.$run"
done
