# Included by the top-level Makefile. `make bench` is not part of `make test`:
# it takes a few minutes and its figures depend on the machine.
# The Ansible rollout on tests/cluster's VMs needs the test packages (qemu,
# ansible, apt-utils, ...); with BENCH_ROLLOUT=0 the build ones suffice.
.PHONY: bench
bench: $(if $(filter 0,$(BENCH_ROLLOUT)),deps-build,deps-test) release
	tests/bench/run.sh
