//! `/tsigs`, `/peers` and `/webhooks`: list, create, show, replace, delete (peers and
//! webhooks by the same generic handlers).

use super::prelude::*;
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    catalog::{Object, Origin, PeerDef, TsigKeyDef},
    control::{KeyChange, KeyListing, Listing, MASKED, NewKey},
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

/// An object kind the API handles by a name of its own (peers, webhooks): the same five
/// handlers for each.
pub trait Named: Object<Name = String> + Serialize + DeserializeOwned + Send + Sync {}
impl Named for PeerDef {}
impl Named for WebhookDef {}

pub async fn list<T: Named>(State(api): State<Api>) -> ApiResult<Json<Vec<Listing<T>>>> {
    let catalog = api.secondaries.catalog();
    Ok(Json(catalog.all::<T>().map(Listing::of).collect()))
}

pub async fn show<T: Named>(
    State(api): State<Api>,
    Path(name): Path<String>,
) -> ApiResult<Json<Listing<T>>> {
    let catalog = api.secondaries.catalog();
    let object = catalog
        .get::<T>(&name)
        .ok_or_else(|| ApiError::not_found(format!("{} {name} does not exist", T::WHAT)))?;
    Ok(Json(Listing::of(object)))
}

pub async fn add<T: Named>(
    State(api): State<Api>,
    Body(def): Body<T>,
) -> ApiResult<(StatusCode, Json<Listing<T>>)> {
    api.secondaries
        .change(|c| c.add(def.clone(), Origin::Api))?;
    Ok(created(def))
}

pub async fn replace<T: Named>(
    State(api): State<Api>,
    Path(name): Path<String>,
    Body(def): Body<T>,
) -> ApiResult<Json<Listing<T>>> {
    same_name(&name, def.name())?;
    api.secondaries.change(|c| c.replace(def.clone()))?;
    Ok(Json(made(def)))
}

pub async fn remove<T: Named>(
    State(api): State<Api>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    api.secondaries.change(|c| c.remove::<T>(&name))?;
    Ok(StatusCode::NO_CONTENT)
}
