#!/bin/bash
# The role's controller side under Debian 13's ansible-core 2.19.11 (the
# version trixie ships): the playbooks' syntax check and the controller
# checks (controller-checks.sh) and the collection's (collection-checks.sh), with ansible-core installed from the Python
# registry into a venv under target/ (made once, then reused). Debian 12's
# ansible-core 2.14 runs the same checks from `make test-ansible-lint`.
set -euo pipefail
here=$(dirname "$(realpath "$0")")
repo=$(realpath "$here/../..")
version=${ANSIBLE_CORE_TRIXIE:-2.19.11}
venv=$repo/target/ansible-core-$version
if ! "$venv/bin/ansible-playbook" --version 2>/dev/null | grep -q "core $version\]"; then
	rm -rf "$venv"
	/usr/bin/python3 -m venv "$venv"
	"$venv/bin/pip" install --quiet --disable-pip-version-check "ansible-core==$version"
fi
export PATH=$venv/bin:$PATH
# Not ours: the venv's cryptography warns about DSA at every start.
export PYTHONWARNINGS=ignore
ansible-playbook --version | sed -n 1p # sed reads it all: head could end the pipe early
cd "$repo/deploy/ansible"
ansible-playbook -i inventory.example.ini --syntax-check site.yml rollback.yml
"$here/controller-checks.sh"
"$here/collection-checks.sh"
