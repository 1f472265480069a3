//! Where the XDP links are pinned in bpffs, so that the program keeps answering when the
//! process ends and the next `secdns serve` takes it over (see `XdpEngine::attach_pinned`).
//!
//! A link holds its program and the program its maps: pinning the link is enough. The pin's
//! name says which network namespace (its cookie) and interface it is for, so that servers in
//! several namespaces of one host keep apart.

use std::{
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};

/// `statfs` magic of bpffs.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

pub struct Pins {
    dir: PathBuf,
    /// This process's network namespace (see [`netns_id`]).
    netns: u64,
}

impl Pins {
    /// Pins under `dir`, which must be on a bpffs. When it is not, one is mounted on it or,
    /// if it does not exist yet, on its parent (as systemd mounts /sys/fs/bpf on most hosts),
    /// and `dir` is made there.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let netns = netns_id()?;
        let mount_point = match dir.parent() {
            Some(parent) if !dir.exists() => parent,
            _ => dir,
        };
        if !on_bpffs(mount_point)? {
            // Never over something: a bpffs mounted there would hide it.
            let empty = std::fs::read_dir(mount_point)
                .with_context(|| format!("listing {}", mount_point.display()))?
                .next()
                .is_none();
            if !empty {
                bail!(
                    "{} is not on a bpffs and is not empty: mount one there or set [xdp] pin_dir",
                    mount_point.display()
                );
            }
            mount_bpffs(mount_point)?;
            tracing::info!(dir = %mount_point.display(), "mounted a bpffs for the XDP pins");
        }
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the XDP pin directory {}", dir.display()))?;
        Ok(Self {
            dir: dir.to_owned(),
            netns,
        })
    }

    /// Pins under `dir` if it is a bpffs directory already (nothing is mounted or made).
    pub fn existing(dir: &Path) -> anyhow::Result<Option<Self>> {
        if !dir.is_dir() || !on_bpffs(dir)? {
            return Ok(None);
        }
        let netns = netns_id()?;
        Ok(Some(Self {
            dir: dir.to_owned(),
            netns,
        }))
    }

    /// Where the link of `interface` is pinned.
    pub fn link_path(&self, interface: &str) -> PathBuf {
        self.dir.join(format!("xdp-{}-{interface}", self.netns))
    }

    /// Interfaces of this namespace with a pinned link.
    pub fn pinned_interfaces(&self) -> anyhow::Result<Vec<String>> {
        let prefix = format!("xdp-{}-", self.netns);
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)
            .with_context(|| format!("listing {}", self.dir.display()))?
        {
            let name = entry?.file_name();
            if let Some(interface) = name.to_string_lossy().strip_prefix(&prefix) {
                out.push(interface.to_owned());
            }
        }
        out.sort();
        Ok(out)
    }
}

/// The network namespace's cookie, which the kernel never gives to another namespace (an
/// inode number can come back); its inode on kernels before 5.14.
fn netns_id() -> anyhow::Result<u64> {
    // SAFETY: a socket we close below; getsockopt writes at most `len` bytes into `cookie`.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        if fd >= 0 {
            let mut cookie: u64 = 0;
            let mut len = size_of::<u64>() as libc::socklen_t;
            let rc = libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_NETNS_COOKIE,
                (&raw mut cookie).cast(),
                &mut len,
            );
            libc::close(fd);
            if rc == 0 {
                return Ok(cookie);
            }
        }
    }
    Ok(std::fs::metadata("/proc/self/ns/net")
        .context("reading this process's network namespace")?
        .ino())
}

fn on_bpffs(dir: &Path) -> anyhow::Result<bool> {
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
        .context("a pin directory with a NUL byte")?;
    // SAFETY: a zeroed statfs is a valid out-parameter; the path is NUL-terminated.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(path.as_ptr(), &mut stat) } != 0 {
        bail!(
            "statfs {}: {}",
            dir.display(),
            std::io::Error::last_os_error()
        );
    }
    Ok(stat.f_type as i64 == BPF_FS_MAGIC)
}

fn mount_bpffs(dir: &Path) -> anyhow::Result<()> {
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
        .context("a pin directory with a NUL byte")?;
    // SAFETY: NUL-terminated strings; no data argument.
    let rc = unsafe {
        libc::mount(
            c"bpf".as_ptr(),
            path.as_ptr(),
            c"bpf".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        bail!(
            "{} is not on a bpffs and mounting one there failed: {} (mount one with \
             `mount -t bpf bpf {}`, or set [xdp] pin_dir)",
            dir.display(),
            std::io::Error::last_os_error(),
            dir.display()
        );
    }
    Ok(())
}
