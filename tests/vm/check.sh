#!/bin/sh
# The reboot scenario of issue 10, run inside the VM once per boot by
# pth-vm-check.service; a boot counter says which step this boot is.
#
#   boot 1  stock host: the release is the image's (check_release); record
#           values, chrony sockets, /etc/default/chrony, diversions,
#           sysctl.d trees; install the default profile; check
#           it is live, chronyd is IPv4-only, a reboot is asked for.
#   boot 2  values come from systemd-sysctl at boot; a later file wins its
#           key; nothing listens on IPv6; switch to the stealth profile.
#   boot 3  stealth values at boot; purge.
#   boot 4  everything recorded at boot 1 is back. Then the guide by hand
#           (its sysctl file applied, chrony.orig backup, -4, chrony
#           restarted), recorded; install the default profile over it.
#   boot 5  all in force on the adopted host; purge.
#   boot 6  the admin's hand-made setup is back, byte for byte, and in
#           force; power off.
#
# Each assertion prints one line on stdout (the serial console):
#   RESULT boot=N name=NAME status=PASS|FAIL|SKIP expected="..." got="..."
# tests/vm/run.sh parses them. Standalone on purpose (POSIX sh with
# check-lib.sh, jq, iproute2, dpkg): the same steps can become a DEP-8 test driven by
# autopkgtest-reboot's mark instead of the counter.
#
# Environment: PTH_VM_STATE (default /var/lib/pth-vm) holds the counter,
# the boot-1 records and debs/ (the four profile packages); its file
# release names the image's release (bookworm or trixie), checked at boot 1
# against releases/RELEASE.env.
. "$(dirname "$0")/check-lib.sh"

# --- The finish step (issue 19) ---------------------------------------------

# Listening sockets as ss prints them, blanks squeezed and trailing ones
# dropped (ss pads to the widest row), without pids (a restarted daemon has
# a new one), sorted.
sockets_without_pids() {
	ss -H -tulpn | sed 's/pid=[0-9]*,//g; s/[[:blank:]]*$//' | tr -s ' ' | LC_ALL=C sort
}

# Local addresses of process NAME's sockets, sorted, space separated.
sockets_of() { # NAME
	ss -H -tulpn | awk -v name="((\"$1\"," 'index($0, name) { print $5 }' |
		LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//'
}

# The test daemons (tests/vm/finish/) are up and listening.
wait_for_finish_daemons() {
	i=0
	while [ $i -lt 30 ]; do
		[ -n "$(sockets_of pth-mail)" ] && [ -n "$(sockets_of corosync)" ] &&
			[ -n "$(sockets_of socat)" ] && return 0
		sleep 1
		i=$((i + 1))
	done
}

# "net/ipv4/tcp_sack:0" for every key of the four profiles the kernel has,
# blanks squeezed: one grep, not a fork per key (~0.3 s each under TCG).
record_values() { # FILE
	tr ./ /. <"$state/all.keys" | (cd /proc/sys && xargs grep -s -H '') |
		tr -s '\t ' '  ' >"$1"
}

