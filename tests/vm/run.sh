#!/bin/bash
# Reboot proof (issue 10): boot a real Debian 12 kernel in qemu with the
# packages under test and run the install / reboot / switch / purge
# scenario of check.sh across six boots (the last two on a host hardened
# by hand first, issue 15).
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
#   PTH_CACHE_DIR      cache root (default /var/cache/pve-tcp-hardening-tests);
#                      the image lives in its vm/ subdirectory
#   PTH_VM_TIMEOUT     seconds for the whole VM part (default 1200)
#   PTH_VM_ARTIFACTS   where failed runs' console logs go (default CACHE/vm/artifacts)
#   PTH_VM_KEEP_LOG=1  keep the console log of a passing run too
#   PTH_VM=0           skip (with CI=true: fail, as any skip does; see
#                      tests/common/gate.sh, also for PTH_SKIP_LOG and
#                      PTH_TEST_MISSING=root,qemu-tcg)
#
# The VM has no network (-nic none) and runs under TCG: nested KVM hangs on
# this kind of machine. -nodefaults drops the emulated CD-ROM and floppy,
# whose probing costs tens of seconds per boot under TCG. Nothing here writes this machine's /proc/sys
# (checked before/after with tests/e2e/host-net-guard.sh).
set -euo pipefail

here=$(dirname "$(realpath "$0")")
repo=$(realpath "$here/../..")
e2e=$repo/tests/e2e
packages=(pve-tcp-hardening pve-tcp-hardening-ipv6 pve-tcp-hardening-strict pve-tcp-hardening-stealth)

# shellcheck source=tests/common/gate.sh
. "$repo/tests/common/gate.sh"
skip() {
	gate_skip test-vm "$1"
}
die() {
	echo "test-vm: $*" >&2
	exit 2
}

make_debs=false
if [ "${1:-}" = --make-debs ]; then
	make_debs=true
	shift
fi
deb_dir=${1:?usage: tests/vm/run.sh [--make-debs] DEB_DIR}
[ "${PTH_VM:-1}" != 0 ] || skip "PTH_VM=0"
[ "$(id -u)" = 0 ] && ! gate_missing root || skip "not running as root (debootstrap and mkfs -d need it)"

missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
if [ ${#missing[@]} -gt 0 ]; then
	echo "test-vm: installing ${missing[*]}" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" </dev/null ||
		skip "cannot install ${missing[*]} (apt-get failed)"
fi
{ qemu-system-x86_64 -accel help 2>/dev/null | grep -qx tcg && ! gate_missing qemu-tcg; } ||
	skip "qemu-system-x86_64 has no TCG accelerator"

if $make_debs; then
	make -C "$repo" --no-print-directory debs DIST="$(realpath -m "$deb_dir")"
fi
for pkg in "${packages[@]}"; do
	[ -f "$deb_dir/$pkg.deb" ] || die "$deb_dir/$pkg.deb missing (run make debs)"
done
deb_dir=$(realpath "$deb_dir")

cache=${PTH_CACHE_DIR:-/var/cache/pve-tcp-hardening-tests}/vm
artifacts=${PTH_VM_ARTIFACTS:-$cache/artifacts}
timeout=${PTH_VM_TIMEOUT:-1200}
mkdir -p "$cache/runs"

guard=$(mktemp)
run=$(mktemp -d "$cache/runs/run.XXXXXX")
trap 'rm -rf "$run" "$guard"' EXIT
"$e2e/host-net-guard.sh" record "$guard"

# --- The image: cached per recipe ------------------------------------------

start=$SECONDS
image=$("$here/image.sh" "$cache" bookworm)
image_build_s=$((SECONDS - start))s

# --- This run's disk: image + packages + check unit ---------------------------

start=$SECONDS
tree=$run/root
mkdir "$tree"
tar --numeric-owner --xattrs -C "$tree" -xf "$image.tar"
install -d -m 0755 "$tree/var/lib/pth-vm/debs" "$tree/usr/local/lib/pth-vm"
for pkg in "${packages[@]}"; do
	install -m 0644 "$deb_dir/$pkg.deb" "$tree/var/lib/pth-vm/debs/"
done
install -m 0755 "$here/check.sh" "$tree/usr/local/lib/pth-vm/check.sh"
install -m 0644 "$here/pth-vm-check.service" "$tree/etc/systemd/system/"
ln -s ../pth-vm-check.service "$tree/etc/systemd/system/multi-user.target.wants/pth-vm-check.service"
# The finish step (issue 19): a mail-like daemon on 127.0.0.1 and [::1], a
# dual-stack wildcard listener and a stub corosync on [::1], at every boot.
install -m 0755 "$here/finish/listen.pl" "$tree/usr/local/lib/pth-vm/listen.pl"
for unit in "$here"/finish/*.service; do
	install -m 0644 "$unit" "$tree/etc/systemd/system/"
	ln -s "../${unit##*/}" "$tree/etc/systemd/system/multi-user.target.wants/${unit##*/}"
done
disk=$run/disk.img
mkfs.ext4 -q -F -L pth-vm -d "$tree" "$disk" 3G
rm -rf "$tree"
disk_s=$((SECONDS - start))

# --- Boot ----------------------------------------------------------------------

console=$run/console.log
echo "test-vm: booting (TCG, 2 vCPUs, no network); console: $console"
# no_timer_check: on a loaded host the emulated IO-APIC timer check can fail
# and panic the guest at boot ("IO-APIC + timer doesn't work!").
# One qemu process per boot: the guest still runs `systemctl reboot`, but
# -no-reboot turns the reset into an exit and we start qemu again on the
# same disk. Rebooting inside one qemu process made every boot slower than
# the one before under TCG (boot to the check unit: 16 s, 82 s, 136 s).
vm_start=${EPOCHREALTIME/./}
deadline=$((SECONDS + timeout))
qemu_rc=0
for _ in 1 2 3 4 5 6; do
	left=$((deadline - SECONDS))
	if [ "$left" -le 0 ]; then
		qemu_rc=124
		break
	fi
	set +e
	timeout "$left" qemu-system-x86_64 \
		-accel tcg,thread=multi -cpu max -m 1024 -smp 2 \
		-nodefaults -nic none -nographic -serial mon:stdio -no-reboot \
		-kernel "$image.vmlinuz" -initrd "$image.initrd" \
		-append "root=/dev/vda rw console=ttyS0 no_timer_check" \
		-drive "file=$disk,if=virtio,format=raw" </dev/null 2>&1 |
		while IFS= read -r line; do
			# Seconds since the first boot started, for the timings below.
			ds=$(((${EPOCHREALTIME/./} - vm_start) / 100000))
			printf '[%5d.%d] %s\n' $((ds / 10)) $((ds % 10)) "${line%$'\r'}"
		done >>"$console"
	qemu_rc=${PIPESTATUS[0]}
	set -e
	[ "$qemu_rc" = 0 ] || break
	# Boot again only when the guest asked for a reboot.
	grep -a 'PTH-VM BOOT [0-9]* end' "$console" | tail -n 1 | grep -q 'action=reboot' || break
done
vm_s=$(((${EPOCHREALTIME/./} - vm_start) / 1000000))

# --- Results ----------------------------------------------------------------------

failures=()
mapfile -t results < <(sed -n 's/^\[[ 0-9.]*\] \(RESULT .*\)/\1/p' "$console")
pass=0 fail=0 skipped=0
for r in "${results[@]}"; do
	case $r in
	*" status=PASS "*) pass=$((pass + 1)) ;;
	*" status=SKIP "*) skipped=$((skipped + 1)) ;;
	*)
		fail=$((fail + 1))
		failures+=("$r")
		;;
	esac
done
if [ "$qemu_rc" = 124 ]; then
	failures+=("TIMEOUT: the VM did not power off within ${timeout}s")
elif [ "$qemu_rc" != 0 ]; then
	failures+=("qemu exited with status $qemu_rc")
fi
grep -q '^\[[ 0-9.]*\] PTH-VM DONE' "$console" ||
	failures+=("INCOMPLETE: the scenario did not reach its end (last: $(grep -a 'PTH-VM BOOT' "$console" | tail -n 1))")

echo "test-vm: times: image build ${image_build_s}, disk ${disk_s}s, VM ${vm_s}s"
# Boot N "start" - previous "end": kernel + systemd; "end" - "start": the step.
sed -n 's/^\[ *\([0-9.]*\)\] PTH-VM BOOT \([0-9]*\) \([a-z]*\).*/\1 \2 \3/p' "$console" |
	awk '{ printf "test-vm:   boot %s %-5s at %6.1fs (+%.1fs)\n", $2, $3, $1, $1 - prev; prev = $1 }'
echo "test-vm: $pass passed, $fail failed, $skipped skipped"
for r in "${results[@]}"; do
	case $r in *" status=SKIP "*)
		echo "  $r"
		# Under CI=true a check the VM could not make is a failure too.
		if gate_in_ci; then
			failures+=("skipped in the VM (CI set): $r")
		else
			[ -z "${PTH_SKIP_LOG:-}" ] || echo "SKIPPED: test-vm-check: $r" >>"$PTH_SKIP_LOG"
		fi
		;;
	esac
done

"$e2e/host-net-guard.sh" compare "$guard"

keep_log() {
	mkdir -p "$artifacts"
	kept=$artifacts/console-$(date +%Y%m%d-%H%M%S).log
	cp "$console" "$kept"
	echo "test-vm: console log kept: $kept"
}
if [ ${#failures[@]} -gt 0 ]; then
	for f in "${failures[@]}"; do
		echo "FAIL: $f"
	done
	keep_log
	exit 1
fi
[ "${PTH_VM_KEEP_LOG:-0}" != 1 ] || keep_log
echo "test-vm: all assertions passed"
