//! `/health`, `/stats`, `/metrics` and `/openapi.json`.

use std::sync::atomic::Ordering;

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};

use super::{Api, error::ApiResult};
use crate::{
    control::{
        Health,
        metrics::{self, Inputs},
    },
    stats::StatsReport,
};

/// The API description, kept in the repository next to this file.
pub const OPENAPI: &str = include_str!("openapi.json");

pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

pub async fn health(State(api): State<Api>) -> (StatusCode, Json<Health>) {
    let xdp = api.shared.fast_path.get().is_some();
    let secondaries = &api.secondaries;
    let running = secondaries.running();
    let not_serving: Vec<String> = running
        .iter()
        .map(|zone| zone.status())
        .filter(|s| !s.serving)
        .map(|s| s.name)
        .collect();
    let (status, code) = if not_serving.is_empty() {
        ("ok", StatusCode::OK)
    } else {
        ("degraded", StatusCode::SERVICE_UNAVAILABLE)
    };
    let health = Health {
        status: status.into(),
        zones: api.file_zones(secondaries).len() + running.len(),
        not_serving,
        xdp,
    };
    (code, Json(health))
}

pub async fn stats(State(api): State<Api>) -> ApiResult<Json<StatsReport>> {
    let shared = &api.shared;
    let (xdp, entries) = match shared.fast_path.get() {
        Some(fast_path) => (fast_path.counters()?, fast_path.usage()),
        None => (Vec::new(), Default::default()),
    };
    let zones = shared.snapshot.load().zones().count() as u64;
    Ok(Json(StatsReport::from_parts(
        &shared.stats,
        xdp,
        entries,
        zones,
    )))
}

pub async fn metrics(State(api): State<Api>) -> ApiResult<impl IntoResponse> {
    let shared = &api.shared;
    let (xdp, xdp_zones) = match shared.fast_path.get() {
        Some(fast_path) => (
            Some((fast_path.counters()?, fast_path.usage())),
            fast_path.zone_counts()?,
        ),
        None => (None, Vec::new()),
    };
    let rrl = shared.rate_limit.config();
    let rrl = (rrl.enabled, rrl.log_only, shared.rate_limit.limited());
    let secondaries = &api.secondaries;
    let zones = secondaries
        .running()
        .iter()
        .map(|zone| (zone.status(), zone.metrics()))
        .collect();
    let file_zones = api
        .file_zones(secondaries)
        .iter()
        .map(|z| (z.apex().to_string(), z.serial()))
        .collect();
    let page = metrics::render(Inputs {
        queries: &shared.stats.queries,
        tcp_closed: [
            (
                "per_client_limit",
                shared.stats.tcp_refused_per_client.load(Ordering::Relaxed),
            ),
            (
                "idle_made_room",
                shared.stats.tcp_idle_closed.load(Ordering::Relaxed),
            ),
        ],
        xdp,
        xdp_zones,
        zones,
        file_zones,
        rrl,
    });
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        page,
    ))
}
