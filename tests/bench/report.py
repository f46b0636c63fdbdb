"""Turn the raw results of tests/bench/run.sh into BENCHMARKS.md (stdout).

    python3 report.py RESULTS_DIR

Inputs are the files run.sh writes: hyperfine JSON exports, `strace -c`
summaries, `/usr/bin/time -v` reports, the .deb listing and the install/purge
timings. Every figure in the output is computed here from them; nothing is
typed in by hand.
"""

import json
import re
import statistics
import sys
from pathlib import Path

RESULTS = Path(sys.argv[1])
TOOLS = [
    ("helper", "`pve-tcp-hardening apply -q FILE`"),
    ("procps", "procps `sysctl -q -p FILE`"),
    ("systemd", "`/usr/lib/systemd/systemd-sysctl FILE`"),
    ("floor", "floor: open/write/close per key (`tests/bench/floor.c`)"),
]
FILES = [("default", "default profile"), ("all-net", "every writable net key")]
DEB_LIMIT = 600 * 1024
FLOOR_LIMIT = 1.15
STATUS_LIMIT_S = 0.2


def machine():
    info = {}
    for line in (RESULTS / "machine.txt").read_text().splitlines():
        key, _, value = line.partition("=")
        info[key] = value
    return info


def hyperfine(pattern):
    """Results by command name, the runs of every matching export pooled."""
    times, cpu = {}, {}
    for path in sorted(RESULTS.glob(pattern)):
        for r in json.loads(path.read_text())["results"]:
            times.setdefault(r["command"], []).extend(r["times"])
            # hyperfine gives the mean user and system time of each export.
            cpu.setdefault(r["command"], []).append(r["user"] + r["system"])
    return {
        name: {
            "times": t,
            "cpu": statistics.mean(cpu[name]),
            "median": statistics.median(t),
            "mean": statistics.mean(t),
            "stddev": statistics.stdev(t) if len(t) > 1 else 0.0,
            "min": min(t),
            "max": max(t),
        }
        for name, t in times.items()
    }


def strace_calls(tool, file):
    """The lowest of the counts run.sh took (restarted writes inflate some)."""
    counts = []
    for path in RESULTS.glob(f"strace-{tool}-{file}.*.txt"):
        total = [line for line in path.read_text().splitlines() if line.rstrip().endswith("total")]
        counts.append(int(total[-1].split()[3]))
    return min(counts)


def max_rss_kib(tool, file):
    text = (RESULTS / f"time-{tool}-{file}.txt").read_text()
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))


def ms(seconds):
    return f"{seconds * 1000:.2f}"


def verdict(ok):
    return "**met**" if ok else "**not met**"


