//! `cargo xtask bench servers`: secdns (with XDP, and userspace only), knotd, nsd and named,
//! each started fresh in a server namespace with the same zone, loaded by dnsperf from a
//! client namespace over a veth pair. For each kind of query: the most queries a second the
//! server answers, and at a fixed offered load every server sustains, the CPU it spent per
//! answered query. Writes a markdown table and JSON under `bench/results/`.

use std::{path::Path, time::Duration};

use anyhow::{Context as _, bail, ensure};
use secdns_tests::{
    TempDir,
    netns::{SERVER_V4, TestNet},
    prerequisites::{require_root, require_tools},
    records::hosts_zone,
    secdns::stats,
    servers::{
        BpfStats, Dnsperf, Load, Server, machine_busy_time, process_tree_cpu, run_dnsperf, start,
        xdp_program_stats,
    },
    signing::sign,
};

use crate::report::Target;

const APEX: &str = "bench.example.";
const SIGNED_APEX: &str = "signed.example.";
const HOSTS: usize = 10_000;
/// The offered load for measuring CPU per query: one every server on this machine sustains.
const FIXED_RATE: u32 = 10_000;
/// Lost queries beyond this share make the run fail for secdns; for a reference server the
/// run goes on and its row says how many were lost (one of named's runs losing 0.16 % had
/// thrown away ten minutes of figures).
const MAX_LOSS: f64 = 0.001;

/// (name, query file, over TCP, with DO)
type Case = (&'static str, std::path::PathBuf, bool, bool);

#[derive(serde::Serialize)]
struct Row {
    server: &'static str,
    case: &'static str,
    /// Most answers a second (dnsperf with up to 256 queries outstanding).
    max_qps: f64,
    max_loss: f64,
    /// The share of queries lost at FIXED_RATE.
    fixed_loss: f64,
    /// At FIXED_RATE, per answered query: CPU of the server's processes, and the run time of
    /// secdns's XDP program (the kernel's BPF statistics).
    process_us_per_query: f64,
    xdp_us_per_query: f64,
    /// The two added.
    server_us_per_query: f64,
    average_latency_us: f64,
    p50_latency_us: Option<f64>,
    p99_latency_us: Option<f64>,
    max_latency_us: f64,
    /// For secdns: the share of answers the XDP program sent.
    xdp_share: Option<f64>,
}

pub fn run(quick: bool) -> anyhow::Result<()> {
    require_root();
    require_tools(&["ip", "dig", "dnsperf", "knotd", "nsd", "named"]);
    // A full run stays under 15 minutes with the other benches; --quick is a short smoke run
    // without the mix.
    let seconds = if quick { 2 } else { 8 };
    let dir = TempDir::new("bench-servers")?;
    let zone_file = dir.path().join("bench.example.zone");
    std::fs::write(&zone_file, hosts_zone(APEX, 1, HOSTS))?;
    // The same hosts, pre-signed (NSEC), for the DO=1 case.
    let signed_file = dir.path().join("signed.example.zone");
    std::fs::write(
        &signed_file,
        sign(SIGNED_APEX, &hosts_zone(SIGNED_APEX, 1, HOSTS), false)?,
    )?;
    let zones = [
        (APEX, zone_file.as_path()),
        (SIGNED_APEX, signed_file.as_path()),
    ];
    let mut cases = query_files(dir.path())?;
    if quick {
        cases.retain(|(case, ..)| *case != "mix 80/20");
    }
    let _stats = BpfStats::enable()?;
    let mut rows = Vec::new();
    for server in Server::ALL {
        // The kernel tears the last server's namespaces down in the background (for seconds,
        // after AF_XDP sockets): wait for that before the next one.
        wait_for_quiet()?;
        let net = TestNet::new("bench")?;
        let server_dir = dir.path().join(server.program());
        std::fs::create_dir_all(&server_dir)?;
        let running = start(server, &net, &server_dir, &zones)?;
        let pid = running.process.pid();
        for &(case, ref queries, tcp, dnssec) in &cases {
            let load = |rate: Option<u32>| Load {
                namespace: Some(&net.client_ns),
                server: SERVER_V4,
                port: 53,
                queries,
                seconds,
                rate,
                tcp,
                dnssec,
                // Latencies are taken at the fixed rate.
                per_query: rate.is_some(),
                outstanding: None,
            };
            let max =
                run_dnsperf(&load(None)).with_context(|| format!("{} {case}", server.name()))?;
            let xdp_before = xdp_answered(server, &net)?;
            let (cpu, xdp) = (
                process_tree_cpu(pid)?,
                xdp_program_stats(&net.server_ns, &net.server_if)?,
            );
            let fixed = run_dnsperf(&load(Some(FIXED_RATE)))
                .with_context(|| format!("{} {case} at {FIXED_RATE} q/s", server.name()))?;
            let cpu = process_tree_cpu(pid)?.saturating_sub(cpu);
            let xdp = xdp_program_stats(&net.server_ns, &net.server_if)?
                .0
                .saturating_sub(xdp.0);
            ensure_complete(server, case, &fixed)?;
            let answered = fixed.completed.max(1) as f64;
            let per_query = |d: Duration| d.as_secs_f64() * 1e6 / answered;
            let xdp_share = match (xdp_before, xdp_answered(server, &net)?) {
                (Some(before), Some(after)) => Some((after - before) as f64 / answered),
                _ => None,
            };
            let server_us = per_query(cpu) + per_query(xdp);
            rows.push(Row {
                server: server.name(),
                case,
                max_qps: max.qps,
                max_loss: max.loss(),
                fixed_loss: fixed.loss(),
                process_us_per_query: per_query(cpu),
                xdp_us_per_query: per_query(xdp),
                server_us_per_query: server_us,
                average_latency_us: fixed.average_latency_s * 1e6,
                p50_latency_us: fixed.p50_latency_s.map(|s| s * 1e6),
                p99_latency_us: fixed.p99_latency_s.map(|s| s * 1e6),
                max_latency_us: fixed.max_latency_s * 1e6,
                xdp_share,
            });
        }
        drop(running);
    }
    let targets = targets(&rows);
    let table = markdown(&rows, &targets, seconds);
    println!("{table}");
    crate::report::write(
        "servers",
        "secdns against knotd, nsd and named",
        quick,
        &table,
        serde_json::json!({
            "seconds_per_run": seconds,
            "fixed_rate": FIXED_RATE,
            "rows": rows,
            "targets": targets,
        }),
        Some(plot(&rows)),
    )
}

/// Waits (30 s at most) for a second with the cores busy less than a tenth of the time.
fn wait_for_quiet() -> anyhow::Result<()> {
    const REST: Duration = Duration::from_secs(1);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let before = machine_busy_time()?;
        std::thread::sleep(REST);
        let busy = machine_busy_time()?.saturating_sub(before);
        if busy < REST / 10 || std::time::Instant::now() > deadline {
            return Ok(());
        }
    }
}

