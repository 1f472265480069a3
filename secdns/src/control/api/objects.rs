//! `/tsigs`, `/peers` and `/webhooks`: list, create, show, replace, delete (peers and
//! webhooks by the same generic handlers, documented once per path by `by_name!`).

use super::prelude::*;
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    catalog::{Object, Origin, PeerDef, TsigKeyDef},
    control::{
        KeyChange, KeyListing, Listing, MASKED, NewKey, PeerListing, WebhookListing,
        paths::Collection,
    },
    dns::tsig::{self, Algorithm},
    text_forms::Handle,
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

/// The TSIG keys, secrets masked.
#[utoipa::path(get, path = "/tsigs", tag = "tsigs",
    responses((status = 200, description = "Every key", body = Vec<KeyListing>)))]
pub async fn list_keys(State(api): State<Api>) -> ApiResult<Json<Vec<KeyListing>>> {
    let catalog = api.secondaries.catalog();
    Ok(Json(
        catalog
            .all::<TsigKeyDef>()
            .map(|(k, origin)| listing(k, origin, MASKED))
            .collect(),
    ))
}

/// A TSIG key, its secret masked.
#[utoipa::path(get, path = "/tsigs/{name}", tag = "tsigs",
    params(KeyPath),
    responses(
        (status = 200, description = "The key", body = KeyListing),
        NoSuchKey,
    ))]
pub async fn show_key(
    State(api): State<Api>,
    Parsed(name): Parsed<KeyPath>,
) -> ApiResult<Json<KeyListing>> {
    let catalog = api.secondaries.catalog();
    let (def, origin) = catalog
        .get::<TsigKeyDef>(&name)
        .ok_or_else(|| ApiError::not_found(format!("TSIG key {name} does not exist")))?;
    Ok(Json(listing(def, origin, MASKED)))
}

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
        listing(&def, Origin::Api, &def.secret),
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

/// Removes a TSIG key no peer uses.
#[utoipa::path(delete, path = "/tsigs/{name}", tag = "tsigs",
    params(KeyPath),
    responses(
        Removed,
        NoSuchKey,
        (status = 409, description = "A peer uses the key, or it is defined in the config file", body = ErrorBody),
    ))]
