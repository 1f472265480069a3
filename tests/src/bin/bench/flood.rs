//! `cargo xtask bench flood`: secdns (XDP), knotd (mod-rrl, mod-cookies) and nsd (its RRL)
//! under two attacks, each server started fresh in a server namespace with the same signed
//! zone, the attackers and a legitimate client in the client namespace.
//!
//! (a) Reflection: queries for the largest answers (DNSKEY and ANY with DO) from 64 source
//! addresses in two /24s, as spoofed sources would send them: DNS bytes out over DNS bytes
//! in, with rate limiting off and on.
//! (b) A random-subdomain flood from dnsperf at the most it sends, with rate limiting on,
//! while a legitimate client in another prefix asks 100 times a second with a valid cookie:
//! the share of its questions answered, its latency, and the servers' CPU per flood query.
//!
//! The flood runs [`ROUNDS`] times, the servers taking turns, so that the machine's drift
//! over minutes falls on all of them alike. Both veth ends poll at an interrupt's priority
//! (see `TestNet::napi_at_interrupt_priority`): dnsperf shares the server's two cores,
//! which no attacker's generator would.

use std::{
    net::{IpAddr, SocketAddr, UdpSocket},
    path::Path,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use secdns_common::cookie::COOKIE_OPTION;
use secdns_tests::{
    TempDir,
    frame::QueryBuilder,
    netns::{SERVER_V4, TestNet, within},
    prerequisites::{require_root, require_tools},
    records::hosts_zone,
    servers::{
        BpfStats, Extras, Load, Server, percentile, process_tree_cpu, run_dnsperf, start_with,
        xdp_program_stats,
    },
    signing::sign,
};

use crate::report::Target;

const APEX: &str = "signed.example.";
/// The rate every server limits to: responses a second per client prefix and class.
const RATE: u32 = 20;
/// Queries a second the reflection attack sends, in all.
const REFLECTION_RATE: u32 = 10_000;
/// The legitimate client's queries a second during the flood.
const LEGIT_RATE: u32 = 100;
const LEGIT_SOURCE: &str = "203.0.114.5";
/// Floods per server (--quick: one).
const ROUNDS: usize = 3;

#[derive(serde::Serialize)]
struct Row {
    server: &'static str,
    round: usize,
    rate_limited: bool,
    /// DNS bytes received over DNS bytes sent (UDP payload, at the sockets).
    amplification: f64,
    reflection_queries: u64,
    /// With rate limiting on: the flood.
    flood: Option<Flood>,
}

#[derive(serde::Serialize)]
struct Flood {
    flood_queries: u64,
    /// Server CPU (its processes and the XDP program) per flood query sent.
    server_us_per_flood_query: f64,
    legit_sent: u64,
    legit_answered: u64,
    legit_p50_us: Option<f64>,
    legit_p99_us: Option<f64>,
    /// Each answer's latency, sorted (pooled over the rounds for the targets).
    #[serde(skip)]
    legit_latencies_us: Vec<f64>,
}

pub fn run(quick: bool) -> anyhow::Result<()> {
    require_root();
    require_tools(&["ip", "dig", "dnsperf", "knotd", "nsd", "bpftool", "ethtool"]);
    let seconds = if quick { 2 } else { 5 };
    let dir = TempDir::new("bench-flood")?;
    let zone = dir.path().join("signed.example.zone");
    std::fs::write(&zone, sign(APEX, &hosts_zone(APEX, 1, 1000), false)?)?;
    let flood_queries = random_names(dir.path())?;
    let _stats = BpfStats::enable()?;
    let mut rows = Vec::new();
    let rounds = if quick { 1 } else { ROUNDS };
    for round in 0..rounds {
        for server in [Server::SecdnsXdp, Server::Knot, Server::Nsd] {
            // Without limits there is no flood: one reflection run is enough.
            let limits: &[bool] = if round == 0 { &[false, true] } else { &[true] };
            for &rate_limited in limits {
                let row = attack(
                    server,
                    rate_limited,
                    round,
                    dir.path(),
                    &zone,
                    &flood_queries,
                    seconds,
                )?;
                rows.push(row);
            }
        }
    }
    let targets = targets(&rows);
    let table = markdown(&rows, &targets, seconds, rounds);
    println!("{table}");
    crate::report::write(
        "flood",
        "secdns, knotd and nsd under reflection and random-subdomain floods",
        quick,
        &table,
        serde_json::json!({
            "seconds_per_run": seconds,
            "rounds": rounds,
            "rate_limit": RATE,
            "reflection_rate": REFLECTION_RATE,
            "legit_rate": LEGIT_RATE,
            "rows": rows,
            "targets": targets,
        }),
        None,
    )
}

/// One server started fresh, attacked by reflection and (with rate limits) by the flood.
fn attack(
    server: Server,
    rate_limited: bool,
    round: usize,
    dir: &Path,
    zone: &Path,
    flood_queries: &Path,
    seconds: u32,
) -> anyhow::Result<Row> {
    let zones = [(APEX, zone)];
    let net = TestNet::new("flood")?;
    let sources = sources();
    let mut addresses: Vec<&str> = sources.iter().map(String::as_str).collect();
    addresses.push(LEGIT_SOURCE);
    net.add_client_addresses(&addresses)?;
    let server_dir = dir.join(format!("{}-{rate_limited}-{round}", server.program()));
    std::fs::create_dir_all(&server_dir)?;
    let (secdns, knot, nsd) = configs(rate_limited);
    let extras = Extras {
        secdns: &secdns,
        knot: &knot,
        nsd_server: Some(&nsd),
    };
    let running = start_with(server, &net, &server_dir, &zones, extras)?;
    net.napi_at_interrupt_priority()?;
    let (amplification, reflection_queries) = reflection(&net, &sources, seconds)
        .with_context(|| format!("reflection against {}", server.name()))?;
    let flood = if rate_limited {
        Some(
            flood(&net, running.process.pid(), flood_queries, seconds)
                .with_context(|| format!("flood against {}", server.name()))?,
        )
    } else {
        None
    };
    println!(
        "round {round} {:<14} rate limits {:<3}: amplification {amplification:.2}{}",
        server.name(),
        if rate_limited { "on" } else { "off" },
        flood.as_ref().map_or(String::new(), |f| format!(
            "; flood {} queries, {:.2} µs CPU each; legitimate {}/{} answered, p99 {:?} µs",
            f.flood_queries,
            f.server_us_per_flood_query,
            f.legit_answered,
            f.legit_sent,
            f.legit_p99_us.map(|us| us.round())
        ))
    );
    running.stop()?;
    Ok(Row {
        server: server.name(),
        round,
        rate_limited,
        amplification,
        reflection_queries,
        flood,
    })
}

/// The same limits for every server: RATE a second per /24, every second limited response
/// slipped; cookies answered (nsd 4.6 has none).
fn configs(rate_limited: bool) -> (String, String, String) {
    let secdns = if rate_limited {
        format!("[rrl]\nrate = {RATE}\nslip = 2\n")
    } else {
        String::new()
    };
    let rrl = if rate_limited {
        format!("mod-rrl:\n  - id: flood\n    rate-limit: {RATE}\n    slip: 2\n")
    } else {
        String::new()
    };
    let modules = if rate_limited {
        "[mod-cookies/flood, mod-rrl/flood]"
    } else {
        "[mod-cookies/flood]"
    };
    let knot = format!(
        "mod-cookies:\n  - id: flood\n{rrl}template:\n  - id: default\n    global-module: {modules}\n"
    );
    let nsd = if rate_limited {
        format!(
            "    rrl-ratelimit: {RATE}\n    rrl-slip: 2\n    rrl-ipv4-prefix-length: 24\n    \
             rrl-whitelist-ratelimit: {RATE}\n"
        )
    } else {
        "    rrl-ratelimit: 0\n    rrl-whitelist-ratelimit: 0\n".to_owned()
    };
    (secdns, knot, nsd)
}

/// The attack's source addresses: 32 in each of two /24s.
fn sources() -> Vec<String> {
    (0..64)
        .map(|i| match i % 2 {
            0 => format!("198.51.100.{}", 10 + i / 2),
            _ => format!("203.0.113.{}", 10 + i / 2),
        })
        .collect()
}

/// A file of random names below the apex for dnsperf (a fixed sequence: the same each run).
fn random_names(dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let lines: Vec<String> = (0..50_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            format!("r{state:016x}.{APEX} A")
        })
        .collect();
    let path = dir.join("random.queries");
    std::fs::write(&path, lines.join("\n") + "\n")?;
    Ok(path)
}

