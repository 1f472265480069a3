//! A bpffs mounted for a test or a bench in the host's mount namespace, which every `ip netns
//! exec` copies: XDP links that secdns pins there outlive its process, as under /sys/fs/bpf
//! on a host. (`ip netns exec` gives each process a fresh /sys, so the default pin directory
//! does not.)

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::ensure;

pub struct BpfFs(PathBuf);

impl BpfFs {
    pub fn mount(path: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(path)?;
        let status = Command::new("mount")
            .args(["-t", "bpf", "bpf"])
            .arg(path)
            .status()?;
        ensure!(status.success(), "mounting a bpffs at {}", path.display());
        Ok(Self(path.to_owned()))
    }

    /// The pin directory to give secdns (`[xdp] pin_dir`).
    pub fn pin_dir(&self) -> PathBuf {
        self.0.join("secdns")
    }

    /// Removes every pin: what secdns left attached is detached.
    pub fn unpin_all(&self) {
        if let Ok(entries) = std::fs::read_dir(self.pin_dir()) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

impl Drop for BpfFs {
    fn drop(&mut self) {
        self.unpin_all();
        let _ = Command::new("umount").arg(&self.0).status();
    }
}
