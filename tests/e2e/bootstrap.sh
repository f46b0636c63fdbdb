#!/bin/bash
# The first half of every Debian tree the tests build (the e2e chroot,
# tests/e2e/make-base.sh, and the VM images, tests/vm/make-image.sh):
# debootstrap minbase of the suite and from the mirror that SOURCES' first
# line names, a policy-rc.d that denies service starts, SOURCES as the
# tree's apt sources, then the system upgraded and PACKAGES installed. Network is used only to download; every
# maintainer script runs offline inside sandbox.sh.
#
#   bootstrap.sh ROOT SOURCES [--no-install-recommends] PACKAGE...
#
# SOURCES holds one-line apt entries (`deb URI SUITE main`); the first names
# the main archive and its suite (bookworm; trixie for a VM image). Callers
# key their caches on this script too.
set -euo pipefail

root=${1:?usage: bootstrap.sh ROOT SOURCES [--no-install-recommends] PACKAGE...}
sources=${2:?usage: bootstrap.sh ROOT SOURCES [--no-install-recommends] PACKAGE...}
shift 2
install_opts=()
if [ "${1:-}" = --no-install-recommends ]; then
	install_opts+=(--no-install-recommends)
	shift
fi
packages=("$@")
here=$(dirname "$(realpath "$0")")
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

mirror=$(awk 'NR == 1 { print $2 }' "$sources")
suite=$(awk 'NR == 1 { print $3 }' "$sources")
[ -n "$mirror" ] && [ -n "$suite" ] || {
	echo "bootstrap.sh: $sources names no mirror and suite" >&2
	exit 2
}

# A private mount namespace so debootstrap's proc/sys mounts die with it.
unshare --mount --propagation private -- \
	debootstrap --variant=minbase --keyring="$keyring" --components=main \
	"$suite" "$root" "$mirror"

printf '#!/bin/sh\n# pve-tcp-hardening tests: never start services in this tree.\nexit 101\n' \
	>"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
cp "$sources" "$root/etc/apt/sources.list"
chmod 0644 "$root/etc/apt/sources.list"

# Download with network (no maintainer script runs), install without.
unshare --mount --propagation private -- chroot "$root" /usr/bin/env -i \
	PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
	sh -c "apt-get update && apt-get dist-upgrade -y --download-only &&
		apt-get install -y ${install_opts[*]} --download-only ${packages[*]}" </dev/null
# Current with SUITE-updates/-security: scenarios and piuparts (which runs
# `apt-get dist-upgrade`) then have nothing to fetch, and they have no network.
"$here/sandbox.sh" run "$root" apt-get dist-upgrade -y --no-download
"$here/sandbox.sh" run "$root" apt-get install -y "${install_opts[@]}" --no-download "${packages[@]}"
