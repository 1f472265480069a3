//! The control API's HTTP server: routes, access ([`auth`]), errors ([`error`]), the names
//! in paths ([`path_params`]), and the handlers by resource: what every object kind shares,
//! and peers and webhooks, which need nothing more ([`objects`]), TSIG keys ([`tsigs`]),
//! zones with their records and overrides ([`zones`]), response rate limits
//! ([`rate_limit`]), DNS Cookies ([`cookies`]), and health, counters, metrics and the API
//! description ([`status`]); [`replies`] describes once what several of them answer alike.
//! [`connections`] bounds how many clients are served at once and how long each may take.
//! The OpenAPI document is made from the routes ([`openapi`]); `openapi.json` in this
//! folder is a copy a test keeps equal to it.

mod auth;
pub mod connections;
mod cookies;
pub mod error;
mod objects;
mod openapi;
mod path_params;
mod rate_limit;
pub mod replies;
mod status;
mod tsigs;
mod zones;

/// What every resource's handlers take and give.
mod prelude {
    pub(super) use axum::{Json, extract::State, http::StatusCode};
    pub(super) use utoipa_axum::{router::OpenApiRouter, routes};

    pub(super) use super::{
        Api, Created, created,
        error::{ApiError, ApiResult, Body, ErrorBody},
        path_params::{HandlePath, KeyPath, OverridePath, Parsed, ZonePath, same_in_body},
        replies::{NoSecondaryZone, NoSuchKey, NoZoneOrOverride, NoneOfThatName, Removed},
    };
    pub(super) use crate::control::paths;
}

use std::sync::Arc;

use axum::{Router, extract::DefaultBodyLimit};
use tokio::net::TcpListener;
use utoipa::OpenApi as _;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{publish::Shared, secondary::Secondaries};
use error::ApiError;

/// Request bodies are small objects; the largest, `[rrl]` with 4096 prefixes, is under 300
/// KiB (`openapi::BODY` documents the limit).
const MAX_BODY: usize = 1024 * 1024;

#[derive(Clone)]
pub struct Api {
    pub shared: Shared,
    pub secondaries: Arc<Secondaries>,
    /// Bearer token every request must carry, when configured.
    pub token: Option<String>,
}

/// Every route, each with its documentation: routes and document come from these lists.
fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::with_openapi(openapi::Document::openapi())
        .routes(routes!(status::health))
        .routes(routes!(status::stats))
        .routes(routes!(status::metrics))
        .routes(routes!(status::openapi))
        .routes(routes!(rate_limit::show, rate_limit::replace))
        .routes(routes!(cookies::show, cookies::change))
        .merge(tsigs::routes())
        .merge(objects::routes())
        .merge(zones::routes())
}

/// The API's OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    openapi::complete(routes().into_openapi())
}

pub fn router(api: Api) -> Router {
    let (router, _) = routes().split_for_parts();
    router
        .fallback(|| async { ApiError::not_found("no such resource; see /openapi.json") })
        .layer(axum::middleware::from_fn_with_state(
            api.clone(),
            auth::check,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(api)
}

pub async fn serve(listener: TcpListener, api: Api) {
    connections::serve(listener, router(api)).await;
}

/// What a POST that made an object answers: 201, the object's path, and the object.
pub(super) type Created<T> = (
    axum::http::StatusCode,
    [(axum::http::HeaderName, String); 1],
    axum::Json<T>,
);

pub(super) fn created<T>(path: String, object: T) -> Created<T> {
    (
        axum::http::StatusCode::CREATED,
        [(axum::http::header::LOCATION, path)],
        axum::Json(object),
    )
}