# Boot 1, after the install: `finish` restarts pth-mail (on [::1]:25), leaves
# the stub corosync alone and says a reboot is still needed for it; the
# sockets and values it leaves are recorded for boot 2. With the stub
# stopped, finish takes back the reboot request and status exits 0.
finish_instead_of_reboot() {
	mail_before=$(systemctl show -p MainPID --value pth-mail)
	corosync_before=$(systemctl show -p MainPID --value corosync)
	pve-tcp-hardening finish >"$state/finish.out" 2>&1
	rc=$?
	show "pve-tcp-hardening finish (exit $rc)" "$state/finish.out"
	check finish.exit-with-stub 1 "$rc"
	check finish.names-stub yes \
		"$(grep -q '^reboot still needed for: corosync.service' "$state/finish.out" && echo yes || echo no)"
	check finish.stub-not-restarted "$corosync_before" "$(systemctl show -p MainPID --value corosync)"
	check finish.stub-sockets "127.0.0.1:5405 [::1]:5405" "$(sockets_of corosync)"
	mail_after=$(systemctl show -p MainPID --value pth-mail)
	if [ "$mail_after" != 0 ] && [ "$mail_after" != "$mail_before" ]; then
		result finish.mail-restarted PASS "a new pth-mail pid" "$mail_before -> $mail_after"
	else
		result finish.mail-restarted FAIL "a new pth-mail pid" "$mail_before -> $mail_after"
	fi
	check finish.mail-sockets 127.0.0.1:25 "$(sockets_of pth-mail)"
	check finish.reboot-still-required present "$([ -e /run/reboot-required ] && echo present || echo absent)"
	sockets_without_pids >"$state/ss.finished"
	show "ss -H -tulpn after finish, without pids" "$state/ss.finished"
	record_values "$state/values.finished"

	systemctl stop corosync
	pve-tcp-hardening finish >"$state/finish2.out" 2>&1
	rc=$?
	show "pve-tcp-hardening finish, stub stopped (exit $rc)" "$state/finish2.out"
	check finish.exit-without-stub 0 "$rc"
	check finish.reboot-required absent "$([ -e /run/reboot-required ] && echo present || echo absent)"
	check finish.reboot-required.pkgs "" "$(grep '^pve-tcp-hardening' /run/reboot-required.pkgs 2>/dev/null)"
	pve-tcp-hardening status >"$state/status.finished" 2>&1
	rc=$?
	show "pve-tcp-hardening status after finish (exit $rc)" "$state/status.finished"
	check finish.status-exit 0 "$rc"
}

# Boot 2: the sockets and values after the reboot are those `finish` left
# at boot 1, apart from the stub corosync (it held [::1] until this reboot)
# and net.ipv4.tcp_syn_retries (90-local.conf, written after finish, sets it
# at this boot on purpose).
finish_equals_reboot() {
	wait_for_finish_daemons
	sockets_without_pids >"$state/ss.rebooted"
	show "ss -H -tulpn after the reboot, without pids" "$state/ss.rebooted"
	grep -v '(("corosync",' "$state/ss.finished" >"$state/ss.finished.nostub"
	grep -v '(("corosync",' "$state/ss.rebooted" >"$state/ss.rebooted.nostub"
	if cmp -s "$state/ss.finished.nostub" "$state/ss.rebooted.nostub"; then
		result finish.sockets-as-after-reboot PASS "as after finish" "as after finish"
	else
		result finish.sockets-as-after-reboot FAIL "as after finish" \
			"$(diff "$state/ss.finished.nostub" "$state/ss.rebooted.nostub" | grep '^[<>]')"
	fi
	check finish.stub-after-reboot 127.0.0.1:5405 "$(sockets_of corosync)"
	record_values "$state/values.rebooted"
	grep -v '^net/ipv4/tcp_syn_retries:' "$state/values.finished" >"$state/values.finished.cmp"
	grep -v '^net/ipv4/tcp_syn_retries:' "$state/values.rebooted" >"$state/values.rebooted.cmp"
	if cmp -s "$state/values.finished.cmp" "$state/values.rebooted.cmp"; then
		result finish.values-as-after-reboot PASS "as after finish" "as after finish"
	else
		result finish.values-as-after-reboot FAIL "as after finish" \
			"$(diff "$state/values.finished.cmp" "$state/values.rebooted.cmp" | grep '^[<>]')"
	fi
}

