#!/bin/bash
# `make bench`: time the helper against procps, systemd-sysctl and the floor
# (floor.c: open/write/close per key and nothing else, built here with the
# system's cc) and write BENCHMARKS.md at the repository root.
#
#   tests/bench/run.sh            (root: every run is in `unshare -n`)
#
# Environment: BENCH_RUNS (default 300, split into BENCH_ROUNDS rounds,
# default 5) and BENCH_WARMUP (default 20, per round) for the apply timings; BENCH_BUILD_RUNS (default 5) for `build --all`;
# BENCH_E2E_RUNS (default 3) install/purge cycles in fresh chroots;
# BENCH_COST_RUNS (default 8) interleaved dpkg -i/-P pairs, the package
# against itself stripped of its maintainer scripts (tests/bench/dpkg-cost.sh);
# BENCH_ROLLOUT=0 leaves out the Ansible rollout on three VMs (tests/cluster);
# BENCH_STATUS_RUNS (default 10) `status` runs on a fake busy /proc of
# BENCH_STATUS_PROCESSES (2000) processes and BENCH_STATUS_SOCKETS (20000)
# IPv6 sockets.
#
# Safety: every apply, sysctl and systemd-sysctl run happens in a private
# network namespace, and only with files of net.* keys (the only sysctls a
# network namespace owns), so this machine's settings are never touched.
set -euo pipefail

here=$(dirname "$(realpath "$0")")
repo=$(realpath "$here/../..")

# Every writable key under /proc/sys/net of the namespace this runs in, with
# its current value, as a sysctl file on stdout. A key is kept only if it can
# be read, writing its value back succeeds, and reading again gives the same
# value: applying the file then succeeds with every tool and changes nothing.
list_writable_net_keys() {
	local path rel value again
	find /proc/sys/net -type f -perm -u+w | LC_ALL=C sort | while read -r path; do
		rel=${path#/proc/sys/}
		# A dot in a name (a VLAN interface) would need procps' `/` escape.
		case $rel in *.*) continue ;; esac
		value=$(cat "$path" 2>/dev/null) || continue
		case $value in *$'\n'*) continue ;; esac
		printf '%s\n' "$value" 2>/dev/null >"$path" || continue
		again=$(cat "$path" 2>/dev/null) || continue
		[ "$value" = "$again" ] || continue
		printf '%s = %s\n' "${rel//\//.}" "$value"
	done
}

if [ "${1:-}" = _list-writable-net-keys ]; then
	# Refuse to test-write the network sysctls of the namespace run.sh was
	# started in (its caller passes that namespace's inode).
	own=$(stat -L -c %i /proc/self/ns/net)
	if [ -z "${BENCH_OUTER_NETNS:-}" ] || [ -z "$own" ] || [ "$own" = "$BENCH_OUTER_NETNS" ]; then
		echo "run.sh: not in a private network namespace; refusing" >&2
		exit 97
	fi
	list_writable_net_keys
	exit 0
fi

cd "$repo"
if [ "$(id -u)" != 0 ]; then
	echo "make bench: needs root (unshare -n, strace inside it)" >&2
	exit 1
fi

