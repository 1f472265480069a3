//! HTTP routes of the control API.

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use tokio::net::TcpListener;

use super::ZoneSummary;
use crate::{server::Shared, stats::StatsReport};

pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/v1/stats", get(stats))
        .route("/v1/zones", get(zones))
        .with_state(shared)
}

pub async fn serve(listener: TcpListener, shared: Shared) {
    if let Err(e) = axum::serve(listener, router(shared)).await {
        tracing::error!("control API stopped: {e}");
    }
}

type ApiError = (StatusCode, String);

fn internal(e: anyhow::Error) -> ApiError {
    (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))
}

async fn stats(State(shared): State<Shared>) -> Result<Json<StatsReport>, ApiError> {
    let (xdp, entries) = match &shared.fast_path {
        Some(fast_path) => (fast_path.counters().map_err(internal)?, fast_path.entries()),
        None => (Vec::new(), 0),
    };
    let zones = shared.snapshot.load().zones().count() as u64;
    Ok(Json(StatsReport::from_parts(
        &shared.stats,
        xdp,
        entries,
        zones,
    )))
}

async fn zones(State(shared): State<Shared>) -> Json<Vec<ZoneSummary>> {
    let snapshot = shared.snapshot.load();
    let mut zones: Vec<ZoneSummary> = snapshot
        .zones()
        .map(|z| ZoneSummary {
            name: z.apex().to_string(),
            serial: z.serial(),
            records: z.record_count(),
        })
        .collect();
    zones.sort_by(|a, b| a.name.cmp(&b.name));
    Json(zones)
}