/// The reflection attack for `seconds`: (DNS bytes received over DNS bytes sent, queries
/// sent). Counted at the sockets, in UDP payload bytes, as amplification factors are: the
/// interface's counters count frames differently with an XDP program on the veth.
fn reflection(net: &TestNet, sources: &[String], seconds: u32) -> anyhow::Result<(f64, u64)> {
    let queries = [
        QueryBuilder::new(APEX, 48).with_opt(4096, true).build(),
        QueryBuilder::new(APEX, 255).with_opt(4096, true).build(),
    ];
    let sources: Vec<IpAddr> = sources
        .iter()
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    let (sent, sent_bytes, received_bytes) =
        net.on_client(move || -> anyhow::Result<(u64, u64, u64)> {
            let server: SocketAddr = format!("{SERVER_V4}:53").parse()?;
            let sockets: Vec<UdpSocket> = sources
                .iter()
                .map(|source| {
                    let socket = UdpSocket::bind(SocketAddr::new(*source, 0))?;
                    socket.set_nonblocking(true)?;
                    Ok(socket)
                })
                .collect::<std::io::Result<_>>()?;
            let mut buf = [0u8; 4096];
            let mut received = 0u64;
            let mut drain = |sockets: &[UdpSocket]| {
                for socket in sockets {
                    while let Ok(len) = socket.recv(&mut buf) {
                        received += len as u64;
                    }
                }
            };
            let start = Instant::now();
            let total = u64::from(REFLECTION_RATE) * u64::from(seconds);
            let (mut sent, mut sent_bytes) = (0u64, 0u64);
            while sent < total {
                // Paced: as many as are due by now.
                let due = (start.elapsed().as_secs_f64() * f64::from(REFLECTION_RATE)) as u64;
                while sent < due.min(total) {
                    let socket = &sockets[sent as usize % sockets.len()];
                    let query = &queries[sent as usize % queries.len()];
                    // A full buffer drops the query, as a real network would.
                    if socket.send_to(query, server).is_ok() {
                        sent_bytes += query.len() as u64;
                    }
                    sent += 1;
                }
                drain(&sockets);
                std::thread::sleep(Duration::from_micros(500));
            }
            // The last replies.
            let until = Instant::now() + Duration::from_millis(500);
            while Instant::now() < until {
                drain(&sockets);
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok((sent, sent_bytes, received))
        })??;
    Ok((received_bytes as f64 / sent_bytes.max(1) as f64, sent))
}

/// The random-subdomain flood for `seconds`, with the legitimate client asking meanwhile.
fn flood(net: &TestNet, pid: u32, queries: &Path, seconds: u32) -> anyhow::Result<Flood> {
    let legit_seconds = seconds;
    let legit = {
        let client_ns = net.client_ns.clone();
        std::thread::spawn(move || within(&client_ns, move || legitimate_client(legit_seconds)))
    };
    let (cpu, xdp) = (
        process_tree_cpu(pid)?,
        xdp_program_stats(&net.server_ns, &net.server_if)?,
    );
    let run = run_dnsperf(&Load {
        namespace: Some(&net.client_ns),
        server: SERVER_V4,
        port: 53,
        queries,
        seconds,
        rate: None,
        tcp: false,
        dnssec: false,
        per_query: false,
        // Most of a flood goes unanswered: dnsperf must not wait for it.
        outstanding: Some((60_000, 1)),
    })?;
    let cpu = process_tree_cpu(pid)?.saturating_sub(cpu);
    let xdp = xdp_program_stats(&net.server_ns, &net.server_if)?
        .0
        .saturating_sub(xdp.0);
    let (legit_sent, latencies) = legit
        .join()
        .map_err(|_| anyhow::anyhow!("the legitimate client panicked"))???;
    let mut latencies = latencies;
    latencies.sort_by(f64::total_cmp);
    Ok(Flood {
        flood_queries: run.sent,
        server_us_per_flood_query: (cpu + xdp).as_secs_f64() * 1e6 / run.sent.max(1) as f64,
        legit_sent,
        legit_answered: latencies.len() as u64,
        legit_p50_us: percentile(&latencies, 50),
        legit_p99_us: percentile(&latencies, 99),
        legit_latencies_us: latencies,
    })
}

/// A resolver in another prefix asking LEGIT_RATE times a second for `seconds`, with the
/// server's cookie once it has one: (questions asked, latency of each answer in µs).
/// Runs in the client namespace.
fn legitimate_client(seconds: u32) -> anyhow::Result<(u64, Vec<f64>)> {
    let socket = UdpSocket::bind((LEGIT_SOURCE, 0))?;
    socket.connect((SERVER_V4, 53))?;
    socket.set_read_timeout(Some(Duration::from_millis(200)))?;
    let client = [0x42u8; 8];
    let mut cookie = client.to_vec();
    let mut latencies = Vec::new();
    let total = u64::from(LEGIT_RATE) * u64::from(seconds);
    let interval = Duration::from_secs(1) / LEGIT_RATE;
    let start = Instant::now();
    let mut buf = [0u8; 1500];
    for i in 0..total {
        let mut query = QueryBuilder::new(&format!("host{}.{APEX}", i % 1000), 1)
            .with_opt(1232, false)
            .with_option(COOKIE_OPTION, &cookie)
            .build();
        query[..2].copy_from_slice(&(i as u16).to_be_bytes());
        let asked = Instant::now();
        socket.send(&query)?;
        // Until the answer or the timeout (lost).
        while let Ok(len) = socket.recv(&mut buf) {
            if buf[..2] != query[..2] {
                continue; // a late reply to an earlier question
            }
            latencies.push(asked.elapsed().as_secs_f64() * 1e6);
            // The server's cookie, for the next question (the OPT is last; its COOKIE the
            // last 24 bytes).
            if let Some(tail) = buf[..len].get(len.saturating_sub(28)..)
                && tail[..4] == [0, 10, 0, 24]
            {
                cookie = tail[4..].to_vec();
            }
            break;
        }
        let next = start + interval * (i as u32 + 1);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    Ok((total, latencies))
}

/// The targets, over every round: amplification and the CPU ratio as medians of
/// the rounds (each round's ratio from the servers' turns in it), the legitimate client's
/// answers and latencies pooled.
fn targets(rows: &[Row]) -> Vec<Target> {
    let limited = |server: Server| -> Vec<&Row> {
        rows.iter()
            .filter(|r| r.server == server.name() && r.rate_limited)
            .collect()
    };
    let (ours, knot) = (limited(Server::SecdnsXdp), limited(Server::Knot));
    if ours.is_empty() || knot.is_empty() {
        return Vec::new();
    }
    let amplification = |rows: &[&Row]| median(rows.iter().map(|r| r.amplification).collect());
    let (our_amplification, knot_amplification) = (amplification(&ours), amplification(&knot));
    let mut targets = vec![Target {
        target: "amplification under rate limiting no higher than knotd's".into(),
        measured: format!("{our_amplification:.2} (knotd {knot_amplification:.2})"),
        met: Some(our_amplification <= knot_amplification),
    }];
    let floods: Vec<&Flood> = ours.iter().filter_map(|r| r.flood.as_ref()).collect();
    let (sent, answered) = floods.iter().fold((0, 0), |(sent, answered), f| {
        (sent + f.legit_sent, answered + f.legit_answered)
    });
    let share = answered as f64 / sent.max(1) as f64;
    targets.push(Target {
        target: "the legitimate client gets 99.9 % of its answers during the flood".into(),
        measured: format!("{:.2} % ({answered}/{sent})", share * 100.0),
        met: Some(share >= 0.999),
    });
    let mut latencies: Vec<f64> = floods
        .iter()
        .flat_map(|f| f.legit_latencies_us.iter().copied())
        .collect();
    latencies.sort_by(f64::total_cmp);
    let p99 = percentile(&latencies, 99);
    targets.push(Target {
        target: "its p99 latency under 1 ms".into(),
        measured: p99.map_or("no answers".into(), |us| format!("{us:.0} µs")),
        met: Some(p99.is_some_and(|us| us < 1000.0)),
    });
    let cpu = |row: &Row| row.flood.as_ref().map(|f| f.server_us_per_flood_query);
    let ratios: Vec<f64> = ours
        .iter()
        .filter_map(|o| {
            let k = knot.iter().find(|k| k.round == o.round)?;
            Some(cpu(k)? / cpu(o)?.max(1e-9))
        })
        .collect();
    let shown: Vec<String> = ratios.iter().map(|r| format!("1/{r:.1}")).collect();
    let ratio = median(ratios);
    let our_cpu = median(ours.iter().filter_map(|r| cpu(r)).collect());
    let knot_cpu = median(knot.iter().filter_map(|r| cpu(r)).collect());
    targets.push(Target {
        target: "CPU per flood query at most 1/10 of knotd's".into(),
        measured: format!(
            "1/{ratio:.1}, median of the rounds' {} ({our_cpu:.3} µs; knotd {knot_cpu:.3} µs)",
            shown.join(", ")
        ),
        met: Some(ratio >= 10.0),
    });
    targets
}

/// The middle value (the mean of the middle two of an even count); NaN for none.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn markdown(rows: &[Row], targets: &[Target], seconds: u32, rounds: usize) -> String {
    let mut out = String::from(
        "| round | server | rate limits | amplification | flood queries | CPU µs per flood query | legitimate answered | legitimate p50 / p99 µs |\n|---|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        let flood = row.flood.as_ref();
        out.push_str(&format!(
            "| {} | {} | {} | {:.2} | {} | {} | {} | {} |\n",
            row.round + 1,
            row.server,
            if row.rate_limited { "on" } else { "off" },
            row.amplification,
            flood.map_or("-".into(), |f| f.flood_queries.to_string()),
            flood.map_or("-".into(), |f| format!(
                "{:.3}",
                f.server_us_per_flood_query
            )),
            flood.map_or("-".into(), |f| format!(
                "{}/{}",
                f.legit_answered, f.legit_sent
            )),
            flood.map_or("-".into(), |f| format!(
                "{:.0} / {:.0}",
                f.legit_p50_us.unwrap_or(f64::NAN),
                f.legit_p99_us.unwrap_or(f64::NAN)
            )),
        ));
    }
    out.push_str(&format!(
        "\nReflection: {REFLECTION_RATE} queries a second for {seconds} s from 64 addresses in \
         two /24s, DNSKEY and ANY with DO (EDNS 4096) for a signed zone; amplification is the \
         DNS bytes (UDP payload) received over those sent, counted at the sockets. Flood: dnsperf with random \
         names at the most it sends for {seconds} s, rate limiting on ({RATE} a second per \
         /24, slip 2); meanwhile a client in another prefix asks {LEGIT_RATE} times a second \
         with the server's cookie (nsd 4.6 has no cookies). CPU: the server's processes and \
         its XDP program (BPF statistics). {rounds} round(s), the servers taking turns; \
         the targets take the rounds' medians and pool the legitimate client's answers. \
         dnsperf shares the server's two cores, so both veth ends poll at a threaded \
         interrupt's priority (SCHED_FIFO 50), as a NIC's interrupt would.\n\n"
    ));
    crate::report::targets_table(&mut out, targets);
    out
}