# The guide's steps 1-3 as an admin types them (mode 0640 on purpose: the
# purge must give back modes too), then the record the purge must return to.
guide_by_hand() {
	cat >/etc/sysctl.d/80_tcp_hardening.conf <<-'EOF'
		net.ipv6.conf.all.disable_ipv6 = 1
		net.ipv6.conf.default.disable_ipv6 = 1
		net.ipv4.tcp_fin_timeout = 15
		net.ipv4.conf.default.rp_filter = 2
		net.ipv4.conf.default.accept_source_route = 0
		net.ipv4.conf.all.send_redirects = 0
		net.ipv4.conf.default.send_redirects = 0
		net.ipv4.conf.all.accept_redirects = 0
		net.ipv4.conf.default.accept_redirects = 0
		net.ipv4.conf.all.secure_redirects = 0
		net.ipv4.conf.default.secure_redirects = 0
		net.ipv4.tcp_rfc1337 = 1
		net.ipv4.tcp_syn_retries = 2
		net.ipv4.tcp_synack_retries = 2
		net.ipv4.tcp_orphan_retries = 2
		net.ipv4.tcp_sack = 0
	EOF
	chmod 0640 /etc/sysctl.d/80_tcp_hardening.conf
	sysctl -q -p /etc/sysctl.d/80_tcp_hardening.conf
	cp -p /etc/default/chrony /etc/default/chrony.orig
	sed -i 's/^DAEMON_OPTS="/DAEMON_OPTS="-4 /' /etc/default/chrony
	systemctl restart chrony
	wait_for_chronyd
	check hand.chronyd-sockets 127.0.0.1:323 "$(chronyd_sockets)"
	while read -r key; do
		printf '%s\t%s\n' "$key" "$(live "$key")"
	done <"$state/all.keys" >"$state/values.hand"
	record_host hand
}

say "BOOT $boot start uptime=$(cut -d' ' -f1 /proc/uptime)"
say "systemd: $(systemd-analyze time 2>/dev/null | head -n 1)"
wait_for_chronyd

case $boot in
1)
	# The node is the release the host built the image for, laid out like
	# its Proxmox VE (Debian 13: no /etc/sysctl.conf, 50-default.conf).
	check_release release "$(cat "$state/release")"
	profile_settings "$debs/pve-tcp-hardening.deb" >"$state/default.settings"
	profile_settings "$debs/pve-tcp-hardening-stealth.deb" >"$state/stealth.settings"
	for deb in "$debs"/pve-tcp-hardening*.deb; do
		profile_settings "$deb"
	done | cut -f1 | LC_ALL=C sort -u >"$state/all.keys"
	while read -r key; do
		printf '%s\t%s\n' "$key" "$(live "$key")"
	done <"$state/all.keys" >"$state/values.boot1"
	show "stock values" "$state/values.boot1"
	ss -atlnup >"$state/ss.boot1"
	show "stock ss -atlnup" "$state/ss.boot1"
	record_host boot1
	cp /var/log/dpkg.log "$state/dpkg.log.before"
	# The premise of the chrony step: stock chronyd listens on IPv6 too.
	check stock.chronyd-sockets "127.0.0.1:323 [::1]:323" "$(chronyd_sockets)"

	wait_for_finish_daemons
	check stock.finish-daemons "127.0.0.1:25 [::1]:25|127.0.0.1:5405 [::1]:5405|*:8006" \
		"$(sockets_of pth-mail)|$(sockets_of corosync)|$(sockets_of socat)"

	# Before the install, from the package not yet installed (the README's
	# one-liner): status names chronyd's [::1]:323 (the finish daemons hold [::1] too); sshd's
	# [::]:22 and the dual-stack *:8006 are information; plan says that
	# [::1]:323 goes away at the install.
	wait_for_wildcards
	pkg=$(mktemp -d)
	dpkg-deb -x "$debs/pve-tcp-hardening.deb" "$pkg"
	"$pkg/usr/sbin/pve-tcp-hardening" status --profile "$pkg/usr/share/pve-tcp-hardening/profile.json" \
		--json >"$state/status.before.json" 2>&1
	check status.before.exit 1 "$?"
	show "status --json before the install" "$state/status.before.json"
	check status.before.address-listeners "listening on IPv6: udp6 [::1]:323" \
		"$(jq -r '.problems[] | select(startswith("listening on IPv6")) | select(contains("chronyd"))' "$state/status.before.json" | sed 's/ (.*//')"
	check status.before.wildcards "[::]:22 wildcard true, [::]:8006 wildcard false" \
		"$(wildcard_report "$state/status.before.json")"
	"$pkg/usr/sbin/pve-tcp-hardening" plan --profile "$pkg/usr/share/pve-tcp-hardening/profile.json" \
		--json >"$state/plan.before.json" 2>&1
	check plan.exit 0 "$?"
	check plan.chronyd-goes-away "udp6 [::1]:323 chronyd install" \
		"$(jq -r '.ipv6_sockets_going_away[] | select(.process == "chronyd") | "\(.proto) [\(.address)]:\(.port) \(.process) \(.when)"' "$state/plan.before.json" 2>&1)"
	rm -rf "$pkg"

	chronyd_before=$(pidof chronyd)
	# Dpkg::Use-Pty=0: by default apt runs dpkg on a pty that merges the
	# maintainer scripts' stderr into apt's stdout; without it the notice
	# must arrive on stderr, where the helper writes it.
	run_apt install-default -o Dpkg::Use-Pty=0 install -y ./pve-tcp-hardening.deb
	while IFS="$tab" read -r key value; do
		check "live.$key" "$value" "$(live "$key")"
	done <"$state/default.settings"
	wait_for_chronyd
	chronyd_after=$(pidof chronyd)
	if [ -n "$chronyd_after" ] && [ "$chronyd_after" != "$chronyd_before" ]; then
		result chronyd.restarted PASS "a new chronyd pid" "$chronyd_before -> $chronyd_after"
	else
		result chronyd.restarted FAIL "a new chronyd pid" "$chronyd_before -> $chronyd_after"
	fi
	check chronyd.sockets 127.0.0.1:323 "$(chronyd_sockets)"
	check chrony.daemon-opts yes "$(grep -q '^DAEMON_OPTS=.*-4' /etc/default/chrony && echo yes || echo no)"
	check chrony.diverted "/etc/default/chrony.orig" \
		"$(dpkg-divert --listpackage /etc/default/chrony >/dev/null && dpkg-divert --truename /etc/default/chrony)"
	check reboot-required present "$([ -e /run/reboot-required ] && echo present || echo absent)"
	check reboot-required.pkgs pve-tcp-hardening \
		"$(grep -x pve-tcp-hardening /run/reboot-required.pkgs 2>/dev/null || cat /run/reboot-required.pkgs 2>/dev/null)"
	check install-default.reboot-notice-on-stderr yes "$(grep -qi reboot "$apt_err" && echo yes || echo no)"
	finish_instead_of_reboot

	# Test only: a later-sorting file that overrides a key of the profile.
	printf 'net.ipv4.tcp_syn_retries = 3\n' >/etc/sysctl.d/90-local.conf
	sha256sum /var/log/dpkg.log >"$state/dpkg.log.boot1"
	finish reboot
	;;