/// The targets, as met or missed by this run.
fn targets(rows: &[Row]) -> Vec<Target> {
    let find = |server: Server, case: &str| {
        rows.iter()
            .find(|r| r.server == server.name() && r.case == case)
    };
    let mut out = Vec::new();
    // Over the UDP cases (TCP never reaches XDP): XDP CPU per query against knotd's.
    for (target, knot, bound) in [
        (
            "XDP path CPU per answered query at most 1/20 of knotd plain UDP",
            Server::Knot,
            0.05,
        ),
        (
            "XDP path CPU per answered query at most 1/5 of knotd's XDP mode",
            Server::KnotXdp,
            0.2,
        ),
    ] {
        let ratios: Vec<f64> = rows
            .iter()
            .filter(|r| r.server == Server::SecdnsXdp.name() && !r.case.contains("TCP"))
            .filter_map(|r| Some(r.server_us_per_query / find(knot, r.case)?.server_us_per_query))
            .collect();
        let worst = ratios.iter().copied().fold(0.0, f64::max);
        out.push(Target {
            target: target.into(),
            measured: format!("{worst:.3}x at worst"),
            met: (!ratios.is_empty()).then_some(worst <= bound),
        });
    }
    // dnsperf shares the two cores, so max q/s is the client's as much as the server's: the
    // verdicts on throughput go by the CPU a server spends per query, which bounds it.
    let udp_cases = ["positive", "nxdomain flood", "mix 80/20"];
    let ratio = |server: Server, case: &str, of: fn(&Row) -> f64| {
        Some(of(find(server, case)?) / of(find(Server::Knot, case)?))
    };
    let cpu: Vec<f64> = udp_cases
        .iter()
        .filter_map(|case| ratio(Server::SecdnsUserspace, case, |r| r.server_us_per_query))
        .collect();
    let qps: Vec<f64> = udp_cases
        .iter()
        .filter_map(|case| ratio(Server::SecdnsUserspace, case, |r| r.max_qps))
        .collect();
    let worst_cpu = cpu.iter().copied().fold(0.0, f64::max);
    let least_qps = qps.iter().copied().fold(f64::INFINITY, f64::min);
    out.push(Target {
        target: "userspace path (XDP off) throughput at least knotd's plain UDP".into(),
        measured: format!(
            "CPU per query {worst_cpu:.2}x knotd's at worst; max q/s {least_qps:.2}x at least"
        ),
        met: (!cpu.is_empty()).then_some(worst_cpu <= 1.0),
    });
    let xdp = |case: &str| find(Server::SecdnsXdp, case);
    let flood = xdp("nxdomain flood")
        .zip(xdp("positive"))
        .map(|(flood, positive)| {
            (
                flood.server_us_per_query / positive.server_us_per_query,
                flood.max_qps / positive.max_qps,
            )
        });
    out.push(Target {
        target: "random-subdomain flood throughput within 10% of positive answers (secdns, XDP)"
            .into(),
        measured: flood.map_or("-".into(), |(cpu, qps)| {
            format!("CPU per query {cpu:.2}x the positive case's; max q/s {qps:.2}x")
        }),
        met: flood.map(|(cpu, _)| cpu <= 1.1),
    });
    out
}

