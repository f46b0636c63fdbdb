#!/bin/bash
# The packages of an earlier release of this repository, built from its own
# source at COMMIT with its own build tool: what an admin has installed
# before upgrading (tests/e2e s17, the units' move from /lib to /usr/lib).
#
#   build-release.sh COMMIT VERSION OUT_DIR
#
# The source comes from `git archive` (no worktree, nothing in .git
# changes); OUT_DIR.target keeps its cargo target directory, so a second
# build for another commit reuses the compiled dependencies. Timestamps are
# the commit's, as `make debs` sets them.
set -euo pipefail

commit=${1:?usage: build-release.sh COMMIT VERSION OUT_DIR}
version=${2:?usage: build-release.sh COMMIT VERSION OUT_DIR}
out=${3:?usage: build-release.sh COMMIT VERSION OUT_DIR}
repo=$(realpath "$(dirname "$(realpath "$0")")/../..")

work=$(mktemp -d "$out.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/src" "$work/out"
git -C "$repo" archive "$commit" | tar -x -C "$work/src"
SOURCE_DATE_EPOCH=$(git -C "$repo" log -1 --format=%ct "$commit")
export SOURCE_DATE_EPOCH
export CARGO_TARGET_DIR=$out.target
(cd "$work/src" && cargo build --release --locked --quiet --bins)
"$CARGO_TARGET_DIR/release/pve-tcp-hardening-build" build --all \
	--version "$version" --out "$work/out" \
	--helper "$CARGO_TARGET_DIR/release/pve-tcp-hardening" \
	--work-dir "$work/stage"
rm -rf "$out"
mv "$work/out" "$out"
