#!/bin/bash
# Run commands inside a chroot that sits in a private network namespace and a
# private mount namespace, so nothing it does reaches this machine's kernel
# settings or mount table.
#
#   sandbox.sh run  ROOT CMD...   one shot: new namespaces, CMD in the chroot
#   sandbox.sh hold ROOT          keep namespaces alive for several commands:
#                                 prints "ready", then waits for EOF on stdin.
#                                 Its PID is the namespace holder (unshare
#                                 execs in place, no fork).
#   sandbox.sh enter ROOT PID CMD...  CMD in the chroot, in the namespaces of
#                                 holder PID (refused if PID shares ours)
#
# A scenario needs one namespace for several commands (install, read live
# values, purge, read again): live values exist only in that namespace.
#
# Inside, /proc/sys is read-only except /proc/sys/net: net.* is the only
# per-namespace sysctl tree, so a stray `sysctl --system` (ours or a package's)
# must fail on kernel./vm./fs. keys instead of changing the host.
set -euo pipefail

# Mounts for ROOT, done from inside the new mount namespace.
mount_chroot_fs() {
	local root=$1
	mount -t proc proc "$root/proc"
	mount --bind "$root/proc/sys" "$root/proc/sys"
	mount -o remount,bind,ro "$root/proc/sys"
	# A bind mount copies the read-only flag of its source: make it rw again.
	mount --bind "$root/proc/sys/net" "$root/proc/sys/net"
	mount -o remount,bind,rw "$root/proc/sys/net"
	# A private /dev with only the nodes apt and dpkg use: no host disks.
	mount -t tmpfs -o mode=0755,size=1m e2e-dev "$root/dev"
	local spec name type major minor
	for spec in null:c:1:3 zero:c:1:5 full:c:1:7 random:c:1:8 urandom:c:1:9 tty:c:5:0; do
		IFS=: read -r name type major minor <<<"$spec"
		mknod -m 0666 "$root/dev/$name" "$type" "$major" "$minor"
	done
	ln -s /proc/self/fd "$root/dev/fd"
	ln -s /proc/self/fd/0 "$root/dev/stdin"
	ln -s /proc/self/fd/1 "$root/dev/stdout"
	ln -s /proc/self/fd/2 "$root/dev/stderr"
	mkdir -m 1777 "$root/dev/shm"
	mkdir -m 0755 "$root/dev/pts"
	# apt logs through a pty; a new devpts instance, not the host's.
	mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 e2e-devpts "$root/dev/pts"
	ln -s pts/ptmx "$root/dev/ptmx"
}

# The environment every command in the chroot gets: nothing from the caller.
chroot_env=(/usr/bin/env -i
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive)

mode=${1:?usage: sandbox.sh run|hold ROOT [CMD...]}
root=${2:?usage: sandbox.sh run|hold ROOT [CMD...]}
shift 2
root=$(realpath "$root")

case $mode in
run)
	exec unshare --net --mount --propagation private -- "$0" _run "$root" "$@"
	;;
hold)
	exec unshare --net --mount --propagation private -- "$0" _hold "$root"
	;;
_run)
	mount_chroot_fs "$root"
	exec chroot "$root" "${chroot_env[@]}" "$@" </dev/null
	;;
_hold)
	mount_chroot_fs "$root"
	echo ready
	# Our parent holds the other end of stdin: EOF (it closed it or died)
	# ends the namespaces and their mounts with this process.
	read -r _ || true
	;;
enter)
	pid=${1:?usage: sandbox.sh enter ROOT PID CMD...}
	shift
	# Safety: a dead holder's PID could be reused by a process in the
	# host's namespace; never enter a namespace that is our own.
	if [ "$(stat -L -c %i "/proc/$pid/ns/net")" = "$(stat -L -c %i /proc/self/ns/net)" ] ||
		[ "$(stat -L -c %i "/proc/$pid/ns/mnt")" = "$(stat -L -c %i /proc/self/ns/mnt)" ]; then
		echo "sandbox.sh: process $pid is not in a private namespace; refusing" >&2
		exit 97
	fi
	exec nsenter --net="/proc/$pid/ns/net" --mount="/proc/$pid/ns/mnt" -- \
		chroot "$root" "${chroot_env[@]}" "$@" </dev/null
	;;
*)
	echo "sandbox.sh: unknown mode $mode" >&2
	exit 2
	;;
esac
