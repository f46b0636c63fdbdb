# shellcheck shell=bash
# `make bench` (tests/bench/run.sh): what the Ansible rollout costs per node
# beyond the reboot itself. Sourced by tests/cluster/run.sh as its scenario
# file (PTH_CLUSTER_SCENARIOS) once the three nodes are up; writes
# "NAME SECONDS" lines to $PTH_BENCH_ROLLOUT_OUT:
#   reboot NODE S   a bare `ansible.builtin.reboot` of NODE, with the role's
#                   test command (wait until the boot finished)
#   rollout S       site.yml with the default profile (plan, then node by
#                   node: install, HA maintenance, reboot, quorum, verify)
#   nodes N
# A play that fails, or a rollout that does not reboot every node, writes
# `failed ...` instead: no figure from a run that did not do the work.
bench_out=${PTH_BENCH_ROLLOUT_OUT:?PTH_BENCH_ROLLOUT_OUT is not set}
: >"$bench_out"
seconds_since() { # EPOCHREALTIME without the dot, at the start
	local us=$((${EPOCHREALTIME/./} - $1))
	printf '%d.%03d' $((us / 1000000)) $((us % 1000000 / 1000))
}
bench_failed() {
	echo "failed $*" >>"$bench_out"
	fail=$((fail + 1))
	echo "FAIL: bench: $*"
}

for node in "${nodes[@]}"; do
	t0=${EPOCHREALTIME/./}
	if ANSIBLE_CONFIG=$repo/deploy/ansible/ansible.cfg ansible -i "$run/inventory.ini" "$node" \
		-m ansible.builtin.reboot -a 'test_command="systemctl is-system-running --wait || true"' \
		>"$run/reboot-$node.log" 2>&1; then
		echo "reboot $node $(seconds_since "$t0")" >>"$bench_out"
	else
		bench_failed "bare reboot of $node (see $run/reboot-$node.log)"
	fi
done

declare -A boot_before
for node in "${nodes[@]}"; do boot_before[$node]=$(on "$node" cat /proc/sys/kernel/random/boot_id); done
t0=${EPOCHREALTIME/./}
play rollout "$repo/deploy/ansible/site.yml"
elapsed=$(seconds_since "$t0")
rebooted=0
for node in "${nodes[@]}"; do
	[ "$(on "$node" cat /proc/sys/kernel/random/boot_id)" = "${boot_before[$node]}" ] || rebooted=$((rebooted + 1))
done
if [ "$play_rc" = 0 ] && [ "$rebooted" = "${#nodes[@]}" ]; then
	echo "rollout $elapsed" >>"$bench_out"
else
	bench_failed "rollout: exit $play_rc, $rebooted of ${#nodes[@]} nodes rebooted (see $run/rollout.log)"
fi

echo "nodes ${#nodes[@]}" >>"$bench_out"