2)
	check no-maintainer-script-ran "$(cat "$state/dpkg.log.boot1")" "$(sha256sum /var/log/dpkg.log)"
	check systemd-sysctl.result success "$(systemctl show -p Result --value systemd-sysctl.service)"
	check_boot_values boot "$state/default.settings"
	check pve-firewall.rp_filter "2" "$(live net.ipv4.conf.all.rp_filter)"
	check local-override.tcp_syn_retries "3" "$(live net.ipv4.tcp_syn_retries)"
	finish_equals_reboot

	# The boot-time check logged the planted shadowing file at warning.
	check boot-check.result success "$(systemctl show -p Result --value pve-tcp-hardening-boot-check.service)"
	boot_check_warnings >"$state/boot-check.boot2"
	show "journalctl -b -p warning -t pve-tcp-hardening" "$state/boot-check.boot2"
	check boot-check.warns-shadowed yes \
		"$(grep -q 'net.ipv4.tcp_syn_retries is shadowed: at boot /etc/sysctl.d/90-local.conf:1 sets 3' "$state/boot-check.boot2" && echo yes || echo no)"
	# The metrics timer is on; its service writes the textfile only where
	# node_exporter's directory exists.
	check prometheus.timer "enabled active" \
		"$(systemctl is-enabled pve-tcp-hardening-prometheus.timer) $(systemctl is-active pve-tcp-hardening-prometheus.timer)"
	prom=/var/lib/prometheus/node-exporter/pve-tcp-hardening.prom
	systemctl start pve-tcp-hardening-prometheus.service
	check prometheus.no-dir "no ConditionResult=no" \
		"$([ -e "$prom" ] && echo yes || echo no) $(systemctl show -p ConditionResult pve-tcp-hardening-prometheus.service)"
	mkdir -p /var/lib/prometheus/node-exporter
	systemctl start pve-tcp-hardening-prometheus.service
	check prometheus.written "pve_tcp_hardening_up 1" "$(grep -x 'pve_tcp_hardening_up 1' "$prom" 2>&1)"
	rm -rf /var/lib/prometheus

	if pve-tcp-hardening status --help >/dev/null 2>&1; then
		pve-tcp-hardening status >"$state/status.txt" 2>&1
		status_rc=$?
		show "pve-tcp-hardening status (exit $status_rc)" "$state/status.txt"
		pve-tcp-hardening status --json >"$state/status.json" 2>"$state/status.json.err"
		show "pve-tcp-hardening status --json" "$state/status.json"
		check status.exit 1 "$status_rc"
		check status.names-winner yes "$(grep -q /etc/sysctl.d/90-local.conf "$state/status.txt" && echo yes || echo no)"
		check status.no-listener-problem "" "$(jq -r '.problems[] | select(startswith("listening on IPv6"))' "$state/status.json")"
		state_of() {
			jq -r --arg k "$1" '[.. | objects | select(.key? == $k)][0] | "\(.state) \(.winner.file // "")"' \
				"$state/status.json" 2>&1
		}
		check status.json.net.ipv4.tcp_syn_retries "shadowed /etc/sysctl.d/90-local.conf" \
			"$(state_of net.ipv4.tcp_syn_retries)"
		while IFS="$tab" read -r key value; do
			[ "$key" = net.ipv4.tcp_syn_retries ] && continue
			got=$(state_of "$key")
			check "status.json.$key" ok "${got%% *}"
		done <"$state/default.settings"
	else
		for name in status.exit status.names-winner status.json; do
			result "$name" SKIP "pve-tcp-hardening status" "no status subcommand in this build"
		done
	fi

	ss -atlnup >"$state/ss.boot2"
	show "ss -atlnup" "$state/ss.boot2"
	check no-ipv6-listener "" "$(ipv6_address_listeners)"
	check reboot-required absent "$([ -e /run/reboot-required ] && echo present || echo absent)"

	rm /etc/sysctl.d/90-local.conf
	run_apt install-stealth install -y ./pve-tcp-hardening-stealth.deb
	# Conflicts/Replaces: apt removes the other profile (its conffiles stay
	# until purge, as for any removed package).
	default_status=$(dpkg-query -W -f '${db:Status-Status}' pve-tcp-hardening 2>/dev/null)
	case $default_status in
	config-files | not-installed | "") result switch.default-removed PASS "removed" "${default_status:-unknown to dpkg}" ;;
	*) result switch.default-removed FAIL "removed" "$default_status" ;;
	esac
	finish reboot
	;;
