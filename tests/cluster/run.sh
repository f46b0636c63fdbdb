#!/bin/bash
# The cluster rollout proof (issue 17): three qemu VMs from the reboot
# proof's recipe, driven by Debian's ansible-core over SSH with the role in
# deploy/ansible, installing from the signed apt repository that `make repo`
# builds. Scenarios are in scenarios.sh; this script sets the stage.
#
# The nodes are a cluster in the middle of its Proxmox VE 8 -> 9 upgrade
# (issue 27; Proxmox supports mixed 8/9 clusters while it lasts): pve1 and
# pve2 run Debian 13 trixie (Python 3.13), pve3 Debian 12 bookworm, so the
# role is driven against both releases in the same run. Debian 12's
# ansible-core 2.14 drives both (its modules run on trixie's Python 3.13).
# All three are hyper-converged Ceph nodes (issue 28: /etc/pve/ceph.conf
# and the stub ceph, as pveceph sees a node), with stub pvenode and pvesh
# for the guest migration.
#
#   tests/cluster/run.sh [--make-debs] DEB_DIR
#
# Network: each VM has one user-mode NIC with restrict=on (no route to
# anything but qemu itself); SSH is forwarded from 127.0.0.1 only, and the
# repository, served by python3 on this machine's loopback, is forwarded
# into the guests as http://10.0.2.100/ (a guestfwd to 127.0.0.1). No test
# traffic goes anywhere else, and this machine's /proc/sys/net is compared
# before and after (tests/e2e/host-net-guard.sh).
#
# Environment:
#   PTH_CACHE_DIR          cache root (default /var/cache/pve-tcp-hardening-tests)
#   PTH_CLUSTER_TIMEOUT    seconds for the whole run (default 3000)
#   PTH_CLUSTER=0          skip (with CI=true: fail, as any skip does; see
#                          tests/common/gate.sh)
#   PTH_CLUSTER_KEEP=1     keep the run directory (logs, disks)
#   PTH_CLUSTER_SCENARIOS  another scenario file to source (for debugging)
set -euo pipefail

here=$(dirname "$(realpath "$0")")
repo=$(realpath "$here/../..")
e2e=$repo/tests/e2e
nodes=(pve1 pve2 pve3)
declare -A release=([pve1]=trixie [pve2]=trixie [pve3]=bookworm)

# shellcheck source=tests/common/gate.sh
. "$repo/tests/common/gate.sh"
skip() {
	gate_skip test-cluster "$1"
}
die() {
	echo "test-cluster: $*" >&2
	exit 2
}

make_debs=false
if [ "${1:-}" = --make-debs ]; then
	make_debs=true
	shift
