//! What the management subcommands of `secdns` print: each calls the control API and shows
//! the result as a table or text (or JSON with `--json`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Serialize, de::DeserializeOwned};

use crate::{
    catalog::{OverrideDef, OverrideType, PeerDef, SecondaryDef, TsigKeyDef},
    control::{
        Health, KeyChange, KeyListing, Listing, NewKey, RecordListing, ZoneSummary,
        client::Client,
        paths::{self, Collection},
    },
    dns::Name,
    dns::tsig::Algorithm,
    secondary::status::{ZoneKind, ZoneStatus},
    stats::StatsReport,
    webhooks::WebhookDef,
};

/// One management command: the client, and whether to print JSON.
pub struct Cli {
    pub client: Client,
    pub json: bool,
}

fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A row of cells for each item; columns padded to their widest cell, the last one not.
pub fn table<T>(headers: &[&str], items: &[T], row: impl Fn(&T) -> Vec<String>) -> String {
    let rows: Vec<Vec<String>> = items.iter().map(row).collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  "));
            }
        }
        text.trim_end().to_owned() + "\n"
    };
    let mut text = line(headers.to_vec());
    for row in &rows {
        text.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    text
}

fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or("-".into(), |v| v.to_string())
}

/// "2026-11-27T15:00:00Z (42 s ago)" or "... (in 42 s)".
fn when(unix: Option<u64>) -> String {
    let Some(secs) = unix else {
        return "never".into();
    };
    let time = UNIX_EPOCH + Duration::from_secs(secs);
    let relative = match SystemTime::now().duration_since(time) {
        Ok(ago) => format!("{} s ago", ago.as_secs()),
        Err(e) => format!("in {} s", e.duration().as_secs()),
    };
    format!("{} ({relative})", humantime::format_rfc3339_seconds(time))
}

/// A kind the API keeps by a name of its own (peers, webhooks), shown as a table of its
/// listings: added, listed and shown alike (removal, [`Cli::remove`], is for every kind).
pub trait Tabled: Collection + Serialize + DeserializeOwned {
    fn rows(listings: &[Listing<Self>]) -> String;
}

impl Tabled for PeerDef {
    fn rows(peers: &[Listing<Self>]) -> String {
        let headers = [
            "NAME", "ADDRESS", "PORT", "IXFR", "TSIG", "SOURCE", "ORIGIN",
        ];
        table(&headers, peers, |listing| {
            let (peer, origin) = (&listing.object, listing.origin);
            vec![
                peer.name.clone(),
                peer.address.to_string(),
                peer.port.to_string(),
                if peer.ixfr { "yes" } else { "no" }.into(),
                or_dash(peer.tsig.as_ref()),
                or_dash(peer.source),
                origin.to_string(),
            ]
        })
    }
}

impl Tabled for WebhookDef {
    fn rows(hooks: &[Listing<Self>]) -> String {
        table(&["NAME", "URL", "EVENTS", "ORIGIN"], hooks, |listing| {
            let (webhook, origin) = (&listing.object, listing.origin);
            let events = if webhook.events.is_empty() {
                "all".to_string()
            } else {
                let names: Vec<&str> = webhook.events.iter().map(|e| e.as_str()).collect();
                names.join(",")
            };
            vec![
                webhook.name.clone(),
                webhook.url.clone(),
                events,
                origin.to_string(),
            ]
        })
    }
}

impl Cli {
    fn print<T: Serialize>(&self, value: T, text: impl FnOnce(&T) -> String) -> anyhow::Result<()> {
        if self.json {
            return print_json(&value);
        }
        print!("{}", text(&value));
        Ok(())
    }

    /// POSTs `def` to `collection`, or (with `replace`) PUTs it at `item`.
    fn save<B: Serialize, T: DeserializeOwned>(
        &self,
        replace: bool,
        collection: &str,
        item: &str,
        def: &B,
    ) -> anyhow::Result<T> {
        match replace {
            true => self.client.send("PUT", item, def),
            false => self.client.send("POST", collection, def),
        }
    }

    /// Adds `def` (with `replace`, puts it in place of the one of its name) and shows it.
    pub fn add<T: Tabled>(&self, def: T, replace: bool) -> anyhow::Result<()> {
        let item = paths::item::<T>(def.name());
        let listing: Listing<T> = self.save(replace, &paths::collection::<T>(), &item, &def)?;
        self.print(listing, |l| T::rows(std::slice::from_ref(l)))
    }

    pub fn list<T: Tabled>(&self) -> anyhow::Result<()> {
        let listings: Vec<Listing<T>> = self.client.get(&paths::collection::<T>())?;
        self.print(listings, |l| T::rows(l))
    }

    pub fn show<T: Tabled>(&self, name: &T::Name) -> anyhow::Result<()> {
        let listing: Listing<T> = self.client.get(&paths::item::<T>(name))?;
        self.print(listing, |l| T::rows(std::slice::from_ref(l)))
    }

