"""One look at a node before a possible reboot, as JSON on stdout.

    python3 reboot_probe.py [finish]

Reports the packages /run/reboot-required.pkgs lists, whether Proxmox VE's
ha-manager and pvecm exist, the node's name, whether the node is part of
a hyper-converged Ceph cluster (as pveceph sees it, PVE::Ceph::Tools:
/etc/pve/ceph.conf is a file and the ceph CLI is there), the guests on
this node that HA does not manage (their configurations under
/etc/pve/nodes/NODE, less the resources of /etc/pve/ha/resources.cfg) and
the node they would migrate to: the next online member of the cluster
after this one, by name (/etc/pve/.members). With `finish`, it first
runs `pve-tcp-hardening finish` (which restarts the services still bound
to an IPv6 address and withdraws our reboot request when nothing is left)
and reports its exit status and output as well. One task instead of five:
each task is a round trip to the node.
"""

import json
import os
import re
import shutil
import subprocess
import sys

report = {"finish_rc": None, "finish_output": ""}
if sys.argv[1:] == ["finish"]:
    try:
        run = subprocess.run(
            ["/usr/sbin/pve-tcp-hardening", "finish"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        report["finish_rc"] = run.returncode
        report["finish_output"] = run.stdout
    except FileNotFoundError:
        report["finish_rc"] = 127
        report["finish_output"] = "/usr/sbin/pve-tcp-hardening is not installed"
try:
    with open("/run/reboot-required.pkgs", encoding="utf-8") as pkgs:
        report["reboot_required_pkgs"] = pkgs.read().split()
except FileNotFoundError:
    report["reboot_required_pkgs"] = []
report["has_ha_manager"] = shutil.which("ha-manager") is not None
report["has_pvecm"] = shutil.which("pvecm") is not None
node = os.uname().nodename
report["node"] = node
report["has_ceph"] = os.path.isfile("/etc/pve/ceph.conf") and shutil.which("ceph") is not None


def guests_on(name):
    """IDs of the guests whose configuration is in NAME's directory."""
    ids = []
    for kind in ("qemu-server", "lxc"):
        try:
            entries = os.listdir(f"/etc/pve/nodes/{name}/{kind}")
        except FileNotFoundError:
            continue
        ids += [int(e[: -len(".conf")]) for e in entries if re.fullmatch(r"[0-9]+\.conf", e)]
    return sorted(ids)


ha_managed = set()
try:
    with open("/etc/pve/ha/resources.cfg", encoding="utf-8") as resources:
        for line in resources:
            match = re.match(r"(?:vm|ct):\s*([0-9]+)\s*$", line)
            if match:
                ha_managed.add(int(match.group(1)))
except FileNotFoundError:
    pass
report["guests"] = [i for i in guests_on(node) if i not in ha_managed]
try:
    with open("/etc/pve/.members", encoding="utf-8") as members:
        nodelist = json.load(members).get("nodelist", {})
except (FileNotFoundError, ValueError):
    nodelist = {}
others = sorted(n for n, m in nodelist.items() if n != node and m.get("online"))
later = [n for n in others if n > node]
report["migrate_target"] = (later or others or [None])[0]
json.dump(report, sys.stdout)
print()
