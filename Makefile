# pve-tcp-hardening: Debian packages of TCP/IP hardening profiles for Proxmox VE.
#
#   make deb                 build the default profile's package (dist/pve-tcp-hardening.deb)
#   make deb PROFILE=strict  build one profile
#   make debs                build every profile
#   make repo                signed apt repository of them in dist/repo (SIGN_KEY=KEYID)
#   make man                 the build tool's man page in target/man (no package ships it)
#   make test                every test (root runs the chroot end-to-end tests too;
#                            CI=true: a test that cannot run here fails the run)
#   make bench               time apply, packaging and install; writes BENCHMARKS.md
#   make fuzz                differential tests on random seeds (FUZZ_SEED, FUZZ_CASES)
#   make test-cluster        the Ansible rollout on three qemu VMs (~19-25 min; CI runs it after make test)
#
# On a fresh Debian 12 machine the targets install what they lack (apt
# packages as root, a pinned cargo-deb through cargo).

PROFILE    ?= default
CARGO_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
VERSION    ?= $(CARGO_VERSION)-1
MAINTAINER ?= pve-tcp-hardening maintainers <pve-tcp-hardening@example.org>
DIST       ?= dist
# gpg key that signs the apt repository; empty: a dedicated key, made once.
SIGN_KEY   ?=
# Reproducible builds: every timestamp in the .debs is the commit time.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
export SOURCE_DATE_EPOCH

CARGO_DEB_VERSION := 3.7.0
BUILD_APT := dpkg-dev gcc
REPO_APT  := apt-utils gnupg xz-utils
TEST_APT  := $(BUILD_APT) $(REPO_APT) lintian debootstrap piuparts strace procps systemd util-linux iproute2 python3 python3-venv qemu-system-x86 e2fsprogs \
             qemu-utils ansible-core ansible-lint openssh-client netcat-openbsd jq prometheus lynis \
             man-db zsh fish rsync
BUILD_TOOL := target/release/pve-tcp-hardening-build
BUILD_FLAGS = --out $(DIST) --version '$(VERSION)' --maintainer '$(MAINTAINER)'

.PHONY: deb debs repo man test deps-build deps-repo deps-test release clean

deb: deps-build release
	$(BUILD_TOOL) build $(PROFILE) $(BUILD_FLAGS)

debs: deps-build release
	$(BUILD_TOOL) build --all $(BUILD_FLAGS)

repo: debs deps-repo
	$(BUILD_TOOL) repo --debs $(DIST) --out $(DIST)/repo $(if $(SIGN_KEY),--sign-key '$(SIGN_KEY)')

man: release
	$(BUILD_TOOL) man --out target/man

release:
	cargo build --release --locked

# What the suites skipped here (tests/common/gate.sh); with CI=true a skip
# fails the run instead.
test: export PTH_SKIP_LOG := $(CURDIR)/target/skipped-tests.log
test: deps-test release debs
	@mkdir -p target && : > '$(PTH_SKIP_LOG)'
	cargo fmt --check
	cargo clippy --locked --all-targets -- -D warnings
	cargo test --locked
	tests/msrv.sh
	$(MAKE) --no-print-directory -j2 --output-sync=target vm-lanes
	$(MAKE) --no-print-directory test-ansible-lint
	@tests/common/gate.sh summary '$(PTH_SKIP_LOG)'

# make test's qemu proofs in two lanes side by side: a TCG guest keeps
# about 1.2 of two cores busy (it waits on its disk, its timers and the
# host's checks), so two guests share the machine well. Each lane's output
# is printed whole when it ends. The reboot proof on both releases in one;
# the upgrade proof, then the power-cut proof (issue 29) in the other.
.PHONY: vm-lanes vm-lane-reboot vm-lane-crash
vm-lanes: vm-lane-reboot vm-lane-crash
vm-lane-reboot:
	tests/vm/run.sh '$(DIST)'
vm-lane-crash:
	tests/vm/upgrade.sh '$(DIST)'
	tests/vm/powercut.sh '$(DIST)'

# Install missing apt packages (as root) and the pinned cargo-deb.
deps-build:
	@./tests/install-deps.sh $(CARGO_DEB_VERSION) $(BUILD_APT)

deps-repo:
	@./tests/install-deps.sh $(CARGO_DEB_VERSION) $(REPO_APT)

deps-test:
	@./tests/install-deps.sh $(CARGO_DEB_VERSION) $(TEST_APT)

clean:
	cargo clean
	rm -rf $(DIST)

# The chroot end-to-end suite alone (also part of `cargo test` as root).
include tests/e2e/e2e.mk

# `make bench` (not part of `make test`): writes BENCHMARKS.md.
include tests/bench/bench.mk

# The Ansible rollout on three qemu VMs alone, and the role's lint.
include tests/cluster/cluster.mk

# `make fuzz` (not part of `make test`): the differential tests, long.
include tests/fuzz.mk

# The reboot proof in a qemu VM alone on each release (make test-vm), and
# the PVE 8 -> 9 upgrade proof (make test-vm-upgrade); `make test` runs both
# too, as root; elsewhere they say SKIPPED and why.
include tests/vm/vm.mk
