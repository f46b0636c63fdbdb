#!/bin/sh
# plan.sh PACKAGE: download PACKAGE from the configured repositories without
# installing it, unpack it into a scratch directory and run its own helper's
# `plan` against this node. Exit status: plan's (0 would install, 1 would be
# refused), 2 and up when the package cannot be had.
set -eu
package=$1
scratch=$(mktemp -d /tmp/pth-plan.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
if ! apt-get download -q "$package" >download.log 2>&1; then
	cat download.log >&2
	echo "plan.sh: cannot download $package from the configured repositories" >&2
	exit 2
fi
mkdir root
dpkg-deb -x ./*.deb root
set +e
root/usr/sbin/pve-tcp-hardening plan --profile root/usr/share/pve-tcp-hardening/profile.json
rc=$?
set -e
exit "$rc"
