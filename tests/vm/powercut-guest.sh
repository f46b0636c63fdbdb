#!/bin/bash
# The power-cut proof inside the VM (issue 29), run once at boot by
# tests/vm/powercut.sh (installed as check.sh, RESULT lines as check-lib.sh).
#
# /dev/vdb holds a second Debian root (the image's tree plus the package).
# It goes through device-mapper's flakey target, the fstests pattern: the
# table "0 N flakey DEV 0 180 0" passes every write; at a cut the device is
# suspended without freezing the filesystem (--nolockfs: the page cache is
# not flushed), reloaded with "0 N flakey DEV 0 0 180 1 drop_writes" so no
# write reaches the disk any more, the whole tree of the operation is
# killed, the filesystem unmounted and its caches dropped; mounted again
# (ext4 replays its journal) the disk holds exactly what was durable at the
# cut, as after a power loss.
#
# Every "boot" of that root is a fresh mount, network and PID namespace
# (unshare -m -n -p): /run and /tmp empty, every net.* sysctl at the
# kernel's default, then systemd-sysctl from the disk's own files, as at a
# real boot (/proc/sys read-only except /proc/sys/net: only net.* keys can
# change). The kill-point hooks (src/host/kill_point.rs, debian/kill-point.sh)
# stop the helper or a maintainer script at a named step; the cut lands
# there.
#
# The scenario: a census (a clean install and purge: the reference values
# and the numbered points), then pairs of cuts: an install cut at INSTALL
# point i, a boot, the admin's recovery (dpkg --configure -a, the install
# again), its checks (dpkg state, live values, values at the next boot), and
# in that same boot a purge cut at PURGE point i, a boot, the recovery
# (dpkg --configure -a, the purge again, a purge of anything left), and the
# comparison with the state before the install: every file (type, mode,
# owner, size, link target; content of /etc, /usr/local, /usr/lib/sysctl.d
# and /var/lib), the diversions, the live net.* values, and the values the
# next boot brings.
set -u
. /usr/local/lib/pth-vm/check-lib.sh

# The cuts, by name (the census numbers them): pairs, install point i with
# purge point i. After the snapshot, after the values (no write reaches
# the disk between the first value and the last: values are kernel state),
# inside the chrony diversion (diverted, generated file not written yet);
# after the diversion removal (prerm), inside postrm purge after the values
# were restored and after the files were.
INSTALL_CUTS=(helper-snapshot-saved helper-values-applied helper-chrony-diverted)
PURGE_CUTS=(helper-chrony-undiverted postrm-purge-values-restored postrm-purge-files-restored)
PKG=pve-tcp-hardening
DEB=/root/pth-debs/$PKG.deb
INSTALL="apt-get install -y $DEB"
PURGE="apt-get purge -y $PKG"

dev=/dev/vdb
mnt=/pc/root
kp=/pc/kp
work=/pc/work
say "BOOT $boot start"

fail_setup() {
	result "setup" FAIL "$1" "$2"
	say DONE
	finish poweroff
}

modprobe dm-flakey || fail_setup "dm-flakey loaded" "modprobe failed"
size=$(blockdev --getsz "$dev") || fail_setup "$dev present" "no $dev"
allow="0 $size flakey $dev 0 180 0"
drop="0 $size flakey $dev 0 0 180 1 drop_writes"
mkdir -p "$mnt" "$kp" "$work"
mount -t tmpfs tmpfs "$kp"
dmsetup create pc --table "$allow" || fail_setup "dm table loaded" "dmsetup create failed"
mount /dev/mapper/pc "$mnt" || fail_setup "mounted" "mount failed"
dm=$(basename "$(readlink -f /dev/mapper/pc)")

# The environment of every command in the chroot.
ENV="export PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C DEBIAN_FRONTEND=noninteractive PVE_TCP_HARDENING_APPLY_IN_CHROOT=1"
# Helpers in the chroot (written once, before the state is recorded, so
# they are part of it): the live net.* values of the caller's namespace
# (random keys left out); what the next boot brings (a fresh network
# namespace and systemd-sysctl); the state compared with the one before
# the install.
lib=/usr/local/lib/pth-powercut
mkdir -p "$mnt$lib"
cat >"$mnt$lib/netdump" <<'EOS'
#!/bin/sh
cd /proc/sys/net && grep -r -s '' . | grep -v -e fastopen_key -e /stable_secret: | LC_ALL=C sort
EOS
cat >"$mnt$lib/nextboot" <<'EOS'
#!/bin/sh
exec unshare -n sh -c '/lib/systemd/systemd-sysctl >/dev/null 2>&1; exec /usr/local/lib/pth-powercut/netdump'
EOS
cat >"$mnt$lib/snapshot" <<'EOS'
#!/bin/sh
cd /
find / -xdev \( -path /proc -o -path /dev -o -path /run -o -path /tmp -o -path /sys \
	-o -path /var/lib/dpkg -o -path /var/lib/apt -o -path /var/cache -o -path /var/log \) -prune \
	-o -type f -printf 'file %p f %m %U:%G %s\n' -o -printf 'file %p %y %m %U:%G %l\n' | LC_ALL=C sort
