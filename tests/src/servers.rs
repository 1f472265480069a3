//! The servers `cargo xtask bench servers` compares, each started fresh in the server
//! namespace of a [`TestNet`] and serving the same zone file, and the load: dnsperf from the
//! client namespace, with the CPU each server spent while it ran.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{Context as _, bail};

use crate::{
    netns::{SERVER_V4, TestNet},
    prerequisites::secdns_bin,
    process::Process,
    secdns::start_xdp_peer,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    /// secdns with its XDP program attached natively to the server's veth.
    SecdnsXdp,
    /// secdns answering from userspace only.
    SecdnsUserspace,
    Knot,
    /// knotd answering UDP from its AF_XDP sockets on the server's veth (TCP through the
    /// kernel).
    KnotXdp,
    Nsd,
    Bind,
}

impl Server {
    pub const ALL: [Server; 6] = [
        Server::SecdnsXdp,
        Server::SecdnsUserspace,
        Server::Knot,
        Server::KnotXdp,
        Server::Nsd,
        Server::Bind,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Server::SecdnsXdp => "secdns (XDP)",
            Server::SecdnsUserspace => "secdns (userspace)",
            Server::Knot => "knotd",
            Server::KnotXdp => "knotd (XDP)",
            Server::Nsd => "nsd",
            Server::Bind => "named",
        }
    }

    /// The program that must be installed.
    pub fn program(self) -> &'static str {
        match self {
            Server::SecdnsXdp | Server::SecdnsUserspace => "secdns",
            Server::Knot | Server::KnotXdp => "knotd",
            Server::Nsd => "nsd",
            Server::Bind => "named",
        }
    }
}

/// A server serving zones on SERVER_V4 port 53, and what it needs alive
/// (the XDP peer program on the client side, for secdns with XDP).
pub struct Running {
    pub server: Server,
    pub process: Process,
    _helpers: Vec<Process>,
}

/// Starts `server` in `net`'s server namespace with its files in `dir`, and waits until it
/// answers for every zone of `zones` (apex, file) from the client namespace.
pub fn start(
    server: Server,
    net: &TestNet,
    dir: &Path,
    zones: &[(&str, &Path)],
) -> anyhow::Result<Running> {
    let mut running = spawn(server, net, dir, zones, "")?;
    for (apex, _) in zones {
        wait_answering(net, &mut running.process, apex)
            .with_context(|| format!("{} did not start serving {apex}", server.name()))?;
    }
    Ok(running)
}

/// More of each server's config: sections of secdns's, top-level sections of knotd's, lines
/// of nsd's `server:` section (which then replace the default of rate limiting off).
#[derive(Clone, Copy, Debug, Default)]
pub struct Extras<'a> {
    pub secdns: &'a str,
    pub knot: &'a str,
    pub nsd_server: Option<&'a str>,
}

/// As [`start`], with `extras` in the configs.
pub fn start_with(
    server: Server,
    net: &TestNet,
    dir: &Path,
    zones: &[(&str, &Path)],
    extras: Extras<'_>,
) -> anyhow::Result<Running> {
    let mut running = spawn_with(server, net, dir, zones, "", extras)?;
    for (apex, _) in zones {
        wait_answering(net, &mut running.process, apex)
            .with_context(|| format!("{} did not start serving {apex}", server.name()))?;
    }
    Ok(running)
}

/// Starts `server` as [`start`] does, without waiting; `secdns_xdp` holds further lines of
/// secdns's `[xdp]` section.
pub fn spawn(
    server: Server,
    net: &TestNet,
    dir: &Path,
    zones: &[(&str, &Path)],
    secdns_xdp: &str,
) -> anyhow::Result<Running> {
    spawn_with(server, net, dir, zones, secdns_xdp, Extras::default())
}

