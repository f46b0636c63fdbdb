#!/bin/bash
# Build the pristine Debian 12 chroot the e2e scenarios start from, as a tar.
#
#   make-base.sh OUT.tar SOURCES
#
# SOURCES holds one-line apt entries (`deb URI SUITE main`); the first names
# the bookworm main archive, used for debootstrap; all of them become the
# chroot's /etc/apt/sources.list. The caller picks them from this machine's
# own apt sources (tests/e2e/harness/mirror.rs) and keys the cache on a hash of
# this script, the pve-layout directory and SOURCES: change any, get a rebuild.
#
# Network is used only to download. Every maintainer script runs inside
# sandbox.sh (private network and mount namespace, /proc/sys read-only but
# net), behind a policy-rc.d that denies service starts.
set -euo pipefail

out=${1:?usage: make-base.sh OUT.tar SOURCES}
sources=${2:?usage: make-base.sh OUT.tar SOURCES}
here=$(dirname "$(realpath "$0")")
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
# procps gives sysctl, debconf gives dpkg-reconfigure; iproute2 is a chrony
# dependency anyway.
extra_packages=(chrony procps iproute2 debconf)

for tool in debootstrap unshare nsenter; do
	command -v "$tool" >/dev/null || {
		echo "make-base.sh: $tool missing; installing it" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y debootstrap util-linux </dev/null
	}
done

mirror=$(awk 'NR == 1 { print $2 }' "$sources")
[ -n "$mirror" ] || {
	echo "make-base.sh: $sources names no mirror" >&2
	exit 2
}

work=$(mktemp -d "$(dirname "$out")/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root

# A private mount namespace so debootstrap's proc/sys mounts die with it.
unshare --mount --propagation private -- \
	debootstrap --variant=minbase --keyring="$keyring" --components=main \
	bookworm "$root" "$mirror"

printf '#!/bin/sh\n# e2e: never start services in this chroot.\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
cp "$sources" "$root/etc/apt/sources.list"
chmod 0644 "$root/etc/apt/sources.list"

# Download with network (no maintainer script runs), install without.
unshare --mount --propagation private -- chroot "$root" /usr/bin/env -i \
	PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
	sh -c "apt-get update && apt-get dist-upgrade -y --download-only &&
		apt-get install -y --download-only ${extra_packages[*]}" </dev/null
# Current with bookworm-updates/-security: scenarios and piuparts (which runs
# `apt-get dist-upgrade`) then have nothing to fetch, and they have no network.
"$here/sandbox.sh" run "$root" apt-get dist-upgrade -y --no-download
"$here/sandbox.sh" run "$root" apt-get install -y --no-download "${extra_packages[@]}"

# The Proxmox VE-like sysctl layout, owned by root like a package's files.
tar -C "$here/pve-layout" --owner=0 --group=0 --mode='u+rwX,go+rX,go-w' -cf - . |
	tar -C "$root" --no-overwrite-dir -xf -

# Kept for scenarios that install chrony again offline.
ls "$root"/var/cache/apt/archives/chrony_*.deb >/dev/null

tar --numeric-owner --xattrs -C "$root" -cf "$out.tmp" .
mv "$out.tmp" "$out"