/// One query file per case: every host once (positive), as many random names that do not
/// exist (a random-subdomain flood), and the two mixed 80/20; the positive file again over
/// TCP, and the hosts of the signed zone with DO=1. (case, file, over TCP, DO)
fn query_files(dir: &Path) -> anyhow::Result<Vec<Case>> {
    let positive: Vec<String> = (0..HOSTS).map(|i| format!("host{i}.{APEX} A")).collect();
    // A fixed sequence of pseudo-random labels (xorshift): the same queries in every run.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let nxdomain: Vec<String> = (0..HOSTS)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            format!("nx{state:016x}.{APEX} A")
        })
        .collect();
    let mix: Vec<String> = (0..HOSTS)
        .map(|i| {
            if i % 5 == 4 {
                nxdomain[i].clone()
            } else {
                positive[i].clone()
            }
        })
        .collect();
    let mut files = Vec::new();
    for (case, lines) in [
        ("positive", positive),
        ("nxdomain flood", nxdomain),
        ("mix 80/20", mix),
    ] {
        let path = dir.join(format!("{}.queries", case.replace([' ', '/'], "-")));
        std::fs::write(&path, lines.join("\n") + "\n")?;
        files.push((case, path, false, false));
    }
    let positive = files[0].1.clone();
    files.push(("positive over TCP", positive, true, false));
    let signed: Vec<String> = (0..HOSTS)
        .map(|i| format!("host{i}.{SIGNED_APEX} A"))
        .collect();
    let path = dir.join("signed.queries");
    std::fs::write(&path, signed.join("\n") + "\n")?;
    files.push(("positive DO=1, signed", path, false, true));
    Ok(files)
}

/// secdns's count of answers sent by XDP; `None` for other servers.
fn xdp_answered(server: Server, net: &TestNet) -> anyhow::Result<Option<u64>> {
    match server {
        Server::SecdnsXdp | Server::SecdnsUserspace => Ok(Some(stats(net)?.xdp_answered)),
        _ => Ok(None),
    }
}

fn ensure_complete(server: Server, case: &str, run: &Dnsperf) -> anyhow::Result<()> {
    ensure!(
        run.sent > 0,
        "{} {case}: dnsperf sent nothing",
        server.name()
    );
    let ours = matches!(server, Server::SecdnsXdp | Server::SecdnsUserspace);
    if run.loss() > MAX_LOSS && !ours {
        eprintln!(
            "{} {case}: {} of {} queries lost at {FIXED_RATE} a second; its figures are per \
             query answered",
            server.name(),
            run.lost,
            run.sent
        );
    } else if run.loss() > MAX_LOSS {
        bail!(
            "{} {case}: {} of {} queries lost at {FIXED_RATE} a second (more than {}%)",
            server.name(),
            run.lost,
            run.sent,
            MAX_LOSS * 100.0
        );
    }
    Ok(())
}

