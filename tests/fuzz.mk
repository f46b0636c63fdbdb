# Included by the top-level Makefile. `make fuzz` (root, not part of
# `make test` or CI): the differential tests of `apply` against procps
# `sysctl -p` and of the merge model against systemd-sysctl and
# `sysctl --system`, on FUZZ_CASES random seeds from FUZZ_SEED (random
# unless given). A mismatch is printed shrunk to the fewest lines, with
# its seed: rerun it with `make fuzz FUZZ_SEED=N FUZZ_CASES=1`.
FUZZ_CASES ?= 1000
FUZZ_SEED  ?= $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')

.PHONY: fuzz
fuzz:
	@echo "fuzz: FUZZ_SEED=$(FUZZ_SEED) FUZZ_CASES=$(FUZZ_CASES)"
	PTH_FUZZ_SEED='$(FUZZ_SEED)' PTH_FUZZ_CASES='$(FUZZ_CASES)' \
	  cargo test --locked --test apply --test merge_differential -- \
	  --nocapture apply_matches_procps_on_generated_lines model_matches_systemd_sysctl_and_procps
