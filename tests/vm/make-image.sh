#!/bin/bash
# Build the root tree of the reboot-test VM: Debian 12 (or 13) with a
# kernel, systemd as init, chrony, and the sysctl layout of a Proxmox VE 8
# (or 9) node.
#
#   make-image.sh OUT SOURCES RELEASE [EXTRA_PACKAGE...]
#
# Writes OUT.vmlinuz and OUT.initrd (the image's own kernel, for qemu's
# direct kernel boot) and then OUT.tar (the root tree; its presence marks a
# complete build). run.sh packs the tar into an ext4 image per run, after
# adding the packages and the check unit.
#
# SOURCES holds one-line apt entries, the Debian archive of RELEASE
# (bookworm or trixie) first (tests/vm/apt_sources.rs picks them from this machine's apt sources, with
# the e2e suite's mirror detection). The recipe follows the e2e base
# (both start with tests/e2e/bootstrap.sh): download with network, run every
# maintainer script without it inside tests/e2e/sandbox.sh. run.sh keys the
# cache (image.sh) on a hash of this script, bootstrap.sh, sandbox.sh, the
# pve-layout tree, SOURCES, RELEASE and the extra packages (tests/cluster
# adds python3-apt and dbus).
set -euo pipefail

out=${1:?usage: make-image.sh OUT SOURCES RELEASE}
sources=${2:?usage: make-image.sh OUT SOURCES RELEASE}
release=${3:?usage: make-image.sh OUT SOURCES RELEASE}
here=$(dirname "$(realpath "$0")")
e2e=$(realpath "$here/../e2e")
# What the issue asks for, plus procps (a PVE host has sysctl and
# /etc/sysctl.conf) and jq (the check script reads profile.json).
packages=(linux-image-amd64 systemd-sysv iproute2 udev chrony procps jq)
# What a PVE node listens with: sshd on [::]:22 (IPv6-only wildcard) and a
# dual-stack wildcard like pveproxy's *:8006 (socat, pth-dualstack.service).
packages+=(openssh-server socat)
# trixie: /usr/lib/sysctl.d/50-default.conf, as on every PVE 9 node (procps
# only recommends it).
[ "$release" != trixie ] || packages+=(linux-sysctl-defaults)
# Extra packages of the caller (tests/cluster: python3-apt, dbus, sudo;
# tests/vm/run.sh: the node's daemons of tests/vm/node-packages).
extra=("${@:4}")

work=$(mktemp -d "$(dirname "$out")/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root

"$e2e/bootstrap.sh" "$root" "$sources" --no-install-recommends "${packages[@]}"
# The extra packages the same way (download with network, install without),
# after debconf has the answer the Proxmox VE installer preseeds for postfix
# (pve-installer, Proxmox/Install.pm): "No configuration", so postfix's
# postinst writes no main.cf and runs no newaliases (which needs an
# interface up: the sandbox has none); run.sh's tree gets the installer's
# own main.cf (tests/vm/host-lib.sh, vm_tree).
if [ ${#extra[@]} -gt 0 ]; then
	unshare --mount --propagation private -- chroot "$root" /usr/bin/env -i \
		PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends --download-only "${extra[@]}" </dev/null
	printf 'postfix postfix/main_mailer_type select No configuration\n' >"$root/tmp/pth-debconf"
	"$e2e/sandbox.sh" run "$root" debconf-set-selections /tmp/pth-debconf
	rm "$root/tmp/pth-debconf"
	"$e2e/sandbox.sh" run "$root" apt-get install -y --no-install-recommends --no-download "${extra[@]}"
fi
"$e2e/sandbox.sh" run "$root" apt-get clean

# A small initramfs with just what mounts an ext4 root on virtio: under TCG
# unpacking and probing the default one (MODULES=most, 35 MB) costs about a
# minute per boot on a loaded 2-core machine.
printf 'MODULES=list\n' >"$root/etc/initramfs-tools/conf.d/pth-vm"
printf '%s\n' virtio_pci virtio_blk ext4 crc32c_generic >>"$root/etc/initramfs-tools/modules"
"$e2e/sandbox.sh" run "$root" update-initramfs -u -k all

# The Proxmox VE-like sysctl layout. PVE 8 (bookworm): the e2e base's
# pve-layout tree as is. PVE 9 (trixie): pve-manager ships its pve.conf as
# /usr/lib/sysctl.d/10-pve.conf, the other two files stay; systemd and
# linux-sysctl-defaults bring the rest (10-coredump-debian, 50-default,
# 50-pid-max), and /etc/sysctl.d holds only procps' README.sysctl.
layout=$e2e/pve-layout
case $release in
bookworm)
	tar -C "$layout" --owner=0 --group=0 --mode='u+rwX,go+rX,go-w' -cf - . |
		tar -C "$root" --no-overwrite-dir -xf -
	;;
trixie)
	install -m 0644 "$layout/etc/sysctl.d/pve.conf" "$root/usr/lib/sysctl.d/10-pve.conf"
	install -m 0644 -t "$root/usr/lib/sysctl.d" \
		"$layout/usr/lib/sysctl.d/10-pve-ct-inotify-limits.conf" "$layout/usr/lib/sysctl.d/pve-firewall.conf"
	;;
*)
	echo "make-image.sh: unknown release $release" >&2
	exit 2
	;;
esac

# Boot config: root on the virtio disk; no getty on the serial console (it
# would hang up the console the check script writes to); services may start.
printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' >"$root/etc/fstab"
printf 'pth-vm\n' >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 pth-vm\n::1 localhost ip6-localhost ip6-loopback\n' \
	>"$root/etc/hosts"
ln -sf /dev/null "$root/etc/systemd/system/serial-getty@ttyS0.service"

# pveproxy's socket: [::]:8006 with IPV6_V6ONLY off (ss shows *:8006).
cat >"$root/etc/systemd/system/pth-dualstack.service" <<'UNIT'
[Unit]
Description=Dual-stack wildcard listener on *:8006, like pveproxy (test only)

[Service]
ExecStart=/usr/bin/socat TCP6-LISTEN:8006,ipv6only=0,reuseaddr,fork EXEC:/bin/cat

[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/pth-dualstack.service \
	"$root/etc/systemd/system/multi-user.target.wants/pth-dualstack.service"
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
