//! The `[xdp]` section of the config: where and how the program is attached, and the
//! memory its answer maps may take.

use serde::Deserialize;

/// How the program is attached: in the driver, or in the generic skb path (works anywhere).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachMode {
    Native,
    Generic,
}

/// `[xdp]`: without it, userspace answers everything.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XdpConfig {
    pub interfaces: Vec<String>,
    #[serde(default = "default_mode")]
    pub mode: AttachMode,
    /// Memory the answer maps may take at most, in MiB (they grow to fit what is
    /// published). What does not fit is answered by userspace.
    #[serde(default = "default_xdp_memory")]
    pub memory_mib: u32,
    /// Where the XDP links are pinned (a bpffs; mounted there if it is not one), so that
    /// the kernel keeps answering through a restart.
    #[serde(default = "default_pin_dir")]
    pub pin_dir: std::path::PathBuf,
    /// Take over the program an earlier `secdns serve` left attached (`serve
    /// --no-takeover` turns it off: the program starts empty).
    #[serde(skip_deserializing, default = "default_takeover")]
    pub takeover: bool,
}

fn default_xdp_memory() -> u32 {
    2048
}

pub fn default_pin_dir() -> std::path::PathBuf {
    "/sys/fs/bpf/secdns".into()
}

fn default_takeover() -> bool {
    true
}

fn default_mode() -> AttachMode {
    AttachMode::Native
}
