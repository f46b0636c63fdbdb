"""One look at a node before a possible reboot, as JSON on stdout.

    python3 reboot_probe.py [finish]

Reports the packages /run/reboot-required.pkgs lists, whether Proxmox VE's
ha-manager and pvecm exist, and the node's name. With `finish`, it first
runs `pve-tcp-hardening finish` (which restarts the services still bound
to an IPv6 address and withdraws our reboot request when nothing is left)
and reports its exit status and output as well. One task instead of five:
each task is a round trip to the node.
"""

import json
import os
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
report["node"] = os.uname().nodename
json.dump(report, sys.stdout)
print()
