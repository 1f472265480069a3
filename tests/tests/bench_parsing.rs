//! The servers bench reads dnsperf's report and the CPU a server used; these check that it
//! reads real ones right (a run of dnsperf against a real knotd), not its timings.

use std::time::Duration;

use secdns_tests::{
    EXAMPLE_APEX, EXAMPLE_ZONE, TempDir,
    knot::Knot,
    prerequisites::require_tools,
    servers::{Load, parse_dnsperf, process_tree_cpu, run_dnsperf},
};

#[test]
fn reads_dnsperf_reports_and_server_cpu() {
    require_tools(&["knotd", "dnsperf"]);
    let knot = Knot::serve_zone(EXAMPLE_APEX, EXAMPLE_ZONE).unwrap();
    let dir = TempDir::new("bench-parsing").unwrap();
    let queries = dir.path().join("queries");
    std::fs::write(&queries, "www.example.com. A\nnope.example.com. A\n").unwrap();
    let pid = knot.process.pid();
    let before = process_tree_cpu(pid).unwrap();
    let run = run_dnsperf(&Load {
        namespace: None,
        server: "127.0.0.1",
        port: knot.addr().port(),
        queries: &queries,
        seconds: 2,
        rate: None,
        tcp: false,
        dnssec: false,
        per_query: true,
        outstanding: None,
    })
    .unwrap();
    // Every query sent was answered or lost, and knotd answered a lot of them.
    assert!(run.completed > 1000, "{run:?}");
    assert_eq!(run.completed + run.lost, run.sent, "{run:?}");
    assert!(run.qps > 500.0 && run.average_latency_s > 0.0, "{run:?}");
    assert!(run.max_latency_s >= run.average_latency_s, "{run:?}");
    // Percentiles from the per-query lines.
    let (p50, p99) = (run.p50_latency_s.unwrap(), run.p99_latency_s.unwrap());
    assert!(
        0.0 < p50 && p50 <= p99 && p99 <= run.max_latency_s,
        "{run:?}"
    );
    // Answering took knotd some CPU.
    let used = process_tree_cpu(pid).unwrap().saturating_sub(before);
    assert!(
        used > Duration::ZERO,
        "knotd used no CPU for {} answers",
        run.completed
    );
}

#[test]
fn a_report_without_statistics_is_an_error() {
    let error = parse_dnsperf("DNS Performance Testing Tool\n[Status] Command line: dnsperf\n")
        .unwrap_err()
        .to_string();
    assert!(error.contains("in dnsperf's output"), "{error}");
}
