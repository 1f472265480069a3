//! The Prometheus page, as a Prometheus text parser reads it.

use super::APEX;

pub fn check_metrics(page: &str) {
    let lines = page.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
    let value = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
    };
    let answered = value(
        "secdns_queries_total",
        &[("path", "udp"), ("zone", APEX), ("rcode", "NOERROR")],
    );
    assert!(answered.is_some_and(|v| v >= 5.0), "{page}");
    let refused = value(
        "secdns_queries_total",
        &[("zone", ""), ("rcode", "REFUSED")],
    );
    assert!(refused.is_some_and(|v| v >= 1.0), "{page}");
    assert_eq!(
        value("secdns_zone_serial", &[("zone", APEX)]),
        Some(1.0),
        "{page}"
    );
    assert_eq!(value("secdns_zone_serving", &[("zone", APEX)]), Some(1.0));
    assert!(
        value(
            "secdns_transfers_total",
            &[("zone", APEX), ("kind", "axfr"), ("result", "success")]
        )
        .is_some_and(|v| v >= 1.0),
        "{page}"
    );
    let since = value("secdns_zone_seconds_since_refresh", &[("zone", APEX)]).unwrap();
    assert!((0.0..120.0).contains(&since), "{since}");
    let expire = value("secdns_zone_expire_seconds", &[("zone", APEX)]).unwrap();
    assert!(expire > 86000.0 && expire <= 86400.0, "{expire}");
    assert_eq!(value("secdns_xdp_attached", &[]), Some(0.0));
    for family in ["secdns_queries_total", "secdns_transfers_total"] {
        assert!(page.contains(&format!("# TYPE {family} counter")), "{page}");
    }
}
