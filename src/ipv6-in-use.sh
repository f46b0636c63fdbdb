#!/bin/sh
# ipv6-in-use.sh: does IPv6 carry real traffic on this node? The lockout
# guard of the pve-tcp-hardening profiles that turn IPv6 off: their preinst
# embeds this script (it runs before anything is unpacked), and
# `pve-tcp-hardening plan` runs the copy shipped in
# /usr/share/pve-tcp-hardening/. One implementation for both.
#
# Usage: ipv6-in-use.sh [ROOT [PROC]]   (ROOT: host tree, default /;
#                                       PROC: its /proc, default /proc)
# Prints one line per finding, on stdout:
#   STOP: <what, where>   IPv6 carries real traffic: an IPv6-off profile
#                         would cut the node off, now or at the next boot
#   WARN: <what, where>   IPv6 that configured itself (SLAAC, router
#                         advertisements, DHCPv6): listed, does not stop
# Exit status: 0 nothing stops the install, 1 something does.
#
# POSIX sh plus grep, sed, od and awk (mawk): all Priority required in Debian.
set -u

ROOT=${1:-}
ROOT=${ROOT%/}
PROC=${2:-/proc}

# awk helpers: hex to number, 32 hex digits (network order) to RFC 5952 text.
AWK_LIB='
function hexval(h,   i, v) {
	v = 0
	h = tolower(h)
	for (i = 1; i <= length(h); i++)
		v = v * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1
	return v
}
function bit(v, b) { return int(v / b) % 2 }
function ip6(h,   i, g, best, bestlen, run, start, out) {
	for (i = 0; i < 8; i++) g[i] = sprintf("%x", hexval(substr(h, i * 4 + 1, 4)))
	best = -1; bestlen = 1; run = 0
	for (i = 0; i < 8; i++) {
		if (g[i] == "0") {
			if (run == 0) start = i
			run++
			if (run > bestlen) { bestlen = run; best = start }
		} else run = 0
	}
	out = ""
	for (i = 0; i < 8; i++) {
		if (i == best) { out = out "::"; i += bestlen - 1; continue }
		if (out != "" && substr(out, length(out)) != ":") out = out ":"
		out = out g[i]
	}
	return out
}
# /proc/net/tcp6 prints four 32-bit words in host byte order.
function host_words(h,   i, w, out) {
	if (!little) return h
	out = ""
	for (i = 0; i < 4; i++) {
		w = substr(h, i * 8 + 1, 8)
		out = out substr(w, 7, 2) substr(w, 5, 2) substr(w, 3, 2) substr(w, 1, 2)
	}
	return out
}
function v6_value(v) { return v ~ /:/ && tolower(v) !~ /^\[?fe80:/ && v != "::1" }
'

# Statically configured IPv6 in ifupdown(2) files: `iface X inet6 static`,
# or an IPv6 `address`/`gateway` in any other stanza (ifupdown2 allows
# both families in one). `inet6 auto|dhcp` configures itself: a warning.
check_interfaces() {
	files=""
	for f in "$ROOT/etc/network/interfaces" "$ROOT"/etc/network/interfaces.d/*; do
		[ -f "$f" ] && files="$files
$f"
	done
	[ -n "$files" ] || return 0
	printf '%s\n' "$files" | sed '/^$/d' | while IFS= read -r f; do
		awk -v shown="${f#"$ROOT"}" "$AWK_LIB"'
		function flush() {
			if (iface != "" && family == "inet6" && method == "static")
				printf "STOP: %s:%d: iface %s inet6 static%s (a static IPv6 address)\n", shown, line, iface, addrs
			iface = ""; addrs = ""
		}
		{ sub(/#.*/, "") }
		$1 == "iface" { flush(); iface = $2; family = $3; method = $4; line = FNR
			if (family == "inet6" && (method == "auto" || method == "dhcp"))
				printf "WARN: %s:%d: iface %s inet6 %s (configures itself; not a static address)\n", shown, FNR, iface, method
			next }
		$1 == "auto" || $1 ~ /^allow-/ || $1 == "source" || $1 == "source-directory" || $1 == "mapping" { flush(); next }
		($1 == "address" || $1 == "gateway") && iface != "" && v6_value($2) {
			if (family == "inet6") addrs = addrs ", " $1 " " $2
			else printf "STOP: %s:%d: %s %s in iface %s (a static IPv6 %s)\n", shown, FNR, $1, $2, iface, $1
		}
		END { flush() }
		' "$f"
	done
}

# Addresses the kernel holds: global scope (which includes unique-local
# fc00::/7). IFA_F_PERMANENT (0x80) marks one configured by hand or by
# ifupdown; without it the kernel made it (SLAAC) and it only warns.
check_addresses() {
	[ -r "$PROC/net/if_inet6" ] || return 0
	awk "$AWK_LIB"'
	$4 == "00" {
		a = ip6($1) "/" hexval($3)
		if (bit(hexval($5), 128))
			printf "STOP: address %s on %s (permanent: configured statically)\n", a, $6
		else
			printf "WARN: address %s on %s (not permanent: SLAAC or DHCPv6)\n", a, $6
	}' "$PROC/net/if_inet6"
}

