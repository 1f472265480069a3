//! `/tsigs`: TSIG keys. Listed, shown and removed by the generic handlers
//! ([`super::objects`]), their secrets masked; added and changed here, where a secret may be
//! generated and is shown once.

use super::{
    objects::{Kind, list_route, remove_route, show_route},
    prelude::*,
};
use crate::{
    catalog::{Origin, TsigKeyDef},
    control::{KeyChange, KeyListing, MASKED, NewKey},
    dns::tsig::{self, Algorithm},
};

/// The routes of TSIG keys.
pub fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, add_key))
        .routes(routes!(show_key, replace_key, remove_key))
}

/// The key as listed, with `secret` in place of its secret.
fn shown(def: &TsigKeyDef, origin: Origin, secret: &str) -> KeyListing {
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

/// Keys are listed and shown with their secrets masked.
impl Kind for TsigKeyDef {
    type Path = KeyPath;
    type Listing = KeyListing;
    fn listing(&self, origin: Origin) -> KeyListing {
        shown(self, origin, MASKED)
    }
}

list_route!(
    /// The TSIG keys, secrets masked.
    list_keys: TsigKeyDef as KeyListing, "/tsigs", tag "tsigs");

show_route!(
    /// A TSIG key, its secret masked.
    show_key: TsigKeyDef as KeyListing, "/tsigs/{name}" (KeyPath), tag "tsigs", NoSuchKey);

remove_route!(
    /// Removes a TSIG key no peer uses.
    remove_key: TsigKeyDef, "/tsigs/{name}" (KeyPath), tag "tsigs", NoSuchKey,
    conflict "A peer uses the key, or it is defined in the config file");

/// Adds a TSIG key. The reply carries the secret: the only time it is shown.
#[utoipa::path(post, path = "/tsigs", tag = "tsigs", request_body = NewKey,
    responses(
        (status = 201, description = "Added, with its secret", body = KeyListing,
            headers(("Location" = String, description = "Where the new object is"))),
        (status = 409, description = "A key of that name exists", body = ErrorBody),
    ))]
pub async fn add_key(
    State(api): State<Api>,
    Body(new): Body<NewKey>,
) -> ApiResult<Created<KeyListing>> {
    let algorithm = new.algorithm.unwrap_or(Algorithm::HmacSha256);
    let def = TsigKeyDef {
        name: new.name,
        algorithm,
        secret: secret_or_generated(new.secret, algorithm)?,
    };
    api.secondaries
        .change(|c| c.add(def.clone(), Origin::Api))?;
    Ok(created(
        paths::item::<TsigKeyDef>(&def.name),
        shown(&def, Origin::Api, &def.secret),
    ))
}

/// Changes a TSIG key's algorithm or secret; a new secret is shown in the reply, once.
#[utoipa::path(put, path = "/tsigs/{name}", tag = "tsigs", request_body = KeyChange,
    params(KeyPath),
    responses(
        (status = 200, description = "Changed", body = KeyListing),
        NoSuchKey,
        (status = 409, description = "The key is defined in the config file", body = ErrorBody),
    ))]
pub async fn replace_key(
    State(api): State<Api>,
    Parsed(name): Parsed<KeyPath>,
    Body(change): Body<KeyChange>,
) -> ApiResult<Json<KeyListing>> {
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
    let masked = if new_secret.is_some() {
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
    Ok(Json(shown(
        &def,
        Origin::Api,
        masked.unwrap_or(&def.secret),
    )))
}
