# The reboot proof (issues 10, 27): the packages in a qemu VM booting a real
# Debian 12 and then Debian 13 kernel, across install, reboot, profile
# switch and purge; the PVE 8 -> 9 upgrade proof (tests/vm/upgrade.sh); and
# the power-cut proof (tests/vm/powercut.sh, issue 29).
# Included by the top-level Makefile; see tests/vm/run.sh. Prints
# "SKIPPED: test-vm: <reason>" and succeeds when it cannot run here (not
# root, no usable qemu); only when it can does run.sh build the .debs
# (`make debs DIST=$(DIST)`). No $(MAKE) in the recipe on purpose: make -n
# would run such a line, VM and all.
.PHONY: test-vm test-vm-upgrade test-vm-powercut
test-vm:
	tests/vm/run.sh --make-debs '$(DIST)'

test-vm-upgrade:
	tests/vm/upgrade.sh --make-debs '$(DIST)'

test-vm-powercut:
	tests/vm/powercut.sh --make-debs '$(DIST)'
