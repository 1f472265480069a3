//! What every object kind's handlers share: [`Kind`], the generic list, show, add, replace
//! and remove, and the macros that give each kind its documented routes to them. Peers and
//! webhooks are served by these alone (`/peers`, `/webhooks`, below); TSIG keys
//! ([`super::tsigs`]) and zones ([`super::zones`]) by some of them and handlers of their own.
//!
//! A path attribute cannot name a generic handler, so each route is a small documented
//! function that calls one; the macros write it.

use serde::{Serialize, de::DeserializeOwned};

use super::{path_params::PathParts, prelude::*};
use crate::{
    catalog::{Origin, PeerDef},
    control::{Listing, PeerListing, WebhookListing, paths::Collection},
    text_forms::Handle,
    webhooks::WebhookDef,
};

/// An object kind the generic handlers serve: how its name is read from a path, and how one
/// is shown.
pub trait Kind: Collection + Send + Sync {
    type Path: PathParts<Read = Self::Name>;
    type Listing: Serialize;
    fn listing(&self, origin: Origin) -> Self::Listing;
}

/// Peers and webhooks: named by a handle, listed as defined with their origin.
macro_rules! named_by_handle {
    ($($kind:ident),*) => {$(
        impl Kind for $kind {
            type Path = HandlePath<$kind>;
            type Listing = Listing<$kind>;
            fn listing(&self, origin: Origin) -> Listing<$kind> {
                Listing::of((self, origin))
            }
        }
    )*};
}
named_by_handle!(PeerDef, WebhookDef);

/// Every object of the kind.
pub async fn list<T: Kind>(State(api): State<Api>) -> ApiResult<Json<Vec<T::Listing>>> {
    let catalog = api.secondaries.catalog();
    let all = catalog.all::<T>();
    Ok(Json(
        all.map(|(object, origin)| object.listing(origin)).collect(),
    ))
}

/// The object the path names.
pub async fn show<T: Kind>(
    State(api): State<Api>,
    Parsed(name): Parsed<T::Path>,
) -> ApiResult<Json<T::Listing>> {
    let catalog = api.secondaries.catalog();
    let (object, origin) = catalog.found::<T>(&name)?;
    Ok(Json(object.listing(origin)))
}

/// Adds the object in the body; the reply says where it is.
pub async fn add<T: Kind + DeserializeOwned>(
    State(api): State<Api>,
    Body(object): Body<T>,
) -> ApiResult<Created<T::Listing>> {
    api.secondaries
        .change(|c| c.add(object.clone(), Origin::Api))?;
    let path = paths::item::<T>(object.name());
    Ok(created(path, object.listing(Origin::Api)))
}

/// Replaces the object the path names with the body, which must name the same.
pub async fn replace<T: Kind + DeserializeOwned>(
    State(api): State<Api>,
    Parsed(name): Parsed<T::Path>,
    Body(object): Body<T>,
) -> ApiResult<Json<T::Listing>> {
    same_in_body("name", &name, object.name())?;
    api.secondaries.change(|c| c.replace(object.clone()))?;
    Ok(Json(object.listing(Origin::Api)))
}

/// Removes the object the path names.
pub async fn remove<T: Kind>(
    State(api): State<Api>,
    Parsed(name): Parsed<T::Path>,
) -> ApiResult<StatusCode> {
    api.secondaries.change(|c| c.remove::<T>(&name))?;
    Ok(StatusCode::NO_CONTENT)
}

// The routes to the generic handlers, one macro an operation, each writing one documented
// function that calls its handler. Written as
//     name: Kind, listed as Listing, "/path/{param}", params(..), tag "tag", NoSuch.., conflict ".."
// with the parts the operation needs: what the kind is listed as (`Kind::Listing`, named
// again because a path attribute cannot name it through the trait), the path, its
// parameters as utoipa's `params(..)` takes them, the 404 reply type (from `replies`), and
// what a 409 means for that kind. The caller has `prelude::*` in scope: the functions name
// what it brings.

/// `GET` of every object of the kind.
macro_rules! list_route {
    ($(#[$doc:meta])* $name:ident: $kind:ident, listed as $listing:ident,
     $path:literal, tag $tag:literal) => {
        $(#[$doc])*
        #[utoipa::path(get, path = $path, tag = $tag,
            responses((status = 200, description = "Every one", body = Vec<$listing>)))]
        pub async fn $name(api: State<Api>) -> ApiResult<Json<Vec<$listing>>> {
            $crate::control::api::objects::list::<$kind>(api).await
        }
    };
}

