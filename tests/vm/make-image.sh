#!/bin/bash
# Build the root tree of the reboot-test VM: Debian 12 with a kernel,
# systemd as init, chrony, and the Proxmox VE-like sysctl layout.
#
#   make-image.sh OUT SOURCES
#
# Writes OUT.vmlinuz and OUT.initrd (the image's own kernel, for qemu's
# direct kernel boot) and then OUT.tar (the root tree; its presence marks a
# complete build). run.sh packs the tar into an ext4 image per run, after
# adding the packages and the check unit.
#
# SOURCES holds one-line apt entries, the Debian bookworm archive first
# (tests/vm/apt_sources.rs picks them from this machine's apt sources, with
# the e2e suite's mirror detection). The recipe follows the e2e base
# (both start with tests/e2e/bootstrap.sh): download with network, run every
# maintainer script without it inside tests/e2e/sandbox.sh. run.sh keys the
# cache on a hash of this script, bootstrap.sh, sandbox.sh, the pve-layout
# tree and SOURCES.
set -euo pipefail

out=${1:?usage: make-image.sh OUT SOURCES}
sources=${2:?usage: make-image.sh OUT SOURCES}
here=$(dirname "$(realpath "$0")")
e2e=$(realpath "$here/../e2e")
# What the issue asks for, plus procps (a PVE host has sysctl and
# /etc/sysctl.conf) and jq (the check script reads profile.json).
packages=(linux-image-amd64 systemd-sysv iproute2 udev chrony procps jq)
# The finish step (issue 19): sshd, as on every PVE node ([::]:22).
packages+=(openssh-server)

work=$(mktemp -d "$(dirname "$out")/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root

"$e2e/bootstrap.sh" "$root" "$sources" --no-install-recommends "${packages[@]}"
"$e2e/sandbox.sh" run "$root" apt-get clean

# A small initramfs with just what mounts an ext4 root on virtio: under TCG
# unpacking and probing the default one (MODULES=most, 35 MB) costs about a
# minute per boot on a loaded 2-core machine.
printf 'MODULES=list\n' >"$root/etc/initramfs-tools/conf.d/pth-vm"
printf '%s\n' virtio_pci virtio_blk ext4 crc32c_generic >>"$root/etc/initramfs-tools/modules"
"$e2e/sandbox.sh" run "$root" update-initramfs -u -k all

# The Proxmox VE-like sysctl layout, shared with the e2e base.
tar -C "$e2e/pve-layout" --owner=0 --group=0 --mode='u+rwX,go+rX,go-w' -cf - . |
	tar -C "$root" --no-overwrite-dir -xf -

# Boot config: root on the virtio disk; no getty on the serial console (it
# would hang up the console the check script writes to); services may start.
printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' >"$root/etc/fstab"
printf 'pth-vm\n' >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 pth-vm\n::1 localhost ip6-localhost ip6-loopback\n' \
	>"$root/etc/hosts"
ln -sf /dev/null "$root/etc/systemd/system/serial-getty@ttyS0.service"
rm "$root/usr/sbin/policy-rc.d"

vmlinuz=$(find "$root/boot" -name 'vmlinuz-*' | sort | tail -n 1)
initrd=$(find "$root/boot" -name 'initrd.img-*' | sort | tail -n 1)
if [ -z "$vmlinuz" ] || [ -z "$initrd" ]; then
	echo "make-image.sh: no vmlinuz/initrd.img under $root/boot" >&2
	exit 1
fi
cp "$vmlinuz" "$out.vmlinuz"
cp "$initrd" "$out.initrd"

tar --numeric-owner --xattrs -C "$root" -cf "$out.tar.tmp" .
mv "$out.tar.tmp" "$out.tar"