find /etc /usr/local /usr/lib/sysctl.d /var/lib -xdev \( -path /var/lib/dpkg -o -path /var/lib/apt \) -prune \
	-o -type f -print0 | xargs -0 -r sha256sum | sed 's/^/sha256 /' | LC_ALL=C sort -k3
dpkg-divert --list | LC_ALL=C sort | sed 's/^/divert /'
/usr/local/lib/pth-powercut/netdump | sed 's/^/live /'
EOS
chmod 755 "$mnt$lib"/*
sync
NETDUMP=$lib/netdump NEXTBOOT=$lib/nextboot SNAPSHOT=$lib/snapshot
# The environment of every command in the chroot.
ENV="export PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C DEBIAN_FRONTEND=noninteractive PVE_TCP_HARDENING_APPLY_IN_CHROOT=1"

# A fresh boot of the disk's root: SCRIPT (bash) runs in the chroot after
# systemd-sysctl; /run/pth-kp there is $kp (the kill points' directory,
# in this VM's memory, not on the disk under test). boot_exec replaces the
# calling (sub)shell: `boot_exec ... &` gives the PID the cut kills
# (--kill-child: the namespace's init, and with it every process in it).
in_boot() { # SCRIPT
	(boot_exec "$1")
}
boot_exec() { # SCRIPT
	exec unshare -m -n -p --fork --kill-child sh -c '
		set -e
		m=$1
		mount -t proc proc "$m/proc"
		mount --bind "$m/proc/sys" "$m/proc/sys"
		mount -o remount,bind,ro "$m/proc/sys"
		mount --bind "$m/proc/sys/net" "$m/proc/sys/net"
		mount -o remount,bind,rw "$m/proc/sys/net"
		mount -t tmpfs tmpfs "$m/run"
		mount -t tmpfs tmpfs "$m/tmp"
		mount --rbind /dev "$m/dev"
		mkdir "$m/run/pth-kp"
		mount --bind "$3" "$m/run/pth-kp"
		ip link set lo up
		chroot "$m" /lib/systemd/systemd-sysctl >/dev/null 2>&1 || true
		exec chroot "$m" /bin/bash -c "$2"
	' sh "$mnt" "$ENV; $1" "$kp"
}

# SIGKILL to every process whose root is the disk under test (the
# namespace's init takes the rest with it; this is belt and braces).
kill_on_disk() {
	local p r
	for p in /proc/[0-9]*; do
		r=$(readlink "$p/root" 2>/dev/null) || continue
		case $r in "$mnt" | "$mnt"/*) kill -KILL "${p#/proc/}" 2>/dev/null ;; esac
	done
}

# The power cut: no more writes reach the disk, everything running on it
# is killed (PID), and it is mounted again with what was durable.
power_cut() { # PID
	dmsetup suspend --nolockfs pc
	dmsetup load pc --table "$drop"
	dmsetup resume pc
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	kill_on_disk
	local n=0
	until umount "$mnt" 2>/dev/null; do
		n=$((n + 1))
		[ $n -lt 100 ] || fail_setup "unmounted after the cut" "$mnt busy"
		sleep 0.1
	done
	# The filesystem must be gone from the kernel, or mounting again would
	# find its old superblock and page cache.
	n=0
	while [ -e "/proc/fs/ext4/$dm" ]; do
		n=$((n + 1))
		if [ $n -ge 300 ]; then
			ps -eo pid,ppid,stat,wchan:20,args >"$work/ps"
			show "processes" "$work/ps"
			grep -l " $mnt\| /pc/" /proc/[0-9]*/mountinfo >"$work/holders" 2>&1
			show "mount tables that still hold the disk" "$work/holders"
			fail_setup "filesystem released after the cut" "/proc/fs/ext4/$dm still there"
		fi
		kill_on_disk
		sleep 0.1
	done
	blockdev --flushbufs /dev/mapper/pc
	echo 3 >/proc/sys/vm/drop_caches
	dmsetup suspend pc
	dmsetup load pc --table "$allow"
	dmsetup resume pc
	mount /dev/mapper/pc "$mnt" || fail_setup "mounted after the cut" "mount failed"
}

