#!/bin/bash
# Entry point for `make test` / CI: the e2e suite, with the host's
# /proc/sys/net recorded before and compared after.
#
#   tests/e2e/run.sh [cargo test filter and libtest args...]
#
# Environment: PTH_E2E=0 skips (fails with CI=true: tests/common/gate.sh);
# PTH_CACHE_DIR (default
# /var/cache/pve-tcp-hardening-tests) holds the base chroot; PTH_E2E_JOBS
# (default 2) scenarios run at once; PTH_E2E_KEEP=1 keeps each chroot;
# PTH_E2E_NO_BUILD=1 uses dist/ as it is instead of running `make debs`.
set -euo pipefail

here=$(dirname "$(realpath "$0")")
repo=$(realpath "$here/../..")
cd "$repo"

# shellcheck source=tests/common/gate.sh
. "$repo/tests/common/gate.sh"
[ "${PTH_E2E:-1}" != 0 ] || gate_skip e2e "PTH_E2E=0"
[ "$(id -u)" = 0 ] && ! gate_missing root || gate_skip e2e "not running as root"

missing=()
for tool in debootstrap unshare nsenter flock piuparts; do
	command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "e2e: installing missing tools: ${missing[*]}" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y debootstrap util-linux piuparts </dev/null
fi

guard=$(mktemp)
trap 'rm -f "$guard"' EXIT
"$here/host-net-guard.sh" record "$guard"

if [ "${PTH_E2E_NO_BUILD:-0}" != 1 ] && make -n debs >/dev/null 2>&1; then
	make debs
fi

status=0
cargo test --test e2e -- --test-threads="${PTH_E2E_JOBS:-2}" "$@" || status=$?

"$here/host-net-guard.sh" compare "$guard"
exit "$status"
