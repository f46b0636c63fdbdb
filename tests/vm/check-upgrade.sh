#!/bin/sh
# The PVE 8 -> 9 upgrade proof (issue 27), run inside the VM once per boot
# by pth-vm-check.service (installed as check.sh; upgrade.sh on the host).
#
#   boot 1  Debian 12 node: the admin keeps net.ipv4.tcp_fin_timeout = 30
#           in /etc/sysctl.conf (the profile sets it too, to another value),
#           in force; record values, chrony, diversions, trees; install the
#           default profile; status says the key is shadowed. Then the
#           upgrade: sources -> the staged trixie repository (no network),
#           `apt-get full-upgrade`; the new kernel is left in
#           /var/lib/pth-vm/kernel/ for the host to boot.
#   boot 2  Debian 13 kernel, systemd 257: the profile's values in force
#           from boot, chrony 4.6 with -4 on 127.0.0.1:323 only, status
#           recorded and checked (check_status_after_upgrade); purge: every
#           value as before the install, chrony's file as before, no
#           diversion, no state; power off.
#
# Output: RESULT lines as check.sh's (check-lib.sh), parsed by upgrade.sh.
. "$(dirname "$0")/check-lib.sh"

# The admin's key of /etc/sysctl.conf, and the value the admin keeps there.
admin_key=net.ipv4.tcp_fin_timeout
admin_value=30
repo=$state/trixie-repo
# The upgrade unpacks a few hundred packages under emulation.
install_timeout=2400

# After the upgrade and its reboot: what `status` says on the upgraded node.
# Every key of the profile is in force ("ok"), also the admin's key, whose
# line Debian 13 no longer reads: procps kept the modified sysctl.conf as
# /etc/sysctl.conf.dpkg-bak and systemd 257 reads no sysctl.conf. status
# reads the root with trixie's rules and names that line as a problem (exit
# 1), in JSON `abandoned` and in the text with the fix.
check_status_after_upgrade() { # STATUS-TEXT STATUS-JSON STATUS-EXIT
	check status.upgraded.exit 1 "$3"
	check status.upgraded.json valid "$(jq -e . "$2" >/dev/null 2>&1 && echo valid || echo invalid)"
	check status.upgraded.release trixie "$(jq -r .release.codename "$2" 2>&1)"
	while IFS="$tab" read -r key value; do
		got=$(jq -r --arg k "$key" '[.keys[] | select(.key == $k)][0].state' "$2" 2>&1)
		check "status.upgraded.json.$key" ok "$got"
	done <"$state/default.settings"
	check status.upgraded.abandoned "$admin_key = $admin_value in /etc/sysctl.conf.dpkg-bak, lost" \
		"$(jq -r --arg k "$admin_key" '.abandoned[] | select(.key == $k) |
			"\(.key) = \(.value) in \(.file), \(if .lost then "lost" else "kept" end)"' "$2" 2>&1)"
	check status.upgraded.text.fix yes "$(grep -q "^problem: $admin_key = $admin_value in /etc/sysctl.conf.dpkg-bak:[0-9]* is not applied at boot: .*To keep your value, move the line to a file in /etc/sysctl.d/" "$1" && echo yes || echo no)"
}

say "BOOT $boot start uptime=$(cut -d' ' -f1 /proc/uptime)"
say "systemd: $(systemd-analyze time 2>/dev/null | head -n 1)"
wait_for_chronyd

