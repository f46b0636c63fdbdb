#!/bin/bash
# The trixie packages a bookworm VM image needs for `apt-get full-upgrade`
# to Debian 13 with no network (the upgrade proof, upgrade.sh): computed
# and downloaded by apt itself in a throwaway copy of the image whose
# sources name trixie (the same mirror as this machine's apt sources, via
# vm-apt-sources), then made a flat apt repository (Packages from
# apt-ftparchive). Cached per bookworm image and recipe; prints the
# repository's directory on stdout, progress on stderr.
#
#   stage-upgrade.sh CACHE_DIR IMAGE
#
# IMAGE is the bookworm image's base path (image.sh); its name carries its
# recipe key, so a new image gets a new staged set. Only downloads run with
# network (no maintainer script runs here).
set -euo pipefail

cache=${1:?usage: stage-upgrade.sh CACHE_DIR IMAGE}
image=${2:?usage: stage-upgrade.sh CACHE_DIR IMAGE}
here=$(dirname "$(realpath "$0")")
repo=$(realpath "$here/../..")

sources=$(mktemp)
trap 'rm -f "$sources"' EXIT
(cd "$repo" && cargo run --quiet --example vm-apt-sources trixie) >"$sources"
key=$({ cat "$here/stage-upgrade.sh" "$sources"; basename "$image"; } | sha256sum | cut -c1-16)
out=$cache/upgrade-trixie-$key
for old in "$cache"/upgrade-trixie-*; do
	[ -e "$old" ] || continue
	[ "$old" = "$out" ] || [ "$old" = "$out.lock" ] || rm -rf "$old"
done

stage() {
	[ ! -e "$out/Packages" ] || return 0
	echo "stage-upgrade.sh: staging the trixie packages in $out" >&2
	local work root
	work=$(mktemp -d "$cache/stage.XXXXXX")
	# shellcheck disable=SC2064 # expand now
	trap "rm -rf '$work' '$sources'" EXIT
	root=$work/root
	mkdir "$root"
	tar --numeric-owner --xattrs -C "$root" -xf "$image.tar"
	cp "$sources" "$root/etc/apt/sources.list"
	# What the VM's own apt will do, short of running it: the same resolver
	# (bookworm's apt) on the same installed set, downloading only.
	unshare --mount --propagation private -- chroot "$root" /usr/bin/env -i \
		PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
		sh -c 'apt-get update && apt-get full-upgrade -y --download-only' </dev/null >&2
	mkdir -p "$work/repo"
	mv "$root"/var/cache/apt/archives/*.deb "$work/repo/"
	(cd "$work/repo" && apt-ftparchive packages . >Packages)
	rm -rf "$out"
	mv "$work/repo" "$out"
	rm -rf "$work"
}
(
	flock 9
	stage
) 9>"$out.lock"
echo "$out"
