"""A fake /proc of a busy node for timing `pve-tcp-hardening status --proc`.

    python3 fake_proc.py DIR PROCESSES SOCKETS

Writes DIR/net/tcp6 with SOCKETS IPv6 sockets listening on [::1] (inodes
100000 and up; bound to an address, so each one is a problem that names its
owner, the costly case: `[::]` wildcards are only information) and an empty DIR/net/udp6, and DIR/PID/{comm,fd/} for PROCESSES
processes. Each process holds an equal share of the sockets as
`socket:[INODE]` links, dealt out round-robin so owners are spread over the
whole tree, plus three links that are not sockets (stdin, stdout, a log
file), as a real fd table has.
"""

import os
import sys

directory, processes, sockets = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(os.path.join(directory, "net"))

header = (
    "  sl  local_address                         remote_address"
    "                        st tx_queue rx_queue tr tm->when retrnsmt"
    "   uid  timeout inode\n"
)
lines = [header]
for i in range(sockets):
    port = 1024 + i % 60000
    lines.append(
        # ::1 as /proc/net/tcp6 writes it: four 32-bit words, each in host
        # (little-endian) byte order.
        f"{i:5d}: 00000000000000000000000001000000:{port:04X} "
        "00000000000000000000000000000000:0000 0A 00000000:00000000 "
        f"00:00000000 00000000     0        0 {100000 + i} 1 0000000000000000 100 0 0 10 0\n"
    )
with open(os.path.join(directory, "net", "tcp6"), "w") as f:
    f.writelines(lines)
with open(os.path.join(directory, "net", "udp6"), "w") as f:
    f.write(header)

for p in range(processes):
    pid = 1000 + p
    fd_dir = os.path.join(directory, str(pid), "fd")
    os.makedirs(fd_dir)
    with open(os.path.join(directory, str(pid), "comm"), "w") as f:
        f.write(f"worker{p}\n")
    os.symlink("/dev/null", os.path.join(fd_dir, "0"))
    os.symlink("/dev/null", os.path.join(fd_dir, "1"))
    os.symlink(f"/var/log/worker{p}.log", os.path.join(fd_dir, "2"))
    for n, inode in enumerate(range(100000 + p, 100000 + sockets, processes)):
        os.symlink(f"socket:[{inode}]", os.path.join(fd_dir, str(3 + n)))
