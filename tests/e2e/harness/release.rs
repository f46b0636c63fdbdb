//! The Debian release a scenario's chroot runs, and what differs between
//! them for the tests: where the base comes from, how it is laid out, and
//! the few expectations that legitimately differ (issue 27).

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// Debian 12, laid out like a Proxmox VE 8 node (`pve-layout/`).
    Bookworm,
    /// Debian 13, laid out like a Proxmox VE 9 node (`pve-layout-trixie/`).
    Trixie,
}

impl Release {
    pub fn codename(self) -> &'static str {
        match self {
            Release::Bookworm => "bookworm",
            Release::Trixie => "trixie",
        }
    }

    /// The directory make-base.sh copies over the debootstrapped tree.
    pub fn layout_dir(self) -> &'static str {
        match self {
            Release::Bookworm => "pve-layout",
            Release::Trixie => "pve-layout-trixie",
        }
    }

    /// What dpkg prints when a package that shipped units under the /lib
    /// alias moves them to /usr/lib: dpkg 1.22 tries to rmdir the old
    /// directories it thinks the package alone owned, and they are
    /// /usr/lib/systemd(/system) through the /lib symlink, so not empty.
    /// Nothing is lost (s17 checks the units and their links). Debian 12's
    /// dpkg 1.21 is silent here.
    pub fn dpkg_warnings_moving_units_from_lib(self) -> &'static [&'static str] {
        match self {
            Release::Bookworm => &[],
            Release::Trixie => &[
                "dpkg: warning: unable to delete old directory '/lib/systemd/system': Directory not empty",
                "dpkg: warning: unable to delete old directory '/lib/systemd': Directory not empty",
            ],
        }
    }

    /// Index into per-release caches.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.codename())
    }
}
