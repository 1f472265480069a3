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
    servers::{BpfStats, Dnsperf, Server, process_tree_cpu, run_dnsperf, start, xdp_program_stats},
};

const APEX: &str = "bench.example.";
const HOSTS: usize = 10_000;
/// The offered load for measuring CPU per query: one every server on this machine sustains.
const FIXED_RATE: u32 = 10_000;
/// Lost queries beyond this share make the run fail.
const MAX_LOSS: f64 = 0.001;

#[derive(serde::Serialize)]
struct Row {
    server: &'static str,
    case: &'static str,
    /// Most answers a second (dnsperf with up to 256 queries outstanding).
    max_qps: f64,
    max_loss: f64,
    /// At FIXED_RATE, per answered query: CPU of the server's processes, and the run time of
    /// secdns's XDP program (the kernel's BPF statistics).
    process_us_per_query: f64,
    xdp_us_per_query: f64,
    /// The two added.
    server_us_per_query: f64,
    average_latency_us: f64,
    max_latency_us: f64,
    /// For secdns: the share of answers the XDP program sent.
    xdp_share: Option<f64>,
}

pub fn run(quick: bool) -> anyhow::Result<()> {
    require_root();
    require_tools(&["ip", "dig", "dnsperf", "knotd", "nsd", "named"]);
    let seconds = if quick { 3 } else { 10 };
    let dir = TempDir::new("bench-servers")?;
    let zone_file = dir.path().join("bench.example.zone");
    std::fs::write(&zone_file, hosts_zone(APEX, 1, HOSTS))?;
    let cases = query_files(dir.path())?;
    let _stats = BpfStats::enable()?;
    let mut rows = Vec::new();
    for server in Server::ALL {
        let net = TestNet::new("bench")?;
        let server_dir = dir.path().join(server.program());
        std::fs::create_dir_all(&server_dir)?;
        let running = start(server, &net, &server_dir, APEX, &zone_file)?;
        let pid = running.process.pid();
        for (case, queries) in &cases {
            let max = run_dnsperf(Some(&net.client_ns), SERVER_V4, 53, queries, seconds, None)
                .with_context(|| format!("{} {case}", server.name()))?;
            let xdp_before = xdp_answered(server, &net)?;
            let (cpu, xdp) = (
                process_tree_cpu(pid)?,
                xdp_program_stats(&net.server_ns, &net.server_if)?,
            );
            let fixed = run_dnsperf(
                Some(&net.client_ns),
                SERVER_V4,
                53,
                queries,
                seconds,
                Some(FIXED_RATE),
            )?;
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
                process_us_per_query: per_query(cpu),
                xdp_us_per_query: per_query(xdp),
                server_us_per_query: server_us,
                average_latency_us: fixed.average_latency_s * 1e6,
                max_latency_us: fixed.max_latency_s * 1e6,
                xdp_share,
            });
        }
        drop(running);
    }
    let table = markdown(&rows, seconds);
    println!("{table}");
    write_results(&rows, &table, seconds, quick)
}

/// One query file per case: every host once (positive), as many random names that do not
/// exist (a random-subdomain flood), and the two mixed 80/20.
fn query_files(dir: &Path) -> anyhow::Result<Vec<(&'static str, std::path::PathBuf)>> {
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
        files.push((case, path));
    }
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
    if run.loss() > MAX_LOSS {
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

fn markdown(rows: &[Row], seconds: u32) -> String {
    let mut out = format!(
        "| server | queries | max q/s | vs knotd | CPU us/query at {FIXED_RATE} q/s (process + XDP) | vs knotd | avg latency us | answered by XDP |\n\
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
            "| {} | {} | {:.0} | {} | {:.3} ({:.3} + {:.3}) | {} | {:.0} | {} |\n",
            row.server,
            row.case,
            row.max_qps,
            ratio(row.max_qps, knot.map(|k| k.max_qps)),
            row.server_us_per_query,
            row.process_us_per_query,
            row.xdp_us_per_query,
            ratio(row.server_us_per_query, knot.map(|k| k.server_us_per_query)),
            row.average_latency_us,
            row.xdp_share
                .map_or("-".into(), |s| format!("{:.0}%", s * 100.0)),
        ));
    }
    out.push_str(&format!(
        "\n{seconds} s per run; dnsperf with 4 clients and up to 256 queries outstanding from a \
         client namespace over a veth pair; {HOSTS} hosts in the zone. Server CPU is the CPU \
         of the server's processes (/proc), plus for secdns the run time of its XDP program \
         (kernel BPF statistics). The kernel's own receive and send path, which every server \
         pays and XDP mostly avoids, is in neither. Max q/s is bound by dnsperf, which shares \
         the machine's cores.\n"
    ));
    out
}

fn command_output(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .unwrap_or_else(|e| format!("unknown ({e})"))
}

fn write_results(rows: &[Row], table: &str, seconds: u32, quick: bool) -> anyhow::Result<()> {
    let date = command_output("date", &["-u", "+%Y-%m-%d"]);
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/results");
    std::fs::create_dir_all(&results)?;
    let name = if quick { "servers-quick" } else { "servers" };
    let json = serde_json::json!({
        "date": date,
        "machine": {
            "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "kernel": command_output("uname", &["-r"]),
            "cpu": std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|c| {
                c.lines().find_map(|l| l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned()))
            }),
        },
        "versions": {
            "secdns": command_output("git", &["rev-parse", "--short", "HEAD"]),
            "knotd": command_output("knotd", &["-V"]),
            "nsd": command_output("nsd", &["-v"]),
            "named": command_output("named", &["-v"]),
            "dnsperf": command_output("dnsperf", &["-h"]),
        },
        "seconds_per_run": seconds,
        "fixed_rate": FIXED_RATE,
        "command": format!("cargo xtask bench servers{}", if quick { " --quick" } else { "" }),
        "rows": rows,
    });
    let json_path = results.join(format!("{date}-{name}.json"));
    std::fs::write(&json_path, serde_json::to_string_pretty(&json)?)?;
    let md_path = results.join(format!("{date}-{name}.md"));
    std::fs::write(
        &md_path,
        format!("# secdns against knotd, nsd and named, {date}\n\n{table}"),
    )?;
    println!(
        "written to {} and {}",
        json_path.display(),
        md_path.display()
    );
    Ok(())
}