case $boot in
1)
	check_release before bookworm
	profile_settings "$debs/pve-tcp-hardening.deb" >"$state/default.settings"
	check admin-key.in-profile yes "$(cut -f1 "$state/default.settings" | grep -qx "$admin_key" && echo yes || echo no)"
	check admin-key.other-value yes \
		"$(grep -q "^$admin_key$tab$admin_value\$" "$state/default.settings" && echo no || echo yes)"

	# The admin's own setting, kept in /etc/sysctl.conf on PVE 8 and put in force.
	printf '\n# kept by the admin on PVE 8\n%s = %s\n' "$admin_key" "$admin_value" >>/etc/sysctl.conf
	sysctl -q -p /etc/sysctl.conf
	check admin-key.live "$admin_value" "$(live "$admin_key")"
	while IFS="$tab" read -r key _; do
		printf '%s\t%s\n' "$key" "$(live "$key")"
	done <"$state/default.settings" >"$state/values.before"
	show "values before the install" "$state/values.before"
	record_host before
	check stock.chronyd-sockets "127.0.0.1:323 [::1]:323" "$(chronyd_sockets)"

	run_apt install-default install -y ./pve-tcp-hardening.deb
	while IFS="$tab" read -r key value; do
		check "installed.$key" "$value" "$(live "$key")"
	done <"$state/default.settings"
	wait_for_chronyd
	check installed.chronyd-sockets 127.0.0.1:323 "$(chronyd_sockets)"
	pve-tcp-hardening status >"$state/status.bookworm" 2>&1
	rc=$?
	show "pve-tcp-hardening status on bookworm (exit $rc)" "$state/status.bookworm"
	pve-tcp-hardening status --json >"$state/status.bookworm.json" 2>/dev/null
	check status.bookworm.exit 1 "$rc"
	check "status.bookworm.$admin_key" shadowed \
		"$(jq -r --arg k "$admin_key" '[.. | objects | select(.key? == $k)][0].state' "$state/status.bookworm.json" 2>&1)"

	# The upgrade, from the staged trixie packages only.
	printf 'deb [trusted=yes] file:%s ./\n' "$repo" >/etc/apt/sources.list
	rm -f /etc/apt/sources.list.d/*
	run_apt update update
	run_apt full-upgrade -o Dpkg::Use-Pty=0 full-upgrade -y
	check upgraded.codename trixie "$(. /etc/os-release && echo "$VERSION_CODENAME")"
	check upgraded.etc-sysctl.conf absent "$([ -e /etc/sysctl.conf ] && echo present || echo absent)"
	check upgraded.dpkg-bak-keeps-admin-key "$admin_key = $admin_value" \
		"$(grep "^$admin_key" /etc/sysctl.conf.dpkg-bak 2>&1)"
	check upgraded.chrony.daemon-opts yes "$(grep -q '^DAEMON_OPTS=.*-4' /etc/default/chrony && echo yes || echo no)"
	check upgraded.chrony.diverted "/etc/default/chrony.orig" \
		"$(dpkg-divert --listpackage /etc/default/chrony >/dev/null && dpkg-divert --truename /etc/default/chrony)"
	check upgraded.package-installed "install ok installed" \
		"$(dpkg-query -W -f '${Status}' pve-tcp-hardening 2>&1)"

	# The new release's kernel, for the host to boot (qemu's direct boot).
	mkdir -p "$state/kernel"
	kver=$(find /boot -name 'vmlinuz-*' -printf '%f\n' | sed 's/^vmlinuz-//' | sort -V | tail -n 1)
	check upgraded.kernel-staged yes "$(cp "/boot/vmlinuz-$kver" "$state/kernel/vmlinuz" &&
		cp "/boot/initrd.img-$kver" "$state/kernel/initrd" && echo yes || echo "no ($kver)")"
	finish reboot
	;;
2)
	check_versions after trixie
	check after.systemd-sysctl.result success "$(systemctl show -p Result --value systemd-sysctl.service)"
	check_boot_values boot "$state/default.settings"
	# Spelled out: the admin's 30 is no longer in force at boot.
	check "boot.admin-key-ignored.$admin_key" \
		"$(grep "^$admin_key$tab" "$state/default.settings" | cut -f2)" "$(live "$admin_key")"
	check after.chrony.daemon-opts yes "$(grep -q '^DAEMON_OPTS=.*-4' /etc/default/chrony && echo yes || echo no)"
	check after.chronyd-sockets 127.0.0.1:323 "$(chronyd_sockets)"

	pve-tcp-hardening status >"$state/status.trixie" 2>&1
	status_rc=$?
	show "pve-tcp-hardening status after the upgrade (exit $status_rc)" "$state/status.trixie"
	pve-tcp-hardening status --json >"$state/status.trixie.json" 2>"$state/status.trixie.json.err"
	show "pve-tcp-hardening status --json after the upgrade" "$state/status.trixie.json"
	check_status_after_upgrade "$state/status.trixie" "$state/status.trixie.json" "$status_rc"

	dpkg-divert --list | LC_ALL=C sort >"$state/diversions.upgraded"
	run_apt purge purge -y pve-tcp-hardening
	while IFS="$tab" read -r key value; do
		check "purged.$key" "$value" "$(live "$key")"
	done <"$state/values.before"
	record_host purged
	check purged.etc-default-chrony "$(cat "$state/chrony.before")" "$(cat "$state/chrony.purged")"
	# The upgrade itself changes other packages' diversions (t64 libraries'
	# *.usr-is-merged come, dash's /bin/sh goes): the purge leaves those of
	# the upgraded node just before it, without the package's.
	check purged.diversions "$(grep -v -e /etc/default/chrony -e 'by pve-tcp-hardening' "$state/diversions.upgraded")" \
		"$(cat "$state/diversions.purged")"
	check purged.no-diversion "" "$(grep -e /etc/default/chrony -e 'by pve-tcp-hardening' "$state/diversions.purged")"
	check purged.no-state "" "$(ls -d /var/lib/pve-tcp-hardening 2>/dev/null)"
	systemctl restart chrony
	wait_for_chronyd
	check purged.chronyd-sockets "127.0.0.1:323 [::1]:323" "$(chronyd_sockets)"
	say DONE
	finish poweroff
	;;
*)
	result scenario FAIL "2 boots" "boot $boot"
	finish poweroff
	;;
esac
