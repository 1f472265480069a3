//! secdns itself on a [`TestNet`]: its config, the server process, the client-side XDP peer
//! and the counters, as the tests and the demo use them.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, bail};
use secdns::{secondary::status::ZoneStatus, stats::StatsReport};

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
    start_server_with(net, config, &[])
}

/// As [`start_server`], with more arguments to `serve`.
pub fn start_server_with(net: &TestNet, config: &Path, args: &[&str]) -> anyhow::Result<Process> {
    start_server_from(&bin()?, net, config, args)
}

/// As [`start_server_with`], running the secdns binary at `binary` (another release).
pub fn start_server_from(
    binary: &str,
    net: &TestNet,
    config: &Path,
    args: &[&str],
) -> anyhow::Result<Process> {
    let mut command = net.server(binary);
    command.arg("serve").args(args).arg("--config").arg(config);
    let mut server = Process::spawn("secdns serve", command)?;
    server.wait_until("start-up", Duration::from_secs(20), |out| {
        out.contains("secdns is serving")
    })?;
    Ok(server)
}

/// The sum of the counter `metric`'s samples with `labels`, in `/metrics` of the server in
/// `net` (`secdns metrics`).
pub fn counter_sum(net: &TestNet, metric: &str, labels: &[(&str, &str)]) -> anyhow::Result<f64> {
    let page = cli(net, &["metrics"])?;
    let scrape = prometheus_parse::Scrape::parse(page.lines().map(|l| Ok(l.to_owned())))
        .context("reading /metrics")?;
    Ok(scrape
        .samples
        .iter()
        .filter(|s| {
            s.metric == metric
                && labels
                    .iter()
                    .all(|(name, value)| s.labels.get(name) == Some(*value))
        })
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v) => v,
            _ => f64::NAN,
        })
        .sum())
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

/// `secdns serve` on loopback as a secondary, driven through its CLI.
pub struct Secondary {
    pub port: u16,
    pub control: std::net::SocketAddr,
    pub config: PathBuf,
    pub process: Option<Process>,
    pub dir: crate::TempDir,
    /// Runs (and is managed) inside this network namespace, when set.
    pub namespace: Option<String>,
}

impl Secondary {
    /// Starts a server answering on 127.0.0.1 (a free port) with `objects` (the `[[tsig]]`,
    /// `[[peer]]` and `[[zone]]` sections, and anything else after `[server]`).
    pub fn start(objects: &str) -> anyhow::Result<Self> {
        Self::start_on(crate::knot::free_port()?, None, objects)
    }

    /// As [`Secondary::start`], on `port`, inside `namespace` when given.
    pub fn start_on(port: u16, namespace: Option<&str>, objects: &str) -> anyhow::Result<Self> {
        let control = format!("127.0.0.1:{}", crate::knot::free_port()?).parse()?;
        Self::start_with(port, namespace, control, objects)
    }

