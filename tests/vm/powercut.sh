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

make_debs=false
if [ "${1:-}" = --make-debs ]; then
	make_debs=true
	shift
fi
deb_dir=${1:?usage: tests/vm/powercut.sh [--make-debs] DEB_DIR}
read -r -a releases <<<"${PTH_VM_RELEASES:-bookworm trixie}"
for release in "${releases[@]}"; do
	[ -f "$here/releases/$release.env" ] || die "unknown release $release (no tests/vm/releases/$release.env)"
done
vm_gate

if $make_debs; then
	make -C "$repo" --no-print-directory debs DIST="$(realpath -m "$deb_dir")"
fi
for pkg in "${packages[@]}"; do
	[ -f "$deb_dir/$pkg.deb" ] || die "$deb_dir/$pkg.deb missing (run make debs)"
done
deb_dir=$(realpath "$deb_dir")

cache=${PTH_CACHE_DIR:-/var/cache/pve-tcp-hardening-tests}/vm
artifacts=${PTH_VM_ARTIFACTS:-$cache/artifacts}
timeout=${PTH_VM_TIMEOUT:-1500}
mkdir -p "$cache/runs"

guard=$(mktemp)
run=$(mktemp -d "$cache/runs/powercut.XXXXXX")
trap 'rm -rf "$run" "$guard"' EXIT
"$e2e/host-net-guard.sh" record "$guard"

# run.sh's image when it has dmsetup (bookworm's does: systemd pulls it
# in), else one of our own with it added.
vm_image() { # RELEASE
	local image
	image=$("$here/image.sh" --release "$1" "$cache" "$1")
	if ! tar -tf "$image.tar" ./usr/sbin/dmsetup >/dev/null 2>&1; then
		image=$("$here/image.sh" --release "$1" "$cache" "powercut-$1" dmsetup)
	fi
	echo "$image"
}

# One boot of DISK (vda) with UNDER (vdb), as host-lib.sh's vm_boot (same
# qemu options, see there) but with the second disk and no reboot loop.
# Sets qemu_rc (124: timeout) and vm_s.
vm_boot_powercut() { # IMAGE DISK UNDER CONSOLE TIMEOUT
	local image=$1 disk=$2 under=$3 console=$4 timeout=$5 vm_start=${EPOCHREALTIME/./}
	set +e
	timeout "$timeout" qemu-system-x86_64 \
		-accel tcg,thread=multi -cpu max -m 1024 -smp 2 \
		-nodefaults -nic none -nographic -serial mon:stdio -no-reboot \
		-kernel "$image.vmlinuz" -initrd "$image.initrd" \
		-append "root=/dev/vda rw console=ttyS0 no_timer_check loglevel=4" \
		-drive "file=$disk,if=virtio,format=raw" \
		-drive "file=$under,if=virtio,format=raw,cache=writeback" </dev/null 2>&1 |
		while IFS= read -r line; do
			ds=$(((${EPOCHREALTIME/./} - vm_start) / 100000))
			printf '[%5d.%d] %s\n' $((ds / 10)) $((ds % 10)) "${line%$'\r'}"
		done >>"$console"
	qemu_rc=${PIPESTATUS[0]}
	set -e
	vm_s=$(((${EPOCHREALTIME/./} - vm_start) / 1000000))
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
	vm_boot_powercut "$image" "$disk" "$under_disk" "$console" "$timeout"
	rm -f "$disk" "$under_disk"
	echo "$label: times: image ${image_s}s, disks ${disk_s}s, VM ${vm_s}s"
	sed -n 's/^\[ *\([0-9.]*\)\] PTH-VM \(census\|cut\|install points\|purge points\)/  [\1] \2/p' "$console"
	nfail=${#failures[@]}
	vm_results "$label" "$console"
	if [ "${#failures[@]}" != "$nfail" ] || [ "${PTH_VM_KEEP_LOG:-0}" = 1 ]; then
		vm_keep_log "$console" "$artifacts" "powercut-$release"
	fi
done

"$e2e/host-net-guard.sh" compare "$guard"

if [ ${#failures[@]} -gt 0 ]; then
	for f in "${failures[@]}"; do
		echo "FAIL: $f"
	done
	exit 1
fi
echo "$suite: all assertions passed (${releases[*]})"
