#!/bin/sh
# Install what the build and the tests need on a fresh Debian 12 machine:
# the apt packages given after the cargo-deb version (only those missing,
# and only as root), and cargo-deb at exactly that version.
# Usage: install-deps.sh CARGO_DEB_VERSION APT_PACKAGE...
set -eu

cargo_deb_version=$1
shift

missing=""
for pkg in "$@"; do
    dpkg-query -W -f '${db:Status-Status}' "$pkg" 2>/dev/null | grep -qx installed || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: missing Debian packages:$missing" >&2
        echo "note: run as root, or: sudo apt-get install$missing" >&2
        exit 1
    fi
    echo "installing:$missing" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if ! cargo deb --version 2>/dev/null | grep -q "^cargo-deb $cargo_deb_version\$"; then
    echo "installing cargo-deb $cargo_deb_version" >&2
    cargo install --locked --quiet "cargo-deb@$cargo_deb_version"
fi
