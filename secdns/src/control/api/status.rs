//! `/health`, `/stats`, `/metrics` and `/openapi.json`.

use std::sync::atomic::Ordering;

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};

use super::{
    Api,
    error::{ApiError, ApiResult},
    openapi,
};
use crate::{
    control::{
        Health, HealthState,
        metrics::{self, Inputs},
    },
    stats::StatsReport,
};

/// This document (OpenAPI 3.1).
#[utoipa::path(get, path = "/openapi.json", tag = "status",
    responses((status = 200, description = "The API's OpenAPI document", body = Object)))]
pub async fn openapi() -> ApiResult<impl IntoResponse> {
    let text = openapi::text().map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], text))
}

/// Whether every zone is served.
#[utoipa::path(get, path = "/health", tag = "status",
    responses(
        (status = 200, description = "Every zone is served", body = Health),
        (status = 503, description = "A zone is not served", body = Health),
    ))]
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
        (HealthState::Ok, StatusCode::OK)
    } else {
        (HealthState::Degraded, StatusCode::SERVICE_UNAVAILABLE)
    };
    let health = Health {
        status,
        zones: secondaries.file_zones().len() + running.len(),
        not_serving,
        xdp,
    };
    (code, Json(health))
}

/// Query and connection counters, and how full the XDP maps are.
#[utoipa::path(get, path = "/stats", tag = "status",
    responses((status = 200, description = "The counters", body = StatsReport)))]
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

/// Counters and zone states for Prometheus.
#[utoipa::path(get, path = "/metrics", tag = "status",
    responses((status = 200, description = "Prometheus text format 0.0.4 (UTF-8)", body = String,
        content_type = "text/plain")))]
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
    let file_zones = secondaries
        .file_zones()
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
