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
# sysctl.d trees and chrony's files, the diversions (of the paths there
# are: a Debian 13 node has no /etc/sysctl.conf). (/etc/apt is left out:
# the rollout adds the repository on purpose and rollback keeps it.)
node_state() {
	on "$1" "for k in $all_keys; do printf '%s=%s\n' \$k \"\$(sysctl -n \$k 2>/dev/null | tr -s '\t ' ' ')\"; done
		paths=\$(ls -d /etc/sysctl.d /usr/lib/sysctl.d /etc/sysctl.conf /etc/default 2>/dev/null)
		find \$paths -xdev \\( -type f -o -type l \\) -printf '%p %y %m %l\n' | LC_ALL=C sort
		find \$paths -xdev -type f -exec sha256sum {} + | LC_ALL=C sort -k2
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
# The Ceph stub calls of every reboot of a node (issue 28), in order: noout
# set in the old boot, then in a new boot `ceph status` answering degraded
# (the stub's placement groups after a reboot) and then clean, and only
# then noout unset, in that boot; never an unset while still degraded.
ceph_sequence_ok() {
	stub_log "$1" | awk '
		/ ceph osd set noout$/ { n++; b0 = $2; state = 1; degraded = 0; next }
		state == 1 && / ceph status .*=> degraded$/ && $2 != b0 { degraded++; next }
		state == 1 && / ceph status .*=> clean$/ && $2 != b0 && degraded >= 1 { state = 2; b1 = $2; next }
		state == 1 && / ceph osd unset noout$/ { bad = 1 }
		state == 2 && / ceph osd unset noout$/ && $2 == b1 { state = 0; done++ }
		END { exit !(n >= 1 && done == n && !bad) }'
}
# When the wait of a node's first reboot ended (the first clean answer in
# the boot after noout was set) and when noout was set: seconds.
ceph_wait_end() {
	stub_log "$1" | awk '/ ceph osd set noout$/ && !b0 { b0 = $2 }
		b0 && / ceph status .*=> clean$/ && $2 != b0 { print $1; exit }'
}
ceph_set_at() { stub_log "$1" | awk '/ ceph osd set noout$/ { print $1; exit }'; }
# Ceph's noout flag, as `ceph osd dump` on the node reports it, is not set.
noout_clear() {
	on "$1" "ceph osd dump --format json" | jq -e '.flags_set | index("noout") | not' >/dev/null
}

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
	check "1: $node rebooted under Ceph's noout, waited for clean placement groups, then unset it" \
		ceph_sequence_ok "$node"
	check "1: $node: noout is not set after the rollout" noout_clear "$node"
	check "1: $node in force" in_force "$node"
done
# Each node's reboot starts (noout set) only after the previous node's
# wait for clean placement groups ended (the nodes' clocks are this
# machine's: qemu's RTC).
for pair in pve1:pve2 pve2:pve3; do
	check "1: ${pair#*:} set noout only after ${pair%:*}'s placement groups were clean again" \
		awk -v a="$(ceph_wait_end "${pair%:*}")" -v b="$(ceph_set_at "${pair#*:}")" 'BEGIN { exit !(a != "" && b != "" && a < b) }'
done
for node in "${nodes[@]}"; do
	check "1: the play shows $node's wait for Ceph (retries)" \
		grep -q "FAILED - RETRYING: \\[$node\\]: .*Wait until Ceph's placement groups" "$run/rollout-default.log"
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
# mail-like stub daemon on 127.0.0.1:25 and [::1]:25, which finish
# restarts, so pve1 is not rebooted; pve2 the stub corosync on [::1]:5405,
# which finish only names, so pve2 is rebooted.
install_listener() { # NODE UNIT UNIT_FILE
	local node=$1 unit=$2
	on "$node" "mkdir -p /usr/local/lib/pth-vm && cat >/usr/local/lib/pth-vm/listen.pl && chmod 0755 /usr/local/lib/pth-vm/listen.pl" \
		<"$repo/tests/vm/finish/listen.pl"
	on "$node" "cat >/etc/systemd/system/$unit.service && systemctl daemon-reload && systemctl start $unit.service" \
		<"$3"
}
# The mail-like stub is this proof's own since the VM proof's node runs
# real postfix (issue 28); the stub corosync is still the VM proof's.
install_listener pve1 pth-mail "$repo/tests/cluster/pth-mail.service"
install_listener pve2 corosync "$repo/tests/vm/finish/corosync.service"
# Guests (issue 28): on pve1 and pve2 an HA VM 100 (HA moves it, not the
# role), a VM 101 and a container 102 that HA does not manage.
for node in pve1 pve2; do
	on "$node" "mkdir -p /etc/pve/nodes/$node/qemu-server /etc/pve/nodes/$node/lxc &&
		printf 'vm: 100\n\tstate started\n' >/etc/pve/ha/resources.cfg &&
		: >/etc/pve/nodes/$node/qemu-server/100.conf && : >/etc/pve/nodes/$node/qemu-server/101.conf &&
		: >/etc/pve/nodes/$node/lxc/102.conf"
done
declare -A before_finish
for node in pve1 pve2; do before_finish[$node]=$(boot_id "$node"); done
mail_pid=$(on pve1 systemctl show -p MainPID --value pth-mail)
play finish "$site" -e pve_tcp_hardening_finish=true -e pve_tcp_hardening_migrate_guests=true --limit pve1,pve2
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
check "6: pve2 rebooted under Ceph's noout with the wait, every time" ceph_sequence_ok pve2
check "6: pve2: noout is not set" noout_clear pve2
# pve_tcp_hardening_migrate_guests: pve2's guests that HA does not manage
# (101, 102; not the HA VM 100) went to the next member, pve3, before
# anything else of the reboot (noout) and came back after the reboot,
# after the end of Ceph's noout and of HA maintenance.
migration_order_ok() {
	stub_log pve2 | awk '
		/ pvenode migrateall pve3 --vms 101,102 --maxworkers 1$/ { away = NR; b0 = $2; next }
		away && !set && / ceph osd set noout$/ && $2 == b0 { set = NR; next }
		set && / ceph osd unset noout$/ && $2 != b0 { unset = NR; b1 = $2; next }
		unset && / node-maintenance disable / && $2 == b1 { ha = NR; next }
		ha && / pvesh create \/nodes\/pve3\/migrateall --target pve2 --vms 101,102 --maxworkers 1$/ && $2 == b1 { back = NR }
		END { exit !back }'
}
check "6: pve2's guests 101 and 102 migrated to pve3 before the reboot and back after it" migration_order_ok
check "6: the guests are on pve2 again, the HA VM was not touched" \
	on pve2 "test -e /etc/pve/nodes/pve2/qemu-server/100.conf && test -e /etc/pve/nodes/pve2/qemu-server/101.conf &&
		test -e /etc/pve/nodes/pve2/lxc/102.conf && test -z \"\$(find /etc/pve/nodes/pve3 -name '*.conf' 2>/dev/null)\""
check "6: pve1 (not rebooted) migrated nothing" bash -c '! grep -q "pvenode\|pvesh" <<<"$1"' sh "$(stub_log pve1)"

# --- 7. A Ceph node whose placement groups do not recover (issue 28) ------------
# pve3 (rolled back in 5, left out of 6) is rolled out alone while its stub
# Ceph keeps the placement groups degraded after the reboot: the wait times
# out, the play fails naming that step, and noout is unset all the same.
on pve3 "touch /var/lib/pth-stub/ceph-stuck"
before_stuck=$(boot_id pve3)
play ceph-stuck "$site" --limit pve3 -e pve_tcp_hardening_ceph_timeout=5
expect_play ceph-stuck failure
check "7: pve3 was rebooted" test "$(boot_id pve3)" != "$before_stuck"
check "7: the failure names the step" log_has ceph-stuck "the step \"Fail when Ceph is not back after the reboot\" failed"
check "7: the failure says what Ceph said" log_has ceph-stuck "Ceph is not active+clean after 5 s: active+clean 96, active+undersized+degraded 32 (HEALTH_WARN)"
check "7: the failure says noout is unset" log_has ceph-stuck "Ceph's noout flag is unset now"
# The last reboot: noout set, then only degraded answers in the new boot
# (at least the 5 of the timeout), then noout unset there.
stuck_sequence_ok() {
	stub_log pve3 | awk '
		/ ceph osd set noout$/ { b0 = $2; degraded = 0; clean = 0; unset = 0; next }
		b0 && / ceph status .*=> degraded$/ && $2 != b0 { degraded++; b1 = $2; next }
		b0 && / ceph status .*=> clean$/ && $2 != b0 { clean++; next }
		b0 && / ceph osd unset noout$/ && $2 == b1 { unset++ }
		END { exit !(b0 && degraded >= 5 && clean == 0 && unset == 1) }'
}
check "7: pve3 waited on degraded placement groups, then unset noout in the failed play" stuck_sequence_ok
check "7: pve3: noout is not set after the failed play" noout_clear pve3
on pve3 "rm /var/lib/pth-stub/ceph-stuck"
