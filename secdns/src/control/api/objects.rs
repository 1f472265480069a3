//! `/tsigs`, `/peers` and `/webhooks`: list, create, show, replace, delete.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};

use super::{
    Api,
    error::{ApiError, ApiResult, Body},
    parse_name,
};
use crate::{
    catalog::{Origin, PeerDef, TsigKeyDef},
    control::{KeyChange, KeyListing, Listing, MASKED, NewKey, PeerListing, WebhookListing},
    dns::tsig::{self, Algorithm},
    webhooks::WebhookDef,
};

fn listing(def: &TsigKeyDef, origin: Origin, secret: &str) -> KeyListing {
    KeyListing {
        name: def.name.clone(),
        algorithm: def.algorithm,
        secret: secret.to_owned(),
        origin,
    }
}

fn secret_or_generated(secret: Option<String>, algorithm: Algorithm) -> ApiResult<String> {
    match secret {
        Some(secret) => Ok(secret),
        None => tsig::generate_secret(algorithm)
            .map(|s| tsig::encode_secret(&s))
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e)),
    }
}

pub async fn list_keys(State(api): State<Api>) -> ApiResult<Json<Vec<KeyListing>>> {
    let catalog = api.secondaries.catalog();
    Ok(Json(
        catalog
            .all::<TsigKeyDef>()
            .map(|(k, origin)| listing(k, origin, MASKED))
            .collect(),
    ))
}

pub async fn show_key(
    State(api): State<Api>,
    Path(name): Path<String>,
) -> ApiResult<Json<KeyListing>> {
    let name = parse_name("name", &name)?;
    let catalog = api.secondaries.catalog();
    let (def, origin) = catalog
        .get::<TsigKeyDef>(&name)
        .ok_or_else(|| ApiError::not_found(format!("TSIG key {name} does not exist")))?;
    Ok(Json(listing(def, origin, MASKED)))
}

/// The reply carries the secret: the only time it is shown.
pub async fn add_key(
    State(api): State<Api>,
    Body(new): Body<NewKey>,
) -> ApiResult<(StatusCode, Json<KeyListing>)> {
    let algorithm = new.algorithm.unwrap_or(Algorithm::HmacSha256);
    let def = TsigKeyDef {
        name: new.name,
        algorithm,
        secret: secret_or_generated(new.secret, algorithm)?,
    };
    api.secondaries
        .change(|c| c.add(def.clone(), Origin::Api))?;
    Ok((
        StatusCode::CREATED,
        Json(listing(&def, Origin::Api, &def.secret)),
    ))
}

pub async fn replace_key(
    State(api): State<Api>,
    Path(name): Path<String>,
    Body(change): Body<KeyChange>,
) -> ApiResult<Json<KeyListing>> {
    let name = parse_name("name", &name)?;
    let secondaries = &api.secondaries;
    let current = secondaries
        .catalog()
        .get::<TsigKeyDef>(&name)
        .map(|(k, _)| k.clone());
    let current =
        current.ok_or_else(|| ApiError::not_found(format!("TSIG key {name} does not exist")))?;
    let algorithm = change.algorithm.unwrap_or(current.algorithm);
    let new_secret = match (change.secret, change.generate) {
        (Some(_), true) => {
            return Err(ApiError::invalid(
                "generate",
                "give a secret or ask for one to be generated, not both",
            ));
        }
        (Some(secret), false) => Some(secret),
        (None, true) => Some(secret_or_generated(None, algorithm)?),
        (None, false) => None,
    };
    let shown = if new_secret.is_some() {
        None
    } else {
        Some(MASKED)
    };
    let def = TsigKeyDef {
        name,
        algorithm,
        secret: new_secret.unwrap_or(current.secret),
    };
    secondaries.change(|c| c.replace(def.clone()))?;
    // A new secret is shown this once; a kept one stays masked.
    Ok(Json(listing(
        &def,
        Origin::Api,
        shown.unwrap_or(&def.secret),
    )))
}

pub async fn remove_key(State(api): State<Api>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    let name = parse_name("name", &name)?;
    api.secondaries.change(|c| c.remove::<TsigKeyDef>(&name))?;
    Ok(StatusCode::NO_CONTENT)
}

/// The object's name in a PUT body must be the one in the path.
fn same_name(path: &str, body: &str) -> ApiResult<()> {
    if path == body {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "name",
            format!("the body names {body}, the path {path}"),
        ))
    }
}

/// What a successful POST of an API object answers.
fn created<T>(object: T) -> (StatusCode, Json<Listing<T>>) {
    (StatusCode::CREATED, Json(made(object)))
}

/// An object as the API just made it.
fn made<T>(object: T) -> Listing<T> {
    Listing {
        object,
        origin: Origin::Api,
    }
}

pub async fn list_peers(State(api): State<Api>) -> ApiResult<Json<Vec<PeerListing>>> {
    let catalog = api.secondaries.catalog();
    Ok(Json(catalog.all::<PeerDef>().map(Listing::of).collect()))
}

pub async fn show_peer(
    State(api): State<Api>,
    Path(name): Path<String>,
) -> ApiResult<Json<PeerListing>> {
    let catalog = api.secondaries.catalog();
    let peer = catalog
        .get::<PeerDef>(&name)
        .ok_or_else(|| ApiError::not_found(format!("peer {name} does not exist")))?;
    Ok(Json(Listing::of(peer)))
}

pub async fn add_peer(
    State(api): State<Api>,
    Body(def): Body<PeerDef>,
) -> ApiResult<(StatusCode, Json<PeerListing>)> {
    api.secondaries
        .change(|c| c.add(def.clone(), Origin::Api))?;
    Ok(created(def))
}

pub async fn replace_peer(
    State(api): State<Api>,
    Path(name): Path<String>,
    Body(def): Body<PeerDef>,
) -> ApiResult<Json<PeerListing>> {
    same_name(&name, &def.name)?;
    api.secondaries.change(|c| c.replace(def.clone()))?;
    Ok(Json(made(def)))
}

pub async fn remove_peer(
    State(api): State<Api>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    api.secondaries.change(|c| c.remove::<PeerDef>(&name))?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_webhooks(State(api): State<Api>) -> ApiResult<Json<Vec<WebhookListing>>> {
    let catalog = api.secondaries.catalog();
    Ok(Json(catalog.all::<WebhookDef>().map(Listing::of).collect()))
}

pub async fn show_webhook(
    State(api): State<Api>,
    Path(name): Path<String>,
) -> ApiResult<Json<WebhookListing>> {
    let catalog = api.secondaries.catalog();
    let webhook = catalog
        .get::<WebhookDef>(&name)
        .ok_or_else(|| ApiError::not_found(format!("webhook {name} does not exist")))?;
    Ok(Json(Listing::of(webhook)))
}

pub async fn add_webhook(
    State(api): State<Api>,
    Body(def): Body<WebhookDef>,
) -> ApiResult<(StatusCode, Json<WebhookListing>)> {
    api.secondaries
        .change(|c| c.add(def.clone(), Origin::Api))?;
    Ok(created(def))
}

pub async fn replace_webhook(
    State(api): State<Api>,
    Path(name): Path<String>,
    Body(def): Body<WebhookDef>,
) -> ApiResult<Json<WebhookListing>> {
    same_name(&name, &def.name)?;
    api.secondaries.change(|c| c.replace(def.clone()))?;
    Ok(Json(made(def)))
}

pub async fn remove_webhook(
    State(api): State<Api>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    api.secondaries.change(|c| c.remove::<WebhookDef>(&name))?;
    Ok(StatusCode::NO_CONTENT)
}