fn spawn_with(
    server: Server,
    net: &TestNet,
    dir: &Path,
    zones: &[(&str, &Path)],
    secdns_xdp: &str,
    extras: Extras<'_>,
) -> anyhow::Result<Running> {
    let d = dir.display();
    let each = |line: &dyn Fn(&str, std::path::Display<'_>) -> String| -> String {
        zones
            .iter()
            .map(|(apex, file)| line(apex, file.display()))
            .collect()
    };
    let mut helpers = Vec::new();
    let command = match server {
        Server::SecdnsXdp | Server::SecdnsUserspace => {
            let xdp = server == Server::SecdnsXdp;
            if xdp {
                helpers.push(start_xdp_peer(net)?);
            }
            let zones =
                each(&|apex, zone| format!("[[zone]]\nname = \"{apex}\"\nfile = \"{zone}\"\n"));
            let sections = format!("{}\n{zones}", extras.secdns);
            secdns_command(net, dir, xdp.then_some(secdns_xdp), &sections)?
        }
        Server::Knot | Server::KnotXdp => {
            std::fs::create_dir_all(dir.join("db"))?;
            // knotd's XDP program sends UDP to port 53 to its AF_XDP sockets and passes the
            // rest (TCP) to the kernel, where the plain listener takes it.
            let xdp = if server == Server::KnotXdp {
                format!("xdp:\n    listen: {}@53\n", net.server_if)
            } else {
                String::new()
            };
            let config = format!(
                "server:\n    rundir: \"{d}\"\n    listen: {SERVER_V4}@53\n{xdp}\
                 database:\n    storage: \"{d}/db\"\n\
                 log:\n  - target: stdout\n    any: warning\n\
                 zone:\n{}{}",
                each(&|apex, zone| format!(
                    "  - domain: {apex}\n    file: \"{zone}\"\n    zonefile-sync: -1\n    \
                     journal-content: none\n"
                )),
                extras.knot
            );
            knotd_command(net, dir, &config)?
        }
        Server::Nsd => nsd_command(
            net,
            dir,
            // Response rate limiting (on by default) would drop most of a flood from one client.
            extras
                .nsd_server
                .unwrap_or("    rrl-ratelimit: 0\n    rrl-whitelist-ratelimit: 0\n"),
            &each(&|apex, zone| format!("zone:\n    name: {apex}\n    zonefile: \"{zone}\"\n")),
        )?,
        Server::Bind => {
            let config = format!(
                "options {{\n    directory \"{d}\";\n    pid-file \"{d}/named.pid\";\n    \
                 listen-on port 53 {{ {SERVER_V4}; }};\n    listen-on-v6 {{ none; }};\n    \
                 recursion no;\n    dnssec-validation no;\n    notify no;\n}};\n\
                 controls {{ }};\n{}",
                each(&|apex, zone| format!(
                    "zone \"{apex}\" {{ type primary; file \"{zone}\"; }};\n"
                ))
            );
            let path = write(dir, "named.conf", &config)?;
            let mut command = net.server("named");
            command.arg("-g").arg("-c").arg(path);
            command
        }
    };
    Ok(Running {
        server,
        process: Process::spawn(server.name(), command)?,
        _helpers: helpers,
    })
}

/// Starts `server` in `net`'s server namespace as a secondary for `apex`, transferring from
/// and taking NOTIFY from a primary at `primary` (in the same namespace), with its files in
/// `dir`, and (secdns with XDP) `xdp_memory_mib` for its answer maps and its links pinned in
/// `pin_dir` (see [`crate::bpffs`]). Does not wait: the
/// caller times how long it takes to serve. Started again with the
/// same `dir`, a server finds what it saved. For secdns with XDP, the caller attaches the
/// client side's XDP program first ([`start_xdp_peer`]), once.
pub fn spawn_secondary(
    server: Server,
    net: &TestNet,
    dir: &Path,
    apex: &str,
    primary: std::net::SocketAddr,
    xdp_memory_mib: u32,
    pin_dir: Option<&Path>,
) -> anyhow::Result<Running> {
    let d = dir.display();
    let (address, port) = (primary.ip(), primary.port());
    let command = match server {
        Server::SecdnsXdp | Server::SecdnsUserspace => {
            let mut memory = format!("memory_mib = {xdp_memory_mib}\n");
            if let Some(pins) = pin_dir {
                memory.push_str(&format!("pin_dir = \"{}\"\n", pins.display()));
            }
            let zones = format!(
                "[[peer]]\nname = \"primary\"\naddress = \"{address}\"\nport = {port}\nixfr = true\n\n\
                 [[zone]]\nname = \"{apex}\"\npeers = [\"primary\"]\n"
            );
            let xdp = (server == Server::SecdnsXdp).then_some(memory.as_str());
            secdns_command(net, dir, xdp, &zones)?
        }
        Server::Knot => {
            std::fs::create_dir_all(dir.join("db"))?;
            // Knot's defaults otherwise: the zone file written at once after a transfer, a
            // journal of changes.
            let config = format!(
                "server:\n    rundir: \"{d}\"\n    listen: {SERVER_V4}@53\n\
                 remote:\n  - id: primary\n    address: {address}@{port}\n\
                 acl:\n  - id: notify\n    address: {address}\n    action: notify\n\
                 database:\n    storage: \"{d}/db\"\n\
                 log:\n  - target: stdout\n    any: info\n\
                 zone:\n  - domain: {apex}\n    file: \"{d}/secondary.zone\"\n    master: primary\n    \
                 acl: notify\n"
            );
            knotd_command(net, dir, &config)?
        }
        Server::Nsd => nsd_command(
            net,
            dir,
            "",
            &format!(
                "zone:\n    name: {apex}\n    zonefile: \"{d}/secondary.zone\"\n    \
                 request-xfr: {address}@{port} NOKEY\n    allow-notify: {address} NOKEY\n"
            ),
        )?,
        Server::KnotXdp | Server::Bind => {
            bail!("{} is not benchmarked as a secondary", server.name())
        }
    };
    Ok(Running {
        server,
        process: Process::spawn(server.name(), command)?,
        _helpers: Vec::new(),
    })
}

