//! `/rrl`: the response rate limits in force, changed at runtime (until the next start,
//! which takes `[rrl]` from the config file again).

use super::prelude::*;
use crate::rate_limit::RrlConfig;

pub async fn show(State(api): State<Api>) -> Json<RrlConfig> {
    Json((*api.shared.rate_limit.config()).clone())
}

/// Replaces the limits: what the body leaves out takes its default. `table_size` keeps its
/// value (the table is sized at start); another is refused.
pub async fn replace(
    State(api): State<Api>,
    Body(config): Body<serde_json::Value>,
) -> ApiResult<Json<RrlConfig>> {
    let limiter = &api.shared.rate_limit;
    let size = limiter.config().table_size;
    let asked = config.get("table_size").and_then(serde_json::Value::as_u64);
    if asked.is_some_and(|asked| asked != u64::from(size)) {
        return Err(ApiError::invalid(
            "table_size",
            format!("the table has {size} buckets until the next start"),
        ));
    }
    let config: RrlConfig = super::error::parse(config.to_string().as_bytes())?;
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
