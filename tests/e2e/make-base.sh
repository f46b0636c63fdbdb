#!/bin/bash
# Build the pristine chroot the e2e scenarios of one release start from, as
# a tar, laid out like that release's Proxmox VE node.
#
#   make-base.sh RELEASE OUT.tar SOURCES
#
# RELEASE is bookworm (Debian 12, laid out like PVE 8 from pve-layout/) or
# trixie (Debian 13, laid out like PVE 9 from pve-layout-trixie/).
# SOURCES holds one-line apt entries (`deb URI SUITE main`); the first names
# the release's main archive, used for debootstrap; all of them become the
# chroot's /etc/apt/sources.list. The caller picks them from this machine's
# own apt sources (tests/e2e/harness/mirror.rs) and keys the cache on a hash of
# this script, bootstrap.sh, sandbox.sh, the layout directory and SOURCES:
# change any, get a rebuild.
#
# bootstrap.sh does the debootstrap and the installs: network only to
# download, every maintainer script inside sandbox.sh (private network and
# mount namespace, /proc/sys read-only but net), behind a policy-rc.d that
# denies service starts.
set -euo pipefail

release=${1:?usage: make-base.sh RELEASE OUT.tar SOURCES}
out=${2:?usage: make-base.sh RELEASE OUT.tar SOURCES}
sources=${3:?usage: make-base.sh RELEASE OUT.tar SOURCES}
here=$(dirname "$(realpath "$0")")
# procps gives sysctl, debconf gives dpkg-reconfigure; iproute2 is a chrony
# dependency anyway; whiptail is on every PVE node and is what debconf's
# Dialog frontend draws the reboot note with.
extra_packages=(chrony procps iproute2 debconf whiptail)
case $release in
bookworm)
	layout=$here/pve-layout
	;;
trixie)
	layout=$here/pve-layout-trixie
	# The real owners of a PVE 9 node's other sysctl.d files: systemd
	# (10-coredump-debian, 50-pid-max; and systemd-sysctl for the
	# differential tests), linux-sysctl-defaults (50-default).
	# e2fsprogs: on every PVE node, in bookworm's minbase, not in trixie's
	# (trixie's lynis depends on it).
	extra_packages+=(systemd linux-sysctl-defaults e2fsprogs)
	# What `ls` shows on a PVE 9 node (issue 27; FACTS.md, Debian 13).
	want_usr_lib='10-coredump-debian.conf 10-pve-ct-inotify-limits.conf 10-pve.conf 50-default.conf 50-pid-max.conf pve-firewall.conf'
	want_etc='README.sysctl'
	;;
*)
	echo "make-base.sh: unknown release $release (bookworm, trixie)" >&2
	exit 2
	;;
esac

for tool in debootstrap unshare nsenter; do
	command -v "$tool" >/dev/null || {
		echo "make-base.sh: $tool missing; installing it" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y debootstrap util-linux </dev/null
	}
done

work=$(mktemp -d "$(dirname "$out")/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root

"$here/bootstrap.sh" "$root" "$sources" "${extra_packages[@]}"

# The Proxmox VE-like sysctl layout, owned by root like a package's files.
tar -C "$layout" --owner=0 --group=0 --mode='u+rwX,go+rX,go-w' -cf - . |
	tar -C "$root" --no-overwrite-dir -xf -

if [ -n "${want_usr_lib:-}" ]; then
	got_usr_lib=$(cd "$root/usr/lib/sysctl.d" && echo *)
	got_etc=$(cd "$root/etc/sysctl.d" && echo *)
	if [ "$got_usr_lib" != "$want_usr_lib" ] || [ "$got_etc" != "$want_etc" ] ||
		[ -e "$root/etc/sysctl.conf" ]; then
		echo "make-base.sh: $release is not laid out like its PVE node:" >&2
		echo "  /usr/lib/sysctl.d: $got_usr_lib (want $want_usr_lib)" >&2
		echo "  /etc/sysctl.d: $got_etc (want $want_etc)" >&2
		ls -l "$root/etc/sysctl.conf" >&2 2>/dev/null || true
		exit 1
	fi
fi

# Kept for scenarios that install chrony again offline.
ls "$root"/var/cache/apt/archives/chrony_*.deb >/dev/null

tar --numeric-owner --xattrs -C "$root" -cf "$out.tmp" .
mv "$out.tmp" "$out"
