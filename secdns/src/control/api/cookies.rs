//! `/cookies`: whether DNS Cookies are answered, and a new secret (for every host of a fleet
//! at about the same time; the one it replaces stays good until the next rotation).

use serde::Deserialize;

use super::prelude::*;
use crate::cookies::{CookieStatus, Secret};

pub async fn show(State(api): State<Api>) -> Json<CookieStatus> {
    Json(api.shared.cookies.status())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CookieChange {
    enabled: Option<bool>,
    /// 16 bytes in hex.
    secret: Option<String>,
}

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
