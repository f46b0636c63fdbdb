#!/bin/bash
# Reboot proof (issues 10, 27): boot a real Debian kernel in qemu with the
# packages under test and run the install / reboot / switch / purge
# scenario of check.sh across six boots (the last two on a host hardened
# by hand first, issue 15), once per release: Debian 12 laid out like a
# Proxmox VE 8 node, then Debian 13 like a PVE 9 node (own kernel,
# systemd 257, no /etc/sysctl.conf). One release after the other, never
# two VMs at once (2 cores).
#
#   tests/vm/run.sh [--make-debs] DEB_DIR
#
# DEB_DIR holds pve-tcp-hardening{,-ipv6,-strict,-stealth}.deb; with
# --make-debs they are built there first (`make debs DIST=DEB_DIR`), once
# the checks below found that the test can run here (vm.mk uses that).
# Prints one line per failed assertion and a summary; exits non-zero on any
# failure or timeout, keeping the console log (its path is printed).
#
# Environment:
#   PTH_VM_RELEASES    the releases to prove, in order (default "bookworm trixie")
#   PTH_CACHE_DIR      cache root (default /var/cache/pve-tcp-hardening-tests);
#                      the images live in its vm/ subdirectory
#   PTH_VM_TIMEOUT     seconds for each release's VM part (default 3000)
#   PTH_VM_ARTIFACTS   where failed runs' console logs go (default CACHE/vm/artifacts)
#   PTH_VM_KEEP_LOG=1  keep the console log of a passing run too
#   PTH_VM=0           skip (with CI=true: fail, as any skip does; see
#                      tests/common/gate.sh, also for PTH_SKIP_LOG and
#                      PTH_TEST_MISSING=root,qemu-tcg)
#
# The VM has no network (-nic none) and runs under TCG: nested KVM hangs on
# this kind of machine. -nodefaults drops the emulated CD-ROM and floppy,
# whose probing costs tens of seconds per boot under TCG. Nothing here
# writes this machine's /proc/sys (checked before/after with
# tests/e2e/host-net-guard.sh).
set -euo pipefail

here=$(dirname "$(realpath "$0")")
repo=$(realpath "$here/../..")
suite=test-vm
packages=(pve-tcp-hardening pve-tcp-hardening-ipv6 pve-tcp-hardening-strict pve-tcp-hardening-stealth)
# shellcheck source=tests/vm/host-lib.sh
. "$here/host-lib.sh"

vm_releases
# The node's real daemons (issue 28), one package a line.
mapfile -t node_packages < <(sed -e 's/#.*//' -e '/^[[:blank:]]*$/d' "$here/node-packages")
vm_setup run "usage: tests/vm/run.sh [--make-debs] DEB_DIR" "$@"
timeout=${PTH_VM_TIMEOUT:-3000}

failures=()
for release in "${releases[@]}"; do
	label="$suite $release"
	start=$SECONDS
	# The image: cached per recipe, release and node packages; named
	# node-RELEASE so it does not evict upgrade.sh's plain RELEASE image.
	image=$("$here/image.sh" --release "$release" "$cache" "node-$release" "${node_packages[@]}")
	image_s=$((SECONDS - start))

	# This run's disk: image + packages + check unit.
	start=$SECONDS
	mkdir "$run/$release"
	vm_tree "$run/$release/root" "$image" "$deb_dir" "$here/check.sh" "$release"
	disk=$run/$release/disk.img
	mkfs.ext4 -q -F -L pth-vm -d "$run/$release/root" "$disk" 3G
	rm -rf "$run/$release/root"
	disk_s=$((SECONDS - start))

	console=$run/$release/console.log
	echo "$label: booting (TCG, 2 vCPUs, no network); console: $console"
	vm_boot "$image" "$disk" "$console" "$timeout" 6
	rm -f "$disk"
	echo "$label: times: image ${image_s}s, disk ${disk_s}s, VM ${vm_s}s"
	vm_done "$label" "$console" "console-$release"
done

vm_end "${releases[*]}"