need=()
for spec in hyperfine:hyperfine strace:strace /usr/bin/time:time \
	/usr/lib/systemd/systemd-sysctl:systemd /usr/sbin/sysctl:procps \
	unshare:util-linux python3:python3 cc:gcc dpkg-deb:dpkg; do
	command -v "${spec%%:*}" >/dev/null || need+=("${spec#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "bench: installing ${need[*]}" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" </dev/null
fi

runs=${BENCH_RUNS:-300}
rounds=${BENCH_ROUNDS:-5}
warmup=${BENCH_WARMUP:-20}
build_runs=${BENCH_BUILD_RUNS:-5}
e2e_runs=${BENCH_E2E_RUNS:-3}
cost_runs=${BENCH_COST_RUNS:-8}
status_runs=${BENCH_STATUS_RUNS:-10}
status_processes=${BENCH_STATUS_PROCESSES:-2000}
status_sockets=${BENCH_STATUS_SOCKETS:-20000}

cargo build --release --locked
helper=$repo/target/release/pve-tcp-hardening
build_tool=$repo/target/release/pve-tcp-hardening-build
procps=/usr/sbin/sysctl
sd_sysctl=/usr/lib/systemd/systemd-sysctl

work=$(mktemp -d /tmp/pve-tcp-hardening-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
results=$work/results
mkdir -p "$results"
floor=$work/floor
cc -O2 -o "$floor" "$here/floor.c"

{
	echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
	echo "cores=$(nproc)"
	echo "kernel=$(uname -r)"
	echo "debian=$(cat /etc/debian_version)"
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with local changes)')"
	echo "load=$(cut -d ' ' -f 1-3 /proc/loadavg)"
	echo "procps=$(dpkg-query -W -f '${Version}' procps)"
	echo "systemd=$(dpkg-query -W -f '${Version}' systemd)"
	echo "hyperfine=$(hyperfine --version | cut -d ' ' -f 2)"
	echo "cc=$(cc --version | head -n 1)"
} >"$results/machine.txt"

"$build_tool" render default >"$work/default.conf"
BENCH_OUTER_NETNS=$(stat -L -c %i /proc/self/ns/net) unshare -n "$0" _list-writable-net-keys >"$work/all-net.conf"
keys_default=$(grep -c '^net\.' "$work/default.conf")
keys_all=$(grep -c '^net\.' "$work/all-net.conf")
echo "bench: $keys_default keys in the default profile, $keys_all writable keys in a fresh namespace" >&2
echo "$keys_default $keys_all" >"$results/keys"

# The command line timed for TOOL on FILE, into the array `cmd`.
set_cmd() {
	case $1 in
	helper) cmd=("$helper" apply -q "$2") ;;
	procps) cmd=("$procps" -q -p "$2") ;;
	systemd) cmd=("$sd_sysctl" "$2") ;;
	floor) cmd=("$floor" "$2") ;;
	esac
}

# Each tool must apply each file cleanly in a fresh namespace, or the
# timings compare different work.
for file in default all-net; do
	for tool in helper procps systemd floor; do
		set_cmd "$tool" "$work/$file.conf"
		if ! unshare -n "${cmd[@]}" >"$work/check.out" 2>&1 || [ -s "$work/check.out" ]; then
			echo "bench: '${cmd[*]}' did not apply cleanly in a fresh namespace:" >&2
			cat "$work/check.out" >&2
			exit 1
		fi
	done
done

# 1. Wall time: one namespace for all of hyperfine's runs. The runs are split
# into rounds that take turns, so a change in the machine's load during the
# benchmark hits every tool alike; report.py pools the rounds.
for file in default all-net; do
	args=()
	for tool in procps helper systemd floor; do
		set_cmd "$tool" "$work/$file.conf"
		args+=(-n "$tool" "${cmd[*]}")
	done
	for round in $(seq "$rounds"); do
		unshare -n hyperfine -N --style basic --warmup "$warmup" \
			--runs $(((runs + rounds - 1) / rounds)) \
			--export-json "$results/apply-$file.$round.json" "${args[@]}"
	done
done

echo "load_apply_after=$(cut -d ' ' -f 1-3 /proc/loadavg)" >>"$results/machine.txt"

# 2. Syscalls (startup included) and peak memory.
for file in default all-net; do
	for tool in helper procps systemd floor; do
		set_cmd "$tool" "$work/$file.conf"
		# Three counts, the lowest kept (report.py): while another namespace
		# holds the RTNL lock, the kernel restarts some writes
		# (ERESTARTNOINTR) and strace counts every attempt.
		for i in 1 2 3; do
			unshare -n strace -c -f -o "$results/strace-$tool-$file.$i.txt" "${cmd[@]}"
		done
		unshare -n /usr/bin/time -v -o "$results/time-$tool-$file.txt" "${cmd[@]}"
	done
