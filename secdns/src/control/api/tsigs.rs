//! `/tsigs`: TSIG keys. Listed, shown and removed by the generic handlers
//! ([`super::objects`]), their secrets masked; added and changed here, where a secret may be
//! generated and is shown once.

use axum::{
    http::header::CACHE_CONTROL,
    response::{IntoResponse, Response},
};

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

/// A reply that may carry a secret, marked `Cache-Control: no-store` so that nothing between
/// the client and the server keeps a copy.
pub struct NoStore<T>(T);

impl<T: IntoResponse> IntoResponse for NoStore<T> {
    fn into_response(self) -> Response {
        ([(CACHE_CONTROL, "no-store")], self.0).into_response()
    }
}

/// A new secret for `algorithm`, in base64.
fn generated(algorithm: Algorithm) -> anyhow::Result<String> {
    let secret = tsig::generate_secret(algorithm).map_err(anyhow::Error::msg)?;
    Ok(tsig::encode_secret(&secret))
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
    list_keys: TsigKeyDef, listed as KeyListing, "/tsigs", tag "tsigs");

show_route!(
    /// A TSIG key, its secret masked.
    show_key: TsigKeyDef, listed as KeyListing, "/tsigs/{name}", params(KeyPath), tag "tsigs",
    NoSuchKey);

remove_route!(
    /// Removes a TSIG key no peer uses.
    remove_key: TsigKeyDef, "/tsigs/{name}", params(KeyPath), tag "tsigs", NoSuchKey,
    conflict "A peer uses the key, or it is defined in the config file");

/// Adds a TSIG key. The reply carries the secret: the only time it is shown.
#[utoipa::path(post, path = "/tsigs", tag = "tsigs", request_body = NewKey,
    responses(
        (status = 201, description = "Added, with its secret", body = KeyListing,
            headers(
                ("Location" = String, description = "Where the new object is"),
                ("Cache-Control" = String, description = "no-store: the reply carries the secret"),
            )),
        (status = 409, description = "A key of that name exists", body = ErrorBody),
    ))]
pub async fn add_key(
    State(Api { secondaries, .. }): State<Api>,
    Body(new): Body<NewKey>,
) -> ApiResult<NoStore<Created<KeyListing>>> {
    let algorithm = new.algorithm.unwrap_or(Algorithm::HmacSha256);
    let def = TsigKeyDef {
        name: new.name,
        algorithm,
        secret: match new.secret {
            Some(secret) => secret,
            None => generated(algorithm)?,
        },
    };
    secondaries.change(|c| c.add(def.clone(), Origin::Api))?;
    Ok(NoStore(created(
        paths::item::<TsigKeyDef>(&def.name),
        shown(&def, Origin::Api, &def.secret),
    )))
}

/// Changes a TSIG key's algorithm or secret; a new secret is shown in the reply, once.
#[utoipa::path(put, path = "/tsigs/{name}", tag = "tsigs", request_body = KeyChange,
    params(KeyPath),
    responses(
        (status = 200, description = "Changed", body = KeyListing,
            headers(("Cache-Control" = String, description = "no-store: the reply may carry the secret"))),
        NoSuchKey,
        (status = 409, description = "The key is defined in the config file", body = ErrorBody),
    ))]
pub async fn replace_key(
    State(Api { secondaries, .. }): State<Api>,
    Parsed(name): Parsed<KeyPath>,
    Body(change): Body<KeyChange>,
) -> ApiResult<NoStore<Json<KeyListing>>> {
    if change.secret.is_some() && change.generate {
        return Err(ApiError::invalid(
            "generate",
            "give a secret or ask for one to be generated, not both",
        ));
    }
    // The key is read and replaced in one change: two changes at once both take effect.
    let reply = secondaries.change(|catalog| -> anyhow::Result<KeyListing> {
        let (current, _) = catalog.found::<TsigKeyDef>(&name)?;
        let current = current.clone();
        let algorithm = change.algorithm.unwrap_or(current.algorithm);
        let new_secret = match (&change.secret, change.generate) {
            (Some(secret), _) => Some(secret.clone()),
            (None, true) => Some(generated(algorithm)?),
            (None, false) => None,
        };
        let def = TsigKeyDef {
            name: name.clone(),
            algorithm,
            secret: new_secret.clone().unwrap_or(current.secret),
        };
        catalog.replace(def.clone())?;
        // A new secret is shown this once; a kept one stays masked.
        Ok(match new_secret {
            Some(secret) => shown(&def, Origin::Api, &secret),
            None => def.listing(Origin::Api),
        })
    })?;
    Ok(NoStore(Json(reply)))
}