impl Running {
    /// SIGTERM, and waits for a clean exit (its helpers go after).
    pub fn stop(self) -> anyhow::Result<()> {
        let Running {
            server,
            process,
            _helpers,
        } = self;
        let (status, output) = process.terminate(Duration::from_secs(60))?;
        if !status.success() {
            bail!(
                "{} exited with {status} when stopped:\n{output}",
                server.name()
            );
        }
        Ok(())
    }
}

/// secdns on SERVER_V4:53 with its files in `dir`, with XDP native on the server's veth
/// when `xdp` holds its further lines, and `zones` (the `[[peer]]` and `[[zone]]` sections).
fn secdns_command(
    net: &TestNet,
    dir: &Path,
    xdp: Option<&str>,
    zones: &str,
) -> anyhow::Result<Command> {
    let d = dir.display();
    let xdp = xdp.map_or(String::new(), |lines| {
        format!(
            "[xdp]\ninterfaces = [\"{}\"]\nmode = \"native\"\n{lines}",
            net.server_if
        )
    });
    let config = format!(
        "[server]\nlisten = [\"{SERVER_V4}:53\"]\nstate_dir = \"{d}/state\"\n\
         control = \"127.0.0.1:8053\"\n\n{xdp}\n{zones}"
    );
    let path = write(dir, "secdns.toml", &config)?;
    let bin = secdns_bin();
    let mut command = net.server(bin.to_str().context("non-UTF-8 path to secdns")?);
    command.arg("serve").arg("--config").arg(path);
    Ok(command)
}

/// knotd with `config` written to `dir`.
fn knotd_command(net: &TestNet, dir: &Path, config: &str) -> anyhow::Result<Command> {
    let path = write(dir, "knot.conf", config)?;
    let mut command = net.server("knotd");
    command.arg("-c").arg(path);
    Ok(command)
}

/// nsd in the foreground, its files in `dir`, with `server_lines` added to its `server:`
/// section and `zones` (its `zone:` sections).
fn nsd_command(
    net: &TestNet,
    dir: &Path,
    server_lines: &str,
    zones: &str,
) -> anyhow::Result<Command> {
    let d = dir.display();
    let config = format!(
        "server:\n    ip-address: {SERVER_V4}\n    port: 53\n    username: \"\"\n    \
         chroot: \"\"\n    zonesdir: \"{d}\"\n    pidfile: \"{d}/nsd.pid\"\n    \
         database: \"\"\n    zonelistfile: \"{d}/zone.list\"\n    xfrdfile: \"{d}/xfrd.state\"\n    \
         xfrdir: \"{d}\"\n    logfile: \"{d}/nsd.log\"\n    verbosity: 1\n{server_lines}\
         remote-control:\n    control-enable: no\n{zones}"
    );
    let path = write(dir, "nsd.conf", &config)?;
    let mut command = net.server("nsd");
    command.arg("-d").arg("-c").arg(path);
    Ok(command)
}

