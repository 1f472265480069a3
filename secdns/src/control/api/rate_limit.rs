//! `/rrl`: the response rate limits in force, changed at runtime (until the next start,
//! which takes `[rrl]` from the config file again).

use axum::{Json, extract::State};

use super::{
    Api,
    error::{ApiError, ApiResult, Body},
};
use crate::rate_limit::RrlConfig;

pub async fn show(State(api): State<Api>) -> Json<RrlConfig> {
    Json((*api.shared.rate_limit.config()).clone())
}

/// Replaces the limits; `table_size` keeps its value (the table is sized at start).
pub async fn replace(
    State(api): State<Api>,
    Body(config): Body<RrlConfig>,
) -> ApiResult<Json<RrlConfig>> {
    let limiter = &api.shared.rate_limit;
    limiter
        .set_config(config)
        .map_err(|e| ApiError::invalid("rrl", format!("{e:#}")))?;
    if let Some(fast_path) = api.shared.fast_path.get() {
        fast_path.update_rate_limit()?;
    }
    let config = limiter.config();
    tracing::info!(
        enabled = config.enabled,
        rate = config.rate,
        log_only = config.log_only,
        "rate limits changed through the API"
    );
    Ok(Json((*config).clone()))
}
