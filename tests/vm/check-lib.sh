#!/bin/sh
# What every VM scenario script shares (check.sh: the reboot proof;
# check-upgrade.sh: the PVE 8 -> 9 upgrade proof): the boot counter, the
# RESULT lines the host parses, and how live values, the boot-time merge,
# chronyd's sockets and the host records are read. Sourced, not run.
#
# Environment: PTH_VM_STATE (default /var/lib/pth-vm) holds the counter,
# the records and debs/ (the profile packages).
set -u

state=${PTH_VM_STATE:-/var/lib/pth-vm}
debs=$state/debs
install_timeout=600
tab=$(printf '\t')
nl='
'

boot=$(($(cat "$state/boot" 2>/dev/null || echo 0) + 1))
echo "$boot" >"$state/boot"
sync

say() {
	printf 'PTH-VM %s\n' "$*"
}

# One line, no double quotes: the value as the host prints it back. Forks
# only when needed: a process costs ~0.1 s under emulation.
flat() {
	case $1 in
	*"$nl"* | *"$tab"* | *'"'*) printf '%s' "$1" | tr '\n\t"' "  '" | tr -s ' ' ;;
	*) printf '%s' "$1" ;;
	esac
}

result() { # NAME STATUS EXPECTED GOT
	printf 'RESULT boot=%s name=%s status=%s expected="' "$boot" "$1" "$2"
	flat "$3"
	printf '" got="'
	flat "$4"
	printf '"\n'
}

check() { # NAME EXPECTED GOT
	if [ "$2" = "$3" ]; then
		result "$1" PASS "$2" "$3"
	else
		result "$1" FAIL "$2" "$3"
	fi
}

# Print a file or command output on the console, indented, for the log.
show() { # TITLE FILE
	say "--- $1"
	sed 's/^/  | /' "$2"
}

finish() { # reboot|poweroff
	say "BOOT $boot end action=$1 uptime=$(cut -d' ' -f1 /proc/uptime)"
	sync
	systemctl "$1"
	exit 0
}

# Live value of a sysctl key, blanks squeezed as in the profile; MISSING if
# the kernel has no such key.
live() {
	path=/proc/sys/$(printf '%s' "$1" | tr ./ /.)
	if [ -r "$path" ]; then
		# Not the read builtin: it reads a byte at a time, and a sysctl read
		# at a non-zero offset returns end of file.
		tr -s '\t ' '  ' <"$path"
	else
		echo MISSING
	fi
}

# "KEY<TAB>VALUE" for each setting of a package's profile.json.
profile_settings() { # DEB
	dpkg-deb --fsys-tarfile "$1" |
		tar -xOf - ./usr/share/pve-tcp-hardening/profile.json |
		jq -r '.settings[] | "\(.key)\t\(.value)"'
}

# The *.conf files systemd-sysctl reads, in the order it applies them: the
# first directory holding a name wins it, names sorted, /dev/null masks.
sysctl_files() {
	for dir in /etc/sysctl.d /run/sysctl.d /usr/local/lib/sysctl.d /usr/lib/sysctl.d; do
		for file in "$dir"/*.conf; do
			[ -e "$file" ] || [ -L "$file" ] || continue
			printf '%s\t%s\n' "${file##*/}" "$file"
		done
	done | awk -F '\t' '!seen[$1]++' | LC_ALL=C sort -t "$tab" -k1,1 | cut -f2 |
		while read -r file; do
			# A dangling symlink (bookworm's 99-sysctl.conf after the upgrade
			# took /etc/sysctl.conf) is skipped, as systemd-sysctl skips it.
			[ "$(readlink -f "$file")" = /dev/null ] || [ ! -e "$file" ] || echo "$file"
		done
}

