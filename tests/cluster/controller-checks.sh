#!/bin/bash
# The role's checks that run on the controller before any node is contacted
# (tasks/repository.yml), run against localhost without touching it: a
# missing setting or a binary key stops with a message that says what to
# give instead; the armored key from `make repo` passes. No VM, a few
# seconds; `make test` runs it with the lint.
set -euo pipefail
here=$(dirname "$(realpath "$0")")
ansible_dir=$(realpath "$here/../../deploy/ansible")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat >"$work/play.yml" <<'EOP'
- name: The role's controller-side repository checks
  hosts: localhost
  gather_facts: false
  connection: local
  tasks:
    - name: Check the repository settings and key
      ansible.builtin.import_role:
        name: pve_tcp_hardening
        tasks_from: repository.yml
EOP
gpg_home=$work/gnupg
mkdir -m 0700 "$gpg_home"
gpg --homedir "$gpg_home" --batch --quiet --passphrase '' --quick-gen-key 'pth controller check' ed25519 sign never
gpg --homedir "$gpg_home" --export >"$work/key.gpg"
gpg --homedir "$gpg_home" --export --armor >"$work/key.asc"

fail=0
# expect OUTCOME TEXT ARGS...: the play ends in OUTCOME (ok/fail) and its
# output contains TEXT.
expect() {
	local want=$1 text=$2 out rc=0
	shift 2
	out=$(cd "$ansible_dir" && ANSIBLE_CONFIG=$ansible_dir/ansible.cfg ANSIBLE_NOCOLOR=1 \
		ANSIBLE_ROLES_PATH=$ansible_dir/roles ansible-playbook -i localhost, "$work/play.yml" "$@" 2>&1) || rc=$?
	if { [ "$want" = ok ] && [ "$rc" != 0 ]; } || { [ "$want" = fail ] && [ "$rc" = 0 ]; } ||
		! grep -qF -- "$text" <<<"$out"; then
		echo "controller-checks: FAIL: $* (want $want, exit $rc, text '$text'):" >&2
		echo "$out" | tail -n 20 >&2
		fail=1
	fi
}
expect fail "Set pth_repo_url" -e pth_repo_key_file="$work/key.asc"
expect fail "is not an armored OpenPGP key" -e pth_repo_url=http://repo.invalid/ -e pth_repo_key_file="$work/key.gpg"
expect ok "ok=3" -e pth_repo_url=http://repo.invalid/ -e pth_repo_key_file="$work/key.asc"
[ "$fail" = 0 ] && echo "controller-checks: 3 passed"
exit "$fail"
