#!/bin/bash
# Build the pristine Debian 12 chroot the e2e scenarios start from, as a tar.
#
#   make-base.sh OUT.tar SOURCES
#
# SOURCES holds one-line apt entries (`deb URI SUITE main`); the first names
# the bookworm main archive, used for debootstrap; all of them become the
# chroot's /etc/apt/sources.list. The caller picks them from this machine's
# own apt sources (tests/e2e/harness/mirror.rs) and keys the cache on a hash of
# this script, bootstrap.sh, sandbox.sh, the pve-layout directory and SOURCES:
# change any, get a rebuild.
#
# bootstrap.sh does the debootstrap and the installs: network only to
# download, every maintainer script inside sandbox.sh (private network and
# mount namespace, /proc/sys read-only but net), behind a policy-rc.d that
# denies service starts.
set -euo pipefail

out=${1:?usage: make-base.sh OUT.tar SOURCES}
sources=${2:?usage: make-base.sh OUT.tar SOURCES}
here=$(dirname "$(realpath "$0")")
# procps gives sysctl, debconf gives dpkg-reconfigure; iproute2 is a chrony
# dependency anyway; whiptail is on every PVE node and is what debconf's
# Dialog frontend draws the reboot note with.
extra_packages=(chrony procps iproute2 debconf whiptail)

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
tar -C "$here/pve-layout" --owner=0 --group=0 --mode='u+rwX,go+rX,go-w' -cf - . |
	tar -C "$root" --no-overwrite-dir -xf -

# Kept for scenarios that install chrony again offline.
ls "$root"/var/cache/apt/archives/chrony_*.deb >/dev/null

tar --numeric-owner --xattrs -C "$root" -cf "$out.tmp" .
mv "$out.tmp" "$out"
