//! `/zones`: secondary zones (and, read-only, zones served from files), their records,
//! overrides, and forced transfers.

use std::sync::Arc;

use super::{
    objects::{Kind, add_route, remove_route, replace_route},
    prelude::*,
};
use crate::{
    catalog::{Origin, OverrideDef, SecondaryDef},
    control::{RecordListing, ZoneSummary},
    dns::{Name, codes::rtype_name},
    secondary::status::{ZoneKind, ZoneStatus},
    zone::{
        Zone,
        render::{record_data, sorted_records},
    },
};

/// The routes of zones, their records and overrides.
pub fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new()
        .routes(routes!(list, add_zone))
        .routes(routes!(show, replace_zone, remove_zone))
        .routes(routes!(records))
        .routes(routes!(force_axfr))
        .routes(routes!(list_overrides, add_override))
        .routes(routes!(show_override, replace_override, remove_override))
}

fn no_zone(name: &Name) -> ApiError {
    ApiError::not_found(format!("zone {name} does not exist"))
}

/// A zone served from a file, by name.
fn file_zone(api: &Api, name: &Name) -> Option<Arc<Zone>> {
    let files = api.secondaries.file_zones();
    files.iter().find(|z| z.apex() == name).cloned()
}

/// Every zone served, from files and secondary.
#[utoipa::path(get, path = "/zones", tag = "zones", operation_id = "list_zones",
    responses((status = 200, description = "Sorted by name", body = Vec<ZoneSummary>)))]
pub async fn list(State(api): State<Api>) -> ApiResult<Json<Vec<ZoneSummary>>> {
    let secondaries = &api.secondaries;
    let files = secondaries.file_zones().iter().map(|z| ZoneSummary {
        name: z.apex().to_string(),
        kind: ZoneKind::File,
        serial: Some(z.serial()),
        records: z.record_count(),
        serving: true,
        origin: None,
    });
    let running = secondaries.running();
    let catalog = secondaries.catalog();
    let secondary = running.iter().map(|zone| {
        let status = zone.status();
        ZoneSummary {
            origin: catalog
                .get::<SecondaryDef>(&zone.name)
                .map(|(_, origin)| origin),
            name: status.name,
            kind: status.kind,
            serial: status.serial,
            records: status.records,
            serving: status.serving,
        }
    });
    let mut zones: Vec<ZoneSummary> = files.chain(secondary).collect();
    zones.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(zones))
}

/// A zone's replies carry its definition as given; GET /zones/{zone} says where it is
/// defined, with its state.
impl Kind for SecondaryDef {
    type Path = ZonePath;
    type Listing = SecondaryDef;
    fn listing(&self, _: Origin) -> SecondaryDef {
        self.clone()
    }
}

add_route!(
    /// Adds a secondary zone: its first transfer starts at once.
    add_zone: SecondaryDef, listed as SecondaryDef, "/zones", tag "zones",
    conflict "The zone exists, or a peer it names does not");

replace_route!(
    /// Replaces a secondary zone's definition; its copy is kept.
    replace_zone: SecondaryDef, listed as SecondaryDef, "/zones/{zone}", params(ZonePath),
    tag "zones", NoSecondaryZone,
    conflict "Defined in the config file, a peer it names does not exist, or the body names another zone");

remove_route!(
    /// Stops serving a secondary zone and forgets it.
    remove_zone: SecondaryDef, "/zones/{zone}", params(ZonePath), tag "zones", NoSecondaryZone,
    conflict "Defined in the config file");

/// A zone's state: for a secondary zone, its timers, transfers and primaries too.
#[utoipa::path(get, path = "/zones/{zone}", tag = "zones", operation_id = "show_zone",
    params(ZonePath),
    responses(
        (status = 200, description = "The zone's state", body = ZoneStatus),
        (status = 404, description = "No such zone", body = ErrorBody),
    ))]
pub async fn show(
    State(api): State<Api>,
    Parsed(name): Parsed<ZonePath>,
) -> ApiResult<Json<ZoneStatus>> {
    let secondaries = &api.secondaries;
    if let Some(zone) = secondaries.zone(&name) {
        return Ok(Json(ZoneStatus {
            origin: secondaries
                .catalog()
                .get::<SecondaryDef>(&name)
                .map(|(_, origin)| origin),
            ..zone.status()
        }));
    }
    let zone = file_zone(&api, &name).ok_or_else(|| no_zone(&name))?;
    Ok(Json(ZoneStatus {
        name: zone.apex().to_string(),
        kind: ZoneKind::File,
        serial: Some(zone.serial()),
        records: zone.record_count(),
        serving: true,
        ..Default::default()
    }))
}

/// Starts a full transfer (AXFR) of a secondary zone now.
#[utoipa::path(post, path = "/zones/{zone}/force_axfr", tag = "zones", params(ZonePath),
    responses(
        (status = 202, description = "The transfer is started"),
        NoSecondaryZone,
    ))]
pub async fn force_axfr(
    State(api): State<Api>,
    Parsed(name): Parsed<ZonePath>,
) -> ApiResult<StatusCode> {
    let zone = api.secondaries.zone(&name).ok_or_else(|| no_zone(&name))?;
    zone.force_transfer();
    Ok(StatusCode::ACCEPTED)
}