# A default route. One learned from router advertisements (RTF_DEFAULT
# 0x10000 or RTF_ADDRCONF 0x40000) came by itself: a warning. The kernel's
# own unreachable default on lo (RTF_REJECT 0x200) is no route.
check_default_route() {
	[ -r "$PROC/net/ipv6_route" ] || return 0
	awk "$AWK_LIB"'
	$1 == "00000000000000000000000000000000" && $2 == "00" && $10 != "lo" {
		f = hexval($9)
		if (bit(f, 512) || !bit(f, 1)) next
		via = ($5 == "00000000000000000000000000000000") ? "" : " via " ip6($5)
		if (bit(f, 65536) || bit(f, 262144))
			printf "WARN: IPv6 default route%s dev %s (from router advertisements)\n", via, $10
		else
			printf "STOP: IPv6 default route%s dev %s (static)\n", via, $10
	}' "$PROC/net/ipv6_route"
}

check_forwarding() {
	f="$PROC/sys/net/ipv6/conf/all/forwarding"
	[ -r "$f" ] || return 0
	[ "$(cat "$f")" = 1 ] || return 0
	echo "STOP: net.ipv6.conf.all.forwarding = 1 (this node routes IPv6, e.g. for its guests)"
}

# corosync links (ringN_addr, bindnetaddr, ip_version: ipv6) and Ceph
# networks given as IPv6 literals. Names are not resolved (no DNS in a
# preinst).
check_cluster_config() {
	for f in "$ROOT/etc/pve/corosync.conf" "$ROOT/etc/corosync/corosync.conf"; do
		[ -r "$f" ] || continue
		awk -v shown="${f#"$ROOT"}" "$AWK_LIB"'
		{ sub(/#.*/, "") }
		$1 ~ /^(ring[0-9]+_addr|bindnetaddr|mcastaddr):$/ && v6_value($2) {
			k = $1; sub(/:$/, "", k)
			printf "STOP: %s:%d: %s %s (a corosync link over IPv6)\n", shown, FNR, k, $2 }
		$1 == "ip_version:" && $2 == "ipv6" {
			printf "STOP: %s:%d: ip_version ipv6 (corosync links over IPv6 only)\n", shown, FNR }
		' "$f"
	done
	f="$ROOT/etc/pve/ceph.conf"
	[ -r "$f" ] || return 0
	awk -v shown="${f#"$ROOT"}" '
	{ line = $0; sub(/[#;].*/, "", line) }
	line ~ /=/ {
		k = line; sub(/=.*/, "", k); gsub(/^[ \t]+|[ \t]+$/, "", k); gsub(/[ _]+/, "_", k)
		v = line; sub(/^[^=]*=/, "", v); gsub(/^[ \t]+|[ \t]+$/, "", v)
		if ((k == "public_network" || k == "cluster_network" || k == "public_addr" || k == "cluster_addr") && v ~ /:/)
			printf "STOP: %s:%d: %s = %s (a Ceph network over IPv6)\n", shown, FNR, k, v
		if (k == "ms_bind_ipv6" && v == "true")
			printf "STOP: %s:%d: ms_bind_ipv6 = true (Ceph binds to IPv6)\n", shown, FNR
	}' "$f"
}

# Established TCP connections over IPv6 to sshd (22) or the web UI (8006):
# an admin's session. IPv4 clients of a dual-stack socket show as
# ::ffff:a.b.c.d and are not IPv6 traffic.
check_sessions() {
	[ -r "$PROC/net/tcp6" ] || return 0
	little=0
	[ "$(printf '\001\000' | od -An -tu2 | tr -d ' ')" = 1 ] && little=1
	awk -v little="$little" "$AWK_LIB"'
	NR > 1 && $4 == "01" {
		split($2, l, ":"); split($3, r, ":")
		port = hexval(l[2])
		if (port != 22 && port != 8006) next
		rh = host_words(r[1])
		if (tolower(substr(rh, 1, 24)) == "00000000000000000000ffff") next
		printf "STOP: established IPv6 connection to port %d (%s) from [%s]:%d to [%s]:%d\n", port, port == 22 ? "sshd" : "web UI", ip6(rh), hexval(r[2]), ip6(host_words(l[1])), port
	}' "$PROC/net/tcp6"
}

findings=$(
	check_interfaces
	check_addresses
	check_default_route
	check_forwarding
	check_cluster_config
	check_sessions
)
[ -z "$findings" ] || printf '%s\n' "$findings"
case "$findings" in
*"STOP: "*) exit 1 ;;
esac
exit 0
