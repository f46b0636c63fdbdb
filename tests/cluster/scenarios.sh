# shellcheck shell=bash
# The cluster scenarios of issue 17, sourced by run.sh with the three nodes
# up. Helpers from run.sh: `on NODE CMD...` (SSH), `play NAME ARGS...`
# (ansible-playbook, output in $run/NAME.log, exit status in $play_rc),
# `check NAME CMD...` (one assertion).

site=$repo/deploy/ansible/site.yml
rollback=$repo/deploy/ansible/rollback.yml

# Every key any profile sets, from the packages' own profile.json.
all_keys=$(for deb in "$deb_dir"/pve-tcp-hardening*_*.deb; do
	dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./usr/share/pve-tcp-hardening/profile.json |
		jq -r '.settings[].key'
done | sort -u | tr '\n' ' ')

# What "as before" means on a node: the live value of every key, the
# sysctl.d trees and chrony's files, the diversions. (/etc/apt is left out:
# the rollout adds the repository on purpose and rollback keeps it.)
node_state() {
	on "$1" "for k in $all_keys; do printf '%s=%s\n' \$k \"\$(sysctl -n \$k 2>/dev/null | tr -s '\t ' ' ')\"; done
		find /etc/sysctl.d /usr/lib/sysctl.d /etc/sysctl.conf /etc/default -xdev \\( -type f -o -type l \\) \
			-printf '%p %y %m %l\n' | LC_ALL=C sort
		find /etc/sysctl.d /usr/lib/sysctl.d /etc/sysctl.conf /etc/default -xdev -type f -exec sha256sum {} + | LC_ALL=C sort -k2
		dpkg-divert --list | LC_ALL=C sort"
}
boot_id() { on "$1" cat /proc/sys/kernel/random/boot_id; }
stub_log() { on "$1" cat /var/log/pth-pve-stub.log 2>/dev/null || true; }
log_has() { grep -q -- "$2" "$run/$1.log"; }
# Every key of the node's installed profile is ok or missing (no drift, no
# shadowing), and no socket is bound to an IPv6 address.
in_force() {
	on "$1" "pve-tcp-hardening status --json" |
		jq -e '([.keys[] | select(.state == "drift" or .state == "shadowed")] | length == 0)
			and ([.ipv6_listeners[] | select((.bound // "address") == "address")] | length == 0)' >/dev/null
}
installed_profile() {
	on "$1" "dpkg-query -W -f='\${db:Status-Abbrev}\${Package}\n' 'pve-tcp-hardening*' 2>/dev/null" | sed -n 's/^ii *//p'
}
# The HA/quorum stub calls of one rollout on a node, in order: maintenance
# on and at least two status polls in the old boot, then the quorum check
# and maintenance off in a new boot.
ha_sequence_ok() {
	local node=$1 log
	log=$(stub_log "$node")
	printf '%s\n' "$log" | awk -v node="$node" '
		/node-maintenance enable/ { n++; b0 = $2; state = 1; polls = 0; next }
		state == 1 && / status$/ && $2 == b0 { polls++; next }
		state == 1 && /pvecm status/ && $2 != b0 && polls >= 2 { state = 2; b1 = $2; next }
		state == 2 && /node-maintenance disable/ && $2 == b1 { state = 3; done++ }
		END { exit !(n >= 1 && done == n) }'
}
enables() { stub_log "$1" | grep -c 'node-maintenance enable' || true; }

declare -A first_state first_boot
for node in "${nodes[@]}"; do
	first_state[$node]=$(node_state "$node")
	first_boot[$node]=$(boot_id "$node")
done

# --- check mode on fresh nodes: plan only ---------------------------------------
# What an admin runs first: the nodes have never seen the repository, and
# --check must still show each node's plan and change nothing, not even
# /etc/apt.
play check-mode "$site" --check
expect_play check-mode success
check "--check shows each node's plan" test "$(grep -c 'plan for pve-tcp-hardening (profile default' "$run/check-mode.log")" = 3
check "--check names a key's change" log_has check-mode "net.ipv4.tcp_sack  *1  *0"
# pve3's name is not in its /etc/hosts, so its sudo warns before every
# command, on the same stream as a script's output (ansible runs scripts on
# a tty): the role reads the probes' JSON past it.
check "pve3's sudo warns on each command" log_has check-mode "sudo: unable to resolve host pve3"
check "an old pth_* name set in the inventory draws a deprecation warning" \
	log_has check-mode "^ *- pth_ha_poll_delay -> pve_tcp_hardening_ha_poll_delay$"
for node in "${nodes[@]}"; do
	check "--check: $node untouched" test "$(node_state "$node")" = "${first_state[$node]}"
	check "--check: $node has no source of ours" on "$node" test ! -e /etc/apt/sources.list.d/pve-tcp-hardening.sources
	check "--check: $node not rebooted" test "$(boot_id "$node")" = "${first_boot[$node]}"
done

# --- 1. Roll out the default profile ------------------------------------------
play rollout-default "$site"
expect_play rollout-default success
for node in "${nodes[@]}"; do
	check "1: $node has pve-tcp-hardening" test "$(installed_profile "$node")" = pve-tcp-hardening
	check "1: $node rebooted" test "$(boot_id "$node")" != "${first_boot[$node]}"
	check "1: $node rebooted once (one maintenance)" test "$(enables "$node")" = 1
	check "1: $node maintenance, drain, reboot, quorum, end of maintenance in order" ha_sequence_ok "$node"
	check "1: $node in force" in_force "$node"
done
# Node 2 starts only after node 1 passed its verification.
rollout_order_ok() {
	awk '
		/^PLAY \[Add the repository, install, reboot and verify/ { in_rollout = 1 }
		in_rollout && /pve1: pve-tcp-hardening in force/ && !p1 { p1 = NR }
		in_rollout && /\[pve2\]/ && !p2 { p2 = NR }
		END { exit !(p1 && p2 && p1 < p2) }' "$run/$1.log"
}
check "1: node 2 starts after node 1 is verified" rollout_order_ok rollout-default
# pve3 is driven as the user pth through sudo (run.sh): its sudo log of
# this boot shows ansible's become commands (the verification ran there).
sudo_become() {
	on "$1" "journalctl -b --no-pager _COMM=sudo" | grep -q "pth : .*USER=root ; COMMAND=/bin/sh -c 'echo BECOME-SUCCESS"
}
check "1: pve3 rolled out by a non-root SSH user through sudo" sudo_become pve3

# --- 1b. Idempotence: the same rollout again changes nothing --------------------
declare -A before_again
for node in "${nodes[@]}"; do before_again[$node]=$(boot_id "$node"); done
play idempotent "$site"
expect_play idempotent success
# From the PLAY RECAP: every node ran and reported changed=0.
recap_unchanged() {
	grep -Eq "^$2 +: ok=[0-9]+ +changed=0 +unreachable=0 +failed=0 " "$run/$1.log"
}
for node in "${nodes[@]}"; do
	check "1b: second run reports changed=0 on $node" recap_unchanged idempotent "$node"
	check "1b: $node not rebooted again" test "$(boot_id "$node")" = "${before_again[$node]}"
done

# --- 3. A node that must not be hardened: nothing is touched --------------------
on pve2 "printf 'auto vmbr0\niface vmbr0 inet6 static\n\taddress 2001:db8::12/64\n' >/etc/network/interfaces"
declare -A before_refusal
for node in "${nodes[@]}"; do before_refusal[$node]=$(node_state "$node"); done
# The old name of the profile variable still works (with a warning).
play refused "$site" -e pth_profile=strict
expect_play refused failure
check "3: the failure names node 2" log_has refused "would be refused on pve2"
check "3: the failure names the finding" log_has refused "2001:db8::12"
check "3: the old name pth_profile is taken, with a warning" log_has refused "^ *- pth_profile -> pve_tcp_hardening_profile$"
for node in "${nodes[@]}"; do
	check "3: $node untouched" test "$(node_state "$node")" = "${before_refusal[$node]}"
	check "3: $node still on default" test "$(installed_profile "$node")" = pve-tcp-hardening
done
on pve2 "rm /etc/network/interfaces"

# --- 4. A node that fails verification: the rollout stops there -----------------
on pve3 "printf 'net.ipv4.tcp_syn_retries = 3\n' >/etc/sysctl.d/90-local.conf"
play switch-stops "$site" -e pve_tcp_hardening_profile=strict
expect_play switch-stops failure
check "4: the failure names the key" log_has switch-stops "net.ipv4.tcp_syn_retries is shadowed"
check "4: the failure names the file" log_has switch-stops "/etc/sysctl.d/90-local.conf"
check "4: pve1 switched" test "$(installed_profile pve1)" = pve-tcp-hardening-strict
check "4: pve2 switched" test "$(installed_profile pve2)" = pve-tcp-hardening-strict
check "4: pve1 in force" in_force pve1
check "4: pve2 in force" in_force pve2

# --- 2. Switch the cluster to strict (pve3 fixed) ------------------------------
on pve3 "rm /etc/sysctl.d/90-local.conf"
play switch "$site" -e pve_tcp_hardening_profile=strict
expect_play switch success
for node in "${nodes[@]}"; do
	check "2: $node has the strict profile" test "$(installed_profile "$node")" = pve-tcp-hardening-strict
	check "2: $node in force" in_force "$node"
done

# --- 2b. --tags verify: only the verification runs ------------------------------
play verify-only "$site" -e pve_tcp_hardening_profile=strict --tags verify
expect_play verify-only success
check "2b: --tags verify verified the three nodes" \
	test "$(grep -c 'pve[123]: pve-tcp-hardening-strict in force' "$run/verify-only.log")" = 3
# The pattern finds the plan, install and reboot tasks in a full run's log.
not_verify='TASK \[pve_tcp_hardening : (Plan on this node|Install the profile package|Look at the reboot)'
check "2b: a full run's log shows the plan, install and reboot tasks" \
	test "$(grep -Ec -- "$not_verify" "$run/switch.log")" -ge 3
check "2b: --tags verify neither planned, installed nor looked at reboots" \
	bash -c '! grep -Eq -- "$1" "$2"' sh "$not_verify" "$run/verify-only.log"

# --- 5. Rollback -----------------------------------------------------------------
play rollback "$rollback"
expect_play rollback success
for node in "${nodes[@]}"; do
	check "5: $node has no profile package" test -z "$(installed_profile "$node")"
	check "5: $node is as at its first boot" test "$(node_state "$node")" = "${first_state[$node]}"
done

# --- 6. Finish instead of a reboot (issue 19) ------------------------------------
# After the rollback every node is as at its first boot (IPv6 on). On two of
# them (the third would prove nothing new and costs a minute): pve1 runs the
# VM test's mail-like daemon on 127.0.0.1:25 and [::1]:25, which finish
# restarts, so pve1 is not rebooted; pve2 the stub corosync on [::1]:5405,
# which finish only names, so pve2 is rebooted.
install_listener() {
	local node=$1 unit=$2
	on "$node" "mkdir -p /usr/local/lib/pth-vm && cat >/usr/local/lib/pth-vm/listen.pl && chmod 0755 /usr/local/lib/pth-vm/listen.pl" \
		<"$repo/tests/vm/finish/listen.pl"
	on "$node" "cat >/etc/systemd/system/$unit.service && systemctl daemon-reload && systemctl start $unit.service" \
		<"$repo/tests/vm/finish/$unit.service"
}
install_listener pve1 pth-mail
install_listener pve2 corosync
declare -A before_finish
for node in pve1 pve2; do before_finish[$node]=$(boot_id "$node"); done
mail_pid=$(on pve1 systemctl show -p MainPID --value pth-mail)
play finish "$site" -e pve_tcp_hardening_finish=true --limit pve1,pve2
expect_play finish success
for node in pve1 pve2; do
	check "6: $node has pve-tcp-hardening" test "$(installed_profile "$node")" = pve-tcp-hardening
	check "6: $node in force" in_force "$node"
done
check "6: pve1 not rebooted (finish left it clean)" test "$(boot_id pve1)" = "${before_finish[pve1]}"
check "6: pve1 not put into maintenance" test "$(enables pve1)" = 2
check "6: finish restarted pve1's mail daemon" log_has finish "restarted pth-mail.service"
check "6: pve1's mail daemon has a new pid" test "$(on pve1 systemctl show -p MainPID --value pth-mail)" != "$mail_pid"
check "6: pve1 has no reboot request left" on pve1 "! test -e /run/reboot-required"
check "6: pve2 rebooted (finish named the stub corosync)" test "$(boot_id pve2)" != "${before_finish[pve2]}"
check "6: finish named pve2's corosync" log_has finish "reboot still needed for: corosync.service"
check "6: pve2 went through maintenance once more" test "$(enables pve2)" = 3
check "6: pve2 maintenance, drain, reboot, quorum, end of maintenance in order" ha_sequence_ok pve2
