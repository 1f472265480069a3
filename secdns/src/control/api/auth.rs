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
    match &api.token {
        Some(token) => {
            let given = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            if !given.is_some_and(|given| same(given.as_bytes(), token.as_bytes())) {
                let mut response = ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "give the control token: Authorization: Bearer TOKEN (secdns --token)",
                )
                .into_response();
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
                return response;
            }
        }
        None if !peer.ip().is_loopback() && !is_mapped_loopback(&peer) => {
            tracing::warn!(%peer, "control API: refused a non-local client (no token configured)");
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "the control API answers non-local clients only when [server] control_token is set",
            )
            .into_response();
        }
        None => {}
    }
    next.run(request).await
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
