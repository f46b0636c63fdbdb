#!/bin/bash
# The shell side of the test gate (tests/common/gate.rs has the rule):
# outside CI a suite that cannot run here prints `SKIPPED: <suite>: <reason>`
# (<suite> without spaces)
# and, when PTH_SKIP_LOG names a file, records it there; with CI=true (or
# CI=1) it fails instead, naming the reason. PTH_TEST_MISSING=a,b pretends
# those prerequisites are missing.
#
#   . tests/common/gate.sh; gate_skip SUITE REASON     (exits)
#   gate_missing NAME && gate_skip SUITE "..."         (simulated lack)
#   tests/common/gate.sh summary LOG                   (end of `make test`)

gate_in_ci() {
	case ${CI:-} in true | 1) return 0 ;; *) return 1 ;; esac
}

# True when PTH_TEST_MISSING names NAME (or `all`).
gate_missing() {
	case ",${PTH_TEST_MISSING:-}," in *",$1,"* | *",all,"*) return 0 ;; *) return 1 ;; esac
}

gate_skip() { # SUITE REASON
	if gate_in_ci; then
		echo "FAILED: $1 cannot run here: $2; with CI set no test may skip" >&2
		exit 1
	fi
	echo "SKIPPED: $1: $2" >&2
	[ -z "${PTH_SKIP_LOG:-}" ] || echo "SKIPPED: $1: $2" >>"$PTH_SKIP_LOG"
	exit 0
}

# What was skipped, and one last line that says it.
gate_summary() { # LOG
	local n=0
	[ ! -s "$1" ] || n=$(wc -l <"$1")
	if [ "$n" = 0 ]; then
		echo "make test: every suite ran, nothing skipped"
		return
	fi
	echo "make test: skipped here (CI=true would fail on these):"
	sed 's/^SKIPPED: /  /' "$1"
	echo "SKIPPED: $n tests did not run: $(sed 's/^SKIPPED: \([^ ]*\): .*/\1/' "$1" | paste -sd, | sed 's/,/, /g')"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	case ${1:-} in
	summary) gate_summary "${2:?usage: gate.sh summary LOG}" ;;
	*)
		echo "usage: $0 summary LOG" >&2
		exit 2
		;;
	esac
fi