/// `GET` of one object.
macro_rules! show_route {
    ($(#[$doc:meta])* $name:ident: $kind:ident, listed as $listing:ident,
     $path:literal, params $params:tt, tag $tag:literal, $missing:ident) => {
        $(#[$doc])*
        #[utoipa::path(get, path = $path, tag = $tag, params $params,
            responses((status = 200, description = "As listed", body = $listing), $missing))]
        pub async fn $name(
            api: State<Api>,
            name: Parsed<<$kind as $crate::control::api::objects::Kind>::Path>,
        ) -> ApiResult<Json<$listing>> {
            $crate::control::api::objects::show::<$kind>(api, name).await
        }
    };
}

/// `POST` of a new object.
macro_rules! add_route {
    ($(#[$doc:meta])* $name:ident: $kind:ident, listed as $listing:ident,
     $path:literal, tag $tag:literal, conflict $conflict:literal) => {
        $(#[$doc])*
        #[utoipa::path(post, path = $path, tag = $tag, request_body = $kind,
            responses(
                (status = 201, description = "Added", body = $listing,
                    headers(("Location" = String, description = "Where the new object is"))),
                (status = 409, description = $conflict, body = ErrorBody),
            ))]
        pub async fn $name(api: State<Api>, object: Body<$kind>) -> ApiResult<Created<$listing>> {
            $crate::control::api::objects::add::<$kind>(api, object).await
        }
    };
}

/// `PUT` of an object's new definition.
macro_rules! replace_route {
    ($(#[$doc:meta])* $name:ident: $kind:ident, listed as $listing:ident,
     $path:literal, params $params:tt, tag $tag:literal, $missing:ident,
     conflict $conflict:literal) => {
        $(#[$doc])*
        #[utoipa::path(put, path = $path, tag = $tag, request_body = $kind, params $params,
            responses(
                (status = 200, description = "Replaced", body = $listing),
                $missing,
                (status = 409, description = $conflict, body = ErrorBody),
            ))]
        pub async fn $name(
            api: State<Api>,
            name: Parsed<<$kind as $crate::control::api::objects::Kind>::Path>,
            object: Body<$kind>,
        ) -> ApiResult<Json<$listing>> {
            $crate::control::api::objects::replace::<$kind>(api, name, object).await
        }
    };
}

/// `DELETE` of an object.
macro_rules! remove_route {
    ($(#[$doc:meta])* $name:ident: $kind:ident,
     $path:literal, params $params:tt, tag $tag:literal, $missing:ident,
     conflict $conflict:literal) => {
        $(#[$doc])*
        #[utoipa::path(delete, path = $path, tag = $tag, params $params,
            responses(Removed, $missing, (status = 409, description = $conflict, body = ErrorBody)))]
        pub async fn $name(
            api: State<Api>,
            name: Parsed<<$kind as $crate::control::api::objects::Kind>::Path>,
        ) -> ApiResult<StatusCode> {
            $crate::control::api::objects::remove::<$kind>(api, name).await
        }
    };
}

pub(super) use {add_route, list_route, remove_route, replace_route, show_route};

/// A kind served by the generic handlers alone, at `$path` and `$item`: its five routes,
/// named in the list in the order list, add, show, replace, remove; and `$routes`, the
/// function that gives them.
macro_rules! by_name {
    ($kind:ident, listed as $listing:ident, $path:literal, $item:literal, tag $tag:literal,
     [$list:ident, $add:ident, $show:ident, $replace:ident, $remove:ident], $routes:ident) => {
        fn $routes() -> OpenApiRouter<Api> {
            OpenApiRouter::new()
                .routes(routes!($list, $add))
                .routes(routes!($show, $replace, $remove))
        }
        list_route!($list: $kind, listed as $listing, $path, tag $tag);
        add_route!($add: $kind, listed as $listing, $path, tag $tag,
            conflict "One of that name exists, or what it names does not");
        show_route!($show: $kind, listed as $listing, $item, params(("name" = Handle, Path)),
            tag $tag, NoneOfThatName);
        replace_route!($replace: $kind, listed as $listing, $item,
            params(("name" = Handle, Path)), tag $tag, NoneOfThatName,
            conflict "Defined in the config file, what it names does not exist, or the body names another");
        remove_route!($remove: $kind, $item, params(("name" = Handle, Path)), tag $tag,
            NoneOfThatName, conflict "In use, or defined in the config file");
    };
}

by_name!(PeerDef, listed as PeerListing, "/peers", "/peers/{name}", tag "peers",
    [list_peers, add_peer, show_peer, replace_peer, remove_peer], peer_routes);
by_name!(WebhookDef, listed as WebhookListing, "/webhooks", "/webhooks/{name}", tag "webhooks",
    [list_webhooks, add_webhook, show_webhook, replace_webhook, remove_webhook], webhook_routes);

/// The routes of peers and webhooks.
pub fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new()
        .merge(peer_routes())
        .merge(webhook_routes())
}
