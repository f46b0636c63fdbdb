"""The live values of sysctl keys, as JSON on stdout.

    python3 read_sysctl.py KEY...

Prints {"KEY": "VALUE" or null} with runs of blanks in a value folded into
one space (as `sysctl -n` output compares), null when the key cannot be
read. Keys are named as sysctl(8) reads them: the first separator decides;
a `/` first means a path below /proc/sys as is (the package's snapshot
writes net/ipv4/conf/vmbr0.100/rp_filter), a `.` first means dots separate
the levels and a slash stands for a dot inside a name
(net.ipv4.conf.vmbr0/100.rp_filter). One task instead of one per key: each
task is a round trip to the node.
"""

import json
import sys

SWAP = str.maketrans("./", "/.")
values = {}
for key in sys.argv[1:]:
    first = next((c for c in key if c in "./"), "/")
    path = key if first == "/" else key.translate(SWAP)
    try:
        with open("/proc/sys/" + path, encoding="utf-8") as f:
            values[key] = " ".join(f.read().split())
    except OSError:
        values[key] = None
json.dump(values, sys.stdout)
print()
