# The reboot proof (issue 10): the packages in a qemu VM booting a real
# Debian 12 kernel, across install, reboot, profile switch and purge.
# Included by the top-level Makefile; see tests/vm/run.sh. Prints
# "SKIPPED: test-vm: <reason>" and succeeds when it cannot run here (not
# root, no usable qemu); only when it can does run.sh build the .debs
# (`make debs DIST=$(DIST)`). No $(MAKE) in the recipe on purpose: make -n
# would run such a line, VM and all.
.PHONY: test-vm
test-vm:
	tests/vm/run.sh --make-debs '$(DIST)'