done

# 3. Packaging after compilation (the helper is already built).
"$build_tool" list | tail -n +2 >"$results/profiles.txt"
hyperfine --style basic --warmup 1 --runs "$build_runs" \
	--prepare "rm -rf $work/out $work/pkg" \
	--export-json "$results/build.json" -n "build --all" \
	"$build_tool build --all --out $work/out --work-dir $work/pkg"
# The versioned files; `<package>.deb` are copies of them.
# shellcheck disable=SC2012 # plain file names, no newlines
ls -l "$work"/out/*_*.deb | awk '{ n = split($NF, p, "/"); print $5, p[n] }' >"$results/debs.txt"

# 3b. `status` on a busy node: the default package unpacked as the root, a
# fake /proc with many processes and IPv6 listening sockets. It only reads.
mkdir "$work/status-root"
dpkg-deb -x "$(ls "$work"/out/pve-tcp-hardening_*.deb)" "$work/status-root"
python3 "$here/fake_proc.py" "$work/status-proc" "$status_processes" "$status_sockets"
status_cmd="$helper status --root $work/status-root --proc $work/status-proc"
# Every socket must be reported with its owner, or the timing is of less work.
owned=$($status_cmd | grep -c '^problem: listening on IPv6: tcp6 .*(worker[0-9]*, pid [0-9]*)$' || true)
if [ "$owned" != "$status_sockets" ]; then
	echo "bench: status reported $owned of $status_sockets sockets with their owner" >&2
	exit 1
fi
echo "$status_processes $status_sockets" >"$results/status-size"
hyperfine -N --style basic --warmup 1 --runs "$status_runs" -i \
	--export-json "$results/status.json" -n status "$status_cmd"

# 4. install + purge in a fresh chroot copy (the e2e suite's sandbox).
"$here/install-purge.sh" "$work" "$work/out" "$e2e_runs" >"$results/e2e.txt" ||
	echo "not measured: install-purge.sh failed (exit $?)" >"$results/e2e.txt"

# 4b. What the maintainer scripts add to dpkg's own work: `dpkg -i`/`-P` of
# the default package against the same package stripped of its scripts,
# triggers and templates, interleaved (issue 26 asks for at most 3x).
"$here/dpkg-cost.sh" "$work" "$work/out" "$cost_runs" >"$results/dpkg-cost.txt" ||
	echo "not measured: dpkg-cost.sh failed (exit $?)" >"$results/dpkg-cost.txt"

# 5. The Ansible rollout on the three qemu nodes of tests/cluster: its cost
# per node beyond the reboot itself (tests/bench/rollout.sh). A few minutes
# under TCG; BENCH_ROLLOUT=0 leaves it out.
if [ "${BENCH_ROLLOUT:-1}" = 1 ]; then
	echo "bench: the Ansible rollout on three VMs (log: $work/rollout.log)" >&2
	PTH_CLUSTER_SCENARIOS=$here/rollout.sh PTH_BENCH_ROLLOUT_OUT=$results/rollout.txt \
		"$repo/tests/cluster/run.sh" "$work/out" >"$work/rollout.log" 2>&1 ||
		{ tail -n 20 "$work/rollout.log" >&2; grep -q '^failed' "$results/rollout.txt" 2>/dev/null ||
			echo "failed tests/cluster/run.sh exit status $?" >>"$results/rollout.txt"; }
else
	echo "failed not measured (BENCH_ROLLOUT=0)" >"$results/rollout.txt"
fi

echo "load_after=$(cut -d ' ' -f 1-3 /proc/loadavg)" >>"$results/machine.txt"
python3 "$here/report.py" "$results" >"$work/BENCHMARKS.md"
mv "$work/BENCHMARKS.md" "$repo/BENCHMARKS.md"
echo "bench: wrote $repo/BENCHMARKS.md" >&2
