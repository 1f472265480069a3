//! The control API's HTTP server: routes, access ([`auth`]), errors ([`error`]), and the
//! handlers by resource: TSIG keys, peers and webhooks ([`objects`]), zones with their records
//! and overrides ([`zones`]), response rate limits ([`rate_limit`]), DNS Cookies ([`cookies`]), and health, counters,
//! metrics and the API description ([`status`]). `openapi.json` in this folder describes it all; a test holds the server to it.

mod auth;
mod cookies;
pub mod error;
mod objects;
mod rate_limit;
mod status;
mod zones;

/// What every resource's handlers take and give.
mod prelude {
    pub(super) use axum::{
        Json,
        extract::{Path, State},
        http::StatusCode,
    };

    pub(super) use super::{
        Api,
        error::{ApiError, ApiResult, Body},
        parse_name,
    };
}

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Router,
    extract::DefaultBodyLimit,
    routing::{get, post},
};
use tokio::net::TcpListener;

use crate::{
    catalog::PeerDef, dns::Name, publish::Shared, secondary::Secondaries, webhooks::WebhookDef,
    zone::Zone,
};
use error::{ApiError, ApiResult};

/// Request bodies are small objects.
const MAX_BODY: usize = 64 * 1024;

#[derive(Clone)]
pub struct Api {
    pub shared: Shared,
    pub secondaries: Arc<Secondaries>,
    /// Bearer token every request must carry, when configured.
    pub token: Option<String>,
}

impl Api {
    /// The zones served from files: those served that are not secondary zones.
    fn file_zones(&self, secondaries: &Secondaries) -> Vec<Arc<Zone>> {
        let snapshot = self.shared.snapshot.load();
        let from_files = snapshot
            .zones()
            .filter(|z| secondaries.zone(z.apex()).is_none());
        from_files.cloned().collect()
    }
}

pub fn router(api: Api) -> Router {
    Router::new()
        .route("/health", get(status::health))
        .route("/stats", get(status::stats))
        .route("/metrics", get(status::metrics))
        .route("/openapi.json", get(status::openapi))
        .route("/rrl", get(rate_limit::show).put(rate_limit::replace))
        .route("/cookies", get(cookies::show).put(cookies::change))
        .route("/tsigs", get(objects::list_keys).post(objects::add_key))
        .route(
            "/tsigs/{name}",
            get(objects::show_key)
                .put(objects::replace_key)
                .delete(objects::remove_key),
        )
        .route(
            "/peers",
            get(objects::list::<PeerDef>).post(objects::add::<PeerDef>),
        )
        .route(
            "/peers/{name}",
            get(objects::show::<PeerDef>)
                .put(objects::replace::<PeerDef>)
                .delete(objects::remove::<PeerDef>),
        )
        .route(
            "/webhooks",
            get(objects::list::<WebhookDef>).post(objects::add::<WebhookDef>),
        )
        .route(
            "/webhooks/{name}",
            get(objects::show::<WebhookDef>)
                .put(objects::replace::<WebhookDef>)
                .delete(objects::remove::<WebhookDef>),
        )
        .route("/zones", get(zones::list).post(zones::add))
        .route(
            "/zones/{zone}",
            get(zones::show).put(zones::replace).delete(zones::remove),
        )
        .route("/zones/{zone}/records", get(zones::records))
        .route("/zones/{zone}/force_axfr", post(zones::force_axfr))
        .route(
            "/zones/{zone}/overrides",
            get(zones::list_overrides).post(zones::add_override),
        )
        .route(
            "/zones/{zone}/overrides/{name}/{type}",
            get(zones::show_override)
                .put(zones::replace_override)
                .delete(zones::remove_override),
        )
        .fallback(|| async { ApiError::not_found("no such resource; see /openapi.json") })
        .layer(axum::middleware::from_fn_with_state(
            api.clone(),
            auth::check,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(api)
}

pub async fn serve(listener: TcpListener, api: Api) {
    let app = router(api).into_make_service_with_connect_info::<SocketAddr>();
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!("control API stopped: {e}");
    }
}

pub(super) fn parse_name(field: &str, text: &str) -> ApiResult<Name> {
    text.parse()
        .map_err(|e: String| ApiError::invalid(field, e))
}
