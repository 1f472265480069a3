//! HTTP routes of the control API: counters, and the secondary-DNS objects (TSIG keys, peers,
//! zones) with their status and actions.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    response::IntoResponse,
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use super::ZoneSummary;
use crate::{
    catalog::{Origin, PeerDef, SecondaryDef, TsigKeyDef},
    dns::Name,
    secondary::{Secondaries, status::ZoneStatus},
    server::Shared,
    stats::StatsReport,
    transfer::tsig::{self, Algorithm},
    zone::render::zone_text,
};

pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/v1/stats", get(stats))
        .route("/v1/tsig", get(list_keys).post(add_key))
        .route("/v1/tsig/{name}", axum::routing::delete(remove_key))
        .route("/v1/peers", get(list_peers).post(add_peer))
        .route("/v1/peers/{name}", axum::routing::delete(remove_peer))
        .route("/v1/zones", get(list_zones).post(add_zone))
        .route("/v1/zones/{name}", get(show_zone).delete(remove_zone))
        .route("/v1/zones/{name}/transfer", post(transfer_zone))
        .route("/v1/zones/{name}/records", get(zone_records))
        .with_state(shared)
}

pub async fn serve(listener: TcpListener, shared: Shared) {
    if let Err(e) = axum::serve(listener, router(shared)).await {
        tracing::error!("control API stopped: {e}");
    }
}

pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        (self.0, self.1).into_response()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        let text = format!("{e:#}");
        let status = if text.ends_with("does not exist") {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::BAD_REQUEST
        };
        ApiError(status, text)
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn secondaries(shared: &Shared) -> ApiResult<&Secondaries> {
    shared
        .secondaries
        .get()
        .map(|s| &**s)
        .ok_or_else(|| ApiError(StatusCode::SERVICE_UNAVAILABLE, "still starting".into()))
}

fn parse_name(text: &str) -> ApiResult<Name> {
    text.parse()
        .map_err(|e: String| ApiError(StatusCode::BAD_REQUEST, e))
}

async fn stats(State(shared): State<Shared>) -> ApiResult<Json<StatsReport>> {
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

#[derive(Serialize, Deserialize)]
pub struct KeyListing {
    pub name: Name,
    pub algorithm: Algorithm,
    pub origin: Origin,
}

/// `POST /v1/tsig`: the secret may be left out, and is then generated and returned once.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub name: Name,
    pub algorithm: Option<Algorithm>,
    pub secret: Option<String>,
}

async fn list_keys(State(shared): State<Shared>) -> ApiResult<Json<Vec<KeyListing>>> {
    let catalog = secondaries(&shared)?.catalog();
    Ok(Json(
        catalog
            .keys()
            .map(|(k, origin)| KeyListing {
                name: k.name.clone(),
                algorithm: k.algorithm,
                origin,
            })
            .collect(),
    ))
}

async fn add_key(
    State(shared): State<Shared>,
    Json(new): Json<NewKey>,
) -> ApiResult<(StatusCode, Json<TsigKeyDef>)> {
    let algorithm = new.algorithm.unwrap_or(Algorithm::HmacSha256);
    let secret = match new.secret {
        Some(secret) => secret,
        None => tsig::encode_secret(
            &tsig::generate_secret(algorithm)
                .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e))?,
        ),
    };
    let def = TsigKeyDef {
        name: new.name,
        algorithm,
        secret,
    };
    secondaries(&shared)?.add_key(def.clone())?;
    Ok((StatusCode::CREATED, Json(def)))
}

async fn remove_key(
    State(shared): State<Shared>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    secondaries(&shared)?.remove_key(&parse_name(&name)?)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, Deserialize)]
pub struct PeerListing {
    #[serde(flatten)]
    pub peer: PeerDef,
    pub origin: Origin,
}

async fn list_peers(State(shared): State<Shared>) -> ApiResult<Json<Vec<PeerListing>>> {
    let catalog = secondaries(&shared)?.catalog();
    Ok(Json(
        catalog
            .peers()
            .map(|(p, origin)| PeerListing {
                peer: p.clone(),
                origin,
            })
            .collect(),
    ))
}

async fn add_peer(
    State(shared): State<Shared>,
    Json(def): Json<PeerDef>,
) -> ApiResult<(StatusCode, Json<PeerDef>)> {
    secondaries(&shared)?.add_peer(def.clone())?;
    Ok((StatusCode::CREATED, Json(def)))
}

async fn remove_peer(
    State(shared): State<Shared>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    secondaries(&shared)?.remove_peer(&name)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_zones(State(shared): State<Shared>) -> ApiResult<Json<Vec<ZoneSummary>>> {
    let snapshot = shared.snapshot.load();
    let secondaries = secondaries(&shared)?;
    let statuses = secondaries.statuses();
    let mut zones: Vec<ZoneSummary> = snapshot
        .zones()
        .filter(|z| secondaries.zone(z.apex()).is_none())
        .map(|z| ZoneSummary {
            name: z.apex().to_string(),
            kind: "file".into(),
            serial: Some(z.serial()),
            records: z.record_count(),
            serving: true,
        })
        .chain(statuses.into_iter().map(|s| ZoneSummary {
            name: s.name,
            kind: "secondary".into(),
            serial: s.serial,
            records: s.records,
            serving: s.serving,
        }))
        .collect();
    zones.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(zones))
}

async fn add_zone(
    State(shared): State<Shared>,
    Json(def): Json<SecondaryDef>,
) -> ApiResult<(StatusCode, Json<SecondaryDef>)> {
    secondaries(&shared)?.add_zone(def.clone())?;
    Ok((StatusCode::CREATED, Json(def)))
}

fn not_found(name: &Name) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, format!("zone {name} does not exist"))
}

async fn show_zone(
    State(shared): State<Shared>,
    Path(name): Path<String>,
) -> ApiResult<Json<ZoneStatus>> {
    let name = parse_name(&name)?;
    if let Some(zone) = secondaries(&shared)?.zone(&name) {
        return Ok(Json(zone.status()));
    }
    let snapshot = shared.snapshot.load();
    let zone = snapshot
        .zones()
        .find(|z| *z.apex() == name)
        .ok_or_else(|| not_found(&name))?;
    Ok(Json(ZoneStatus {
        name: zone.apex().to_string(),
        serial: Some(zone.serial()),
        records: zone.record_count(),
        serving: true,
        ..Default::default()
    }))
}

async fn remove_zone(
    State(shared): State<Shared>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    secondaries(&shared)?.remove_zone(&parse_name(&name)?)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn transfer_zone(
    State(shared): State<Shared>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let name = parse_name(&name)?;
    let zone = secondaries(&shared)?
        .zone(&name)
        .ok_or_else(|| not_found(&name))?;
    zone.force_transfer();
    Ok(StatusCode::ACCEPTED)
}

async fn zone_records(State(shared): State<Shared>, Path(name): Path<String>) -> ApiResult<String> {
    let name = parse_name(&name)?;
    if let Some(zone) = secondaries(&shared)?.zone(&name) {
        let copy = zone.copy().ok_or_else(|| {
            ApiError(
                StatusCode::NOT_FOUND,
                format!("zone {name} has no copy yet"),
            )
        })?;
        return Ok(zone_text(&copy));
    }
    let snapshot = shared.snapshot.load();
    let zone = snapshot
        .zones()
        .find(|z| *z.apex() == name)
        .ok_or_else(|| not_found(&name))?;
    Ok(zone_text(zone))
}