fn markdown(rows: &[Row], targets: &[Target], seconds: u32) -> String {
    let mut out = format!(
        "| server | queries | max q/s | vs knotd | CPU us/query at {FIXED_RATE} q/s (process + XDP) | vs knotd | latency us: avg / p50 / p99 | answered by XDP |\n\
         |---|---|---|---|---|---|---|---|\n"
    );
    for row in rows {
        let knot = rows
            .iter()
            .find(|r| r.server == Server::Knot.name() && r.case == row.case);
        let ratio = |ours: f64, theirs: Option<f64>| match theirs {
            Some(theirs) if theirs > 0.0 => format!("{:.2}x", ours / theirs),
            _ => "-".into(),
        };
        out.push_str(&format!(
            "| {} | {} | {:.0} | {} | {:.3} ({:.3} + {:.3}) | {} | {:.0} / {} / {}{} | {} |\n",
            row.server,
            row.case,
            row.max_qps,
            ratio(row.max_qps, knot.map(|k| k.max_qps)),
            row.server_us_per_query,
            row.process_us_per_query,
            row.xdp_us_per_query,
            ratio(row.server_us_per_query, knot.map(|k| k.server_us_per_query)),
            row.average_latency_us,
            row.p50_latency_us.map_or("-".into(), |v| format!("{v:.0}")),
            row.p99_latency_us.map_or("-".into(), |v| format!("{v:.0}")),
            if row.fixed_loss > MAX_LOSS {
                format!(" ({:.2} % lost)", row.fixed_loss * 100.0)
            } else {
                String::new()
            },
            row.xdp_share
                .map_or("-".into(), |s| format!("{:.0}%", s * 100.0)),
        ));
    }
    out.push_str(&format!(
        "\n{seconds} s per run; dnsperf with 4 clients and up to 256 queries outstanding from a \
         client namespace over a veth pair; {HOSTS} hosts in the zone. Server CPU is the CPU \
         of the server's processes (/proc), plus the run time of the XDP program on the \
         server's interface (kernel BPF statistics): secdns's, or knotd's, which hands UDP to \
         knotd's AF_XDP sockets. The kernel's receive and send path, which every server pays and XDP \
         mostly avoids (and knotd's copy into its AF_XDP ring), is in neither: the kernel \
         charges it to whichever task sent the packet, and /proc/stat on this machine was too \
         noisy to take it from. \
         Max q/s is bound by dnsperf, which shares the machine's cores.\n"
    ));
    crate::report::targets_table(&mut out, targets);
    out
}

/// Bars of CPU per answered query, one group per case, one bar per server.
fn plot(rows: &[Row]) -> String {
    const WIDTH: f64 = 760.0;
    const LABEL: f64 = 170.0;
    const BAR: f64 = 14.0;
    let max = rows
        .iter()
        .map(|r| r.server_us_per_query)
        .fold(1.0, f64::max);
    let mut cases: Vec<&str> = Vec::new();
    for row in rows {
        if !cases.contains(&row.case) {
            cases.push(row.case);
        }
    }
    let mut y = 40.0;
    let mut body = String::new();
    for case in &cases {
        body.push_str(&format!(
            "<text x=\"10\" y=\"{y}\" font-weight=\"bold\">{case}</text>\n"
        ));
        y += 8.0;
        for row in rows.iter().filter(|r| r.case == *case) {
            let width = (WIDTH - LABEL - 80.0) * row.server_us_per_query / max;
            let color = if row.server.starts_with("secdns") {
                "#2a7ab8"
            } else {
                "#999999"
            };
            body.push_str(&format!(
                "<text x=\"20\" y=\"{ty}\">{server}</text>\
                 <rect x=\"{LABEL}\" y=\"{y}\" width=\"{width:.1}\" height=\"{h}\" fill=\"{color}\"/>\
                 <text x=\"{tx:.1}\" y=\"{ty}\">{value:.2}</text>\n",
                server = row.server,
                value = row.server_us_per_query,
                ty = y + BAR - 3.0,
                h = BAR - 2.0,
                tx = LABEL + width + 6.0,
            ));
            y += BAR;
        }
        y += 18.0;
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{y}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n<text x=\"10\" y=\"20\" font-size=\"14\">\
         CPU per answered query at {FIXED_RATE} q/s, microseconds (lower is better)</text>\n\
         {body}</svg>\n"
    )
}
