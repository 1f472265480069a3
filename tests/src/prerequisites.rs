//! What the tests need from the machine. A missing piece is a failure that says how to fix
//! it, never a silent skip.

use std::path::PathBuf;

pub fn require_root() {
    // SAFETY: plain getter.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test needs root (network namespaces, XDP, BPF_PROG_TEST_RUN): run `cargo xtask test` as root"
    );
}

pub fn require_tools(tools: &[&str]) {
    for tool in tools {
        let found = std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
            .unwrap_or(false)
            || ["/usr/sbin", "/sbin"]
                .iter()
                .any(|d| PathBuf::from(d).join(tool).is_file());
        assert!(
            found,
            "`{tool}` is not installed: run `cargo xtask setup` (it installs every test prerequisite)"
        );
    }
}

/// The secdns binary under test: `$SECDNS_BIN`, or the workspace's debug build.
pub fn secdns_bin() -> PathBuf {
    let path = std::env::var_os("SECDNS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/secdns")
        });
    assert!(
        path.is_file(),
        "secdns binary not found at {}: build it with `cargo build -p secdns` (`cargo xtask test` does)",
        path.display()
    );
    if std::env::var_os("SECDNS_BIN").is_none() {
        assert_fresh(&path);
    }
    path
}

/// The previous release of secdns an upgrade starts from: `$SECDNS_PREVIOUS_BIN`, which
/// `cargo xtask test` builds from this clone's history and sets.
pub fn previous_secdns_bin() -> PathBuf {
    let path = std::env::var_os("SECDNS_PREVIOUS_BIN").map(PathBuf::from);
    match path {
        Some(path) if path.is_file() => path,
        _ => panic!(
            "the previous release of secdns is not built (SECDNS_PREVIOUS_BIN is {path:?}): \
             run this test through `cargo xtask test` (give it the test's name to run it \
             alone), which builds it into target/upgrade-from"
        ),
    }
}

/// A test against a binary older than the sources tests old code: refuse, and say so.
fn assert_fresh(binary: &std::path::Path) {
    let built = std::fs::metadata(binary).and_then(|m| m.modified()).ok();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let newest = ["secdns/src", "secdns-common/src", "secdns-ebpf/src"]
        .iter()
        .flat_map(|dir| walk(&root.join(dir)))
        .filter_map(|file| {
            std::fs::metadata(&file)
                .and_then(|m| m.modified())
                .ok()
                .map(|t| (t, file))
        })
        .max();
    if let (Some(built), Some((changed, file))) = (built, newest) {
        assert!(
            changed <= built,
            "{} is older than {}: rebuild it with `cargo build -p secdns` (`cargo xtask test` does)",
            binary.display(),
            file.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| {
            let path = e.path();
            if path.is_dir() {
                walk(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}