3)
	check_boot_values stealth "$state/stealth.settings"
	check stealth.icmp_echo_ignore_all 1 "$(live net.ipv4.icmp_echo_ignore_all)"
	wait_for_wildcards
	pve-tcp-hardening status --json >"$state/status.boot3.json" 2>&1
	check status.after-reboot.exit 0 "$?"
	show "status --json after the reboot" "$state/status.boot3.json"
	check status.after-reboot.wildcards "[::]:22 wildcard true, [::]:8006 wildcard false" \
		"$(wildcard_report "$state/status.boot3.json")"
	# A clean node: the boot-time check ran and logged nothing at warning.
	check boot-check.ran success "$(systemctl show -p Result --value pve-tcp-hardening-boot-check.service)"
	check boot-check.no-warnings "" "$(boot_check_warnings)"
	check boot-check.all-in-force yes \
		"$(journalctl -b -t pve-tcp-hardening -o cat --no-pager | grep -q 'all in force' && echo yes || echo no)"
	if [ -e /proc/sys/net/ipv6/icmp/echo_ignore_all ]; then
		check stealth.ipv6.icmp.echo_ignore_all 1 "$(live net.ipv6.icmp.echo_ignore_all)"
	else
		result stealth.ipv6.icmp.echo_ignore_all SKIP 1 "MISSING (no such key in this kernel)"
	fi
	check no-ipv6-listener "" "$(ipv6_address_listeners)"
	run_apt purge purge -y 'pve-tcp-hardening*'
	check purge.no-diversion "" "$(dpkg-divert --list | grep /etc/default/chrony)"
	finish reboot
	;;
