//! The parts of the API's paths that name things, as written: each type's `parse` reads
//! them, so that a malformed part is answered 400 naming it, never looked up.

use std::str::FromStr;

use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiResult};
use crate::{catalog::OverrideType, dns::Name};

/// The path segment `field`, `text`, read as a `T`; refused naming the segment.
fn parse_part<T: FromStr<Err = String>>(field: &str, text: &str) -> ApiResult<T> {
    text.parse().map_err(|e| ApiError::invalid(field, e))
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

        impl $path {
            pub fn parse(&self) -> ApiResult<Name> {
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

impl OverridePath {
    pub fn parse(&self) -> ApiResult<(Name, Name, OverrideType)> {
        Ok((
            parse_part("zone", &self.zone)?,
            parse_part("name", &self.name)?,
            parse_part("type", &self.rtype)?,
        ))
    }
}
