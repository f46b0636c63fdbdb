#!/bin/bash
# The current ansible-lint (from the Python registry, pinned) over the whole
# of deploy/ansible: playbooks, role and collection metadata, with its
# production profile. Debian 12's ansible-lint 6.13 runs from
# `make test-ansible-lint` too; this is the one ansible-galaxy and Automation
# Hub users meet. The venv lives under target/ (made once, then reused).
# The findings that stand are in deploy/ansible/.ansible-lint-ignore, each
# with its reason.
set -euo pipefail
here=$(dirname "$(realpath "$0")")
repo=$(realpath "$here/../..")
lint_version=${ANSIBLE_LINT_CURRENT:-26.10.1}
core_version=${ANSIBLE_CORE_TRIXIE:-2.19.11}
venv=$repo/target/ansible-lint-$lint_version
installed() {
	"$venv/bin/python3" -c 'import importlib.metadata as m; print(m.version("ansible-lint"), m.version("ansible-core"))' 2>/dev/null
}
if [ "$(installed)" != "$lint_version $core_version" ]; then
	rm -rf "$venv"
	/usr/bin/python3 -m venv "$venv"
	"$venv/bin/pip" install --quiet --disable-pip-version-check \
		"ansible-lint==$lint_version" "ansible-core==$core_version"
fi
export PATH=$venv/bin:$PATH
cd "$repo/deploy/ansible"
# --offline: no collection or schema download; -q: no banner. Colors off for
# CI logs.
PYTHONWARNINGS=ignore NO_COLOR=1 ANSIBLE_NOCOLOR=1 ansible-lint --offline --nocolor --profile production -q
echo "ansible-lint-current: ansible-lint $lint_version (ansible-core $core_version) passed"
