# Whether the running kernel is the one this package configures: not in an
# image build (DPKG_ROOT naming another root, or a chroot as ischroot(1)
# tells), unless a test harness whose chroot stands in for a host opts in
# with PVE_TCP_HARDENING_APPLY_IN_CHROOT=1. The helper's rule
# (src/host/maint.rs `live_kernel_is_ours`), in sh for preinst (the helper
# is not unpacked yet) and postrm (it is deleted already); tests/maint.rs
# checks that the two agree. Included by both scripts.
live_kernel_is_ours() {
    [ "${PVE_TCP_HARDENING_APPLY_IN_CHROOT:-}" = 1 ] && return 0
    [ -z "${DPKG_ROOT:-}" ] || [ "$DPKG_ROOT" = / ] || return 1
    ! ischroot 2>/dev/null
}
