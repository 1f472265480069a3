//! Why a change to the objects was refused: bad input (naming the field), a missing object, or a
//! conflict with the objects there are (one of the same name, or none of a name the input
//! gives). The control API answers 400, 404 and 409 for them.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusedKind {
    Invalid,
    NotFound,
    Conflict,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    pub kind: RefusedKind,
    /// The request field at fault, for bad input.
    pub field: Option<String>,
    pub message: String,
}

impl Refused {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: RefusedKind::Invalid,
            field: Some(field.into()),
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            kind: RefusedKind::NotFound,
            field: None,
            message: message.into(),
        }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            kind: RefusedKind::Conflict,
            field: None,
            message: message.into(),
        }
    }

    /// Well-formed input that does not fit the objects there are: it names what is not
    /// there (a peer, a key, a file), or lies outside the zone it is given for.
    pub fn conflict_at(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: RefusedKind::Conflict,
            field: Some(field.into()),
            message: message.into(),
        }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refused {}
