//! A static web server (`python3 -m http.server`) in a scenario's private
//! network namespace, so apt in the chroot reaches it at 127.0.0.1 and
//! nothing outside the namespace can.
//!
//! The server runs on the host's filesystem (it serves a host directory)
//! but in the chroot's network namespace, entered with `nsenter --net`.
//! The harness keeps that namespace alive in its `sandbox.sh hold` process
//! without exposing the PID, so we find the holder by its command line
//! (`sandbox.sh _hold <root>`) and, as `sandbox.sh enter` does, refuse it if
//! it shares our own network namespace.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Port inside the private namespace: always free there.
pub const PORT: u16 = 8080;

pub struct Server {
    child: Child,
    pub log: PathBuf,
}

impl Server {
    /// Serves `dir` at `http://127.0.0.1:PORT/` in the network namespace of
    /// the chroot at `root`.
    pub fn start(root: &Path, dir: &Path, log: &Path) -> Server {
        let netns = format!("/proc/{}/ns/net", namespace_holder(root));
        // A new network namespace starts with `lo` down.
        let up = Command::new("nsenter")
            .arg(format!("--net={netns}"))
            .args(["--", "ip", "link", "set", "lo", "up"])
            .output()
            .expect("nsenter ... ip (install iproute2)");
        assert!(up.status.success(), "cannot bring lo up: {up:?}");
        let mut child = Command::new("nsenter")
            .arg(format!("--net={netns}"))
            .args([
                "--",
                "python3",
                "-u",
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
            ])
            .arg(PORT.to_string())
            .arg("--directory")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).expect("server log"))
            .spawn()
            .expect("python3 is needed to serve the repository (make deps-test)");
        // It prints `Serving HTTP on ...` once the socket is bound.
        let line = crate::common::first_line(&mut child);
        assert!(
            line.starts_with("Serving HTTP on 127.0.0.1"),
            "http.server did not start: {line:?}; log: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        Server {
            child,
            log: log.to_path_buf(),
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// PID of the `sandbox.sh _hold <root>` process of the chroot at `root`.
fn namespace_holder(root: &Path) -> u32 {
    let root = std::fs::canonicalize(root).expect("chroot root");
    let wanted = root.as_os_str().as_encoded_bytes();
    let holders: Vec<u32> = std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            args.windows(2).any(|w| w[0] == b"_hold" && w[1] == wanted)
        })
        .collect();
    assert_eq!(
        holders.len(),
        1,
        "expected one `sandbox.sh _hold {}`, found {holders:?}",
        root.display()
    );
    let ns =
        |path: String| std::fs::metadata(path).map(|m| std::os::unix::fs::MetadataExt::ino(&m));
    let (theirs, ours) = (
        ns(format!("/proc/{}/ns/net", holders[0])).expect("holder's netns"),
        ns("/proc/self/ns/net".to_string()).expect("our netns"),
    );
    assert_ne!(
        theirs, ours,
        "the holder shares our network namespace; refusing"
    );
    holders[0]
}