def main():
    info = machine()
    keys = dict(zip(["default", "all-net"], map(int, (RESULTS / "keys").read_text().split())))
    apply = {file: hyperfine(f"apply-{file}.*.json") for file, _ in FILES}
    calls = {(t, f): strace_calls(t, f) for t, _ in TOOLS for f, _ in FILES}
    rss = {(t, f): max_rss_kib(t, f) for t, _ in TOOLS for f, _ in FILES}
    build = hyperfine("build.json")["build --all"]
    debs = [line.split(maxsplit=1) for line in (RESULTS / "debs.txt").read_text().splitlines()]
    profiles = len((RESULTS / "profiles.txt").read_text().splitlines())
    e2e = (RESULTS / "e2e.txt").read_text().strip()
    status = hyperfine("status.json")["status"]
    processes, sockets = map(int, (RESULTS / "status-size").read_text().split())

    out = []
    w = out.append
    w("# Benchmarks")
    w("")
    w("Written by `make bench` (tests/bench/run.sh); run it again to refresh. Not part")
    w("of `make test`: the figures depend on the machine and on what else runs on it.")
    w("They were measured on the machine below; only the ratios (to procps, to the")
    w("floor) carry over to other machines, the milliseconds do not.")
    w("")
    w("| | |")
    w("|---|---|")
    w(f"| Date | {info['date']} |")
    w(f"| Commit | {info['commit']} |")
    w(f"| CPU | {info['cpu']} |")
    w(f"| Cores | {info['cores']} |")
    w(f"| Kernel | {info['kernel']} |")
    w(f"| Debian | {info['debian']} |")
    w(f"| procps / systemd / hyperfine | {info['procps']} / {info['systemd']} / {info['hyperfine']} |")
    w(f"| cc (builds the floor) | {info['cc']} |")
    w(f"| Load average (1/5/15 min) before / after the apply timings / at the end | {info['load']} / {info['load_apply_after']} / {info['load_after']} |")
    w("")

    ratios = {}
    w("## 1. Applying a file")
    w("")
    w("Median wall time of hyperfine runs (`-N`, no shell), all inside one")
    w("`unshare -n`, in rounds that take turns (pooled here); the ratios are the")
    w("median divided by procps' median and by the floor's. The floor is the least")
    w("any tool can do: a C program that reads the file and per key only opens")
    w("`/proc/sys/KEY`, writes the value and closes it (no messages, no checks).")
    w("")
    w("*CPU* is hyperfine's user plus system time (mean), which other load on the")
    w("machine lifts less than the wall time; its ratio is to the floor's CPU time.")
    w("")
    w("| File | Keys | Tool | Median ms | Mean ± σ ms | Min ms | Runs | Ratio to procps | Ratio to floor | CPU ms | CPU ratio to floor |")
    w("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    floor_ratios, cpu_ratios = {}, {}
    for file, label in FILES:
        results = apply[file]
        base = results["procps"]["median"]
        floor = results["floor"]["median"]
        floor_cpu = results["floor"]["cpu"]
        for tool, tool_label in TOOLS:
            r = results[tool]
            ratio = r["median"] / base
            ratios[(tool, file)] = ratio
            floor_ratios[(tool, file)] = r["median"] / floor
            cpu_ratios[(tool, file)] = r["cpu"] / floor_cpu
            w(
                f"| {label} | {keys[file]} | {tool_label} | {ms(r['median'])} | "
                f"{ms(r['mean'])} ± {ms(r['stddev'])} | {ms(r['min'])} | "
                f"{len(r['times'])} | {ratio:.2f}x | {floor_ratios[(tool, file)]:.2f}x | "
                f"{ms(r['cpu'])} | {cpu_ratios[(tool, file)]:.2f}x |"
            )
    w("")
    w("The namespace keeps its values between runs, so after the first run every")
    w("file writes the values already set: procps and the helper write anyway,")
    w("systemd-sysctl reads each key and skips equal values (systemd 252 behaviour).")
    w("")

    w("## 2. Syscalls per key and memory")
    w("")
    w("`strace -c -f` inside `unshare -n` (the lowest of three runs): every syscall")
    w("of the process, start-up included, divided by the keys of the file. *Per extra key* is the")
    w("difference between the two files divided by the difference in keys, i.e.")
    w("the cost of one more key without the start-up. Peak memory is")
    w("`/usr/bin/time -v`'s maximum resident set size.")
    w("")
    w("| Tool | Syscalls, default | Per key | Syscalls, all net | Per key | Per extra key | Max RSS default KiB | Max RSS all net KiB |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|")
    per_key = {}
    for tool, tool_label in TOOLS:
        d, a = calls[(tool, "default")], calls[(tool, "all-net")]
        extra = (a - d) / (keys["all-net"] - keys["default"])
        per_key[tool] = a / keys["all-net"]
        w(
            f"| {tool_label} | {d} | {d / keys['default']:.1f} | {a} | "
            f"{per_key[tool]:.2f} | {extra:.2f} | {rss[(tool, 'default')]} | "
            f"{rss[(tool, 'all-net')]} |"
        )
    w("")

    w("## 3. Packaging")
    w("")
    w(f"`pve-tcp-hardening-build build --all` ({profiles} profiles) with the helper")
    w("already compiled, into a temporary `--out`/`--work-dir`, hyperfine with one")
    w("warm-up run:")
    w("")
    w("| Runs | Median s | Mean ± σ s | Min s | Max s |")
    w("|---:|---:|---:|---:|---:|")
    w(
        f"| {len(build['times'])} | {build['median']:.2f} | {build['mean']:.2f} ± "
        f"{build['stddev']:.2f} | {build['min']:.2f} | {build['max']:.2f} |"
    )
    w("")
    w("| Package | Bytes | KiB |")
    w("|---|---:|---:|")
    for size, name in debs:
        w(f"| {name} | {size} | {int(size) / 1024:.1f} |")
    w("")

    w("## 4. `status` on a busy node")
    w("")
    w("`pve-tcp-hardening status` with the default package unpacked as `--root`")
    w(f"and a fake `--proc` (tests/bench/fake_proc.py) of {processes} processes")
    w(f"holding {sockets} listening IPv6 sockets (`socket:[N]` links in")
    w("`/proc/PID/fd`, three other links each); every socket is reported with its")
    w("process. hyperfine, one warm-up run; *CPU* is user plus system time, which")
    w("other load on the machine lifts less than the wall time:")
    w("")
    w("| Processes | Sockets | Runs | Median ms | Mean ± σ ms | Min ms | Max ms | CPU mean ms |")
    w("|---:|---:|---:|---:|---:|---:|---:|---:|")
    w(
        f"| {processes} | {sockets} | {len(status['times'])} | {ms(status['median'])} | "
        f"{ms(status['mean'])} ± {ms(status['stddev'])} | {ms(status['min'])} | {ms(status['max'])} | "
        f"{ms(status['cpu'])} |"
    )
    w("")

    w("## 5. Install and purge in the end-to-end chroot")
    w("")
    install_ok = None
    if e2e.startswith("run "):
        rows = [line.split() for line in e2e.splitlines()]
        installs = [float(r[2]) for r in rows]
        purges = [float(r[3]) for r in rows]
        w("`apt-get install -y ./pve-tcp-hardening_*.deb` then `apt-get purge -y")
        w("pve-tcp-hardening`, each run in a fresh copy of the e2e suite's cached")
        w("Debian 12 chroot (tests/e2e/sandbox.sh: `unshare -n -m`).")
        w("")
        w("| Run | Install s | Purge s |")
        w("|---:|---:|---:|")
        for r in rows:
            w(f"| {r[1]} | {r[2]} | {r[3]} |")
        w(f"| median | {statistics.median(installs):.3f} | {statistics.median(purges):.3f} |")
        install_ok = True
    else:
        w(e2e[0].upper() + e2e[1:] if e2e else "Not measured: no output.")
    w("")

    w("### What the maintainer scripts cost")
    w("")
    cost = (RESULTS / "dpkg-cost.txt").read_text().strip() if (RESULTS / "dpkg-cost.txt").exists() else ""
    if cost.startswith("run "):
        rows = [line.split() for line in cost.splitlines()]
        cols = [[float(r[i]) for r in rows] for i in range(2, 8)]
        med = [statistics.median(c) for c in cols]
        w("`dpkg -i` and `dpkg -P` of the default package; of the same package")
        w("with its maintainer scripts, triggers and templates removed (dpkg's own")
        w("cost for those files); and of the floor: the stripped package with only")
        w("the Debian mechanisms the package keeps, as debhelper writes them")
        w("(debconf's frontend for the reboot note, `db_purge`, deb-systemd-helper's")
        w("enable, mask, purge and unmask), interleaved in one copy of the e2e chroot")
        w("(tests/bench/dpkg-cost.sh). Issue 26 aims at 3x the stripped package at")
        w("most, or the floor where a kept Debian mechanism sets it higher.")
        w("")
        w("| | Package s | Stripped s | Floor s | Package / stripped | Floor / stripped | Package / floor |")
        w("|---|---:|---:|---:|---:|---:|---:|")
        for name, p, st, fl in (("dpkg -i", med[0], med[2], med[4]), ("dpkg -P", med[1], med[3], med[5])):
            w(f"| {name} (median of {len(rows)}) | {p:.3f} | {st:.3f} | {fl:.3f} | {p / st:.1f}x | {fl / st:.1f}x | {p / fl:.2f}x |")
    else:
        w(cost[0].upper() + cost[1:] if cost else "Not measured: no output.")
    w("")

    w("## 6. Rolling out with Ansible, per node")
    w("")
    rollout_lines = [line.split() for line in (RESULTS / "rollout.txt").read_text().splitlines() if line.strip()]
    failed = [" ".join(line[1:]) for line in rollout_lines if line[0] == "failed"]
    if failed:
        w("Not measured: " + "; ".join(failed) + ".")
    else:
        reboots = {line[1]: float(line[2]) for line in rollout_lines if line[0] == "reboot"}
        plays = {line[0]: float(line[1]) for line in rollout_lines if line[0] == "rollout"}
        nodes = int(next(line[1] for line in rollout_lines if line[0] == "nodes"))
        reboot_total = sum(reboots.values())
        w("`make test-cluster`'s three qemu nodes (TCG, 2 vCPUs each, on this machine's")
        w("cores), driven by deploy/ansible: first a bare `ansible.builtin.reboot` of each")
        w("node (with the role's test command: wait until the boot finished), then")
        w("`site.yml` (default profile: plan on every node, then node by node install,")
        w("HA maintenance, reboot, quorum, verification). The cost per")
        w("node beyond the reboot is (play − the bare reboots) / nodes; it includes the")
        w("one-time plan on every node and the stub ha-manager's two status polls 1 s")
        w("apart. Under emulation every process start costs about 10x a real node's, so")
        w("on hardware expect far less.")
        w("")
        w("| | Seconds |")
        w("|---|---:|")
        for node, seconds in sorted(reboots.items()):
            w(f"| bare reboot of {node} | {seconds:.1f} |")
        for name, seconds in plays.items():
            w(f"| `{name}` of {nodes} nodes | {seconds:.1f} |")
            w(f"| `{name}`: per node beyond the reboot | {(seconds - reboot_total) / nodes:.1f} |")
    w("")

    w("## Targets")
    w("")
    big, small = ratios[("helper", "all-net")], ratios[("helper", "default")]
    biggest = max(int(size) for size, _ in debs)
    w("| Target | Figure | |")
    w("|---|---|---|")
    w(f"| `apply` on every writable net key ({keys['all-net']}) <= 0.7x procps | {big:.2f}x | {verdict(big <= 0.7)} |")
    w(f"| `apply` on the default file ({keys['default']}) <= 1.0x procps | {small:.2f}x | {verdict(small <= 1.0)} |")
    for file, label in FILES:
        r = floor_ratios[("helper", file)]
        w(f"| `apply` on the {label} file ({keys[file]}) <= {FLOOR_LIMIT}x the floor | {r:.2f}x (CPU: {cpu_ratios[('helper', file)]:.2f}x) | {verdict(r <= FLOOR_LIMIT)} |")
    w(
        f"| <= 4 syscalls per applied key ({keys['all-net']}-key file; procps: "
        f"{per_key['procps']:.1f}) | {per_key['helper']:.2f} | {verdict(per_key['helper'] <= 4)} |"
    )
    w(f"| `build --all` ({profiles} profiles) < 2 s after compile | {build['median']:.2f} s | {verdict(build['median'] < 2)} |")
    w(f"| every .deb <= 600 KiB | largest {biggest / 1024:.1f} KiB | {verdict(biggest <= DEB_LIMIT)} |")
    w(
        f"| `status` with {processes} processes, {sockets} IPv6 sockets < {STATUS_LIMIT_S * 1000:.0f} ms | "
        f"{ms(status['median'])} ms | {verdict(status['median'] < STATUS_LIMIT_S)} |"
    )
    if install_ok is None:
        w("| install + purge measured | not measured | see section 5 |")
    w("")
    notes = Path(__file__).with_name("NOTES.md")
    if notes.exists():
        out.append(notes.read_text().rstrip("\n"))
        w("")
    print("\n".join(out))


main()
