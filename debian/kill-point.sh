# Test-only (tests/e2e/killpoint.rs, issue 29): with
# PVE_TCP_HARDENING_TEST_KILL_POINTS=DIR set, count this point in DIR/passed
# and, when the count equals DIR/stop-at, write its name to DIR/stopped and
# wait to be killed. The same protocol as src/host/kill_point.rs, so one
# count runs through the scripts and the helper. Unset on real hosts: a
# no-op there.
kill_point() {
    [ -n "${PVE_TCP_HARDENING_TEST_KILL_POINTS:-}" ] || return 0
    kp_dir=$PVE_TCP_HARDENING_TEST_KILL_POINTS
    echo "$1" >> "$kp_dir/passed" || return 0
    # head, not the shell's read (lintian: read-in-maintainer-script).
    kp_stop=$(head -n 1 "$kp_dir/stop-at" 2>/dev/null) || true
    [ "$(wc -l < "$kp_dir/passed")" = "$kp_stop" ] || return 0
    echo "$1" > "$kp_dir/stopped"
    while :; do sleep 3600; done
}
