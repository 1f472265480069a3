//! `/zones`: secondary zones (and, read-only, zones served from files), their records,
//! overrides, and forced transfers.

use std::sync::Arc;

use super::prelude::*;
use crate::{
    catalog::{Origin, OverrideDef, OverrideType, SecondaryDef},
    control::{RecordListing, ZoneSummary},
    dns::{Name, codes::rtype_name},
    secondary::status::ZoneStatus,
    zone::{
        Zone,
        render::{record_data, sorted_records},
    },
};

fn no_zone(name: &Name) -> ApiError {
    ApiError::not_found(format!("zone {name} does not exist"))
}

/// A zone served from a file, by name.
fn file_zone(api: &Api, name: &Name) -> Option<Arc<Zone>> {
    api.shared
        .snapshot
        .load()
        .zones()
        .find(|z| z.apex() == name)
        .cloned()
}

pub async fn list(State(api): State<Api>) -> ApiResult<Json<Vec<ZoneSummary>>> {
    let secondaries = &api.secondaries;
    let files = api
        .file_zones(secondaries)
        .into_iter()
        .map(|z| ZoneSummary {
            name: z.apex().to_string(),
            kind: "file".into(),
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

pub async fn add(
    State(api): State<Api>,
    Body(def): Body<SecondaryDef>,
) -> ApiResult<(StatusCode, Json<SecondaryDef>)> {
    api.secondaries
        .change(|c| c.add(def.clone(), Origin::Api))?;
    Ok((StatusCode::CREATED, Json(def)))
}

pub async fn replace(
    State(api): State<Api>,
    Path(zone): Path<String>,
    Body(def): Body<SecondaryDef>,
) -> ApiResult<Json<SecondaryDef>> {
    let name = parse_name("zone", &zone)?;
    if def.name != name {
        return Err(ApiError::invalid(
            "name",
            format!("the body names {}, the path {name}", def.name),
        ));
    }
    api.secondaries.change(|c| c.replace(def.clone()))?;
    Ok(Json(def))
}

pub async fn show(State(api): State<Api>, Path(zone): Path<String>) -> ApiResult<Json<ZoneStatus>> {
    let name = parse_name("zone", &zone)?;
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
        kind: "file".into(),
        serial: Some(zone.serial()),
        records: zone.record_count(),
        serving: true,
        ..Default::default()
    }))
}

pub async fn remove(State(api): State<Api>, Path(zone): Path<String>) -> ApiResult<StatusCode> {
    let name = parse_name("zone", &zone)?;
    api.secondaries
        .change(|c| c.remove::<SecondaryDef>(&name))?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn force_axfr(State(api): State<Api>, Path(zone): Path<String>) -> ApiResult<StatusCode> {
    let name = parse_name("zone", &zone)?;
    let zone = api.secondaries.zone(&name).ok_or_else(|| no_zone(&name))?;
    zone.force_transfer();
    Ok(StatusCode::ACCEPTED)
}

/// The records answered: for a secondary zone, the copy with its overrides applied.
pub async fn records(
    State(api): State<Api>,
    Path(zone): Path<String>,
) -> ApiResult<Json<Vec<RecordListing>>> {
    let name = parse_name("zone", &zone)?;
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

pub async fn list_overrides(
    State(api): State<Api>,
    Path(zone): Path<String>,
) -> ApiResult<Json<Vec<OverrideDef>>> {
    let name = parse_name("zone", &zone)?;
    let catalog = api.secondaries.catalog();
    if catalog.zone(&name).is_none() {
        return Err(no_zone(&name));
    }
    Ok(Json(catalog.overrides(&name).to_vec()))
}

fn override_key(name: &str, rtype: &str) -> ApiResult<(Name, OverrideType)> {
    Ok((
        parse_name("name", name)?,
        rtype
            .parse()
            .map_err(|e: String| ApiError::invalid("type", e))?,
    ))
}

pub async fn show_override(
    State(api): State<Api>,
    Path((zone, name, rtype)): Path<(String, String, String)>,
) -> ApiResult<Json<OverrideDef>> {
    let zone = parse_name("zone", &zone)?;
    let (name, rtype) = override_key(&name, &rtype)?;
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

pub async fn add_override(
    State(api): State<Api>,
    Path(zone): Path<String>,
    Body(def): Body<OverrideDef>,
) -> ApiResult<(StatusCode, Json<OverrideDef>)> {
    let zone = parse_name("zone", &zone)?;
    api.secondaries.set_override(&zone, def.clone(), false)?;
    Ok((StatusCode::CREATED, Json(def)))
}

pub async fn replace_override(
    State(api): State<Api>,
    Path((zone, name, rtype)): Path<(String, String, String)>,
    Body(def): Body<OverrideDef>,
) -> ApiResult<Json<OverrideDef>> {
    let zone = parse_name("zone", &zone)?;
    let (name, rtype) = override_key(&name, &rtype)?;
    if def.name != name || def.rtype != rtype {
        return Err(ApiError::invalid(
            "name",
            format!(
                "the body is for {} {}, the path for {name} {rtype}",
                def.name, def.rtype
            ),
        ));
    }
    api.secondaries.set_override(&zone, def.clone(), true)?;
    Ok(Json(def))
}

pub async fn remove_override(
    State(api): State<Api>,
    Path((zone, name, rtype)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let zone = parse_name("zone", &zone)?;
    let (name, rtype) = override_key(&name, &rtype)?;
    api.secondaries
        .change(|c| c.remove_override(&zone, &name, rtype))?;
    Ok(StatusCode::NO_CONTENT)
}
