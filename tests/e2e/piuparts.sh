#!/bin/bash
# The real piuparts install/purge test of .debs, offline and in private
# network and mount namespaces, from the cached e2e base.
#
#   piuparts.sh BASE.tar RELEASE MIRROR_URI DEB...
#
# piuparts always runs `apt-get update` and, from a --basetgz, `apt-get -yf
# dist-upgrade`. Without network the update cannot succeed, so
# --update-retries 1 makes piuparts tolerate its failure (apt keeps the lists
# the base was built with), and the base is built fully upgraded so the
# dist-upgrade has nothing to fetch. --no-upgrade-test: our packages are not in
# the archive, there is nothing to upgrade from.
set -euo pipefail

base=${1:?usage: piuparts.sh BASE.tar RELEASE MIRROR_URI DEB...}
release=${2:?usage: piuparts.sh BASE.tar RELEASE MIRROR_URI DEB...}
mirror=${3:?usage: piuparts.sh BASE.tar RELEASE MIRROR_URI DEB...}
shift 3

command -v piuparts >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y piuparts </dev/null

# piuparts unpacks --basetgz with `tar -zxf`: keep a gzip copy of the base.
tgz=${base%.tar}.piuparts.tgz
flock "$base.piuparts.lock" sh -c '[ -e "$2" ] || { gzip -1 -c "$1" >"$2.tmp" && mv "$2.tmp" "$2"; }' sh "$base" "$tgz"

# The chroot stands in for a host: lift the package's image-build guard.
export PVE_TCP_HARDENING_APPLY_IN_CHROOT=1
exec unshare --net --mount --propagation private -- \
	piuparts --basetgz "$tgz" --distribution "$release" --mirror "$mirror" \
	--no-upgrade-test --update-retries 1 --no-adequate \
	"$@" </dev/null
