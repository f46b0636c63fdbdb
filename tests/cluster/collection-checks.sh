#!/bin/bash
# deploy/ansible as the collection pve_tcp_hardening.hardening (galaxy.yml):
# `ansible-galaxy collection build` makes a tarball of the role without the
# playbook directory's own files, and `ansible-galaxy collection install`
# takes it from the tarball, from the directory and from a git repository
# (git+file:// of a scratch repository holding this tree's deploy/ansible,
# as an admin installs from the project's git). Each installed copy: the
# role's arguments in `ansible-doc`, and a playbook that names the role by
# its full name refuses a wrong profile before touching any node. The
# collection's version is Cargo.toml's. Controller only, no network, a few
# seconds; `make test-ansible-lint` runs it under ansible-core 2.14 and
# (controller-2.19.sh) 2.19.
set -euo pipefail
here=$(dirname "$(realpath "$0")")
repo=$(realpath "$here/../..")
src=$repo/deploy/ansible
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
touch "$work/ansible.cfg"
export ANSIBLE_NOCOLOR=1 ANSIBLE_CONFIG=$work/ansible.cfg ANSIBLE_COLLECTIONS_PATH=$work/none
fqcn=pve_tcp_hardening.hardening.pve_tcp_hardening
pass=0 fail=0
failed() {
	echo "collection-checks: FAIL: $*" >&2
	fail=$((fail + 1))
}

version=$(sed -n 's/^version: *//p' "$src/galaxy.yml")
cargo_version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -n 1)
[ "$version" = "$cargo_version" ] && pass=$((pass + 1)) ||
	failed "galaxy.yml's version $version is not Cargo.toml's $cargo_version"

(cd "$work" && ansible-galaxy collection build "$src" >/dev/null)
tarball=$work/pve_tcp_hardening-hardening-$version.tar.gz
[ -f "$tarball" ] || failed "no $tarball"
files=$(tar -tzf "$tarball")
for want in galaxy.yml MANIFEST.json meta/runtime.yml roles/pve_tcp_hardening/tasks/main.yml \
	roles/pve_tcp_hardening/meta/argument_specs.yml roles/pve_tcp_hardening/files/plan.sh; do
	# galaxy.yml is rendered into MANIFEST.json, not shipped.
	[ "$want" = galaxy.yml ] && continue
	grep -qx "$want" <<<"$files" || failed "the tarball lacks $want"
done
for unwanted in ansible.cfg inventory.example.ini site.yml rollback.yml .ansible-lint-ignore; do
	! grep -qx "$unwanted" <<<"$files" || failed "the tarball carries $unwanted"
done
pass=$((pass + 1))

# A scratch git repository with this tree's deploy/ansible (committed or
# not), where the project's repository has it.
git_repo=$work/git
mkdir -p "$git_repo/deploy"
cp -r "$src" "$git_repo/deploy/ansible"
git -C "$git_repo" init -q -b main
git -C "$git_repo" add -A
git -C "$git_repo" -c user.name=check -c user.email=check@invalid commit -q -m collection

cat >"$work/play.yml" <<EOP
- name: Roll out with the collection's role
  hosts: pve
  gather_facts: false
  roles:
    - $fqcn
EOP
printf '[pve]\npve1 ansible_host=127.0.0.1 ansible_port=1\n' >"$work/inventory.ini"

for how in tarball directory git; do
	dest=$work/installed-$how
	case $how in
	tarball) from=$tarball ;;
	directory) from=$src ;;
	git) from="git+file://$git_repo#/deploy/ansible/,main" ;;
	esac
	export ANSIBLE_COLLECTIONS_PATH=$work/none
	if ! out=$(ansible-galaxy collection install -p "$dest" "$from" 2>&1); then
		failed "install from the $how: $out"
		continue
	fi
	# Only this copy is visible to what follows.
	export ANSIBLE_COLLECTIONS_PATH=$dest
	got=$(ansible-galaxy collection list -p "$dest" 2>/dev/null | awk '$1 == "pve_tcp_hardening.hardening" { print $2 }')
	[ "$got" = "$version" ] || failed "from the $how: installed version '$got', want $version"
	doc=$(ansible-doc -t role "$fqcn" 2>&1 | sed "s/\x1b\[[0-9;]*m//g") || true
	grep -Eq "ENTRY POINT: \*?main\*? " <<<"$doc" && grep -q pve_tcp_hardening_repo_key_file <<<"$doc" ||
		failed "from the $how: ansible-doc shows no arguments: $doc"
	rc=0
	out=$(ansible-playbook -i "$work/inventory.ini" "$work/play.yml" -e pve_tcp_hardening_profile=stirct 2>&1) || rc=$?
	if [ "$rc" = 0 ] || ! grep -q "pve_tcp_hardening_profile must be one of" <<<"$out" || grep -q UNREACHABLE <<<"$out"; then
		failed "from the $how: a wrong profile was not refused before the nodes (exit $rc): $(tail -n 15 <<<"$out")"
	else
		pass=$((pass + 1))
	fi
done
echo "collection-checks: $pass passed, $fail failed"
[ "$fail" = 0 ]
