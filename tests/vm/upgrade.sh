#!/bin/bash
# The PVE 8 -> 9 upgrade proof (issue 27): a Debian 12 VM with the default
# package installed and an admin key in /etc/sysctl.conf is upgraded to
# Debian 13 by `apt-get full-upgrade` from trixie packages staged inside
# the image (no network: -nic none), boots the new kernel and systemd 257,
# and check-upgrade.sh checks the values from boot, chrony's -4, status and
# an exact purge.
#
#   tests/vm/upgrade.sh [--make-debs] DEB_DIR
#
# DEB_DIR holds pve-tcp-hardening.deb (--make-debs: built there first).
# The bookworm image is run.sh's (image.sh, same cache); the staged trixie
# set is stage-upgrade.sh's, cached next to it. Gate, skips and exit codes
# as run.sh's, suite name test-vm-upgrade.
#
# Environment: as run.sh (PTH_CACHE_DIR, PTH_VM_ARTIFACTS, PTH_VM_KEEP_LOG,
# PTH_VM=0), and PTH_VM_UPGRADE_TIMEOUT, seconds for the VM part (default
# 2400).
set -euo pipefail

here=$(dirname "$(realpath "$0")")
repo=$(realpath "$here/../..")
suite=test-vm-upgrade
packages=(pve-tcp-hardening)
# shellcheck source=tests/vm/host-lib.sh
. "$here/host-lib.sh"

vm_setup upgrade "usage: tests/vm/upgrade.sh [--make-debs] DEB_DIR" "$@"
timeout=${PTH_VM_UPGRADE_TIMEOUT:-2400}

start=$SECONDS
image=$("$here/image.sh" --release bookworm "$cache" bookworm)
image_s=$((SECONDS - start))
start=$SECONDS
staged=$("$here/stage-upgrade.sh" "$cache" "$image")
stage_s=$((SECONDS - start))

start=$SECONDS
tree=$run/root
vm_tree "$tree" "$image" "$deb_dir" "$here/check-upgrade.sh" bookworm
cp -r "$staged" "$tree/var/lib/pth-vm/trixie-repo"
disk=$run/disk.img
# The upgrade unpacks the new release next to the old one.
mkfs.ext4 -q -F -L pth-vm -d "$tree" "$disk" 6G
rm -rf "$tree"
disk_s=$((SECONDS - start))

console=$run/console.log
echo "$suite: booting (TCG, 2 vCPUs, no network); console: $console"
vm_boot "$image" "$disk" "$console" "$timeout" 2
echo "$suite: times: image ${image_s}s, staging ${stage_s}s ($(du -sh "$staged" | cut -f1)), disk ${disk_s}s, VM ${vm_s}s"
failures=()
vm_done "$suite" "$console" console-upgrade
# What status said after the upgrade, for the log (check_status_after_upgrade).
awk '/PTH-VM --- pve-tcp-hardening status after the upgrade/ { on = 1; print; next }
	/PTH-VM ---/ { on = 0 } on' "$console"
vm_end
