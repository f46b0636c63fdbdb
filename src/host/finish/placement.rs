//! Where a process runs, from `/proc/PID/cgroup`: the systemd unit that
//! owns it (what `systemctl status PID` names), or a guest (a VM's scope
//! under `qemu.slice`, a container's `lxc.payload.ID` tree), or a user's
//! session. Pure parsing; reading the file is [`placement_of_pid`].

use std::path::Path;

/// What owns a process, as far as restarting it is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// A system unit: `chrony.service`, `init.scope` (systemd itself,
    /// holding the sockets of `.socket` units), `foo.mount`...
    Unit(String),
    /// A guest: a VM (`qemu.slice/100.scope`) or a container (`lxc/...`,
    /// `lxc.payload.100`, `lxc.monitor.100`); the text names it.
    Guest(String),
    /// Under `user.slice`: a login session or a user's own services.
    UserSession(String),
    /// No cgroup we can read, or a path without a unit.
    Unknown,
}

impl Placement {
    /// The systemd unit, when there is one.
    pub fn unit(&self) -> Option<&str> {
        match self {
            Placement::Unit(unit) | Placement::UserSession(unit) => Some(unit),
            Placement::Guest(_) | Placement::Unknown => None,
        }
    }
}

/// The placement of process `pid` under the proc tree `proc`.
pub fn placement_of_pid(proc: &Path, pid: u32) -> Placement {
    match std::fs::read_to_string(proc.join(pid.to_string()).join("cgroup")) {
        Ok(text) => placement_of_cgroup(&text),
        Err(_) => Placement::Unknown,
    }
}

/// The placement from the text of `/proc/PID/cgroup`: the unified (v2)
/// line `0::/PATH`, else the v1 `name=systemd` hierarchy (hybrid setups).
pub fn placement_of_cgroup(text: &str) -> Placement {
    let path_of = |wanted: &str| {
        text.lines().find_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_id, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            (controllers == wanted).then_some(path)
        })
    };
    match path_of("").or_else(|| path_of("name=systemd")) {
        Some(path) => placement_of_path(path),
        None => Placement::Unknown,
    }
}

/// systemd's rule (`cg_path_get_unit`): the unit is the first component of
/// the path that is not a slice. Guests are recognised first: PVE runs each
/// VM in `qemu.slice/VMID.scope` and each container's payload in
/// `lxc.payload.VMID` (older: `lxc/VMID`), its monitor in `lxc.monitor.VMID`.
fn placement_of_path(path: &str) -> Placement {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if let Some(at) = parts.iter().position(|p| *p == "qemu.slice") {
        let vm = parts
            .get(at + 1)
            .map(|s| s.trim_end_matches(".scope"))
            .unwrap_or("?");
        return Placement::Guest(format!("VM {vm} (qemu.slice)"));
    }
    if let Some(first) = parts.first().filter(|p| p.starts_with("lxc")) {
        let id = first
            .strip_prefix("lxc.payload.")
            .or_else(|| first.strip_prefix("lxc.monitor."))
            .or_else(|| (*first == "lxc").then(|| parts.get(1).copied().unwrap_or("?")))
            .unwrap_or("?");
        return Placement::Guest(format!("container {id} ({first})"));
    }
    let Some(unit) = parts.iter().find(|p| !p.ends_with(".slice")) else {
        return Placement::Unknown;
    };
    if !is_unit_name(unit) {
        return Placement::Unknown;
    }
    if parts.first() == Some(&"user.slice") {
        Placement::UserSession(unit.to_string())
    } else {
        Placement::Unit(unit.to_string())
    }
}

/// A name with one of systemd's unit types as its suffix.
fn is_unit_name(name: &str) -> bool {
    const TYPES: [&str; 10] = [
        "service",
        "scope",
        "socket",
        "mount",
        "swap",
        "target",
        "device",
        "automount",
        "timer",
        "path",
    ];
    name.rsplit_once('.')
        .is_some_and(|(stem, kind)| !stem.is_empty() && TYPES.contains(&kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_paths() {
        let unit = |u: &str| Placement::Unit(u.to_string());
        let guest = |g: &str| Placement::Guest(g.to_string());
        let cases = [
            (
                "0::/system.slice/chronyd.service\n",
                unit("chronyd.service"),
            ),
            (
                "0::/system.slice/system-postfix.slice/postfix@-.service\n",
                unit("postfix@-.service"),
            ),
            // A delegated subtree stays its service's.
            (
                "0::/system.slice/pve-container@101.service/sub\n",
                unit("pve-container@101.service"),
            ),
            ("0::/init.scope\n", unit("init.scope")),
            ("0::/qemu.slice/100.scope\n", guest("VM 100 (qemu.slice)")),
            (
                "0::/lxc.payload.101/system.slice/ssh.service\n",
                guest("container 101 (lxc.payload.101)"),
            ),
            (
                "0::/lxc.monitor.101\n",
                guest("container 101 (lxc.monitor.101)"),
            ),
            ("0::/lxc/102/ns\n", guest("container 102 (lxc)")),
            (
                "0::/user.slice/user-0.slice/session-3.scope\n",
                Placement::UserSession("session-3.scope".into()),
            ),
            // Hybrid: the v1 name=systemd line when there is no 0:: line.
            (
                "12:pids:/system.slice/ssh.service\n1:name=systemd:/system.slice/ssh.service\n",
                unit("ssh.service"),
            ),
            ("0::/\n", Placement::Unknown),
            ("0::/system.slice\n", Placement::Unknown),
            ("0::/system.slice/not-a-unit\n", Placement::Unknown),
            ("", Placement::Unknown),
        ];
        for (text, want) in cases {
            assert_eq!(placement_of_cgroup(text), want, "{text:?}");
        }
    }

    #[test]
    fn unreadable_cgroup_is_unknown() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(placement_of_pid(dir.path(), 42), Placement::Unknown);
    }
}