    /// As [`Secondary::start_on`], with the control API on `control`.
    pub fn start_with(
        port: u16,
        namespace: Option<&str>,
        control: std::net::SocketAddr,
        objects: &str,
    ) -> anyhow::Result<Self> {
        let dir = crate::TempDir::new("secondary")?;
        let config = dir.path().join("secdns.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = [\"127.0.0.1:{port}\"]\nstate_dir = \"{}\"\ncontrol = \"{control}\"\n\n{objects}",
                dir.path().join("state").display()
            ),
        )?;
        let namespace = namespace.map(str::to_owned);
        let mut secondary = Self {
            port,
            control,
            config,
            process: None,
            dir,
            namespace,
        };
        secondary.restart()?;
        Ok(secondary)
    }

    /// Starts the server (again), once it is serving.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.process = None;
        let mut command = self.command(&secdns_bin().display().to_string());
        command
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "info,secdns=debug");
        let mut process = Process::spawn("secdns serve", command)?;
        process.wait_until("start-up", Duration::from_secs(20), |out| {
            out.contains("secdns is serving")
        })?;
        self.process = Some(process);
        Ok(())
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(&mut self) {
        self.process = None;
    }

    pub fn log(&self) -> String {
        self.process
            .as_ref()
            .map(Process::output)
            .unwrap_or_default()
    }

    /// `secdns --control ADDR ARGS...`: its standard output, or its error.
    pub fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        run_cli(
            self.command(&secdns_bin().display().to_string()),
            &self.control.to_string(),
            args,
        )
    }

    pub fn status(&self, zone: &str) -> anyhow::Result<ZoneStatus> {
        serde_json::from_str(&self.cli(&["zone", "show", zone, "--json"])?)
            .context("zone show --json")
    }

    /// Waits until the zone's status satisfies `ready`; fails with the status and log.
    pub fn wait_for(
        &self,
        zone: &str,
        timeout: Duration,
        what: &str,
        ready: impl Fn(&ZoneStatus) -> bool,
    ) -> anyhow::Result<ZoneStatus> {
        poll_status(
            zone,
            timeout,
            what,
            || self.status(zone),
            ready,
            || format!("log:\n{}", self.log()),
        )
    }

    /// Waits until a copy of `zone` is saved in the state directory.
    pub fn wait_saved(&self, zone: &str, timeout: Duration) -> anyhow::Result<()> {
        let apex: secdns::dns::Name = zone.parse().map_err(anyhow::Error::msg)?;
        let store = secdns::secondary::store::ZoneStore::new(&self.dir.path().join("state"));
        let meta = store.meta_path(&apex);
        let deadline = std::time::Instant::now() + timeout;
        while !meta.exists() {
            if std::time::Instant::now() > deadline {
                bail!(
                    "no copy of {zone} saved within {timeout:?}; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// `secdns zone records`, one normalised line a record.
    pub fn records(&self, zone: &str) -> anyhow::Result<Vec<String>> {
        crate::records::normalise(zone, &self.cli(&["zone", "records", zone])?)
    }

    pub fn query(&self, name: &str, rtype: &str) -> anyhow::Result<crate::dig::DigAnswer> {
        self.query_with(name, rtype, &[])
    }

    /// As [`Secondary::query`], with more dig options.
    pub fn query_with(
        &self,
        name: &str,
        rtype: &str,
        extra: &[&str],
    ) -> anyhow::Result<crate::dig::DigAnswer> {
        crate::dig::query(
            self.command("dig"),
            "127.0.0.1",
            self.port,
            name,
            rtype,
            extra,
        )
    }

    /// `program`, inside the namespace when there is one.
    fn command(&self, program: &str) -> std::process::Command {
        match &self.namespace {
            Some(ns) => TestNet::command(ns, program),
            None => std::process::Command::new(program),
        }
    }
}

/// `secdns --control CONTROL ARGS...` inside the server namespace of `net`.
pub fn cli(net: &TestNet, args: &[&str]) -> anyhow::Result<String> {
    run_cli(net.server(&bin()?), CONTROL, args)
}

/// Runs a management command; its standard output, or its error.
fn run_cli(
    mut command: std::process::Command,
    control: &str,
    args: &[&str],
) -> anyhow::Result<String> {
    let output = command.args(["--control", control]).args(args).output()?;
    if !output.status.success() {
        bail!(
            "secdns {args:?}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Polls `status` until `ready` holds, for at most `timeout`.
fn poll_status(
    zone: &str,
    timeout: Duration,
    what: &str,
    status: impl Fn() -> anyhow::Result<ZoneStatus>,
    ready: impl Fn(&ZoneStatus) -> bool,
    context: impl Fn() -> String,
) -> anyhow::Result<ZoneStatus> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let current = status()?;
        if ready(&current) {
            return Ok(current);
        }
        if std::time::Instant::now() > deadline {
            bail!(
                "{zone}: {what} did not happen within {timeout:?}\nstatus: {current:#?}\n{}",
                context()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The zone the demo and tests transfer from a Knot primary.
pub const PRIMARY_APEX: &str = "example.net.";
pub const PRIMARY_PORT: u16 = 5300;

pub fn primary_zone(serial: u32) -> String {
    format!(
        "$ORIGIN {PRIMARY_APEX}\n$TTL 300\n@ IN SOA ns1 hostmaster {serial} 3600 600 86400 300\n  IN NS ns1\n\
         ns1 IN A 192.0.2.1\nwww IN A 192.0.2.80\n"
    )
}

/// A Knot primary for [`PRIMARY_APEX`] on 127.0.0.1:[`PRIMARY_PORT`] in the server namespace,
/// requiring `key` for transfers and notifying secdns on port 53 there.
pub fn start_primary(
    net: &TestNet,
    key: &crate::knot::TsigSpec,
) -> anyhow::Result<crate::knot::Knot> {
    let mut options = crate::knot::KnotOptions::new(PRIMARY_APEX, &primary_zone(1));
    options.port = Some(PRIMARY_PORT);
    options.namespace = Some(net.server_ns.clone());
    options.key = Some(key.clone());
    options.notify = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 53)));
    options.notify_key = Some(key.clone());
    crate::knot::Knot::start(options)
}

/// A Knot primary in `net`'s server namespace (see [`start_primary`]) with the demo key, and
/// the secdns there serving its zone as a secondary, transferred once.
pub fn secondary_of_knot(net: &TestNet) -> anyhow::Result<crate::knot::Knot> {
    let key = crate::knot::TsigSpec::new(
        "demo-key.",
        "hmac-sha256",
        b"thirty-two bytes of demo secret!",
    );
    let knot = start_primary(net, &key)?;
    add_secondary_zone(&key, |args| cli(net, args).map(drop))?;
    wait_for_zone(net, PRIMARY_APEX, "AXFR", |s| s.serial == Some(1))?;
    Ok(knot)
}

/// Adds the primary's key, the primary and the zone through the CLI, each command given to
/// `run` (which may print it too).
pub fn add_secondary_zone(
    key: &crate::knot::TsigSpec,
    run: impl Fn(&[&str]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    run(&key.cli_add_args())?;
    let port = PRIMARY_PORT.to_string();
    run(&crate::knot::cli_peer_args(
        "knot-primary",
        &port,
        &key.name,
    ))?;
    run(&[
        "zone",
        "add",
        PRIMARY_APEX,
        "--peer",
        "knot-primary",
        "--refresh",
        "3600",
    ])
}

/// Waits until `zone show --json` satisfies `ready`.
pub fn wait_for_zone(
    net: &TestNet,
    zone: &str,
    what: &str,
    ready: impl Fn(&ZoneStatus) -> bool,
) -> anyhow::Result<ZoneStatus> {
    let status = || -> anyhow::Result<ZoneStatus> {
        Ok(serde_json::from_str(&cli(
            net,
            &["zone", "show", zone, "--json"],
        )?)?)
    };
    poll_status(
        zone,
        Duration::from_secs(20),
        what,
        status,
        ready,
        String::new,
    )
}

/// Asks secdns in `net` from the client side over UDP; the answer, and how many answers the
/// XDP program sent meanwhile (1 when it answered this query).
pub fn ask_counting_xdp(
    net: &TestNet,
    name: &str,
    rtype: &str,
) -> anyhow::Result<(crate::dig::DigAnswer, u64)> {
    let before = stats(net)?.xdp_answered;
    let answer = crate::dig::query(
        net.client("dig"),
        crate::netns::SERVER_V4,
        53,
        name,
        rtype,
        &[],
    )?;
    Ok((answer, stats(net)?.xdp_answered - before))
}
