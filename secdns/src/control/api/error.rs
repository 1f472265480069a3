//! Errors as the control API answers them, `{"field": ..., "message": ...}` with the status
//! that fits (400 bad input, 401/403 access, 404, 408 a body too slow, 409, 500, 503), and
//! the JSON body reader that names the field at fault.

use std::time::Duration;

use axum::{
    Json,
    body::Bytes,
    extract::{FromRequest, Request},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_path_to_error::Segment;

use crate::catalog::{Refused, RefusedKind};

/// What went wrong with a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// The request field at fault (`name`, `peers[1]`, `data[0]`), for bad input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                field: None,
                message: message.into(),
            },
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body: ErrorBody {
                field: Some(field.into()),
                message: message.into(),
            },
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// A PUT body that is not the object its path names: 409, as RFC 9110 §9.3.4 suggests
    /// for a representation inconsistent with the target.
    pub fn inconsistent(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::CONFLICT,
            ..Self::invalid(field, message)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

impl From<Refused> for ApiError {
    fn from(refused: Refused) -> Self {
        let status = match refused.kind {
            RefusedKind::Invalid => StatusCode::BAD_REQUEST,
            RefusedKind::NotFound => StatusCode::NOT_FOUND,
            RefusedKind::Conflict => StatusCode::CONFLICT,
        };
        Self {
            status,
            body: ErrorBody {
                field: refused.field,
                message: refused.message,
            },
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<Refused>() {
            Ok(refused) => refused.into(),
            Err(e) => {
                tracing::error!("control API: {e:#}");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// How long a request body may take to arrive (`connections` bounds the rest of a request).
pub const BODY_TIME: Duration = Duration::from_secs(20);

/// A JSON request body; what is wrong with it is answered with the field's path.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the body as JSON (Content-Type: application/json)",
            ));
        }
        let bytes = tokio::time::timeout(BODY_TIME, Bytes::from_request(request, state))
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    format!("the body did not arrive within {} s", BODY_TIME.as_secs()),
                )
            })?
            .map_err(|e| ApiError::new(e.status(), e.body_text()))?;
        parse(&bytes).map(Body)
    }
}

/// Parses `bytes` as `T`; an error names the field (`peers[2]`, `name`) and what is wrong.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let Strict(value) = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        // JSON that breaks off, or breaks where no field is known (in a key): no field to
        // name, so the position in the body is what helps.
        let unplaced = e.path().iter().all(|s| matches!(s, Segment::Unknown));
        if unplaced && (e.inner().is_syntax() || e.inner().is_eof()) {
            ApiError::invalid(".", format!("invalid JSON: {}", e.inner()))
        } else {
            named_field(e)
        }
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::invalid(".", format!("trailing data after the JSON value: {e}")))?;
    from_value(value)
}

/// A JSON value in which no object gives a key twice (serde_json's `Value` keeps the last;
/// a struct refuses the second, as the API always did).
struct Strict(serde_json::Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate field `{key}`"
                )));
            }
            let Strict(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(object.into())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(items.into())
    }

    fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
        Ok(text.into())
    }

    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Ok(b.into())
    }

    fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
        Ok(n.into())
    }

    fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
        Ok(n.into())
    }

    fn visit_f64<E>(self, n: f64) -> Result<Self::Value, E> {
        Ok(n.into())
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
}

/// `value`, a request body, as `T`. Bodies are objects (serde would also take a struct's
/// fields as an array); a number with no fraction is an integer, as JSON Schema says
/// (`300.0` is a TTL of 300).
pub fn from_value<T: DeserializeOwned>(mut value: serde_json::Value) -> ApiResult<T> {
    if !value.is_object() {
        return Err(ApiError::invalid(".", "the body must be a JSON object"));
    }
    whole_numbers_as_integers(&mut value);
    serde_path_to_error::deserialize(value).map_err(named_field)
}

/// A refused body, answered with the field at fault.
fn named_field<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> ApiError {
    let message = e.inner().to_string();
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_owned();
    let path = e.path().to_string();
    // serde names a missing (or repeated) field in the message, at the path of its parent.
    let named = ["missing field `", "duplicate field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    let field = match (named, path.as_str()) {
        (Some(name), "." | "") => name.to_owned(),
        (Some(name), parent) => format!("{parent}.{name}"),
        (None, path) => path.to_owned(),
    };
    ApiError::invalid(field, message)
}

fn whole_numbers_as_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(number) => {
            let whole = number
                .as_f64()
                .filter(|f| f.fract() == 0.0 && number.is_f64());
            // Beyond ±2^63 a float is no exact integer: left for the field to refuse.
            let integer = whole.and_then(|f| match f {
                f if (0.0..9.2e18).contains(&f) => Some(Value::from(f as u64)),
                f if (-9.2e18..0.0).contains(&f) => Some(Value::from(f as i64)),
                _ => None,
            });
            if let Some(integer) = integer {
                *value = integer;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::PeerDef;

    fn field_of(json: &str) -> (Option<String>, String) {
        let e = parse::<PeerDef>(json.as_bytes()).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        (e.body.field, e.body.message)
    }

    #[test]
    fn errors_name_the_field() {
        let (field, message) = field_of(r#"{"name": "p", "address": "192.0.2.300"}"#);
        assert_eq!(field.as_deref(), Some("address"), "{message}");
        let (field, _) = field_of(r#"{"address": "192.0.2.1"}"#);
        assert_eq!(field.as_deref(), Some("name"));
        let (field, _) = field_of(r#"{"name": "p", "address": "192.0.2.1", "colour": 1}"#);
        assert_eq!(field.as_deref(), Some("colour"));
        let (field, _) = field_of(r#"{"name": "p", "address": "192.0.2.1", "port": 70000}"#);
        assert_eq!(field.as_deref(), Some("port"));
        let (field, _) = field_of(r#"{"name": "p", "address": "192.0.2.1"} x"#);
        assert_eq!(field.as_deref(), Some("."));
        assert!(parse::<PeerDef>(br#"{"name": "p", "address": "192.0.2.1"}"#).is_ok());
        let (field, _) = field_of(r#"["p", "192.0.2.1", 53, false, null, null]"#);
        assert_eq!(field.as_deref(), Some("."));
        let (field, _) = field_of(r#"{"name": "p", "address": "192.0.2.1", "port": 53.5}"#);
        assert_eq!(field.as_deref(), Some("port"));
        let (field, message) = field_of(r#"{"name": "p", "address": "192.0.2.1", "name": "q"}"#);
        assert_eq!(field.as_deref(), Some("name"), "{message}");
        let (field, message) = field_of(r#"{bad"#);
        assert_eq!(field.as_deref(), Some("."));
        assert!(message.contains("line 1 column 2"), "{message}");
        let (field, message) = field_of(r#"{"name": "p", "#);
        assert_eq!(
            (field.as_deref(), message.starts_with("invalid JSON")),
            (Some("."), true)
        );
        // Well-formed up to a field's value: the field is named.
        let (field, message) = field_of(r#"{"name": "p", "address": "192.0.2.1", "port": 1e400}"#);
        assert_eq!(field.as_deref(), Some("port"), "{message}");
        let (field, message) = field_of(r#"{"name": "p\q", "address": "192.0.2.1"}"#);
        assert_eq!(field.as_deref(), Some("name"), "{message}");
        let whole = parse::<PeerDef>(br#"{"name": "p", "address": "192.0.2.1", "port": 5.3e1}"#);
        assert_eq!(whole.map(|p| p.port).ok(), Some(53));
    }
}
