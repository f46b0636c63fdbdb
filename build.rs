//! Link the unwinder statically (`libgcc_eh.a`) instead of loading
//! `libgcc_s.so.1` at run time. On glibc targets Rust's std asks the linker
//! for `-lgcc_s`; a `libgcc_s.so` linker script in our own search directory,
//! found before the system's, turns that into `-lgcc_eh`. The helper is
//! started once per maintainer-script call and once per `apply`: not mapping
//! one more library and not running its CPU-detection constructor (a `cpuid`
//! storm, slow in VMs) saved about 0.1 ms of a 0.9 ms start (BENCHMARKS.md).

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let linux_gnu = env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if !linux_gnu {
        return;
    }
    let dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("static-unwind");
    fs::create_dir_all(&dir).expect("create OUT_DIR/static-unwind");
    fs::write(dir.join("libgcc_s.so"), "INPUT(-lgcc_eh)\n").expect("write the linker script");
    println!("cargo:rustc-link-search=native={}", dir.display());
}
