//! `/cookies`: whether DNS Cookies are answered, and a new secret (for every host of a fleet
//! at about the same time; the one it replaces stays good until the next rotation).

use serde::Deserialize;

use super::prelude::*;
use crate::cookies::{CookieStatus, Secret};

/// Whether DNS Cookies are answered.
#[utoipa::path(get, path = "/cookies", tag = "cookies", operation_id = "show_cookies",
    responses((status = 200, description = "The state", body = CookieStatus)))]
pub async fn show(State(api): State<Api>) -> Json<CookieStatus> {
    Json(api.shared.cookies.status())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CookieChange {
    enabled: Option<bool>,
    /// A new secret, 16 bytes in hex: the current one becomes the previous one, still
    /// accepted. Give every host of a fleet the same.
    #[schema(pattern = "^[0-9a-fA-F]{32}$")]
    secret: Option<String>,
}

/// Turns DNS Cookies on or off, or rotates the secret.
#[utoipa::path(put, path = "/cookies", tag = "cookies", operation_id = "change_cookies",
    request_body = CookieChange,
    responses((status = 200, description = "The state now", body = CookieStatus)))]
pub async fn change(
    State(api): State<Api>,
    Body(change): Body<CookieChange>,
) -> ApiResult<Json<CookieStatus>> {
    let secret = match &change.secret {
        Some(text) => Some(
            text.parse::<Secret>()
                .map_err(|e| ApiError::invalid("secret", format!("{e:#}")))?,
        ),
        None => None,
    };
    let cookies = &api.shared.cookies;
    cookies.change(change.enabled, secret);
    if let Some(fast_path) = api.shared.fast_path.get() {
        fast_path.update_cookies()?;
    }
    let status = cookies.status();
    tracing::info!(
        enabled = status.enabled,
        rotated = secret.is_some(),
        "DNS Cookies changed through the API"
    );
    Ok(Json(status))
}
