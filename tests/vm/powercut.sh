#!/bin/bash
# Power-cut proof (issue 29): in one qemu VM per release, the default
# package's install and purge are cut (power lost: nothing more reaches
# the disk, unflushed writes gone) at named steps inside the maintainer
# scripts, recovered as an admin would, and compared with the state before
# the install and with the values the next boot brings. The guest side,
# and what a cut is, are in tests/vm/powercut-guest.sh.
#
#   tests/vm/powercut.sh [--make-debs] DEB_DIR
#
# One boot per release: the VM's own root (run.sh's image, or one with
# dmsetup added when that image lacks it) on /dev/vda, and the root under
# test on /dev/vdb (the same image's tree without kernel, modules and docs,
# plus DEB_DIR/pve-tcp-hardening.deb), each packed with mkfs.ext4 -d (no
# loop device or device-mapper on this machine). Every "boot" of the root
# under test is a fresh namespace set inside the VM, so a cut costs seconds,
# not a TCG boot.
#
# Environment: as tests/vm/run.sh (PTH_VM_RELEASES, PTH_CACHE_DIR,
# PTH_VM_TIMEOUT default 1500, PTH_VM_ARTIFACTS, PTH_VM_KEEP_LOG, PTH_VM=0,
# CI, PTH_SKIP_LOG, PTH_TEST_MISSING); PTH_POWERCUT_PAIRS=N runs only the
# first N pairs of cuts (a quick look, not the proof). Nothing here writes this machine's
# /proc/sys (checked before/after with tests/e2e/host-net-guard.sh).
set -euo pipefail

here=$(dirname "$(realpath "$0")")
repo=$(realpath "$here/../..")
suite=test-vm-powercut
packages=(pve-tcp-hardening)
# shellcheck source=tests/vm/host-lib.sh
. "$here/host-lib.sh"

vm_releases
vm_setup powercut "usage: tests/vm/powercut.sh [--make-debs] DEB_DIR" "$@"
timeout=${PTH_VM_TIMEOUT:-1500}

# The VM's own root needs dmsetup. Debian 12's plain image has it (its
# systemd pulls it in) and is upgrade.sh's image too; Debian 13's systemd
# no longer does, so trixie gets the plain recipe with dmsetup added
# (deciding up front: probing the plain image first would build it cold
# for nothing).
vm_image() { # RELEASE
	local image
	case $1 in
	bookworm) image=$("$here/image.sh" --release "$1" "$cache" "$1") ;;
	*) image=$("$here/image.sh" --release "$1" "$cache" "powercut-$1" dmsetup) ;;
	esac
	tar -tf "$image.tar" ./usr/sbin/dmsetup >/dev/null 2>&1 || die "$image.tar has no dmsetup"
	echo "$image"
}

failures=()
for release in "${releases[@]}"; do
	label="$suite $release"
	start=$SECONDS
	image=$(vm_image "$release")
	image_s=$((SECONDS - start))

	start=$SECONDS
	mkdir "$run/$release"
	vm_tree "$run/$release/root" "$image" "$deb_dir" "$here/powercut-guest.sh" "$release"
	[ -z "${PTH_POWERCUT_PAIRS:-}" ] || echo "$PTH_POWERCUT_PAIRS" >"$run/$release/root/var/lib/pth-vm/powercut-pairs"
	# The finish step's daemons are run.sh's business, not this proof's.
	rm -f "$run/$release/root"/etc/systemd/system/multi-user.target.wants/{pth-mail,corosync}.service
	disk=$run/$release/disk.img
	mkfs.ext4 -q -F -L pth-vm -d "$run/$release/root" "$disk" 3G
	rm -rf "$run/$release/root"
	# The root under test: kernel, modules and docs left out (nothing here
	# boots it or reads them); a smaller, faster disk. policy-rc.d: no
	# service starts in it (no init runs there).
	under=$run/$release/under
	mkdir "$under"
	tar --numeric-owner --xattrs -C "$under" -xf "$image.tar" \
		--exclude=./boot/* --exclude=./usr/lib/modules/* --exclude=./usr/share/doc/* \
		--exclude=./usr/share/man/* --exclude=./usr/share/locale/*
	install -d -m 0755 "$under/root/pth-debs"
	install -m 0644 "$deb_dir/pve-tcp-hardening.deb" "$under/root/pth-debs/"
	printf '#!/bin/sh\nexit 101\n' >"$under/usr/sbin/policy-rc.d"
	chmod 755 "$under/usr/sbin/policy-rc.d"
	under_disk=$run/$release/under.img
	mkfs.ext4 -q -F -L pth-under -d "$under" "$under_disk" 1536M
	rm -rf "$under"
	disk_s=$((SECONDS - start))

	console=$run/$release/console.log
	echo "$label: booting (TCG, 2 vCPUs, no network); console: $console"
	# One boot (host-lib.sh's vm_boot), UNDER as the second disk (vdb).
	vm_qemu_extra=(-drive "file=$under_disk,if=virtio,format=raw,cache=writeback")
	vm_boot "$image" "$disk" "$console" "$timeout" 1
	rm -f "$disk" "$under_disk"
	echo "$label: times: image ${image_s}s, disks ${disk_s}s, VM ${vm_s}s"
	sed -n 's/^\[ *\([0-9.]*\)\] PTH-VM \(census\|cut\|install points\|purge points\)/  [\1] \2/p' "$console"
	vm_done "$label" "$console" "powercut-$release"
done

vm_end "${releases[*]}"