fn write(dir: &Path, name: &str, text: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Waits until the server answers `apex` SOA from the client namespace.
fn wait_answering(net: &TestNet, process: &mut Process, apex: &str) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        process.check_running()?;
        let answer = net
            .client("dig")
            .args([
                &format!("@{SERVER_V4}"),
                apex,
                "SOA",
                "+short",
                "+time=1",
                "+tries=1",
            ])
            .output()?;
        if answer.status.success() && !answer.stdout.is_empty() {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            bail!("no answer within 30 s; output:\n{}", process.output());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What dnsperf reports of a run.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Dnsperf {
    pub sent: u64,
    pub completed: u64,
    pub lost: u64,
    pub qps: f64,
    pub average_latency_s: f64,
    pub max_latency_s: f64,
    /// Percentiles 50 and 99 of the answers' latencies, when dnsperf reported each query.
    pub p50_latency_s: Option<f64>,
    pub p99_latency_s: Option<f64>,
}

impl Dnsperf {
    /// Lost queries as a share of those sent.
    pub fn loss(&self) -> f64 {
        if self.sent == 0 {
            return 1.0;
        }
        self.lost as f64 / self.sent as f64
    }
}

/// Reads dnsperf's statistics block.
pub fn parse_dnsperf(output: &str) -> anyhow::Result<Dnsperf> {
    let field = |label: &str| -> anyhow::Result<&str> {
        output
            .lines()
            .find_map(|line| line.trim().strip_prefix(label))
            .map(str::trim)
            .with_context(|| format!("no `{label}` in dnsperf's output:\n{output}"))
    };
    let first_number = |text: &str, what: &str| -> anyhow::Result<f64> {
        text.split(|c: char| c.is_whitespace() || c == '(' || c == ',' || c == ')')
            .find(|word| !word.is_empty())
            .and_then(|word| word.parse().ok())
            .with_context(|| format!("dnsperf's {what}: `{text}`"))
    };
    let latency = field("Average Latency (s):")?;
    // With -v, a line per answered query: "> NOERROR name type latency".
    let mut latencies: Vec<f64> = output
        .lines()
        .filter(|line| line.starts_with("> "))
        .filter_map(|line| line.rsplit(' ').next()?.parse().ok())
        .collect();
    latencies.sort_by(f64::total_cmp);
    let max_latency = latency
        .split("max ")
        .nth(1)
        .map(|rest| first_number(rest, "max latency"))
        .transpose()?
        .unwrap_or(0.0);
    Ok(Dnsperf {
        sent: first_number(field("Queries sent:")?, "queries sent")? as u64,
        completed: first_number(field("Queries completed:")?, "queries completed")? as u64,
        lost: first_number(field("Queries lost:")?, "queries lost")? as u64,
        qps: first_number(field("Queries per second:")?, "queries per second")?,
        average_latency_s: first_number(latency, "average latency")?,
        max_latency_s: max_latency,
        p50_latency_s: percentile(&latencies, 50),
        p99_latency_s: percentile(&latencies, 99),
    })
}

/// The `p`-th percentile (nearest rank) of sorted `values`.
pub fn percentile(sorted: &[f64], p: usize) -> Option<f64> {
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// A dnsperf run: from `namespace` (or here) against `server`:`port` for `seconds` with the
/// queries in `queries`, as fast as answers come (`rate` None) or at `rate` queries a second,
/// over UDP or TCP.
pub struct Load<'a> {
    pub namespace: Option<&'a str>,
    pub server: &'a str,
    pub port: u16,
    pub queries: &'a Path,
    pub seconds: u32,
    pub rate: Option<u32>,
    pub tcp: bool,
    /// Queries with the DO bit.
    pub dnssec: bool,
    /// Have dnsperf report each query (for latency percentiles).
    pub per_query: bool,
    /// Queries outstanding at most, and seconds before one is given up (a flood that
    /// expects few answers): dnsperf's defaults here otherwise (256, 2).
    pub outstanding: Option<(u32, u32)>,
}

pub fn run_dnsperf(load: &Load<'_>) -> anyhow::Result<Dnsperf> {
    let mut command = match load.namespace {
        Some(ns) => TestNet::command(ns, "dnsperf"),
        None => Command::new("dnsperf"),
    };
    command
        .args(["-s", load.server, "-p", &load.port.to_string()])
        .args(["-l", &load.seconds.to_string()])
        .args(["-c", "4"]);
    let (outstanding, timeout) = load.outstanding.unwrap_or((256, 2));
    command
        .args(["-q", &outstanding.to_string(), "-t", &timeout.to_string()])
        .args(["-m", if load.tcp { "tcp" } else { "udp" }])
        .arg("-d")
        .arg(load.queries);
    if let Some(rate) = load.rate {
        command.args(["-Q", &rate.to_string()]);
    }
    if load.dnssec {
        command.arg("-D");
    }
    if load.per_query {
        command.arg("-v");
    }
    let output = command.output().context("running dnsperf")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "dnsperf failed ({}): {}{}",
            output.status,
            text,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse_dnsperf(&text)
}

/// CPU time a process and its descendants (NSD serves from forked children) have used, all
/// their threads, from /proc.
pub fn process_tree_cpu(root: u32) -> anyhow::Result<Duration> {
    let ticks = process_tree(root)?.iter().map(|(_, ticks)| ticks).sum();
    Ok(from_ticks(ticks))
}

/// The memory of a process tree at one moment, in bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct TreeMemory {
    /// The sum of the processes' proportional set sizes (shared pages split among the
    /// processes sharing them).
    pub pss: u64,
    /// The part of `pss` in BPF maps mapped into the processes (secdns's answer maps):
    /// kernel memory, which the kernel also counts on its own.
    pub bpf_map_pss: u64,
    /// The kernel's count (memlock) of the BPF maps the processes hold, each map once:
    /// every page of a map, written or not.
    pub bpf_map_bytes: u64,
    /// The largest peak resident set (VmHWM) of any one of them.
    pub peak_rss: u64,
}

impl TreeMemory {
    /// What the processes and their BPF maps hold: the PSS outside the maps, and the
    /// kernel's count of the maps (their mapped pages not counted twice).
    pub fn with_maps(&self) -> u64 {
        self.pss.saturating_sub(self.bpf_map_pss) + self.bpf_map_bytes
    }
}

/// The memory a process and its descendants hold (see [`TreeMemory`]). A process that ends
/// while we look is left out.
pub fn process_tree_memory(root: u32) -> anyhow::Result<TreeMemory> {
    let mut memory = TreeMemory::default();
    let mut maps_seen = std::collections::HashSet::new();
    for (pid, _) in process_tree(root)? {
        for (map_id, bytes) in bpf_maps_of(pid) {
            if maps_seen.insert(map_id) {
                memory.bpf_map_bytes += bytes;
            }
        }
        let Ok(smaps) = std::fs::read_to_string(format!("/proc/{pid}/smaps")) else {
            continue;
        };
        let mut in_bpf_map = false;
        for line in smaps.lines() {
            let Some((field, value)) = line.split_once(':').filter(|(f, _)| !f.contains(' '))
            else {
                // A mapping's header: address range, permissions, offset, device, inode, name.
                in_bpf_map = line.ends_with("anon_inode:bpf-map");
                continue;
            };
            if field == "Pss" {
                let kib: u64 = value
                    .trim()
                    .strip_suffix("kB")
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                memory.pss += kib * 1024;
                if in_bpf_map {
                    memory.bpf_map_pss += kib * 1024;
                }
            }
        }
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let hwm = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().strip_suffix("kB"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        memory.peak_rss = memory.peak_rss.max(hwm * 1024);
    }
    Ok(memory)
}

/// The BPF maps process `pid` holds a descriptor of: (map id, the kernel's count of its
/// memory), from fdinfo. A descriptor closed while we look is left out.
fn bpf_maps_of(pid: u32) -> Vec<(u64, u64)> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    fds.filter_map(|fd| {
        let fd = fd.ok()?;
        let target = std::fs::read_link(fd.path()).ok()?;
        if target.to_str() != Some("anon_inode:bpf-map") {
            return None;
        }
        let info =
            std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_str()?))
                .ok()?;
        let field = |name: &str| -> Option<u64> {
            info.lines()
                .find_map(|line| line.strip_prefix(name))?
                .trim()
                .parse()
                .ok()
        };
        Some((field("map_id:")?, field("memlock:")?))
    })
    .collect()
}

