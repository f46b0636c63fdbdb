#!/bin/bash
# Prove the e2e suite left this machine's network sysctls alone.
#
#   host-net-guard.sh record FILE    save every readable /proc/sys/net value
#   host-net-guard.sh compare FILE   exit 1 if any saved value changed
#
# Unreadable entries are skipped by `grep -s`: write-only ones
# (ipv4/route/flush, ipv6/route/flush) and ipv6/conf/*/stable_secret (EIO
# until set). Excluded because they move on their own:
#   netfilter/nf_conntrack_count  number of live conntrack entries (traffic)
# Keys that appear or vanish (an interface created or removed by some other
# workload) are listed but do not fail: the suite never creates or removes a
# host interface, and only the values of keys present in both are ours to keep.
set -euo pipefail

exclude='^\./netfilter/nf_conntrack_count:'

snapshot() {
	(cd /proc/sys/net && grep -r -s '' . || true) | grep -v -E "$exclude" | LC_ALL=C sort
}

mode=${1:?usage: host-net-guard.sh record|compare FILE}
file=${2:?usage: host-net-guard.sh record|compare FILE}
case $mode in
record)
	snapshot >"$file"
	echo "host-net-guard: recorded $(wc -l <"$file") values of /proc/sys/net in $file"
	;;
compare)
	now=$(mktemp)
	trap 'rm -f "$now"' EXIT
	snapshot >"$now"
	# path:value lines; a path never holds ':'.
	LC_ALL=C awk -F: '
		NR == FNR { k = $1; sub(/^[^:]*:/, ""); before[k] = $0; next }
		{ k = $1; sub(/^[^:]*:/, ""); after[k] = $0 }
		END {
			bad = 0
			for (k in before) {
				if (!(k in after)) { print "note: gone since record: " k; continue }
				if (before[k] != after[k]) {
					print "CHANGED " k ": " before[k] " -> " after[k]; bad = 1
				}
			}
			for (k in after) if (!(k in before)) print "note: new since record: " k
			exit bad
		}' "$file" "$now" || {
		echo "host-net-guard: host /proc/sys/net changed since $file was recorded" >&2
		exit 1
	}
	echo "host-net-guard: host /proc/sys/net unchanged ($(wc -l <"$file") values)"
	;;
*)
	echo "host-net-guard: unknown mode $mode" >&2
	exit 2
	;;
esac
