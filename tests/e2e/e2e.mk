# Include from the top-level Makefile: `include tests/e2e/e2e.mk`, then make
# `test` depend on `test-e2e`. run.sh builds dist/ with `make debs` itself.
.PHONY: test-e2e
test-e2e:
	tests/e2e/run.sh
