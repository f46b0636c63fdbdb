#!/bin/bash
# The role's checks that run on the controller before any node is contacted,
# run without touching any machine: the inventory's nodes are 127.0.0.1 on
# a closed port, so a check that let the play reach a node would show as
# UNREACHABLE. No VM, a few seconds; `make test-ansible-lint` runs it under
# Debian 12's ansible-core and (controller-2.19.sh) Debian 13's.
#  - repository settings and key (tasks/repository.yml): a missing setting
#    or a binary key stops with a message that says what to give instead;
#  - meta/argument_specs.yml: a wrong profile or Ceph wait, or a non-boolean, stops
#    site.yml and rollback.yml (the `roles:` play) before any task runs,
#    under the new name and the old pth_* one; the profile choices are the
#    files under profiles/, every default has a spec and every spec a default
#    and a line in the README's table;
#  - an old pth_* name draws a deprecation warning;
#  - tags: --tags verify keeps only the verification, --skip-tags reboot
#    drops the reboot;
#  - `ansible-doc -t role` shows the settings.
set -euo pipefail
here=$(dirname "$(realpath "$0")")
repo=$(realpath "$here/../..")
ansible_dir=$repo/deploy/ansible
role=$ansible_dir/roles/pve_tcp_hardening
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export ANSIBLE_CONFIG=$ansible_dir/ansible.cfg ANSIBLE_NOCOLOR=1 ANSIBLE_ROLES_PATH=$ansible_dir/roles

cat >"$work/play.yml" <<'EOP'
- name: The role's controller-side repository checks
  hosts: localhost
  gather_facts: false
  connection: local
  tasks:
    - name: Check the repository settings and key
      ansible.builtin.import_role:
        name: pve_tcp_hardening
        tasks_from: repository
EOP
# Three nodes nobody answers for (port 1 on loopback is closed).
printf '[pve]\n%s\n' "pve1 ansible_host=127.0.0.1 ansible_port=1" "pve2 ansible_host=127.0.0.1 ansible_port=1" \
	>"$work/inventory.ini"
gpg_home=$work/gnupg
mkdir -m 0700 "$gpg_home"
gpg --homedir "$gpg_home" --batch --quiet --passphrase '' --quick-gen-key 'pth controller check' ed25519 sign never
gpg --homedir "$gpg_home" --export >"$work/key.gpg"
gpg --homedir "$gpg_home" --export --armor >"$work/key.asc"

