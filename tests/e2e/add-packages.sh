#!/bin/bash
# A cached base tar with more packages on top, for tools the scenarios do
# not need (trixie's lintian for tests/package.rs).
#
#   add-packages.sh BASE.tar OUT.tar PACKAGE...
#
# As in bootstrap.sh: network only to download (no maintainer script runs),
# the install offline inside sandbox.sh behind the base's policy-rc.d.
set -euo pipefail

base=${1:?usage: add-packages.sh BASE.tar OUT.tar PACKAGE...}
out=${2:?usage: add-packages.sh BASE.tar OUT.tar PACKAGE...}
shift 2
here=$(dirname "$(realpath "$0")")

work=$(mktemp -d "$(dirname "$out")/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir "$root"
tar --numeric-owner --xattrs -xf "$base" -C "$root"

unshare --mount --propagation private -- chroot "$root" /usr/bin/env -i \
	PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
	apt-get install -y --no-install-recommends --download-only "$@" </dev/null
"$here/sandbox.sh" run "$root" apt-get install -y --no-install-recommends --no-download "$@"
"$here/sandbox.sh" run "$root" apt-get clean

tar --numeric-owner --xattrs -C "$root" -cf "$out.tmp" .
mv "$out.tmp" "$out"
