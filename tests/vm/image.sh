#!/bin/bash
# The cached VM image for tests/vm (the reboot proof) and tests/cluster (the
# Ansible rollout): built once per recipe by make-image.sh, keyed on a hash
# of everything that shapes it. Prints the image's base path (BASE.tar,
# BASE.vmlinuz, BASE.initrd) on stdout; progress goes to stderr.
#
#   image.sh [--release RELEASE] CACHE_DIR NAME [EXTRA_PACKAGE...]
#
# RELEASE is bookworm (the default) or trixie. NAME separates images with
# different releases or extra packages, so the harnesses do not evict each
# other's image; an image of NAME with another key is removed. The Debian
# mirror comes from this machine's apt sources.
set -euo pipefail

usage="usage: image.sh [--release RELEASE] CACHE_DIR NAME [EXTRA_PACKAGE...]"
release=bookworm
if [ "${1:-}" = --release ]; then
	release=${2:?$usage}
	shift 2
fi
cache=${1:?$usage}
name=${2:?$usage}
shift 2
extra=("$@")
here=$(dirname "$(realpath "$0")")
repo=$(realpath "$here/../..")
e2e=$repo/tests/e2e
mkdir -p "$cache"

sources=$(mktemp)
trap 'rm -f "$sources"' EXIT
(cd "$repo" && cargo run --quiet --example vm-apt-sources "$release") >"$sources" || {
	echo "image.sh: cannot pick a Debian entry from this machine's apt sources" >&2
	exit 2
}

# Everything that shapes the image: change any of it, get a rebuild.
recipe_key() {
	cat "$here/make-image.sh" "$e2e/bootstrap.sh" "$e2e/sandbox.sh" "$sources"
	printf 'release: %s\nextra: %s\n' "$release" "${extra[*]}"
	(cd "$e2e/pve-layout" && find . -printf '%p %y %m %l\n' | LC_ALL=C sort &&
		find . -type f -exec sha256sum {} + | LC_ALL=C sort -k2)
	uname -m
}
key=$(recipe_key | sha256sum | cut -c1-16)
image=$cache/$name-$key
for old in "$cache/$name"-*; do
	[ -e "$old" ] || continue
	# Only NAME's own images (NAME-KEY...), not those of a longer name
	# that starts with it (cluster-trixie beside cluster).
	[[ ${old##*/} =~ ^"$name"-[0-9a-f]{16}($|\.) ]] || continue
	case $old in "$image".*) ;; *) rm -rf "$old" ;; esac
done
if [ ! -e "$image.tar" ]; then
	echo "image.sh: building $image.tar (cold: a few minutes)" >&2
	start=$SECONDS
	# shellcheck disable=SC2016 # $1.. are the inner shell's arguments
	flock "$cache/image.lock" sh -c 'i=$1 m=$2; shift 2; [ -e "$i.tar" ] || "$m" "$i" "$@"' sh \
		"$image" "$here/make-image.sh" "$sources" "$release" "${extra[@]}" >&2
	echo "image.sh: image built in $((SECONDS - start))s" >&2
fi
echo "$image"