/// The resident memory of a process and its descendants, summed: now (VmRSS), and the
/// peaks since [`reset_peak_rss`] (VmHWM), in bytes.
pub fn process_tree_rss(root: u32) -> anyhow::Result<(u64, u64)> {
    let (mut now, mut peak) = (0, 0);
    for (pid, _) in process_tree(root)? {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let kib = |label: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(label))
                .and_then(|v| v.trim().strip_suffix("kB"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        now += kib("VmRSS:") * 1024;
        peak += kib("VmHWM:") * 1024;
    }
    Ok((now, peak))
}

/// Starts the peak resident sets (VmHWM) of a process and its descendants again from what
/// they hold now (proc(5): clear_refs, 5).
pub fn reset_peak_rss(root: u32) -> anyhow::Result<()> {
    for (pid, _) in process_tree(root)? {
        std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
            .with_context(|| format!("resetting the peak resident set of process {pid}"))?;
    }
    Ok(())
}

/// (pid, CPU ticks) of `root` and its descendants.
fn process_tree(root: u32) -> anyhow::Result<Vec<(u32, u64)>> {
    let mut parents: Vec<(u32, u32, u64)> = Vec::new();
    for entry in std::fs::read_dir("/proc").context("reading /proc")? {
        let Some(pid) = entry?
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // A process may end while we look: skip it.
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            && let Some((ppid, ticks)) = parse_stat(&stat)
        {
            parents.push((pid, ppid, ticks));
        }
    }
    let mut tree = vec![root];
    let mut grew = true;
    while grew {
        grew = false;
        for &(pid, ppid, _) in &parents {
            if tree.contains(&ppid) && !tree.contains(&pid) {
                tree.push(pid);
                grew = true;
            }
        }
    }
    Ok(parents
        .iter()
        .filter(|(pid, _, _)| tree.contains(pid))
        .map(|&(pid, _, ticks)| (pid, ticks))
        .collect())
}

/// (parent pid, utime + stime in ticks) from a /proc/PID/stat line.
fn parse_stat(stat: &str) -> Option<(u32, u64)> {
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 4, 14 and 15 of the whole line: ppid, utime, stime.
    let field = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some((u32::try_from(field(1)?).ok()?, field(11)? + field(12)?))
}

/// Run time and run count of the XDP program attached to `interface` in namespace `ns` (zero
/// when none is), from the kernel's BPF statistics (`kernel.bpf_stats_enabled` must be on
/// while it runs).
pub fn xdp_program_stats(ns: &str, interface: &str) -> anyhow::Result<(Duration, u64)> {
    let link = Command::new("ip")
        .args(["-n", ns, "link", "show", "dev", interface])
        .output()
        .context("running ip link show")?;
    let text = String::from_utf8_lossy(&link.stdout);
    let Some(id) = text
        .split("prog/xdp id ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
    else {
        return Ok((Duration::ZERO, 0));
    };
    let output = Command::new("bpftool")
        .args(["prog", "show", "id", id, "--json"])
        .output()
        .context("running bpftool")?;
    if !output.status.success() {
        bail!(
            "bpftool prog show id {id}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let program: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("bpftool's JSON")?;
    Ok((
        Duration::from_nanos(program["run_time_ns"].as_u64().unwrap_or(0)),
        program["run_cnt"].as_u64().unwrap_or(0),
    ))
}

/// Turns the kernel's BPF run-time statistics on while it lives, and back off after.
pub struct BpfStats(String);

impl BpfStats {
    const KNOB: &'static str = "/proc/sys/kernel/bpf_stats_enabled";

    pub fn enable() -> anyhow::Result<Self> {
        let before = std::fs::read_to_string(Self::KNOB).context("reading bpf_stats_enabled")?;
        std::fs::write(Self::KNOB, "1").context("enabling BPF statistics")?;
        Ok(Self(before.trim().to_owned()))
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        let _ = std::fs::write(Self::KNOB, &self.0);
    }
}

fn from_ticks(ticks: u64) -> Duration {
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_nanos(ticks.saturating_mul(1_000_000_000) / per_second)
}

/// Time all cores have spent busy (user, system, interrupts, stolen), from /proc/stat: to
/// tell when the machine is quiet.
pub fn machine_busy_time() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let ticks = parse_busy(&stat).context("no cpu line in /proc/stat")?;
    Ok(from_ticks(ticks))
}

/// /proc/stat's first line: "cpu user nice system idle iowait irq softirq steal ..."; all but
/// idle and iowait.
fn parse_busy(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    [0, 1, 2, 5, 6, 7]
        .iter()
        .map(|&i| fields.get(i).copied())
        .sum::<Option<u64>>()
}
