# Included by the top-level Makefile. `make bench` is not part of `make test`:
# it takes a few minutes and its figures depend on the machine.
# The rollout (section 5, tests/cluster) needs the test packages (qemu,
# ansible, apt-utils, ...); BENCH_ROLLOUT=0 only the build ones.
.PHONY: bench
bench: $(if $(filter 0,$(BENCH_ROLLOUT)),deps-build,deps-test) release
	tests/bench/run.sh
