# The cluster rollout proof (issue 17): deploy/ansible driving three qemu
# VMs (tests/cluster/run.sh: two Debian 13 nodes and one Debian 12 node,
# driven by Debian 12's ansible-core 2.14, whose modules run on trixie's
# Python 3.13), and the role's static checks. Included by the
# top-level Makefile; `make test` runs the static checks only: the
# three-node run takes about 22-25 minutes under TCG on 2 cores, beside
# `make test`'s 42; .ci/run runs it after `make test`. No $(MAKE) in the
# recipes on purpose: make -n would run such a line, VMs and all.
.PHONY: test-cluster test-ansible-lint
test-cluster: deps-test
	tests/cluster/run.sh --make-debs '$(DIST)'

# ansible-lint with its production profile (`--profile production`; `-p`
# is --parseable) from Debian 12 (6.13) on the playbooks and the role
# (without the role's meta/main.yml: 6.13's schema knows no Debian 13
# "trixie" among the platforms), and
# the current one, pinned, from the Python registry in a venv under target/
# on all of deploy/ansible, collection metadata included
# (ansible-lint-current.sh); a syntax check of both playbooks, the role's
# controller-side checks (controller-checks.sh) and the collection's build
# and installs (collection-checks.sh), under Debian 12's ansible-core 2.14
# and Debian 13's 2.19.11 (from the Python registry in a venv under
# target/: controller-2.19.sh).
test-ansible-lint:
	cd deploy/ansible && ansible-lint --profile production --exclude roles/pve_tcp_hardening/meta/main.yml \
		site.yml rollback.yml roles/pve_tcp_hardening meta/runtime.yml
	tests/cluster/ansible-lint-current.sh
	cd deploy/ansible && ansible-playbook -i inventory.example.ini --syntax-check site.yml rollback.yml
	tests/cluster/controller-checks.sh
	tests/cluster/collection-checks.sh
	tests/cluster/controller-2.19.sh
