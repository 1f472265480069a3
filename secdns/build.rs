//! Builds the XDP program (nightly, bpf target) so that a plain `cargo build` produces a
//! server with its kernel half embedded.
use std::path::PathBuf;

use anyhow::Context as _;

fn main() -> anyhow::Result<()> {
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR")?);
    let ebpf_dir = manifest_dir.join("../secdns-ebpf");
    let root_dir = ebpf_dir.to_str().context("non-UTF-8 path to secdns-ebpf")?;
    println!(
        "cargo:rerun-if-changed={}",
        manifest_dir.join("../secdns-common/src").display()
    );
    // aya-build relays every line the inner cargo prints as a build warning; keep it to errors.
    // SAFETY: the build script is single-threaded here.
    unsafe { std::env::set_var("CARGO_TERM_QUIET", "true") };
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "secdns-ebpf",
            root_dir,
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
}