fi
deb_dir=${1:?usage: tests/cluster/run.sh [--make-debs] DEB_DIR}
[ "${PTH_CLUSTER:-1}" != 0 ] || skip "PTH_CLUSTER=0"
[ "$(id -u)" = 0 ] && ! gate_missing root || skip "not running as root (debootstrap and mkfs -d need it)"
missing=()
for spec in qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils debootstrap:debootstrap \
	mkfs.ext4:e2fsprogs ansible-playbook:ansible-core ssh:openssh-client nc:netcat-openbsd \
	python3:python3 jq:jq; do
	command -v "${spec%%:*}" >/dev/null || missing+=("${spec#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "test-cluster: installing ${missing[*]}" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" </dev/null ||
		skip "cannot install ${missing[*]}"
fi
qemu-system-x86_64 -accel help 2>/dev/null | grep -qx tcg && ! gate_missing qemu-tcg ||
	skip "qemu-system-x86_64 has no TCG accelerator"

if $make_debs; then
	make -C "$repo" --no-print-directory debs DIST="$(realpath -m "$deb_dir")"
fi
deb_dir=$(realpath "$deb_dir")
build_tool=$repo/target/release/pve-tcp-hardening-build
[ -x "$build_tool" ] || die "$build_tool missing (make release)"

cache=${PTH_CACHE_DIR:-/var/cache/pve-tcp-hardening-tests}/vm
timeout=${PTH_CLUSTER_TIMEOUT:-3000}
deadline=$((SECONDS + timeout))
mkdir -p "$cache/runs"
run=$(mktemp -d "$cache/runs/cluster.XXXXXX")
guard=$run/host-net
pids=()
# A failed run (a failed check, or a stop with die) keeps what explains it
# without its disks: the playbooks' logs and every node's consoles, under
# the VM proofs' artifacts (PTH_VM_ARTIFACTS), and prints the end of each
# node's last console (a node that stopped answering SSH says why there).
keep_evidence() {
	local kept node console
	kept=${PTH_VM_ARTIFACTS:-$cache/artifacts}/cluster-$(date +%Y%m%d-%H%M%S)
	mkdir -p "$kept"
	find "$run" -maxdepth 1 -type f \( -name '*.log' -o -name '*.console.*' -o -name inventory.ini \) \
		-exec cp -t "$kept" {} +
	for node in "${nodes[@]}"; do
		console=$(find "$run" -maxdepth 1 -name "$node.console.*" | sort | tail -n 1)
		[ -n "$console" ] || continue
		echo "--- $node: end of its last console ($(basename "$console"))"
		tail -n 25 "$console" | tr -d '\r'
	done
	echo "test-cluster: logs and consoles kept in $kept"
}
cleanup() {
	local rc=$?
	for node in "${nodes[@]}"; do : >"$run/$node.stop"; done
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	# The loops' running qemu (and its guestfwd nc) outlive the loops: end
	# everything started with this run's files.
	pkill -f -- "$run/" 2>/dev/null || true
	wait 2>/dev/null || true
	[ "$rc" = 0 ] || keep_evidence
	if [ "${PTH_CLUSTER_KEEP:-0}" = 1 ]; then
		echo "test-cluster: run kept in $run"
	else
		rm -rf "$run"
	fi
}
trap cleanup EXIT
"$e2e/host-net-guard.sh" record "$guard"
started=$SECONDS

# --- Image, repository, key ----------------------------------------------------

# One image per release (NAME cluster: bookworm, cluster-trixie: trixie).
declare -A image image_name=([bookworm]=cluster [trixie]=cluster-trixie)
for rel in bookworm trixie; do
	image[$rel]=$("$repo/tests/vm/image.sh" --release "$rel" "$cache" "${image_name[$rel]}" python3-apt dbus sudo)
done
"$build_tool" repo --debs "$deb_dir" --out "$run/repo" --key-home "$run/gnupg" >"$run/repo.log" 2>&1 ||
	die "make repo failed: $(cat "$run/repo.log")"
ssh-keygen -q -t ed25519 -N '' -C pth-cluster -f "$run/id_ed25519"

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
repo_port=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$run/repo" "$repo_port" >"$run/http.log" 2>&1 &
pids+=($!)

# --- One node tree per release, three copy-on-write disks ----------------------

make_base() {
	local rel=$1 tree=$run/root-$1
	mkdir "$tree"
	tar --numeric-owner --xattrs -C "$tree" -xf "${image[$rel]}.tar"
	# No Debian mirror is reachable from the nodes: only our repository.
	: >"$tree/etc/apt/sources.list"
	install -d -m 0700 "$tree/root/.ssh"
	install -m 0600 "$run/id_ed25519.pub" "$tree/root/.ssh/authorized_keys"
	# An admin who logs in as themself and becomes root with sudo (pve3 is
	# driven that way; the others as root, as Proxmox VE nodes allow).
	echo 'pth:x:1000:1000:pth cluster admin:/home/pth:/bin/bash' >>"$tree/etc/passwd"
	echo 'pth:x:1000:' >>"$tree/etc/group"
	echo 'pth:*:19000:0:99999:7:::' >>"$tree/etc/shadow"
	install -d -m 0700 -o 1000 -g 1000 "$tree/home/pth" "$tree/home/pth/.ssh"
	install -m 0600 -o 1000 -g 1000 "$run/id_ed25519.pub" "$tree/home/pth/.ssh/authorized_keys"
	echo 'pth ALL=(ALL:ALL) NOPASSWD: ALL' >"$tree/etc/sudoers.d/pth"
	chmod 0440 "$tree/etc/sudoers.d/pth"
	install -m 0755 "$here/stubs/ha-manager" "$tree/usr/sbin/ha-manager"
	install -m 0755 "$here/stubs/pvecm" "$tree/usr/bin/pvecm"
	# A hyper-converged node as pveceph sees one (PVE::Ceph::Tools:
	# /etc/pve/ceph.conf and the ceph binary), with guests of its own
	# (scenarios.sh adds their configurations) and the cluster's members.
	install -m 0755 "$here/stubs/ceph" "$tree/usr/bin/ceph"
	install -m 0755 "$here/stubs/pvenode" "$tree/usr/bin/pvenode"
	install -m 0755 "$here/stubs/pvesh" "$tree/usr/bin/pvesh"
	install -d "$tree/etc/pve/ha" "$tree/etc/pve/nodes"
	printf '[global]\n\tfsid = 00000000-0000-4000-8000-000000000000\n' >"$tree/etc/pve/ceph.conf"
	printf '{\n"version": 3,\n"cluster": {"name": "pth", "version": 3, "nodes": 3, "quorate": 1},\n"nodelist": {\n  "pve1": {"id": 1, "online": 1, "ip": "10.0.2.15"},\n  "pve2": {"id": 2, "online": 1, "ip": "10.0.2.15"},\n  "pve3": {"id": 3, "online": 1, "ip": "10.0.2.15"}\n  }\n}\n' \
		>"$tree/etc/pve/.members"
	# IPv4 only on the NIC: the address qemu's user network expects, no DHCP,
	# no IPv6 autoconfiguration (the lockout guard would rightly warn about it).
	# A oneshot with ip(8), ordered as ifupdown's networking.service on a PVE
	# node is (no default dependencies: it starts right after modules and
	# sysctl, not after basic.target), so sshd, which waits for network.target,
	# is up about 3 s sooner: under TCG that is the difference between
	# ansible.builtin.reboot's probe at about 16 s after the reboot and its
	# next one, 12 s later. systemd-networkd took 12 s of every boot.
	# (net.ifnames=0 on the kernel command line names the NIC eth0.)
	cat >"$tree/etc/systemd/system/pth-net.service" <<'EOC'
[Unit]
Description=IPv4 address of the test node on qemu's user network
DefaultDependencies=no
After=local-fs.target systemd-sysctl.service systemd-modules-load.service
Wants=network.target
Before=network.target shutdown.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'for _ in $(seq 100); do [ -e /sys/class/net/eth0 ] && exit 0; sleep 0.1; done; echo no eth0 >&2; exit 1'
ExecStart=/sbin/ip -batch /etc/pth-net.ip

[Install]
WantedBy=multi-user.target
EOC
	printf '%s\n' 'link set eth0 addrgenmode none' 'address add 10.0.2.15/24 dev eth0' 'link set eth0 up' \
		>"$tree/etc/pth-net.ip"
	# The NIC's driver early, not when udev's coldplug gets to it (13 s into
	# the boot under TCG).
	printf 'virtio_net\n' >"$tree/etc/modules-load.d/pth-net.conf"
	ln -sf /etc/systemd/system/pth-net.service \
		"$tree/etc/systemd/system/multi-user.target.wants/pth-net.service"
	# Boot time under TCG: e2scrub_reap scans LVM for stale snapshots (there is
	# no LVM here) and took 16 s of CPU at every boot beside the others.
	ln -sf /dev/null "$tree/etc/systemd/system/e2scrub_reap.service"
	rm -f "$tree/etc/hostname" # each node's name comes from the kernel command line
	printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$tree/etc/hosts"
	mkfs.ext4 -q -F -L pth-node -d "$tree" "$run/base-$rel.img" 3G
	rm -rf "$tree"
}
for rel in bookworm trixie; do make_base "$rel"; done
for node in "${nodes[@]}"; do
	qemu-img create -q -f qcow2 -F raw -b "$run/base-${release[$node]}.img" "$run/$node.qcow2"
done

# --- Boot: one supervisor loop per node ----------------------------------------

# -no-reboot: a guest reboot ends qemu and the loop starts it again on the
# same disk (in-process resets slow every later boot under TCG, see
# tests/vm/README.md); a poweroff with the stop file present ends the loop.
# -cpu qemu64 (Debian's x86-64 baseline), not max: with max, glibc and the
# kernel pick AVX2 code paths that TCG emulates slowly; qemu64 booted to
# SSH in 20 s instead of 22-27 s and ran dpkg and python 10-20% faster.
node_loop() {
	local node=$1 port=$2
	until [ -e "$run/$node.stop" ]; do
		qemu-system-x86_64 -accel tcg,thread=multi -cpu qemu64 -m 768 -smp 2 \
			-nodefaults -nographic -serial "file:$run/$node.console.$(date +%s%N)" -no-reboot \
			-nic "user,model=virtio-net-pci,restrict=on,ipv6=off,hostfwd=tcp:127.0.0.1:$port-:22,guestfwd=tcp:10.0.2.100:80-cmd:nc 127.0.0.1 $repo_port" \
			-kernel "${image[${release[$node]}]}.vmlinuz" -initrd "${image[${release[$node]}]}.initrd" \
			-append "root=/dev/vda rw console=ttyS0 quiet net.ifnames=0 systemd.hostname=$node" \
			-drive "file=$run/$node.qcow2,if=virtio,format=qcow2" </dev/null >>"$run/$node.qemu.log" 2>&1 || true
	done
}
declare -A ssh_port
for node in "${nodes[@]}"; do
	ssh_port[$node]=$(free_port)
	node_loop "$node" "${ssh_port[$node]}" &
	pids+=($!)
done

ssh_opts=(-i "$run/id_ed25519" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
	-o LogLevel=ERROR -o ConnectTimeout=5 -o BatchMode=yes
	-o ControlMaster=auto -o "ControlPath=$run/ssh-%p" -o ControlPersist=60)
on() {
	local node=$1
	shift
	ssh "${ssh_opts[@]}" -p "${ssh_port[$node]}" root@127.0.0.1 "$@"
}
for node in "${nodes[@]}"; do
	until on "$node" true 2>/dev/null; do
		[ "$SECONDS" -lt "$deadline" ] || die "$node did not answer on SSH within ${timeout}s"
		sleep 2
	done
done
echo "test-cluster: three nodes up after $((SECONDS - started))s"
for node in "${nodes[@]}"; do
	codename=$(on "$node" '. /etc/os-release && echo "$VERSION_CODENAME"')
	[ "$codename" = "${release[$node]}" ] || die "$node runs $codename, not ${release[$node]}"
done

cat >"$run/inventory.ini" <<EOI
[pve]
$(for node in "${nodes[@]}"; do echo "$node ansible_host=127.0.0.1 ansible_port=${ssh_port[$node]}"; done)

[pve:vars]
ansible_user=root
ansible_ssh_private_key_file=$run/id_ed25519
ansible_ssh_common_args=-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
pve_tcp_hardening_repo_url=http://10.0.2.100/
pve_tcp_hardening_repo_key_file=$run/repo/pve-tcp-hardening-archive-keyring.asc
pve_tcp_hardening_quorum_poll_delay=1
pve_tcp_hardening_ceph_poll_delay=1
# The pre-collection name, still taken (with a deprecation warning).
pth_ha_poll_delay=1
EOI
# pve3: an admin's own SSH user, root through sudo.
sed -i 's/^pve3 .*/& ansible_user=pth ansible_become=true/' "$run/inventory.ini"

# Each line with the seconds since the play started (NAME.timed.log: where
# the time goes).
timestamp() {
	local t0=${EPOCHREALTIME/./} line ds
	while IFS= read -r line; do
		ds=$(((${EPOCHREALTIME/./} - t0) / 100000))
		printf '[%5d.%d] %s\n' $((ds / 10)) $((ds % 10)) "$line"
	done
}

# Runs a playbook; its whole output goes to $run/NAME.log and is printed on
# failure of an expectation. Sets $play_rc.
play() {
	local name=$1
	shift
	[ "$SECONDS" -lt "$deadline" ] || die "out of time before $name"
	local start=$SECONDS
	set +e
	ANSIBLE_CONFIG=$repo/deploy/ansible/ansible.cfg ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1 \
		timeout $((deadline - SECONDS)) ansible-playbook -i "$run/inventory.ini" "$@" 2>&1 |
		tee "$run/$name.log" | timestamp >"$run/$name.timed.log"
	play_rc=${PIPESTATUS[0]}
	set -e
	echo "test-cluster: $name: ansible-playbook exit $play_rc in $((SECONDS - start))s"
}

pass=0 fail=0
check() {
	local name=$1
	shift
	if "$@"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $name"
	fi
}

# Expect a playbook run (by its NAME) to have exited 0, or not; on a
# mismatch the end of its log is printed.
expect_play() {
	local name=$1 want=$2 ok
	case $want in
	success) [ "$play_rc" = 0 ] && ok=true || ok=false ;;
	failure) [ "$play_rc" != 0 ] && ok=true || ok=false ;;
	esac
	check "$name: ansible-playbook ends in $want" $ok
	if ! $ok; then
		echo "--- $run/$name.log (last 80 lines)"
		tail -n 80 "$run/$name.log"
	fi
}

# shellcheck source=tests/cluster/scenarios.sh
. "${PTH_CLUSTER_SCENARIOS:-$here/scenarios.sh}"

echo "test-cluster: $pass passed, $fail failed in $((SECONDS - started))s"
"$e2e/host-net-guard.sh" compare "$guard"
[ "$fail" = 0 ] || exit 1
echo "test-cluster: all checks passed"
