//! Pre-signed zones for the tests: a zone signed with BIND's `dnssec-keygen` and
//! `dnssec-signzone` (ECDSA P-256, a KSK and a ZSK), with NSEC or NSEC3 (opt-out, no extra
//! iterations).

use std::process::{Command, Stdio};

use anyhow::{Context as _, ensure};

use crate::{TempDir, prerequisites::require_tools};

pub fn sign(apex: &str, zone_text: &str, nsec3: bool) -> anyhow::Result<String> {
    require_tools(&["dnssec-keygen", "dnssec-signzone"]);
    let dir = TempDir::new("signing")?;
    std::fs::write(dir.path().join("zone"), zone_text)?;
    for extra in [&["-f", "KSK"][..], &[]] {
        let status = Command::new("dnssec-keygen")
            .current_dir(dir.path())
            .args(["-q", "-a", "ECDSAP256SHA256"])
            .args(extra)
            .arg(apex)
            .stdout(Stdio::null())
            .status()
            .context("running dnssec-keygen")?;
        ensure!(status.success(), "dnssec-keygen failed");
    }
    let mut command = Command::new("dnssec-signzone");
    command
        .current_dir(dir.path())
        .args(["-q", "-S", "-K", ".", "-o", apex, "-f", "signed"]);
    if nsec3 {
        command.args(["-3", "aabbccdd", "-H", "0", "-A"]);
    }
    let output = command
        .arg("zone")
        .output()
        .context("running dnssec-signzone")?;
    ensure!(
        output.status.success(),
        "dnssec-signzone: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(std::fs::read_to_string(dir.path().join("signed"))?)
}
