#!/bin/bash
# The README's promise that Debian 13's own rustc builds the project:
# `cargo check` of every target with the toolchain named by `rust-version`
# in Cargo.toml (1.85, trixie's rustc), the locked dependencies included.
# tests/toolchain.rs checks the versions the crates declare; this catches
# a crate that understates its rust-version and our own newer std APIs.
# Needs rustup (CI's toolchain comes from it); cold about 2 minutes.
set -eu
cd "$(dirname "$0")/.."
. tests/common/gate.sh

version=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
[ -n "$version" ] || { echo "tests/msrv.sh: Cargo.toml has no rust-version" >&2; exit 1; }
if gate_missing rustup || ! command -v rustup >/dev/null; then
	gate_skip msrv "no rustup to install rustc $version"
fi
rustup toolchain install "$version" --profile minimal --no-self-update >/dev/null 2>&1 ||
	rustup toolchain install "$version" --profile minimal --no-self-update
CARGO_TARGET_DIR=target/msrv cargo "+$version" check --quiet --locked --all-targets
echo "msrv: every target checks with rustc $version (Cargo.toml rust-version)"
