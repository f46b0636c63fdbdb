# Sourced by install-purge.sh and dpkg-cost.sh: sets $sandbox (the e2e
# suite's tests/e2e/sandbox.sh) and $base (the newest base chroot tarball
# it cached; which recipe made it does not matter for timing dpkg), or
# prints the one `not measured: WHY` line and exits 0.
repo=$(realpath "$(dirname "$(realpath "$0")")/../..")
sandbox=$repo/tests/e2e/sandbox.sh
cache=${PTH_CACHE_DIR:-/var/cache/pve-tcp-hardening-tests}

if [ ! -x "$sandbox" ]; then
	echo "not measured: tests/e2e/sandbox.sh (the chroot harness) is not in this tree"
	exit 0
fi
# shellcheck disable=SC2012 # our own cache: plain names, no newlines
base=$(ls -t "$cache"/base-bookworm-*.tar 2>/dev/null | head -n 1 || true)
if [ -z "$base" ]; then
	echo "not measured: no cached base chroot in $cache (make test-e2e builds it)"
	exit 0
fi