pass=0 fail=0
failed() {
	echo "controller-checks: FAIL: $1" >&2
	fail=$((fail + 1))
}
# expect OUTCOME TEXT PLAYBOOK ARGS...: ansible-playbook ends in OUTCOME
# (ok/fail), its output contains TEXT (a grep -E pattern) and, unless
# OUTCOME is ok-unreachable, never reaches a node.
expect() {
	local want=$1 text=$2 out rc=0
	shift 2
	out=$(cd "$ansible_dir" && ansible-playbook "$@" 2>&1) || rc=$?
	if { [ "$want" = ok ] && [ "$rc" != 0 ]; } || { [ "$want" != ok ] && [ "$rc" = 0 ]; } ||
		! grep -Eq -- "$text" <<<"$out" ||
		{ [ "$want" != unreachable ] && grep -q UNREACHABLE <<<"$out"; } ||
		{ [ "$want" = unreachable ] && ! grep -q UNREACHABLE <<<"$out"; }; then
		failed "$* (want $want, exit $rc, text '$text'):"
		echo "$out" | tail -n 20 >&2
	else
		pass=$((pass + 1))
	fi
}
key=(-e pve_tcp_hardening_repo_url=http://repo.invalid/ -e pve_tcp_hardening_repo_key_file="$work/key.asc")
local_play=(-i localhost, "$work/play.yml")
expect fail "Set pve_tcp_hardening_repo_url" "${local_play[@]}" -e pve_tcp_hardening_repo_key_file="$work/key.asc"
expect fail "is not an armored OpenPGP key" "${local_play[@]}" -e pve_tcp_hardening_repo_url=http://repo.invalid/ \
	-e pve_tcp_hardening_repo_key_file="$work/key.gpg"
expect ok "ok=3" "${local_play[@]}" "${key[@]}"
# The old names are still taken.
expect ok "ok=3" "${local_play[@]}" -e pth_repo_url=http://repo.invalid/ -e pth_repo_key_file="$work/key.asc"

# Wrong values stop before any node is contacted (the plan play's argument
# check, and the `roles:` play of rollback.yml).
site=(-i "$work/inventory.ini" site.yml "${key[@]}")
wrong_profile="value of pve_tcp_hardening_profile must be one of: default, ipv6, stealth, strict, got: stirct"
expect fail "$wrong_profile" "${site[@]}" -e pve_tcp_hardening_profile=stirct
expect fail "$wrong_profile" "${site[@]}" -e pth_profile=stirct
expect fail "$wrong_profile" -i "$work/inventory.ini" rollback.yml -e pve_tcp_hardening_profile=stirct
expect fail "pve_tcp_hardening_reboot.*(bool|boolean)" "${site[@]}" -e pve_tcp_hardening_reboot=maybe
expect fail "pve_tcp_hardening_state must be one of: present, absent" -i "$work/inventory.ini" rollback.yml \
	-e pve_tcp_hardening_state=gone
expect fail "pve_tcp_hardening_ceph_wait_for must be one of: active_clean, health_ok, got: clean" "${site[@]}" \
	-e pve_tcp_hardening_ceph_wait_for=clean
expect fail "pve_tcp_hardening_migrate_guests.*(bool|boolean)" "${site[@]}" -e pve_tcp_hardening_migrate_guests=maybe
# A good old name passes the checks, warns, and only then reaches for the
# (absent) nodes.
expect unreachable "^ *- pth_profile -> pve_tcp_hardening_profile$" \
	"${site[@]}" -e pth_profile=strict

# Tags.
tasks_of() { (cd "$ansible_dir" && ansible-playbook -i "$work/inventory.ini" site.yml --list-tasks "$@"); }
all_tasks=$(tasks_of)
verify_tasks=$(tasks_of --tags verify)
no_reboot=$(tasks_of --skip-tags reboot)
for name in "Plan on this node" "Install the profile package" "Reboot" "Ask the helper what is in force"; do
	grep -q "pve_tcp_hardening : $name" <<<"$all_tasks" || failed "site.yml has no task '$name'"
done
# --list-tasks shows every task with its tags; --tags filters the list.
if grep -E 'pve_tcp_hardening : ' <<<"$verify_tasks" | grep -Ev 'TAGS: \[(always|verify)\]' | grep -q .; then
	failed "--tags verify keeps tasks other than verify ones: $(grep -Ev 'TAGS: \[(always|verify)\]' <<<"$verify_tasks")"
elif ! grep -q "Ask the helper what is in force" <<<"$verify_tasks"; then
	failed "--tags verify has no verification"
else
	pass=$((pass + 1))
fi
if grep -Eq "pve_tcp_hardening : (Reboot|Put the node into HA maintenance|Set Ceph's noout flag|Migrate the guests)" <<<"$no_reboot" ||
	! grep -q 'Install the profile package' <<<"$no_reboot"; then
	failed "--skip-tags reboot: $no_reboot"
else
	pass=$((pass + 1))
fi

# ansible-doc shows every entry point and setting.
# (2.19 writes bold names even without a terminal)
doc=$(ansible-doc -t role -r "$ansible_dir/roles" pve_tcp_hardening | sed "s/\x1b\[[0-9;]*m//g")
for entry in main plan install verify rollback; do
	grep -Eq "ENTRY POINT: \*?$entry\*? " <<<"$doc" || failed "ansible-doc shows no entry point $entry"
done
grep -q "pve_tcp_hardening_profile" <<<"$doc" && pass=$((pass + 1)) || failed "ansible-doc shows no pve_tcp_hardening_profile"

# The specs against the profiles, the defaults and the README.
spec_problems=$(python3 - "$role" "$repo" <<'EOPY'
import pathlib, re, sys, yaml
role, repo = map(pathlib.Path, sys.argv[1:])
specs = yaml.safe_load((role / "meta/argument_specs.yml").read_text())["argument_specs"]
defaults = yaml.safe_load((role / "defaults/main.yml").read_text())
readme = (repo / "README.md").read_text()
profiles = sorted(p.stem for p in (repo / "profiles").glob("*.toml"))
problems = []
for entry, spec in specs.items():
    opts = spec["options"]
    if sorted(opts["pve_tcp_hardening_profile"]["choices"]) != profiles:
        problems.append(f"{entry}: profile choices {opts['pve_tcp_hardening_profile']['choices']} != profiles/ {profiles}")
    for name, opt in opts.items():
        if name not in defaults:
            problems.append(f"{entry}: {name} has a spec but no default in defaults/main.yml")
        if not opt.get("description") or not opt.get("type"):
            problems.append(f"{entry}: {name} lacks a type or description")
        if f"`{name}`" not in readme:
            problems.append(f"README.md: no `{name}` in the Ansible table")
    for name in defaults:
        if name not in opts:
            problems.append(f"{entry}: {name} (defaults/main.yml) has no spec")
# Every old name defaults/main.yml still takes is in the README's table.
for old in re.findall(r"\{\{ (pth_[a-z_]+)", (role / "defaults/main.yml").read_text()):
    if f"`{old}`" not in readme:
        problems.append(f"README.md: the old name `{old}` is not in the table")
print("\n".join(sorted(set(problems))))
EOPY
)
[ -z "$spec_problems" ] && pass=$((pass + 1)) || failed "argument specs: $spec_problems"

echo "controller-checks: $pass passed, $fail failed"
[ "$fail" = 0 ]