# "KEY<TAB>EXPECTED<TAB>FILE" for each "KEY<TAB>VALUE" line of SETTINGS:
# the value the boot-time merge gives KEY (the last file setting it wins),
# FILE empty when that is the profile's own 80_tcp_hardening.conf.
boot_expectations() { # SETTINGS
	files=$(sysctl_files)
	set -f # the names have no blanks; split them, but do not glob
	# shellcheck disable=SC2086
	awk -v settings="$1" '
		{ sub(/^[ \t]+/, "") }
		/^[#;]/ || index($0, "=") == 0 { next }
		{
			k = substr($0, 1, index($0, "=") - 1)
			v = substr($0, index($0, "=") + 1)
			sub(/^-/, "", k); gsub(/[ \t\r]+$/, "", k)
			gsub(/^[ \t]+|[ \t\r]+$/, "", v); gsub(/[ \t]+/, " ", v)
			value[k] = v; from[k] = FILENAME
		}
		END {
			FS = "\t"
			while ((getline line < settings) > 0) {
				split(line, f, "\t")
				if (f[1] in from && from[f[1]] !~ /\/80_tcp_hardening\.conf$/)
					print f[1] "\t" value[f[1]] "\t" from[f[1]]
				else
					print f[1] "\t" f[2] "\t"
			}
		}' $files
	set +f
}

# Every key of SETTINGS has the value the boot-time merge gives it: the
# profile's, or that of a later file setting the key too.
check_boot_values() { # PREFIX SETTINGS
	boot_expectations "$2" >"$state/expected.boot$boot"
	while IFS="$tab" read -r key value file; do
		if [ -n "$file" ]; then
			check "$1.$key" "$value (from $file)" "$(live "$key") (from $file)"
		else
			check "$1.$key" "$value" "$(live "$key")"
		fi
	done <"$state/expected.boot$boot"
}

# Local addresses chronyd listens on, sorted, space separated.
chronyd_sockets() {
	ss -atlnupH | awk '/"chronyd"/ { print $5 }' | sort | tr '\n' ' ' | sed 's/ $//'
}

wait_for_chronyd() {
	i=0
	while [ $i -lt 60 ]; do
		systemctl is-active --quiet chrony && [ -n "$(chronyd_sockets)" ] && return 0
		sleep 1
		i=$((i + 1))
	done
}

# Sockets bound to an IPv6 address ("[::1]:323", a global or link-local
# one): what the guide's `ss -atlnup` check is about. The wildcard "[::]"
# (sshd) and "*" (a dual-stack socket, pveproxy's *:8006) stay after IPv6
# is off and serve IPv4.
ipv6_address_listeners() {
	ss -atlnupH | awk '$5 ~ /^\[/ && $5 !~ /^\[::\]:/ && $5 !~ /^\[::ffff:/ { print $5, $7 }'
}

# sshd's [::]:22 and the dual-stack *:8006 (pth-dualstack.service) are up.
wait_for_wildcards() {
	i=0
	while [ $i -lt 30 ]; do
		ss -tlnH | grep -q '\[::\]:22 ' && ss -tlnH | grep -q '\*:8006 ' && return 0
		sleep 1
		i=$((i + 1))
	done
}

# "ADDRESS:PORT bound v6only" of status JSON's IPv6 listeners on 22 and 8006.
wildcard_report() { # STATUS-JSON
	jq -r '[.ipv6_listeners[] | select(.port == 22 or .port == 8006)
		| "[\(.address)]:\(.port) \(.bound) \(.v6only)"] | sort | join(", ")' "$1" 2>&1
}

# Listing (path, type, mode, owner, link target) and content hash of every
# directory systemd-sysctl or procps reads.
sysctl_tree() {
	for dir in /etc/sysctl.d /run/sysctl.d /usr/local/lib/sysctl.d /usr/lib/sysctl.d /etc/sysctl.conf; do
		[ -e "$dir" ] || continue
		find "$dir" -printf '%p %y %m %U:%G %l\n' | LC_ALL=C sort
		find "$dir" -type f -exec sha256sum {} + | LC_ALL=C sort -k2
	done
}