# Wait for the kill point of the boot PID to stop (0), or for PID to end
# (1); 2 after 600 s.
await_stop() { # PID
	local n=0
	while [ $n -lt 6000 ]; do
		[ ! -e "$kp/stopped" ] || return 0
		kill -0 "$1" 2>/dev/null || { [ -e "$kp/stopped" ] && return 0; return 1; }
		sleep 0.1
		n=$((n + 1))
	done
	return 2
}

# The number of point NAME in the census list FILE.
point_number() { # FILE NAME
	grep -n -x -m 1 -- "$2" "$1" | cut -d: -f1
}

# dpkg's state of the package as found on the disk now.
disk_state() {
	chroot "$mnt" dpkg-query -W -f '${Status}' "$PKG" 2>/dev/null || echo not-installed
}

# Compare two files of lines; the differences go to the console.
same() { # NAME EXPECTED-FILE GOT-FILE
	if diff -u "$2" "$3" >"$work/diff" 2>&1; then
		result "$1" PASS "same" "same"
	else
		show "$1: differences (- expected, + found)" "$work/diff"
		result "$1" FAIL "same" "$(grep -c '^[-+][^-+]' "$work/diff") line(s) differ"
	fi
}

arm() { # STOP-AT
	rm -rf "${kp:?}"/*
	echo "$1" >"$kp/stop-at"
}
KP="export PVE_TCP_HARDENING_TEST_KILL_POINTS=/run/pth-kp"

# --- The census: the state before, a clean install and purge ------------
start=$SECONDS
in_boot "$SNAPSHOT" >"$work/before" 2>"$work/err" ||
	fail_setup "snapshot before" "$(tail -n 3 "$work/err")"
grep '^live ' "$work/before" | sed 's/^live //' >"$work/boot-before"
check census.before-has-values yes "$([ -s "$work/boot-before" ] && echo yes || echo no)"

arm 0
in_boot "$KP; $INSTALL >/run/pth-kp/log 2>&1; echo \$? >/run/pth-kp/rc; cp /run/pth-kp/passed /run/pth-kp/install.passed
	unset PVE_TCP_HARDENING_TEST_KILL_POINTS; $NETDUMP >/run/pth-kp/live; $NEXTBOOT >/run/pth-kp/next" >/dev/null 2>&1
check census.install.exit 0 "$(cat "$kp/rc" 2>/dev/null)"
[ "$(cat "$kp/rc" 2>/dev/null)" = 0 ] || show "census install" "$kp/log"
cp "$kp/install.passed" "$work/install.passed" 2>/dev/null || : >"$work/install.passed"
cp "$kp/live" "$work/live-installed"
cp "$kp/next" "$work/boot-installed"
check census.install-changes-values yes "$(cmp -s "$work/boot-before" "$work/boot-installed" && echo no || echo yes)"

arm 0
in_boot "$KP; $PURGE >/run/pth-kp/log 2>&1; echo \$? >/run/pth-kp/rc; cp /run/pth-kp/passed /run/pth-kp/purge.passed
	unset PVE_TCP_HARDENING_TEST_KILL_POINTS; $SNAPSHOT >/run/pth-kp/after" >/dev/null 2>&1
check census.purge.exit 0 "$(cat "$kp/rc" 2>/dev/null)"
[ "$(cat "$kp/rc" 2>/dev/null)" = 0 ] || show "census purge" "$kp/log"
cp "$kp/purge.passed" "$work/purge.passed" 2>/dev/null || : >"$work/purge.passed"
same census.purge.same-as-before "$work/before" "$kp/after"
say "census: $(wc -l <"$work/install.passed") install points, $(wc -l <"$work/purge.passed") purge points, $((SECONDS - start))s"
say "install points: $(paste -sd' ' "$work/install.passed")"
say "purge points: $(paste -sd' ' "$work/purge.passed")"

# --- The cuts -------------------------------------------------------------
# PTH_POWERCUT_PAIRS on the host: only the first N pairs (a quick look).
pairs=$(cat "$state/powercut-pairs" 2>/dev/null || echo "${#INSTALL_CUTS[@]}")
for i in "${!INSTALL_CUTS[@]}"; do
	[ "$i" -lt "$pairs" ] || break
	start=$SECONDS
	ip=${INSTALL_CUTS[$i]} pp=${PURGE_CUTS[$i]}
	in_n=$(point_number "$work/install.passed" "$ip")
	pu_n=$(point_number "$work/purge.passed" "$pp")
	if [ -z "$in_n" ] || [ -z "$pu_n" ]; then
		result "cut.$ip+$pp" FAIL "both points in the census" "install: ${in_n:-missing}, purge: ${pu_n:-missing}"
		continue
	fi

	# The install, cut at point in_n.
	arm "$in_n"
	boot_exec "$KP; $INSTALL" >"$work/log" 2>&1 &
	pid=$!
	await_stop "$pid"
	st=$?
	check "cut.install.$ip.reached" "$ip" "$([ $st = 0 ] && cat "$kp/stopped" || echo "none (await $st)")"
	[ $st = 0 ] || show "install log" "$work/log"
	power_cut "$pid"
	say "cut install at point $in_n ($ip): dpkg state found after the cut: $(disk_state)"

	# The next boot: the admin's recovery, its checks, then the purge cut.
	arm "$pu_n"
	boot_exec "dpkg --configure -a >/run/pth-kp/recover.log 2>&1
		$INSTALL >>/run/pth-kp/recover.log 2>&1; echo \$? >/run/pth-kp/rc
		dpkg-query -W -f '\${Status}' $PKG >/run/pth-kp/status 2>&1
		$NETDUMP >/run/pth-kp/live; $NEXTBOOT >/run/pth-kp/next
		$KP; $PURGE" >"$work/log" 2>&1 &
	pid=$!
	await_stop "$pid"
	st=$?
	check "cut.install.$ip.install-again.exit" 0 "$(cat "$kp/rc" 2>/dev/null)"
	[ "$(cat "$kp/rc" 2>/dev/null)" = 0 ] || show "recovery" "$kp/recover.log"
	check "cut.install.$ip.recovered.dpkg" "install ok installed" "$(cat "$kp/status" 2>/dev/null)"
	same "cut.install.$ip.recovered.live" "$work/live-installed" "$kp/live"
	same "cut.install.$ip.recovered.next-boot" "$work/boot-installed" "$kp/next"
	check "cut.purge.$pp.reached" "$pp" "$([ $st = 0 ] && cat "$kp/stopped" || echo "none (await $st)")"
	[ $st = 0 ] || show "purge log" "$work/log"
	power_cut "$pid"
	say "cut purge at point $pu_n ($pp): dpkg state found after the cut: $(disk_state)"

	# The next boot: recovery, then the state before the install.
	arm 0
	in_boot "dpkg --configure -a >/run/pth-kp/recover.log 2>&1
		$PURGE >>/run/pth-kp/recover.log 2>&1; echo \$? >/run/pth-kp/rc
		dpkg-query -W -f '\${Status}' $PKG >/run/pth-kp/status 2>/dev/null || echo not-installed >/run/pth-kp/status
		left=\$(dpkg-query -W -f '\${Package} \${db:Status-Status}\n' 'pve-tcp-hardening*' 2>/dev/null | awk '\$2 != \"not-installed\" {print \$1}')
		[ -z \"\$left\" ] || apt-get purge -y \$left >>/run/pth-kp/recover.log 2>&1
		$SNAPSHOT >/run/pth-kp/after; $NEXTBOOT >/run/pth-kp/next" >"$work/log" 2>&1
	rc=$(cat "$kp/rc" 2>/dev/null)
	status=$(cat "$kp/status" 2>/dev/null)
	# Cut after dpkg finished the purge: apt knows no such package any more.
	if [ "$rc" != 0 ] && [ "$status" = not-installed ] && grep -q 'Unable to locate package' "$kp/recover.log"; then
		rc="0 (already purged)"
	fi
	case $rc in 0*) rc=0 ;; esac
	check "cut.purge.$pp.purge-again.exit" 0 "$rc"
	[ "$rc" = 0 ] || show "recovery" "$kp/recover.log"
	same "cut.purge.$pp.same-as-before" "$work/before" "$kp/after"
	same "cut.purge.$pp.next-boot" "$work/boot-before" "$kp/next"
	say "cut pair $((i + 1)) ($ip, $pp): $((SECONDS - start))s"
done

umount "$mnt" || say "umount at the end failed"
dmsetup remove pc
say DONE
finish poweroff