/// The records answered: for a secondary zone, the copy with its overrides applied.
#[utoipa::path(get, path = "/zones/{zone}/records", tag = "zones", params(ZonePath),
    responses(
        (status = 200, description = "In canonical order", body = Vec<RecordListing>),
        (status = 404, description = "No such zone, or no copy yet", body = ErrorBody),
    ))]
pub async fn records(
    State(api): State<Api>,
    Parsed(name): Parsed<ZonePath>,
) -> ApiResult<Json<Vec<RecordListing>>> {
    let zone = match api.secondaries.zone(&name) {
        Some(secondary) => secondary
            .served()
            .ok_or_else(|| ApiError::not_found(format!("zone {name} has no copy yet")))?,
        None => file_zone(&api, &name).ok_or_else(|| no_zone(&name))?,
    };
    // A large zone takes a while to list: not on the threads that answer TCP.
    let listing = tokio::task::spawn_blocking(move || {
        sorted_records(&zone)
            .into_iter()
            .map(|(owner, rr_type, ttl, rdata)| RecordListing {
                name: owner.to_string(),
                rtype: rtype_name(rr_type),
                ttl,
                data: record_data(rr_type, rdata),
                wire: data_encoding::HEXLOWER.encode(rdata),
            })
            .collect()
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(listing))
}

/// A secondary zone's overrides.
#[utoipa::path(get, path = "/zones/{zone}/overrides", tag = "overrides", params(ZonePath),
    responses(
        (status = 200, description = "Every override of the zone", body = Vec<OverrideDef>),
        NoSecondaryZone,
    ))]
pub async fn list_overrides(
    State(api): State<Api>,
    Parsed(name): Parsed<ZonePath>,
) -> ApiResult<Json<Vec<OverrideDef>>> {
    let catalog = api.secondaries.catalog();
    if catalog.zone(&name).is_none() {
        return Err(no_zone(&name));
    }
    Ok(Json(catalog.overrides(&name).to_vec()))
}

/// One override of a secondary zone.
#[utoipa::path(get, path = "/zones/{zone}/overrides/{name}/{type}", tag = "overrides",
    params(OverridePath),
    responses(
        (status = 200, description = "The override", body = OverrideDef),
        NoZoneOrOverride,
    ))]
pub async fn show_override(
    State(api): State<Api>,
    Parsed((zone, name, rtype)): Parsed<OverridePath>,
) -> ApiResult<Json<OverrideDef>> {
    let catalog = api.secondaries.catalog();
    catalog
        .overrides(&zone)
        .iter()
        .find(|o| o.name == name && o.rtype == rtype)
        .cloned()
        .map(Json)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "override {name} {rtype} in zone {zone} does not exist"
            ))
        })
}

/// Adds an override: its records replace the transferred RRset at once.
#[utoipa::path(post, path = "/zones/{zone}/overrides", tag = "overrides",
    request_body = OverrideDef, params(ZonePath),
    responses(
        (status = 201, description = "Added", body = OverrideDef, headers(("Location" = String, description = "Where the new object is"))),
        NoSecondaryZone,
        (status = 409, description = "The zone has an override of that name and type, or the name is not in the zone", body = ErrorBody),
    ))]
pub async fn add_override(
    State(api): State<Api>,
    Parsed(zone): Parsed<ZonePath>,
    Body(def): Body<OverrideDef>,
) -> ApiResult<Created<OverrideDef>> {
    api.secondaries.set_override(&zone, def.clone(), false)?;
    let path = paths::override_item(&zone, &def.name, def.rtype);
    Ok(created(path, def))
}

/// Replaces an override's records.
#[utoipa::path(put, path = "/zones/{zone}/overrides/{name}/{type}", tag = "overrides",
    request_body = OverrideDef, params(OverridePath),
    responses(
        (status = 200, description = "Replaced", body = OverrideDef),
        NoZoneOrOverride,
        (status = 409, description = "Defined in the config file, or the body is for another name or type", body = ErrorBody),
    ))]
pub async fn replace_override(
    State(api): State<Api>,
    Parsed((zone, name, rtype)): Parsed<OverridePath>,
    Body(def): Body<OverrideDef>,
) -> ApiResult<Json<OverrideDef>> {
    same_in_body("name", &name, &def.name)?;
    same_in_body("type", &rtype, &def.rtype)?;
    api.secondaries.set_override(&zone, def.clone(), true)?;
    Ok(Json(def))
}

/// Removes an override: the transferred records are answered again.
#[utoipa::path(delete, path = "/zones/{zone}/overrides/{name}/{type}", tag = "overrides",
    params(OverridePath),
    responses(
        Removed,
        NoZoneOrOverride,
        (status = 409, description = "The override is defined in the config file", body = ErrorBody),
    ))]
pub async fn remove_override(
    State(api): State<Api>,
    Parsed((zone, name, rtype)): Parsed<OverridePath>,
) -> ApiResult<StatusCode> {
    api.secondaries
        .change(|c| c.remove_override(&zone, &name, rtype))?;
    Ok(StatusCode::NO_CONTENT)
}