# apt-get under a timeout, output kept for the log; sets apt_rc and
# apt_err (the stderr file). 124 means it blocked.
run_apt() { # NAME APT-ARGS...
	name=$1
	shift
	apt_err=$state/$name.boot$boot.stderr
	(cd "$debs" && DEBIAN_FRONTEND=noninteractive timeout "$install_timeout" \
		apt-get -o DPkg::Lock::Timeout=120 "$@" \
		</dev/null >"$state/$name.boot$boot.stdout" 2>"$apt_err")
	apt_rc=$?
	show "apt-get $* (exit $apt_rc), stdout" "$state/$name.boot$boot.stdout"
	show "apt-get $* stderr" "$apt_err"
	check "$name.exit" 0 "$apt_rc"
	if [ "$apt_rc" = 124 ]; then
		result "$name.blocking" FAIL "done within ${install_timeout}s" "killed after ${install_timeout}s"
	else
		result "$name.blocking" PASS "done within ${install_timeout}s" "done"
	fi
}

# Stock /etc/default/chrony (and a chrony.orig), the diversions, and the trees.
record_host() { # SUFFIX
	sha256sum /etc/default/chrony* | LC_ALL=C sort -k2 >"$state/chrony.$1"
	dpkg-divert --list | LC_ALL=C sort >"$state/diversions.$1"
	sysctl_tree >"$state/tree.$1"
}

# The boot-time check's journal entries at priority warning or worse.
boot_check_warnings() {
	journalctl -b -p warning -t pve-tcp-hardening -o cat --no-pager 2>&1
}


# --- The release -------------------------------------------------------------

# The names in a directory, sorted, space separated; "absent" if it is not there.
names_in() { # DIR
	if [ -d "$1" ]; then
		find "$1" -mindepth 1 -maxdepth 1 -printf '%f\n' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//'
	else
		echo absent
	fi
}

# VERSION if it starts with PREFIX, else VERSION with a note: so a check
# compares the prefix the release file names with what is installed.
version_prefix() { # PREFIX VERSION
	case $2 in
	"$1"*) printf '%s' "$1" ;;
	*) printf '%s (not %s*)' "$2" "$1" ;;
	esac
}

# The node runs the release RELEASE as releases/RELEASE.env describes it:
# the codename, kernel, systemd, procps and chrony versions.
check_versions() { # PREFIX RELEASE
	# shellcheck source=tests/vm/releases/bookworm.env
	. "${PTH_VM_LIB:-/usr/local/lib/pth-vm}/releases/$2.env"
	check "$1.codename" "$codename" "$(. /etc/os-release && echo "$VERSION_CODENAME")"
	check "$1.kernel" "$kernel" "$(version_prefix "$kernel" "$(uname -r)")"
	check "$1.systemd" "$systemd" "$(version_prefix "$systemd" "$(systemctl --version | awk 'NR == 1 { print $2 }')")"
	check "$1.procps" "$procps" "$(version_prefix "$procps" "$(dpkg-query -W -f '${Version}' procps | sed 's/^[0-9]*://')")"
	check "$1.chrony" "$chrony" "$(version_prefix "$chrony" "$(dpkg-query -W -f '${Version}' chrony)")"
}

# check_versions, and the node is laid out like that release's Proxmox VE:
# the files of each sysctl directory, /etc/sysctl.conf there or not.
# Expectations of the release, never skips.
check_release() { # PREFIX RELEASE
	check_versions "$@"
	check "$1.usr-lib-sysctl.d" "$usr_lib_sysctl_d" "$(names_in /usr/lib/sysctl.d)"
	check "$1.etc-sysctl.d" "$etc_sysctl_d" "$(names_in /etc/sysctl.d)"
	check "$1.etc-sysctl.conf" "$etc_sysctl_conf" "$([ -e /etc/sysctl.conf ] && echo present || echo absent)"
}
