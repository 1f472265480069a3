//! `/rrl`: the response rate limits in force, changed at runtime (until the next start,
//! which takes `[rrl]` from the config file again).

use super::prelude::*;
use crate::rate_limit::RrlConfig;

/// The rate limits in force.
#[utoipa::path(get, path = "/rrl", tag = "rrl", operation_id = "show_rate_limits",
    responses((status = 200, description = "The limits", body = RrlConfig)))]
pub async fn show(State(api): State<Api>) -> Json<RrlConfig> {
    Json((*api.shared.rate_limit.config()).clone())
}

/// Replaces the limits: what the body leaves out takes its default. `table_size` keeps its
/// value (the table is sized at start); another is refused.
#[utoipa::path(put, path = "/rrl", tag = "rrl", operation_id = "replace_rate_limits",
    request_body = RrlConfig,
    responses((status = 200, description = "The limits now in force", body = RrlConfig)))]
pub async fn replace(
    State(api): State<Api>,
    Body(body): Body<serde_json::Value>,
) -> ApiResult<Json<RrlConfig>> {
    let limiter = &api.shared.rate_limit;
    let size = limiter.config().table_size;
    let asked = body.get("table_size").is_some();
    let config: RrlConfig = super::error::from_value(body)?;
    if asked && config.table_size != size {
        return Err(ApiError::invalid(
            "table_size",
            format!("the table has {size} buckets until the next start"),
        ));
    }
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
