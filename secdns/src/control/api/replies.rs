//! Replies that several operations document alike, each described once: the handlers'
//! `responses(...)` name them. They only document; the handlers answer through `ApiError`
//! and their own return types.

use utoipa::IntoResponses;

use super::error::ErrorBody;

/// What a DELETE of an object answers.
#[derive(IntoResponses)]
#[response(status = 204, description = "Removed")]
pub struct Removed;

/// A 404 reply, described as the operations that give it say it.
macro_rules! not_found {
    ($name:ident, $description:tt) => {
        #[derive(IntoResponses)]
        #[response(status = 404, description = $description)]
        pub struct $name(pub ErrorBody);
    };
}

not_found!(NoSecondaryZone, "No such secondary zone");
not_found!(NoSuchKey, "No such key");
// The kinds handled by name alone: peers, webhooks.
not_found!(NoneOfThatName, "None of that name");
not_found!(NoZoneOrOverride, "No such zone or override");