4)
	while IFS="$tab" read -r key value; do
		check "restored.$key" "$value" "$(live "$key")"
	done <"$state/values.boot1"
	record_host boot4
	check restored.etc-default-chrony "$(cat "$state/chrony.boot1")" "$(cat "$state/chrony.boot4")"
	check restored.diversions "$(cat "$state/diversions.boot1")" "$(cat "$state/diversions.boot4")"
	if cmp -s "$state/tree.boot1" "$state/tree.boot4"; then
		result restored.sysctl-trees PASS "as at boot 1" "as at boot 1"
	else
		result restored.sysctl-trees FAIL "as at boot 1" \
			"$(diff "$state/tree.boot1" "$state/tree.boot4" | grep '^[<>]')"
	fi
	check restored.chronyd-sockets "127.0.0.1:323 [::1]:323" "$(chronyd_sockets)"
	check purge.no-units "" \
		"$(ls -d /usr/lib/systemd/system/pve-tcp-hardening* /etc/systemd/system/pve-tcp-hardening* \
			/etc/systemd/system/*/pve-tcp-hardening* /var/lib/systemd/deb-systemd-helper-*/pve-tcp-hardening* \
			/var/lib/systemd/deb-systemd-helper-*/*/pve-tcp-hardening* 2>/dev/null)"

	# Issue 15: the guide done by hand on this host, then the package.
	guide_by_hand
	run_apt install-over-hand install -y ./pve-tcp-hardening.deb
	check hand.install.says-where yes \
		"$(grep -q 'kept as /var/lib/pve-tcp-hardening/adopted/etc/sysctl.d/80_tcp_hardening.conf' "$apt_err" "$state/install-over-hand.boot$boot.stdout" && echo yes || echo no)"
	check hand.install.minus-four-once 1 "$(grep '^DAEMON_OPTS=' /etc/default/chrony | grep -o -- '-4' | wc -l)"
	finish reboot
	;;
5)
	check_boot_values hand-installed "$state/default.settings"
	check hand-installed.chronyd-sockets 127.0.0.1:323 "$(chronyd_sockets)"
	pve-tcp-hardening status >"$state/status.boot5" 2>&1
	status_rc=$?
	show "pve-tcp-hardening status (exit $status_rc)" "$state/status.boot5"
	check hand-installed.status.exit 0 "$status_rc"
	check hand-installed.adopted "80_tcp_hardening.conf chrony.orig" \
		"$(find /var/lib/pve-tcp-hardening/adopted -type f -printf '%f\n' 2>/dev/null | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')"
	run_apt purge-over-hand purge -y pve-tcp-hardening
	finish reboot
	;;
6)
	while IFS="$tab" read -r key value; do
		check "hand-restored.$key" "$value" "$(live "$key")"
	done <"$state/values.hand"
	record_host hand-after
	for what in chrony diversions tree; do
		if cmp -s "$state/$what.hand" "$state/$what.hand-after"; then
			result "hand-restored.$what" PASS "as made by hand" "as made by hand"
		else
			result "hand-restored.$what" FAIL "as made by hand" \
				"$(diff "$state/$what.hand" "$state/$what.hand-after" | grep '^[<>]')"
		fi
	done
	check hand-restored.chronyd-sockets 127.0.0.1:323 "$(chronyd_sockets)"
	check hand-restored.no-state "" "$(ls -d /var/lib/pve-tcp-hardening 2>/dev/null)"
	say DONE
	finish poweroff
	;;
*)
	result scenario FAIL "6 boots" "boot $boot"
	finish poweroff
	;;
esac
