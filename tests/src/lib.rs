//! Test beds that drive real processes: network namespaces joined by veth pairs, `secdns`
//! and `knotd` processes, `dig`, and hand-built Ethernet frames for BPF_PROG_TEST_RUN.
//! Everything here cleans up after itself on drop, also when a test panics.

pub mod api;
pub mod bind;
pub mod bpffs;
pub mod dig;
pub mod frame;
pub mod knot;
pub mod netns;
pub mod prerequisites;
pub mod process;
pub mod queries;
pub mod records;
pub mod scripted;
pub mod secdns;
pub mod servers;
pub mod signing;
pub mod webhook;
pub mod xdp;

/// The example zone shared by the demo and the tests.
pub const EXAMPLE_ZONE: &str = include_str!("../data/example.com.zone");
pub const EXAMPLE_APEX: &str = "example.com.";

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> anyhow::Result<Self> {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("secdns-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }

    /// A FIFO named `name` in the directory, which no one writes to.
    pub fn fifo(&self, name: &str) -> anyhow::Result<std::path::PathBuf> {
        let path = self.0.join(name);
        let made = std::process::Command::new("mkfifo").arg(&path).status()?;
        anyhow::ensure!(made.success(), "mkfifo {}: {made}", path.display());
        Ok(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