    /// Removes the `T` named `name`.
    pub fn remove<T: Collection>(&self, name: &T::Name) -> anyhow::Result<()> {
        self.delete(&paths::item::<T>(name), &format!("{} {name}", T::WHAT))
    }

    pub fn override_remove(
        &self,
        zone: &Name,
        name: &Name,
        rtype: OverrideType,
    ) -> anyhow::Result<()> {
        let what = format!("override {name} {rtype} in zone {zone}");
        self.delete(&paths::override_item(zone, name, rtype), &what)
    }

    /// DELETE `path`; prints what was removed.
    fn delete(&self, path: &str, what: &str) -> anyhow::Result<()> {
        self.client.delete(path)?;
        if self.json {
            return print_json(&serde_json::json!({ "removed": what }));
        }
        println!("removed {what}");
        Ok(())
    }

    pub fn stats(&self) -> anyhow::Result<()> {
        let report: StatsReport = self.client.get("/stats")?;
        self.print(report, StatsReport::to_text)
    }

    /// Exits 1 (through an error) when the server is not healthy.
    pub fn health(&self) -> anyhow::Result<()> {
        let (status, health): (u16, Health) = self.client.get_health("/health")?;
        let healthy = status == 200;
        self.print(health.clone(), |h| {
            let mut text = format!("{} ({} zones, xdp {})\n", h.status, h.zones, h.xdp);
            for zone in &h.not_serving {
                text.push_str(&format!("not serving: {zone}\n"));
            }
            text
        })?;
        if !healthy {
            anyhow::bail!("secdns is {}", health.status);
        }
        Ok(())
    }

    /// The Prometheus page; with `--json`, its samples as objects.
    pub fn metrics(&self) -> anyhow::Result<()> {
        let page = self.client.get_text("/metrics")?;
        if self.json {
            return print_json(&prometheus_samples(&page));
        }
        print!("{page}");
        Ok(())
    }

    fn key_text(key: &KeyListing) -> String {
        format!(
            "name       {}\nalgorithm  {}\nsecret     {}\norigin     {:?}\n",
            key.name, key.algorithm, key.secret, key.origin
        )
    }

    pub fn tsig_add(
        &self,
        name: Name,
        algorithm: Algorithm,
        secret: Option<String>,
    ) -> anyhow::Result<()> {
        let new = NewKey {
            name,
            algorithm: Some(algorithm),
            secret,
        };
        let created: KeyListing =
            self.client
                .send("POST", &paths::collection::<TsigKeyDef>(), &new)?;
        self.print(created, |k| {
            Self::key_text(k) + "(the secret is shown only now; give it to the primary)\n"
        })
    }

    pub fn tsig_set(&self, name: &Name, change: KeyChange) -> anyhow::Result<()> {
        let path = paths::item::<TsigKeyDef>(name);
        let changed: KeyListing = self.client.send("PUT", &path, &change)?;
        self.print(changed, Self::key_text)
    }

    pub fn tsig_show(&self, name: &Name) -> anyhow::Result<()> {
        let key: KeyListing = self.client.get(&paths::item::<TsigKeyDef>(name))?;
        self.print(key, Self::key_text)
    }

    pub fn tsig_list(&self) -> anyhow::Result<()> {
        let keys: Vec<KeyListing> = self.client.get(&paths::collection::<TsigKeyDef>())?;
        self.print(keys, |keys| {
            table(&["NAME", "ALGORITHM", "ORIGIN"], keys, |k| {
                vec![
                    k.name.to_string(),
                    k.algorithm.to_string(),
                    k.origin.to_string(),
                ]
            })
        })
    }

    pub fn zone_add(&self, def: SecondaryDef, replace: bool) -> anyhow::Result<()> {
        let collection = paths::collection::<SecondaryDef>();
        let saved: SecondaryDef = self.save(replace, &collection, &paths::zone(&def.name), &def)?;
        self.print(saved, |z| {
            format!(
                "{} secondary zone {} (peers: {}); see `secdns zone show {}`\n",
                if replace { "changed" } else { "added" },
                z.name,
                z.peers.join(", "),
                z.name
            )
        })
    }

    pub fn zone_list(&self) -> anyhow::Result<()> {
        let zones: Vec<ZoneSummary> = self.client.get(&paths::collection::<SecondaryDef>())?;
        self.print(zones, |zones| {
            let headers = ["ZONE", "KIND", "SERIAL", "RECORDS", "SERVING"];
            table(&headers, zones, |z| {
                vec![
                    z.name.clone(),
                    z.kind.to_string(),
                    or_dash(z.serial),
                    z.records.to_string(),
                    if z.serving { "yes" } else { "no (SERVFAIL)" }.into(),
                ]
            })
        })
    }

    pub fn zone_show(&self, name: &Name) -> anyhow::Result<()> {
        let status: ZoneStatus = self.client.get(&paths::zone(name))?;
        self.print(status, zone_status_text)
    }

