//! Who may use the control API: with a token configured, whoever presents it as a bearer
//! token; without one, local (loopback) clients only.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::{Api, error::ApiError};

pub async fn check(
    State(api): State<Api>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    match refusal(&api, &peer, &request) {
        // A refused client does not keep its connection: it would hold one of the few.
        Some(mut refused) => {
            refused.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
            refused
        }
        None => next.run(request).await,
    }
}

/// Why `request` from `peer` is refused, if it is.
fn refusal(api: &Api, peer: &SocketAddr, request: &Request) -> Option<Response> {
    match &api.token {
        Some(token) => {
            let given = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            if given.is_some_and(|given| same(given.as_bytes(), token.as_bytes())) {
                return None;
            }
            let mut response = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "give the control token: Authorization: Bearer TOKEN (secdns --token)",
            )
            .into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            Some(response)
        }
        None if !peer.ip().is_loopback() && !is_mapped_loopback(peer) => {
            tracing::warn!(%peer, "control API: refused a non-local client (no token configured)");
            let refused = ApiError::new(
                StatusCode::FORBIDDEN,
                "the control API answers non-local clients only when [server] control_token is set",
            );
            Some(refused.into_response())
        }
        None => None,
    }
}

fn is_mapped_loopback(peer: &SocketAddr) -> bool {
    match peer {
        SocketAddr::V6(v6) => v6.ip().to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        SocketAddr::V4(_) => false,
    }
}

/// Compares in time that does not depend on where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
