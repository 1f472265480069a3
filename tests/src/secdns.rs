//! secdns itself on a [`TestNet`]: its config, the server process, the client-side XDP peer
//! and the counters, as the tests and the demo use them.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, bail};
use secdns::stats::StatsReport;

use crate::{
    EXAMPLE_APEX, EXAMPLE_ZONE, netns::TestNet, prerequisites::secdns_bin, process::Process,
};

/// The control API address inside the server namespace (each namespace has its own loopback).
pub const CONTROL: &str = "127.0.0.1:8053";

fn bin() -> anyhow::Result<String> {
    secdns_bin()
        .to_str()
        .map(str::to_owned)
        .context("non-UTF-8 path to secdns")
}

/// Writes the example zone and a config serving it on port 53 with native XDP on
/// `interface`; returns the config's path.
pub fn write_example_config(dir: &Path, interface: &str) -> anyhow::Result<PathBuf> {
    std::fs::write(dir.join("example.com.zone"), EXAMPLE_ZONE)?;
    let config = format!(
        r#"[server]
listen = ["0.0.0.0:53", "[::]:53"]
state_dir = "{state}"
control = "{CONTROL}"

[xdp]
interfaces = ["{interface}"]
mode = "native"

[[zone]]
name = "{EXAMPLE_APEX}"
file = "example.com.zone"
"#,
        state = dir.join("state").display()
    );
    let path = dir.join("secdns.toml");
    std::fs::write(&path, config)?;
    Ok(path)
}

/// Native XDP on a veth delivers XDP_TX frames only if the peer interface has a program too.
pub fn start_xdp_peer(net: &TestNet) -> anyhow::Result<Process> {
    let mut command = net.client(&bin()?);
    command.args(["xdp-peer", "--interface", &net.client_if]);
    let mut peer = Process::spawn("secdns xdp-peer", command)?;
    peer.wait_until("attach", Duration::from_secs(20), |out| {
        out.contains("attached")
    })?;
    Ok(peer)
}

/// `secdns serve --config CONFIG` in the server namespace, once it is serving.
pub fn start_server(net: &TestNet, config: &Path) -> anyhow::Result<Process> {
    let mut command = net.server(&bin()?);
    command.arg("serve").arg("--config").arg(config);
    let mut server = Process::spawn("secdns serve", command)?;
    server.wait_until("start-up", Duration::from_secs(20), |out| {
        out.contains("secdns is serving")
    })?;
    Ok(server)
}

/// `secdns stats --json` of the server in `net`.
pub fn stats(net: &TestNet) -> anyhow::Result<StatsReport> {
    let output = net
        .server(&bin()?)
        .args(["stats", "--json", "--control", CONTROL])
        .output()?;
    if !output.status.success() {
        bail!("secdns stats: {}", String::from_utf8_lossy(&output.stderr));
    }
    serde_json::from_slice(&output.stdout).context("reading secdns stats")
}
