//! What the management subcommands of `secdns` print: each calls the control API and shows
//! the result as text (or JSON with `--json`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::{
    catalog::{PeerDef, SecondaryDef, TsigKeyDef},
    control::{
        ZoneSummary,
        api::{KeyListing, NewKey, PeerListing},
        client::{Client, segment},
    },
    dns::Name,
    secondary::status::ZoneStatus,
    stats::StatsReport,
    transfer::tsig::Algorithm,
};

fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub fn stats(client: &Client, json: bool) -> anyhow::Result<()> {
    let report: StatsReport = client.get("/v1/stats")?;
    if json {
        return print_json(&report);
    }
    print!("{}", report.to_text());
    Ok(())
}

pub fn remove(client: &Client, collection: &str, name: &str) -> anyhow::Result<()> {
    client.delete(&format!("/v1/{collection}/{}", segment(name)))?;
    println!("removed {name}");
    Ok(())
}

pub fn tsig_add(
    client: &Client,
    json: bool,
    name: Name,
    algorithm: Algorithm,
    secret: Option<String>,
) -> anyhow::Result<()> {
    let created: TsigKeyDef = client.post(
        "/v1/tsig",
        &NewKey {
            name,
            algorithm: Some(algorithm),
            secret,
        },
    )?;
    if json {
        return print_json(&created);
    }
    println!(
        "name      {}\nalgorithm {}\nsecret    {}",
        created.name, created.algorithm, created.secret
    );
    Ok(())
}

pub fn tsig_list(client: &Client, json: bool) -> anyhow::Result<()> {
    let keys: Vec<KeyListing> = client.get("/v1/tsig")?;
    if json {
        return print_json(&keys);
    }
    for key in keys {
        println!("{} {} ({:?})", key.name, key.algorithm, key.origin);
    }
    Ok(())
}

pub fn peer_add(client: &Client, json: bool, def: PeerDef) -> anyhow::Result<()> {
    let created: PeerDef = client.post("/v1/peers", &def)?;
    if json {
        return print_json(&created);
    }
    println!("added peer {}", created.name);
    Ok(())
}

pub fn peer_list(client: &Client, json: bool) -> anyhow::Result<()> {
    let peers: Vec<PeerListing> = client.get("/v1/peers")?;
    if json {
        return print_json(&peers);
    }
    for PeerListing { peer, origin } in peers {
        let mut line = format!("{} {}:{}", peer.name, peer.address, peer.port);
        if peer.ixfr {
            line.push_str(" ixfr");
        }
        if let Some(key) = &peer.tsig {
            line.push_str(&format!(" tsig {key}"));
        }
        if let Some(source) = peer.source {
            line.push_str(&format!(" source {source}"));
        }
        println!("{line} ({origin:?})");
    }
    Ok(())
}

pub fn zone_add(client: &Client, json: bool, def: SecondaryDef) -> anyhow::Result<()> {
    let created: SecondaryDef = client.post("/v1/zones", &def)?;
    if json {
        return print_json(&created);
    }
    println!(
        "added secondary zone {} (peers: {})",
        created.name,
        created.peers.join(", ")
    );
    Ok(())
}

pub fn zone_list(client: &Client, json: bool) -> anyhow::Result<()> {
    let zones: Vec<ZoneSummary> = client.get("/v1/zones")?;
    if json {
        return print_json(&zones);
    }
    for zone in zones {
        let serial = zone.serial.map_or("-".to_string(), |s| s.to_string());
        let state = if zone.serving {
            "serving"
        } else {
            "not serving (SERVFAIL)"
        };
        println!(
            "{} {} serial {serial} records {} {state}",
            zone.name, zone.kind, zone.records
        );
    }
    Ok(())
}

/// "2026-11-27T15:00:00Z (42 s ago)" or "... (in 42 s)".
fn when(unix: Option<u64>) -> String {
    let Some(secs) = unix else {
        return "never".into();
    };
    let time = UNIX_EPOCH + Duration::from_secs(secs);
    let now = SystemTime::now();
    let relative = match now.duration_since(time) {
        Ok(ago) => format!("{} s ago", ago.as_secs()),
        Err(e) => format!("in {} s", e.duration().as_secs()),
    };
    format!("{} ({relative})", humantime::format_rfc3339_seconds(time))
}

pub fn zone_show(client: &Client, json: bool, name: &Name) -> anyhow::Result<()> {
    let status: ZoneStatus = client.get(&format!("/v1/zones/{}", segment(&name.to_string())))?;
    if json {
        return print_json(&status);
    }
    let opt = |v: Option<u32>| v.map_or("-".to_string(), |v| v.to_string());
    println!("zone          {}", status.name);
    println!(
        "serving       {}",
        if status.serving {
            "yes"
        } else {
            "no (SERVFAIL)"
        }
    );
    println!("serial        {}", opt(status.serial));
    println!("records       {}", status.records);
    println!(
        "last check    {} {}",
        when(status.last_check),
        status.last_check_result.as_deref().unwrap_or("")
    );
    println!(
        "last transfer {} {}",
        when(status.last_transfer),
        status.last_transfer_kind.as_deref().unwrap_or("")
    );
    println!("next refresh  {}", when(status.next_refresh));
    println!(
        "expires       {}{}",
        when(status.expires),
        if status.expired { " (EXPIRED)" } else { "" }
    );
    println!(
        "timers        refresh {} retry {} expire {}",
        opt(status.refresh),
        opt(status.retry),
        opt(status.expire)
    );
    println!("failures      {} in a row", status.consecutive_failures);
    for warning in &status.warnings {
        println!("warning       {warning}");
    }
    for peer in &status.peers {
        println!(
            "peer          {} {} last {} serial {} {}{}",
            peer.name,
            peer.address,
            when(peer.last_contact),
            opt(peer.last_serial),
            peer.last_result.as_deref().unwrap_or("-"),
            peer.last_error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

pub fn zone_transfer(client: &Client, name: &Name) -> anyhow::Result<()> {
    client.post_empty(&format!(
        "/v1/zones/{}/transfer",
        segment(&name.to_string())
    ))?;
    println!("transfer of {name} started; see `secdns zone show {name}`");
    Ok(())
}

pub fn zone_records(client: &Client, name: &Name) -> anyhow::Result<()> {
    print!(
        "{}",
        client.get_text(&format!("/v1/zones/{}/records", segment(&name.to_string())))?
    );
    Ok(())
}
