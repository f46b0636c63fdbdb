#!/bin/sh
# plan.sh PACKAGE SOURCE: `plan` of PACKAGE as the repository holds it,
# before anything is installed. SOURCE is the deb822 source the rollout
# writes (key inline); apt reads it, and keeps the index it fetches, in a
# scratch directory, so the node's own sources, lists and caches are neither
# read nor changed: this works in --check mode, before the source is added,
# and fetches our repository's index only. The package is downloaded and
# unpacked there too, and its own helper plans against this node.
# Exit status: plan's (0 would install, 1 would be refused), 2 and up when
# the package cannot be had.
set -eu
package=$1
source=$2
scratch=$(mktemp -d /tmp/pth-plan.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
mkdir -p apt/sources.list.d apt/lists/partial apt/archives/partial root
: >apt/sources.list
printf '%s\n' "$source" >apt/sources.list.d/pve-tcp-hardening.sources
set -- -q -o "Dir::Etc::SourceList=$scratch/apt/sources.list" \
	-o "Dir::Etc::SourceParts=$scratch/apt/sources.list.d" \
	-o "Dir::State::Lists=$scratch/apt/lists" \
	-o "Dir::Cache::Archives=$scratch/apt/archives" \
	-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= \
	-o APT::Sandbox::User=root
if ! apt-get "$@" update >apt.log 2>&1 ||
	! apt-get "$@" download "$package" >>apt.log 2>&1; then
	cat apt.log >&2
	echo "plan.sh: cannot download $package from the repository" >&2
	exit 2
fi
dpkg-deb -x ./*.deb root
set +e
root/usr/sbin/pve-tcp-hardening plan --profile root/usr/share/pve-tcp-hardening/profile.json
rc=$?
set -e
exit "$rc"
