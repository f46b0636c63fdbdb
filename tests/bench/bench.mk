# Included by the top-level Makefile. `make bench` is not part of `make test`:
# it takes a few minutes and its figures depend on the machine.
.PHONY: bench
bench: deps-build release
	tests/bench/run.sh
