#!/bin/bash
# What the host side of the VM proofs shares (run.sh: the reboot proof on
# each release; upgrade.sh: the PVE 8 -> 9 upgrade proof; powercut.sh: the
# power-cut proof): the arguments, the gate and the run's places, the
# run's disk, the boot loop and the RESULT count. Sourced by those three,
# which set here, repo, suite (the gate's name) and packages first.

e2e=$repo/tests/e2e
# shellcheck source=tests/common/gate.sh
. "$repo/tests/common/gate.sh"
skip() {
	gate_skip "$suite" "$1"
}
die() {
	echo "$suite: $*" >&2
	exit 2
}

# Root, qemu with TCG, debootstrap and mkfs.ext4 (installed if missing),
# or a skip saying what is missing (a failure with CI=true).
vm_gate() {
	[ "${PTH_VM:-1}" != 0 ] || skip "PTH_VM=0"
	[ "$(id -u)" = 0 ] && ! gate_missing root || skip "not running as root (debootstrap and mkfs -d need it)"
	local missing=()
	command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
	command -v debootstrap >/dev/null || missing+=(debootstrap)
	command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
	if [ ${#missing[@]} -gt 0 ]; then
		echo "$suite: installing ${missing[*]}" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" </dev/null ||
			skip "cannot install ${missing[*]} (apt-get failed)"
	fi
	{ qemu-system-x86_64 -accel help 2>/dev/null | grep -qx tcg && ! gate_missing qemu-tcg; } ||
		skip "qemu-system-x86_64 has no TCG accelerator"
}

# The run's root tree TREE from IMAGE.tar plus the packages of DEB_DIR, the
# check scripts (SCRIPT runs at every boot as check.sh), the release files
# and the finish step's units; RELEASE goes to /var/lib/pth-vm/release.
# PTH_VM_RELEASES (default "bookworm trixie") into the array releases,
# each one that tests/vm/releases/ knows.
vm_releases() {
	local release
	read -r -a releases <<<"${PTH_VM_RELEASES:-bookworm trixie}"
	for release in "${releases[@]}"; do
		[ -f "$here/releases/$release.env" ] || die "unknown release $release (no tests/vm/releases/$release.env)"
	done
}

# The start every harness shares: `[--make-debs] DEB_DIR` from ARGS (with
# --make-debs the debs are built there, once the gate passed), the gate,
# each of $packages checked in DEB_DIR, this machine's network values
# recorded. Sets deb_dir (absolute), cache, artifacts, run (a new
# directory named PREFIX.XXXXXX under the cache's runs/) and guard; the
# EXIT trap removes run and guard.
vm_setup() { # PREFIX USAGE ARGS...
	local prefix=$1 usage=$2 make_debs=false pkg
	shift 2
	if [ "${1:-}" = --make-debs ]; then
		make_debs=true
		shift
	fi
	[ -n "${1:-}" ] || die "$usage"
	deb_dir=$1
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
	mkdir -p "$cache/runs"
	guard=$(mktemp)
	run=$(mktemp -d "$cache/runs/$prefix.XXXXXX")
	trap 'rm -rf "$run" "$guard"' EXIT
	"$e2e/host-net-guard.sh" record "$guard"
}

vm_tree() { # TREE IMAGE DEB_DIR SCRIPT RELEASE
	local tree=$1 image=$2 deb_dir=$3 script=$4 release=$5 pkg unit
	mkdir "$tree"
	tar --numeric-owner --xattrs -C "$tree" -xf "$image.tar"
	install -d -m 0755 "$tree/var/lib/pth-vm/debs" "$tree/usr/local/lib/pth-vm/releases"
	for pkg in "${packages[@]}"; do
		install -m 0644 "$deb_dir/$pkg.deb" "$tree/var/lib/pth-vm/debs/"
	done
	printf '%s\n' "$release" >"$tree/var/lib/pth-vm/release"
	install -m 0755 "$script" "$tree/usr/local/lib/pth-vm/check.sh"
	install -m 0644 "$here/check-lib.sh" "$tree/usr/local/lib/pth-vm/check-lib.sh"
	install -m 0644 "$here"/releases/*.env "$tree/usr/local/lib/pth-vm/releases/"
	install -m 0644 "$here/pth-vm-check.service" "$tree/etc/systemd/system/"
	ln -s ../pth-vm-check.service "$tree/etc/systemd/system/multi-user.target.wants/pth-vm-check.service"
	# A node that has booted before, as every node the package is installed
	# on: /etc/.updated and /var/.updated as systemd-update-done leaves
	# them after the first boot, stamped with /usr's mtime. Without them
	# Debian 13's first boot runs ldconfig, systemd-sysusers,
	# systemd-journal-catalog-update and systemd-update-done
	# (ConditionNeedsUpdate=), active at boot 1 only: seen as boot 2's
	# only difference in the issue-28 invariant.
	local usr_ns dir
	usr_ns=$(stat -c %.9Y "$tree/usr")
	for dir in etc var; do
		[ -e "$tree/$dir/.updated" ] && continue
		printf '# As systemd-update-done writes it (tests/vm/host-lib.sh).\nTIMESTAMP_NSEC=%s\n' \
			"${usr_ns/./}" >"$tree/$dir/.updated"
		touch -r "$tree/usr" "$tree/$dir/.updated"
	done
	# postfix as the Proxmox VE installer leaves it, where the image has
	# postfix (run.sh's node-packages, installed with debconf's "No
	# configuration" as the installer preseeds). pve-installer's
	# Proxmox/Install.pm: /etc/mailname removed, its main.cf (pve-main.cf)
	# with the node's FQDN, then `postfix check`, `postsuper -d ALL` and
	# `newaliases` in the target's chroot. Here: tests/e2e/sandbox.sh, its
	# own network namespace with lo up (postfix wants a loopback address).
	if [ -x "$tree/usr/sbin/postfix" ]; then
		rm -f "$tree/etc/mailname"
		sed 's/__FQDN__/pth-vm.pth.invalid/' "$here/pve-main.cf" >"$tree/etc/postfix/main.cf"
		# The installer's base system ships /etc/aliases; Debian's postfix
		# creates it only when it configures main.cf itself.
		[ -e "$tree/etc/aliases" ] || printf 'postmaster: root\n' >"$tree/etc/aliases"
		"$e2e/sandbox.sh" run "$tree" sh -c 'ip link set lo up && /usr/sbin/postfix check &&
			/usr/sbin/postsuper -d ALL && /usr/bin/newaliases'
	fi
	# The finish step (issue 19): a stub corosync on 127.0.0.1 and [::1]
	# (never restarted), at every boot; the image's dual-stack wildcard
	# listener; real postfix and redis (node-packages) hold [::1] too.
	install -m 0755 "$here/finish/listen.pl" "$tree/usr/local/lib/pth-vm/listen.pl"
	for unit in "$here"/finish/*.service; do
		install -m 0644 "$unit" "$tree/etc/systemd/system/"
		ln -s "../${unit##*/}" "$tree/etc/systemd/system/multi-user.target.wants/${unit##*/}"
	done
}

# Boot DISK again and again while the guest asks for a reboot, one qemu
# process per boot (-no-reboot: the guest's `systemctl reboot` ends qemu
# and we start it again on the same disk; rebooting inside one qemu process
# made every boot slower than the one before under TCG: 16 s, 82 s,
# 136 s). The kernel is IMAGE's, unless the guest left one in
# /var/lib/pth-vm/kernel/{vmlinuz,initrd} (the upgrade proof: the new
# release's kernel, read from the disk with debugfs, no mount). Console
# lines get a host timestamp in CONSOLE. Sets qemu_rc (124: timeout) and
# vm_s. no_timer_check: on a loaded host the emulated IO-APIC timer check
# can fail and panic the guest at boot ("IO-APIC + timer doesn't work!").
# loglevel=4: kernel messages below warning stay off the console, where
# one (trixie's udev loading kvm_amd late) cut a RESULT line in two.
# panic=-1: a guest kernel panic ends qemu at once (-no-reboot) instead of
# leaving it hung until the timeout (seen once on trixie under TCG: an
# int3 oops in sched_clock_cpu 4 s into boot 3, and 40 minutes lost); such
# a boot, before the check unit started, is tried once more (qemu_rc 125
# if it panics again or panicked after the check started).
# The array vm_qemu_extra, when a harness sets it, goes to qemu as more
# arguments (powercut.sh: its second disk).
vm_qemu_extra=()
vm_boot() { # IMAGE DISK CONSOLE TIMEOUT MAX-BOOTS
	local image=$1 disk=$2 console=$3 timeout=$4 max=$5 n left kernel initrd before panics=0
	local vm_start=${EPOCHREALTIME/./} deadline=$((SECONDS + timeout))
	kernel=$image.vmlinuz initrd=$image.initrd
	qemu_rc=0
	for ((n = 1; n <= max; n++)); do
		left=$((deadline - SECONDS))
		if [ "$left" -le 0 ]; then
			qemu_rc=124
			break
		fi
		before=0
		[ ! -e "$console" ] || before=$(wc -l <"$console")
		set +e
		timeout "$left" qemu-system-x86_64 \
			-accel tcg,thread=multi -cpu max -m 1024 -smp 2 \
			-nodefaults -nic none -nographic -serial mon:stdio -no-reboot \
			-kernel "$kernel" -initrd "$initrd" \
			-append "root=/dev/vda rw console=ttyS0 no_timer_check loglevel=4 panic=-1" \
			-drive "file=$disk,if=virtio,format=raw" "${vm_qemu_extra[@]}" </dev/null 2>&1 |
			while IFS= read -r line; do
				# Seconds since the first boot started, for the timings below.
				ds=$(((${EPOCHREALTIME/./} - vm_start) / 100000))
				printf '[%5d.%d] %s\n' $((ds / 10)) $((ds % 10)) "${line%$'\r'}"
			done >>"$console"
		qemu_rc=${PIPESTATUS[0]}
		set -e
		[ "$qemu_rc" = 0 ] || break
		if tail -n +"$((before + 1))" "$console" | grep -aq 'Kernel panic - not syncing'; then
			if [ "$panics" -ge 1 ] || tail -n +"$((before + 1))" "$console" | grep -aq 'PTH-VM BOOT [0-9]* start'; then
				qemu_rc=125
				break
			fi
			echo "$suite: the guest kernel panicked before the check started; booting once more" >&2
			panics=$((panics + 1))
			n=$((n - 1))
			continue
		fi
		# Boot again only when the guest asked for a reboot.
		grep -a 'PTH-VM BOOT [0-9]* end' "$console" | tail -n 1 | grep -q 'action=reboot' || break
		if debugfs -R 'stat /var/lib/pth-vm/kernel/vmlinuz' "$disk" 2>/dev/null | grep -q '^Inode:'; then
			kernel=${disk%/*}/vmlinuz initrd=${disk%/*}/initrd
			debugfs -R "dump /var/lib/pth-vm/kernel/vmlinuz $kernel" "$disk" 2>/dev/null
			debugfs -R "dump /var/lib/pth-vm/kernel/initrd $initrd" "$disk" 2>/dev/null
		fi
	done
	vm_s=$(((${EPOCHREALTIME/./} - vm_start) / 1000000))
}

# Count the RESULT lines of CONSOLE, print the timings and the skips, and
# append every failure (and a timeout, a qemu error, an unfinished
# scenario) to the array failures. LABEL prefixes each line.
vm_results() { # LABEL CONSOLE
	local label=$1 console=$2 r pass=0 fail=0 skipped=0 results
	mapfile -t results < <(sed -n 's/^\[[ 0-9.]*\] \(RESULT .*\)/\1/p' "$console")
	for r in "${results[@]}"; do
		case $r in
		*" status=PASS "*) pass=$((pass + 1)) ;;
		*" status=SKIP "*) skipped=$((skipped + 1)) ;;
		*)
			fail=$((fail + 1))
			failures+=("$label: $r")
			;;
		esac
	done
	if [ "$qemu_rc" = 124 ]; then
		failures+=("$label: TIMEOUT: the VM did not power off in time")
	elif [ "$qemu_rc" = 125 ]; then
		failures+=("$label: PANIC: the guest kernel panicked (see the console log)")
	elif [ "$qemu_rc" != 0 ]; then
		failures+=("$label: qemu exited with status $qemu_rc")
	fi
	grep -q '^\[[ 0-9.]*\] PTH-VM DONE' "$console" ||
		failures+=("$label: INCOMPLETE: the scenario did not reach its end (last: $(grep -a 'PTH-VM BOOT' "$console" | tail -n 1))")
	# Boot N "start" - previous "end": kernel + systemd; "end" - "start": the step.
	sed -n 's/^\[ *\([0-9.]*\)\] PTH-VM BOOT \([0-9]*\) \([a-z]*\).*/\1 \2 \3/p' "$console" |
		awk -v l="$label" '{ printf "%s:   boot %s %-5s at %6.1fs (+%.1fs)\n", l, $2, $3, $1, $1 - prev; prev = $1 }'
	echo "$label: $pass passed, $fail failed, $skipped skipped"
	for r in "${results[@]}"; do
		case $r in *" status=SKIP "*)
			echo "  $r"
			# Under CI=true a check the VM could not make is a failure too.
			if gate_in_ci; then
				failures+=("$label: skipped in the VM (CI set): $r")
			else
				[ -z "${PTH_SKIP_LOG:-}" ] || echo "SKIPPED: $suite-check: $r" >>"$PTH_SKIP_LOG"
			fi
			;;
		esac
	done
}

# Keep CONSOLE under ARTIFACTS as NAME-<time>.log and say where.
vm_keep_log() { # CONSOLE ARTIFACTS NAME
	mkdir -p "$2"
	local kept
	kept=$2/$3-$(date +%Y%m%d-%H%M%S).log
	cp "$1" "$kept"
	echo "$suite: console log kept: $kept"
}

# A release's (or run's) RESULT lines counted into failures (vm_results),
# its console kept under the artifacts as NAME when that added a failure or
# PTH_VM_KEEP_LOG=1.
vm_done() { # LABEL CONSOLE NAME
	local nfail=${#failures[@]}
	vm_results "$1" "$2"
	if [ "${#failures[@]}" != "$nfail" ] || [ "${PTH_VM_KEEP_LOG:-0}" = 1 ]; then
		vm_keep_log "$2" "$artifacts" "$3"
	fi
}

# The end of a run: this machine's network values compared with the
# record, then every failure printed and exit 1, or the pass line for WHAT.
vm_end() { # WHAT
	local f
	"$e2e/host-net-guard.sh" compare "$guard"
	if [ ${#failures[@]} -gt 0 ]; then
		for f in "${failures[@]}"; do
			echo "FAIL: $f"
		done
		exit 1
	fi
	echo "$suite: all assertions passed${1:+ ($1)}"
}