pub async fn remove_key(
    State(api): State<Api>,
    Parsed(name): Parsed<KeyPath>,
) -> ApiResult<StatusCode> {
    api.secondaries.change(|c| c.remove::<TsigKeyDef>(&name))?;
    Ok(StatusCode::NO_CONTENT)
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
pub trait Named:
    Collection + Object<Name = String> + Serialize + DeserializeOwned + Send + Sync
{
}
impl Named for PeerDef {}
impl Named for WebhookDef {}

async fn list<T: Named>(State(api): State<Api>) -> ApiResult<Json<Vec<Listing<T>>>> {
    let catalog = api.secondaries.catalog();
    Ok(Json(catalog.all::<T>().map(Listing::of).collect()))
}

async fn show<T: Named>(
    State(api): State<Api>,
    Parsed(name): Parsed<HandlePath<T>>,
) -> ApiResult<Json<Listing<T>>> {
    let catalog = api.secondaries.catalog();
    let object = catalog
        .get::<T>(&name)
        .ok_or_else(|| ApiError::not_found(format!("{} {name} does not exist", T::WHAT)))?;
    Ok(Json(Listing::of(object)))
}

async fn add<T: Named>(
    State(api): State<Api>,
    Body(def): Body<T>,
) -> ApiResult<Created<Listing<T>>> {
    api.secondaries
        .change(|c| c.add(def.clone(), Origin::Api))?;
    Ok(created(paths::item::<T>(def.name()), made(def)))
}

async fn replace<T: Named>(
    State(api): State<Api>,
    Parsed(name): Parsed<HandlePath<T>>,
    Body(def): Body<T>,
) -> ApiResult<Json<Listing<T>>> {
    same_in_body("name", &name, def.name())?;
    api.secondaries.change(|c| c.replace(def.clone()))?;
    Ok(Json(made(def)))
}

async fn remove<T: Named>(
    State(api): State<Api>,
    Parsed(name): Parsed<HandlePath<T>>,
) -> ApiResult<StatusCode> {
    api.secondaries.change(|c| c.remove::<T>(&name))?;
    Ok(StatusCode::NO_CONTENT)
}

/// The five documented handlers of a kind handled by name (a path attribute cannot name a
/// generic handler), named list, add, show, replace and remove in the list; and `$routes`,
/// the function that gives their routes.
macro_rules! by_name {
    ($kind:ident, $listing:ident, $path:tt, $item:tt, $tag:tt,
     [$list:ident, $add:ident, $show:ident, $replace:ident, $remove:ident], $routes:ident) => {
        fn $routes() -> OpenApiRouter<Api> {
            OpenApiRouter::new()
                .routes(routes!($list, $add))
                .routes(routes!($show, $replace, $remove))
        }

        #[utoipa::path(get, path = $path, tag = $tag,
            responses((status = 200, description = "Every one", body = Vec<$listing>)))]
        pub async fn $list(api: State<Api>) -> ApiResult<Json<Vec<Listing<$kind>>>> {
            list::<$kind>(api).await
        }

        #[utoipa::path(post, path = $path, tag = $tag, request_body = $kind,
            responses(
                (status = 201, description = "Added", body = $listing,
                    headers(("Location" = String, description = "Where the new object is"))),
                (status = 409, description = "One of that name exists, or what it names does not", body = ErrorBody),
            ))]
        pub async fn $add(
            api: State<Api>,
            def: Body<$kind>,
        ) -> ApiResult<Created<Listing<$kind>>> {
            add::<$kind>(api, def).await
        }

        #[utoipa::path(get, path = $item, tag = $tag,
            params(("name" = Handle, Path)),
            responses(
                (status = 200, description = "As defined", body = $listing),
                NoneOfThatName,
            ))]
        pub async fn $show(
            api: State<Api>,
            name: Parsed<HandlePath<$kind>>,
        ) -> ApiResult<Json<Listing<$kind>>> {
            show::<$kind>(api, name).await
        }

        #[utoipa::path(put, path = $item, tag = $tag, request_body = $kind,
            params(("name" = Handle, Path)),
            responses(
                (status = 200, description = "Replaced", body = $listing),
                NoneOfThatName,
                (status = 409, description = "Defined in the config file, what it names does not exist, or the body names another", body = ErrorBody),
            ))]
        pub async fn $replace(
            api: State<Api>,
            name: Parsed<HandlePath<$kind>>,
            def: Body<$kind>,
        ) -> ApiResult<Json<Listing<$kind>>> {
            replace::<$kind>(api, name, def).await
        }

        #[utoipa::path(delete, path = $item, tag = $tag,
            params(("name" = Handle, Path)),
            responses(
                Removed,
                NoneOfThatName,
                (status = 409, description = "In use, or defined in the config file", body = ErrorBody),
            ))]
        pub async fn $remove(
            api: State<Api>,
            name: Parsed<HandlePath<$kind>>,
        ) -> ApiResult<StatusCode> {
            remove::<$kind>(api, name).await
        }
    };
}

by_name!(
    PeerDef,
    PeerListing,
    "/peers",
    "/peers/{name}",
    "peers",
    [list_peers, add_peer, show_peer, replace_peer, remove_peer],
    peer_routes
);
by_name!(
    WebhookDef,
    WebhookListing,
    "/webhooks",
    "/webhooks/{name}",
    "webhooks",
    [
        list_webhooks,
        add_webhook,
        show_webhook,
        replace_webhook,
        remove_webhook
    ],
    webhook_routes
);

/// The routes of TSIG keys, peers and webhooks.
pub fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, add_key))
        .routes(routes!(show_key, replace_key, remove_key))
        .merge(peer_routes())
        .merge(webhook_routes())
}
