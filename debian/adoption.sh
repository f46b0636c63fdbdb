# Adoption (src/host/adopt.rs owns the record and its rules): an admin's
# file that stands where the package puts its own is kept, untouched, at
# the same path under $ADOPTED, and purge puts it back. The helper adopts
# /etc/default/chrony.orig; these two halves are in sh because preinst
# runs before the helper is unpacked and postrm after it is deleted.
# Included by both scripts; $ROOT, $ADOPTED and $PACKAGE are theirs.

# A moved file and both its directories on disk before the next step
# (dpkg unpacking over the path, purge deleting the record): fsync(2)
# through coreutils' sync, as src/atomic.rs does in the helper.
durable_move() {
    mv "$1" "$2"
    # A symlink is made durable by its directory (sync would follow it).
    [ -L "$2" ] || sync -- "$2"
    sync -- "$(dirname "$1")" "$(dirname "$2")"
}

# The guide's hand-made sysctl file, owned by no package, stands where our
# conffile goes: dpkg would stop at a conffile prompt. Keep it under
# $ADOPTED until purge puts it back (postinst says where).
adopt_hand_made_sysctl_file() {
    [ -e "$ROOT$SYSCTL_FILE" ] || [ -L "$ROOT$SYSCTL_FILE" ] || return 0
    # A variant's conffile (installed, or left in config-files state): dpkg's.
    if dpkg-query --root="${ROOT:-/}" -S "$SYSCTL_FILE" >/dev/null 2>&1; then
        return 0
    fi
    if [ -e "$ADOPTED$SYSCTL_FILE" ] || [ -L "$ADOPTED$SYSCTL_FILE" ]; then
        echo "$PACKAGE: $SYSCTL_FILE is in the way and ${ADOPTED#"$ROOT"}$SYSCTL_FILE already keeps an earlier one; move $SYSCTL_FILE somewhere else and retry" >&2
        exit 1
    fi
    mkdir -p "$ADOPTED${SYSCTL_FILE%/*}"
    durable_move "$ROOT$SYSCTL_FILE" "$ADOPTED$SYSCTL_FILE"
}

# Every file kept under $ADOPTED goes back to its path; a path taken
# meanwhile keeps its file, and the admin's goes next to it as
# .before-pve-tcp-hardening.
restore_adopted() {
    [ -d "$ADOPTED" ] || return 0
    (cd "$ADOPTED" && find . ! -type d) | while IFS= read -r rel; do
        rel=${rel#.}
        target="$ROOT$rel"
        if [ -e "$target" ] || [ -L "$target" ]; then
            target="$target.before-pve-tcp-hardening"
        fi
        mkdir -p "$(dirname "$target")"
        durable_move "$ADOPTED$rel" "$target"
        echo "$PACKAGE: your own $rel is back as ${target#"$ROOT"}" >&2
    done
}