    pub fn zone_transfer(&self, name: &Name) -> anyhow::Result<()> {
        self.client
            .post_empty(&format!("{}/force_axfr", paths::zone(name)))?;
        if self.json {
            return print_json(&serde_json::json!({ "zone": name, "transfer": "started" }));
        }
        println!("transfer of {name} started; see `secdns zone show {name}`");
        Ok(())
    }

    pub fn zone_records(&self, name: &Name) -> anyhow::Result<()> {
        let records: Vec<RecordListing> =
            self.client.get(&format!("{}/records", paths::zone(name)))?;
        self.print(records, |records| {
            records
                .iter()
                .map(|r| format!("{} {} IN {} {}\n", r.name, r.ttl, r.rtype, r.data))
                .collect()
        })
    }

    fn override_rows(overrides: &[OverrideDef]) -> String {
        table(&["NAME", "TYPE", "TTL", "DATA"], overrides, |o| {
            vec![
                o.name.to_string(),
                o.rtype.to_string(),
                o.ttl.to_string(),
                o.data.join(" "),
            ]
        })
    }

    pub fn override_add(&self, zone: &Name, def: OverrideDef, replace: bool) -> anyhow::Result<()> {
        let item = paths::override_item(zone, &def.name, def.rtype);
        let saved: OverrideDef = self.save(replace, &paths::overrides(zone), &item, &def)?;
        self.print(saved, |o| Self::override_rows(std::slice::from_ref(o)))
    }

    pub fn override_list(&self, zone: &Name) -> anyhow::Result<()> {
        let overrides: Vec<OverrideDef> = self.client.get(&paths::overrides(zone))?;
        self.print(overrides, |o| Self::override_rows(o))
    }
}

fn zone_status_text(status: &ZoneStatus) -> String {
    let mut lines = vec![
        format!("zone          {} ({})", status.name, status.kind),
        format!(
            "serving       {}",
            if status.serving {
                "yes"
            } else {
                "no (SERVFAIL)"
            }
        ),
        format!("serial        {}", or_dash(status.serial)),
        format!("records       {}", status.records),
    ];
    if status.kind == ZoneKind::Secondary {
        lines.extend([
            format!("overrides     {}", status.overrides),
            format!(
                "last check    {} {}",
                when(status.last_check),
                status.last_check_result.as_deref().unwrap_or("")
            ),
            format!(
                "last transfer {} {}",
                when(status.last_transfer),
                status.last_transfer_kind.as_deref().unwrap_or("")
            ),
            format!("next refresh  {}", when(status.next_refresh)),
            format!(
                "expires       {}{}",
                when(status.expires),
                if status.expired { " (EXPIRED)" } else { "" }
            ),
            format!(
                "timers        refresh {} retry {} expire {}",
                or_dash(status.refresh),
                or_dash(status.retry),
                or_dash(status.expire)
            ),
            format!("failures      {} in a row", status.consecutive_failures),
        ]);
    }
    for warning in &status.warnings {
        lines.push(format!("warning       {warning}"));
    }
    let mut text = lines.join("\n") + "\n";
    if !status.peers.is_empty() {
        let headers = ["PEER", "ADDRESS", "LAST CONTACT", "SERIAL", "RESULT"];
        text.push('\n');
        text.push_str(&table(&headers, &status.peers, |p| {
            vec![
                p.name.clone(),
                p.address.clone(),
                when(p.last_contact),
                or_dash(p.last_serial),
                match (&p.last_result, &p.last_error) {
                    (_, Some(e)) => format!("failed: {e}"),
                    (Some(r), None) => r.clone(),
                    (None, None) => "-".into(),
                },
            ]
        }));
    }
    text
}

/// The samples of a Prometheus text page as `{"metric", "labels", "value"}` objects (the
/// page as secdns writes it: no timestamps, label values without commas inside quotes
/// other than escaped ones).
pub fn prometheus_samples(page: &str) -> Vec<serde_json::Value> {
    page.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let value: f64 = value.parse().ok()?;
            let (metric, labels) = match series.split_once('{') {
                Some((metric, rest)) => (metric, parse_labels(rest.strip_suffix('}')?)?),
                None => (series, serde_json::Map::new()),
            };
            Some(serde_json::json!({"metric": metric, "labels": labels, "value": value}))
        })
        .collect()
}

fn parse_labels(text: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let mut labels = serde_json::Map::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (_, c) => value.push(c),
            }
        };
        labels.insert(key.to_owned(), value.into());
        rest = after[end + 1..].trim_start_matches(',');
    }
    Some(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_samples_as_json() {
        let page = "# HELP a x\n# TYPE a gauge\na{zone=\"x.\",why=\"q\\\"\\\\,\"} 1.5\nb_total 2\n";
        let samples = prometheus_samples(page);
        assert_eq!(
            samples,
            [
                serde_json::json!({"metric": "a", "labels": {"zone": "x.", "why": "q\"\\,"}, "value": 1.5}),
                serde_json::json!({"metric": "b_total", "labels": {}, "value": 2.0}),
            ]
        );
    }
}
