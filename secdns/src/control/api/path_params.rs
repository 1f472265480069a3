//! The parts of the API's paths that name things, as written, and [`Parsed`], the extractor
//! that reads them before a handler runs: a malformed part (not UTF-8, not a name) is
//! answered 400 naming it, never looked up.

use std::{fmt::Display, marker::PhantomData, str::FromStr};

use axum::{
    extract::{FromRequestParts, Path, path::ErrorKind, rejection::PathRejection},
    http::request::Parts,
};
use serde::{Deserialize, de::DeserializeOwned};
use utoipa::IntoParams;

use super::error::{ApiError, ApiResult};
use crate::{
    catalog::{Object, OverrideType, check_handle},
    dns::Name,
};

/// A path type: its parts as written, and what they mean once read.
pub trait PathParts: DeserializeOwned + Send {
    type Read;
    fn read(self) -> ApiResult<Self::Read>;
}

/// The path's parts as `T` reads them; the handler gets them only if every part reads.
pub struct Parsed<T: PathParts>(pub T::Read);

impl<S: Send + Sync, T: PathParts> FromRequestParts<S> for Parsed<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(written) = Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(unreadable)?;
        written.read().map(Parsed)
    }
}

/// A part that is not UTF-8 once percent-decoded, refused naming it as any bad part is;
/// anything else is a routing bug, answered as axum says (500).
fn unreadable(rejection: PathRejection) -> ApiError {
    if let PathRejection::FailedToDeserializePathParams(failed) = &rejection
        && let ErrorKind::InvalidUtf8InPathParam { key } = failed.kind()
    {
        return ApiError::invalid(key, "not UTF-8 once percent-decoded");
    }
    ApiError::new(rejection.status(), rejection.body_text())
}

/// The path segment `field`, `text`, read as a `T`; refused naming the segment.
fn parse_part<T: FromStr<Err = String>>(field: &str, text: &str) -> ApiResult<T> {
    text.parse().map_err(|e| ApiError::invalid(field, e))
}

/// A PUT body must be the object its path names: `field` the same in both.
pub fn same_in_body<N: PartialEq + Display + ?Sized>(
    field: &str,
    path: &N,
    body: &N,
) -> ApiResult<()> {
    if path == body {
        Ok(())
    } else {
        Err(ApiError::inconsistent(
            field,
            format!("the body names {body}, the path {path}"),
        ))
    }
}

/// A path type that holds one domain name, in the segment called `$field`.
macro_rules! name_path {
    ($(#[$doc:meta])* $path:ident { $(#[$field_doc:meta])* $field:ident }) => {
        $(#[$doc])*
        #[derive(Deserialize, IntoParams)]
        #[into_params(parameter_in = Path)]
        pub struct $path {
            $(#[$field_doc])*
            #[param(value_type = Name)]
            $field: String,
        }

        impl PathParts for $path {
            type Read = Name;
            fn read(self) -> ApiResult<Name> {
                parse_part(stringify!($field), &self.$field)
            }
        }
    };
}

name_path!(
    /// `/zones/{zone}` and the paths below it.
    ZonePath {
        /// The zone's name.
        zone
    }
);

name_path!(
    /// `/tsigs/{name}`.
    KeyPath {
        /// The key's name.
        name
    }
);

/// `/peers/{name}` and `/webhooks/{name}`: a handle of the kind `T`, whose message names
/// the kind. Not `IntoParams`: the generic handlers' `by_name!` declares the parameter
/// (`("name" = Handle, Path)`), as a path attribute cannot name a generic type.
#[derive(Deserialize)]
// `T` is only a marker: no `T: Deserialize` or `T: Default` bound.
#[serde(bound = "")]
pub struct HandlePath<T> {
    name: String,
    #[serde(skip)]
    kind: PhantomData<fn() -> T>,
}

impl<T: Object> PathParts for HandlePath<T> {
    type Read = String;
    fn read(self) -> ApiResult<String> {
        check_handle(T::WHAT, &self.name)?;
        Ok(self.name)
    }
}

/// `/zones/{zone}/overrides/{name}/{type}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OverridePath {
    /// The zone's name.
    #[param(value_type = Name)]
    zone: String,
    /// The override's owner name.
    #[param(value_type = Name)]
    name: String,
    /// A, AAAA or CNAME, in any case.
    #[serde(rename = "type")]
    #[param(pattern = "^([Aa]|[Aa]{4}|[Cc][Nn][Aa][Mm][Ee])$")]
    rtype: String,
}

impl PathParts for OverridePath {
    type Read = (Name, Name, OverrideType);
    fn read(self) -> ApiResult<Self::Read> {
        Ok((
            parse_part("zone", &self.zone)?,
            parse_part("name", &self.name)?,
            parse_part("type", &self.rtype)?,
        ))
    }
}
