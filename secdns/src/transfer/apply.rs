//! Turning the records of an AXFR or IXFR stream into a zone: where the stream ends, which
//! style an IXFR reply has (RFC 1995 §4), and applying incremental differences to our copy.

use super::client::{Limits, TransferError};
use crate::{
    dns::{
        Name,
        codes::{class, rtype},
        message::Record,
        rdata,
    },
    zone::{Zone, ZoneBuilder, ZoneError, grouped},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Axfr,
    /// IXFR from our copy at this serial.
    Ixfr {
        from: u32,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    Unknown,
    Full,
    Incremental { adding: bool },
}

/// What a completed transfer brought.
#[derive(Debug)]
pub enum Outcome {
    /// IXFR answered with the SOA alone: nothing newer.
    UpToDate {
        serial: u32,
    },
    Full {
        zone: Zone,
        warnings: Vec<String>,
    },
    Incremental {
        zone: Zone,
        diffs: usize,
        /// Records deleted plus records added (SOAs not counted).
        changed: usize,
        warnings: Vec<String>,
    },
}

impl Outcome {
    pub fn serial(&self) -> u32 {
        match self {
            Outcome::UpToDate { serial } => *serial,
            Outcome::Full { zone, .. } | Outcome::Incremental { zone, .. } => zone.serial(),
        }
    }
}

/// Receives the records of a transfer message by message and says when it is complete.
pub struct Collector {
    apex: Name,
    kind: Kind,
    limits: Limits,
    records: Vec<Record>,
    final_serial: u32,
    style: Style,
    messages: usize,
    done: bool,
}

fn soa_serial(record: &Record) -> Option<u32> {
    (record.rtype == rtype::SOA)
        .then(|| rdata::soa_serial(&record.rdata))
        .flatten()
}

impl Collector {
    pub fn new(apex: Name, kind: Kind, limits: Limits) -> Self {
        Self {
            apex,
            kind,
            limits,
            records: Vec::new(),
            final_serial: 0,
            style: Style::Unknown,
            messages: 0,
            done: false,
        }
    }

    fn protocol(&self, what: String) -> TransferError {
        TransferError::Protocol(format!("{} of {}: {what}", self.kind_name(), self.apex))
    }

    fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Axfr => "AXFR",
            Kind::Ixfr { .. } => "IXFR",
        }
    }

    /// Takes one message's answer records; `Ok(true)` once the transfer is complete.
    pub fn accept(&mut self, batch: Vec<Record>) -> Result<bool, TransferError> {
        self.messages += 1;
        if self.records.len() + batch.len() > self.limits.max_records {
            return Err(TransferError::Limit(format!(
                "more than {} records",
                self.limits.max_records
            )));
        }
        for record in batch {
            if self.done {
                return Err(self.protocol("records after the closing SOA".into()));
            }
            self.step(&record)?;
            self.records.push(record);
        }
        // RFC 1995 §4: a reply holding only the current SOA means "nothing newer". A newer
        // SOA alone in the first message starts a transfer split after it: the next record
        // tells its style (Knot reads it so too).
        if !self.done
            && let Kind::Ixfr { from } = self.kind
            && self.messages == 1
            && self.records.len() == 1
            && !super::serial::is_newer(self.final_serial, from)
        {
            self.done = true;
        }
        Ok(self.done)
    }

    fn step(&mut self, record: &Record) -> Result<(), TransferError> {
        let serial = (record.owner == self.apex)
            .then(|| soa_serial(record))
            .flatten();
        match (self.records.len(), self.style) {
            (0, _) => {
                self.final_serial = serial.ok_or_else(|| {
                    self.protocol(format!(
                        "starts with {} instead of the zone's SOA",
                        record.owner
                    ))
                })?;
            }
            (1, _) => match (self.kind, serial) {
                (_, Some(s)) if s == self.final_serial => {
                    self.style = Style::Full; // a zone holding nothing but its SOA
                    self.done = true;
                }
                (Kind::Ixfr { from }, Some(s)) => {
                    if s != from {
                        return Err(self.protocol(format!(
                            "differences start at serial {s}, our copy is {from}"
                        )));
                    }
                    self.style = Style::Incremental { adding: false };
                }
                _ => self.style = Style::Full,
            },
            (_, Style::Full) => {
                if let Some(s) = serial {
                    if s != self.final_serial {
                        return Err(self.protocol(format!(
                            "closing SOA {s} differs from opening SOA {}",
                            self.final_serial
                        )));
                    }
                    self.done = true;
                }
            }
            (_, Style::Incremental { adding }) => {
                if let Some(s) = serial {
                    if adding && s == self.final_serial {
                        self.done = true;
                    } else {
                        self.style = Style::Incremental { adding: !adding };
                    }
                }
            }
            (_, Style::Unknown) => unreachable!("style is set at the second record"),
        }
        Ok(())
    }

    /// Builds the new zone; `current` is our copy (needed for IXFR differences). The zone
    /// that results must be within the limits too: a small IXFR can still grow it past them.
    pub fn finish(self, current: Option<&Zone>) -> Result<Outcome, TransferError> {
        let limits = self.limits;
        let outcome = self.build(current)?;
        if let Outcome::Full { zone, .. } | Outcome::Incremental { zone, .. } = &outcome {
            if zone.record_count() > limits.max_records {
                return Err(TransferError::Limit(format!(
                    "the zone would hold more than {} records",
                    limits.max_records
                )));
            }
            if zone.wire_size() > limits.max_bytes {
                return Err(TransferError::Limit(format!(
                    "the zone would be over {} bytes",
                    limits.max_bytes
                )));
            }
        }
        Ok(outcome)
    }

    fn build(self, current: Option<&Zone>) -> Result<Outcome, TransferError> {
        if !self.done {
            return Err(TransferError::Broken);
        }
        match self.style {
            Style::Unknown => Ok(Outcome::UpToDate {
                serial: self.final_serial,
            }),
            Style::Full => {
                let mut records = self.records;
                if records.len() > 1 {
                    records.pop(); // the closing SOA
                }
                let (zone, warnings) = build(&self.apex, &records, self.limits)?;
                Ok(Outcome::Full { zone, warnings })
            }
            Style::Incremental { .. } => {
                let current = current.ok_or_else(|| {
                    TransferError::Protocol("IXFR without a copy to apply it to".into())
                })?;
                let (zone, diffs, changed, warnings) =
                    apply_differences(&self.apex, current, &self.records, self.limits)?;
                Ok(Outcome::Incremental {
                    zone,
                    diffs,
                    changed,
                    warnings,
                })
            }
        }
    }
}

/// Builds a zone from records.
pub fn build(
    apex: &Name,
    records: &[Record],
    limits: Limits,
) -> Result<(Zone, Vec<String>), TransferError> {
    match build_grouped(apex, records, limits) {
        Some(built) => built
            .map(|zone| (zone, Vec::new()))
            .map_err(|e| TransferError::Protocol(format!("zone {apex}: {e}"))),
        None => build_each(apex, records, limits),
    }
}

/// Builds a zone from records, one at a time through the builder.
fn build_each(
    apex: &Name,
    records: &[Record],
    limits: Limits,
) -> Result<(Zone, Vec<String>), TransferError> {
    let mut builder = ZoneBuilder::new(apex.clone());
    builder.limits = limits.records;
    let mut zone = Received::new(builder);
    for r in records {
        zone.add(r)?;
    }
    zone.finish()
}

/// A zone of records as primaries send them (each owner's together), built a node at a time
/// on every core; `None` when they are anything else, or anything the builder would warn
/// about (see `zone::grouped`).
fn build_grouped(
    apex: &Name,
    records: &[Record],
    limits: Limits,
) -> Option<Result<Zone, ZoneError>> {
    let groups: Vec<&[Record]> = records.chunk_by(|a, b| a.owner == b.owner).collect();
    grouped::zone(apex, &groups, |group| {
        let owner = &group.first()?.owner;
        if group.iter().any(|r| r.class != class::IN) {
            return None;
        }
        let records = group.iter().map(|r| (r.rtype, r.ttl, &r.rdata[..]));
        grouped::node(owner.clone(), apex, records, limits.records)
    })
}

/// A zone being made of transferred records: one outside the zone is left out and counted
/// for a warning (RFC 5936 §3.3 lets a secondary ignore them), anything else wrong fails the
/// transfer.
struct Received {
    builder: ZoneBuilder,
    skipped: usize,
}

impl Received {
    fn new(builder: ZoneBuilder) -> Self {
        Self {
            builder,
            skipped: 0,
        }
    }

    fn add(&mut self, r: &Record) -> Result<(), TransferError> {
        let added = self.builder.add(
            r.owner.clone(),
            r.rtype,
            r.class,
            r.ttl,
            r.rdata.clone().into(),
        );
        match added {
            Ok(()) => Ok(()),
            Err(ZoneError::OutOfZone { .. }) => {
                self.skipped += 1;
                Ok(())
            }
            Err(e @ ZoneError::TooManyRecords { .. }) => Err(TransferError::Limit(e.to_string())),
            Err(e) => Err(self.error(e)),
        }
    }

    /// The zone, and warnings about what it was made of.
    fn finish(mut self) -> Result<(Zone, Vec<String>), TransferError> {
        let mut warnings = std::mem::take(&mut self.builder.ttl_mismatches);
        if self.skipped > 0 {
            let apex = self.builder.apex();
            warnings.push(format!("{} record(s) outside {apex} ignored", self.skipped));
        }
        let apex = self.builder.apex().clone();
        let zone = self
            .builder
            .finish()
            .map_err(|e| TransferError::Protocol(format!("zone {apex}: {e}")))?;
        Ok((zone, warnings))
    }

    /// Removes a record; false when the zone does not hold it.
    fn remove(&mut self, r: &Record) -> bool {
        self.builder.remove(&r.owner, r.rtype, &r.rdata)
    }

    fn error(&self, e: ZoneError) -> TransferError {
        TransferError::Protocol(format!("zone {}: {e}", self.builder.apex()))
    }
}

/// Applies the IXFR difference sequences in `records` (opening SOA, then per difference: old
/// SOA, deletions, new SOA, additions; closing SOA) to a copy of `current` that shares the
/// nodes it does not change. A deletion of a record we do not hold means our copy and the
/// primary's history disagree: an error, so that the caller falls back to AXFR.
fn apply_differences(
    apex: &Name,
    current: &Zone,
    records: &[Record],
    limits: Limits,
) -> Result<(Zone, usize, usize, Vec<String>), TransferError> {
    let mut builder = ZoneBuilder::from_zone(current);
    builder.limits = limits.records;
    let mut zone = Received::new(builder);
    let inner = records
        .get(1..records.len().saturating_sub(1))
        .unwrap_or_default();
    let mismatch =
        |what: String| TransferError::Protocol(format!("IXFR of {apex} does not apply: {what}"));
    // None: a difference's old SOA comes next; Some(false): deletions; Some(true): additions.
    let mut adding: Option<bool> = None;
    let mut serial = current.serial();
    let mut diffs = 0;
    let mut changed = 0;
    let mut touched: std::collections::HashSet<Box<[u8]>> = std::collections::HashSet::new();
    for record in inner {
        touched.insert(record.owner.lowercase_wire());
        let soa = (record.owner == *apex)
            .then(|| soa_serial(record))
            .flatten();
        match (soa, adding) {
            // The old SOA opens a difference: it must be at our serial. Our SOA goes, whatever
            // its other fields say (as Knot and NSD match it: by serial).
            (Some(s), None | Some(true)) => {
                if s != serial {
                    return Err(mismatch(format!(
                        "a difference starts at serial {s}, but our copy is at {serial}"
                    )));
                }
                zone.builder.remove_rrsets(apex, |t| t == rtype::SOA);
                adding = Some(false);
            }
            // The new SOA ends the deletions; a difference that does not move the serial is
            // malformed (as NSD holds): the copy it would make is not the one it names.
            (Some(s), Some(false)) => {
                if s == serial {
                    return Err(mismatch(format!(
                        "a difference goes from serial {s} to the same serial"
                    )));
                }
                zone.add(record)?;
                serial = s;
                diffs += 1;
                adding = Some(true);
            }
            (None, None) => {
                return Err(mismatch(format!(
                    "{} before the first difference's SOA",
                    record.owner
                )));
            }
            (None, Some(false)) => {
                changed += 1;
                if !zone.remove(record) {
                    return Err(mismatch(format!(
                        "the difference from serial {serial} deletes {} {} {}, which our copy \
                         does not hold",
                        record.owner,
                        crate::dns::codes::rtype_name(record.rtype),
                        crate::zone::render::record_data(record.rtype, &record.rdata),
                    )));
                }
            }
            (None, Some(true)) => {
                changed += 1;
                zone.add(record)?
            }
        }
    }
    if adding != Some(true) {
        return Err(mismatch("the last difference is incomplete".into()));
    }
    let (mut zone, warnings) = zone.finish()?;
    zone.set_derived(current, touched.into_iter().collect());
    Ok((zone, diffs, changed, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apex() -> Name {
        "example.com.".parse().unwrap()
    }

    fn soa(serial: u32) -> Record {
        let mut rdata = b"\x03ns1\x07example\x03com\x00\x02hm\x07example\x03com\x00".to_vec();
        for v in [serial, 3600, 600, 86400, 300] {
            rdata.extend_from_slice(&v.to_be_bytes());
        }
        Record {
            owner: apex(),
            rtype: rtype::SOA,
            class: 1,
            ttl: 3600,
            rdata,
        }
    }

    fn a(name: &str, last: u8) -> Record {
        Record {
            owner: name.parse().unwrap(),
            rtype: rtype::A,
            class: 1,
            ttl: 300,
            rdata: vec![192, 0, 2, last],
        }
    }

    fn collect(
        kind: Kind,
        messages: Vec<Vec<Record>>,
        current: Option<&Zone>,
    ) -> Result<Outcome, TransferError> {
        let limits = Limits {
            max_records: 1000,
            ..Limits::default()
        };
        let mut collector = Collector::new(apex(), kind, limits);
        let mut done = false;
        for m in messages {
            assert!(!done, "stream continued after completion");
            done = collector.accept(m)?;
        }
        collector.finish(current)
    }

    fn full(serial: u32, records: Vec<Record>) -> Zone {
        let mut all = vec![soa(serial)];
        all.extend(records);
        build(&apex(), &all, Limits::default()).unwrap().0
    }

    /// An IXFR from serial 1 of one message, onto a copy at serial 1 that holds www.
    fn ixfr_onto_www(message: Vec<Record>) -> Result<Outcome, TransferError> {
        let current = full(1, vec![a("www.example.com.", 1)]);
        collect(Kind::Ixfr { from: 1 }, vec![message], Some(&current))
    }

    /// Why [`ixfr_onto_www`] refuses `message`.
    fn ixfr_error(message: Vec<Record>) -> String {
        match ixfr_onto_www(message) {
            Ok(_) => panic!("applied"),
            Err(e) => e.to_string(),
        }
    }

    /// Records as primaries send them are built a node at a time to what the builder makes
    /// of them one at a time; anything the builder would warn about goes through it.
    #[test]
    fn grouped_and_one_at_a_time_builds_agree() {
        let mut aaaa = a("WWW.example.com.", 0);
        (aaaa.rtype, aaaa.rdata) = (rtype::AAAA, vec![0x20; 16]);
        let records = vec![
            soa(9),
            a("www.example.com.", 2),
            aaaa,
            a("www.example.com.", 1),
            a("deep.below.example.com.", 3),
            a("deep.below.example.com.", 4),
        ];
        let limits = Limits::default();
        let grouped = build_grouped(&apex(), &records, limits).unwrap().unwrap();
        let (each, warnings) = build_each(&apex(), &records, limits).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(shape(&grouped), shape(&each));
        assert_eq!(
            (grouped.record_count(), grouped.wire_size(), grouped.types()),
            (each.record_count(), each.wire_size(), each.types())
        );
        // An owner's records apart, a record twice, TTLs that differ, a record out of the
        // zone: each through the builder, which says so where it must.
        let mut ttl = a("deep.below.example.com.", 5);
        ttl.ttl = 60;
        for odd in [
            a("www.example.com.", 7),
            a("deep.below.example.com.", 3),
            ttl,
            a("out.example.org.", 1),
        ] {
            let mut all = records.clone();
            all.push(odd);
            assert!(build_grouped(&apex(), &all, limits).is_none());
            let (built, _) = build(&apex(), &all, limits).unwrap();
            assert_eq!(
                shape(&built),
                shape(&build_each(&apex(), &all, limits).unwrap().0)
            );
        }
    }

    #[test]
    fn axfr_over_several_messages() {
        let outcome = collect(
            Kind::Axfr,
            vec![
                vec![soa(5), a("www.example.com.", 1)],
                vec![a("mail.example.com.", 2), a("out.example.org.", 3)],
                vec![soa(5)],
            ],
            None,
        )
        .unwrap();
        let Outcome::Full { zone, warnings } = outcome else {
            panic!()
        };
        assert_eq!(zone.serial(), 5);
        assert_eq!(zone.record_count(), 3);
        assert_eq!(warnings.len(), 1, "the out-of-zone record is reported");
    }

    #[test]
    fn broken_or_inconsistent_axfr() {
        assert!(matches!(
            collect(
                Kind::Axfr,
                vec![vec![soa(5), a("www.example.com.", 1)]],
                None
            ),
            Err(TransferError::Broken)
        ));
        assert!(collect(Kind::Axfr, vec![vec![a("www.example.com.", 1)]], None).is_err());
        assert!(
            collect(
                Kind::Axfr,
                vec![vec![soa(5), a("www.example.com.", 1), soa(6)]],
                None
            )
            .is_err()
        );
        assert!(
            collect(
                Kind::Axfr,
                vec![vec![soa(5), soa(5), a("www.example.com.", 1)]],
                None
            )
            .is_err()
        );
    }

    /// Every node (empty non-terminals included) with its RRsets, sorted.
    fn shape(zone: &Zone) -> Vec<String> {
        let mut nodes: Vec<String> = zone
            .nodes()
            .map(|node| {
                let rrsets: Vec<_> = node.rrsets_unrecorded().collect();
                format!("{} {rrsets:?}", node.owner())
            })
            .collect();
        nodes.sort();
        nodes
    }

    /// The same nodes and RRsets, and the same totals.
    fn assert_same(zone: &Zone, expected: &Zone) {
        assert_eq!(shape(zone), shape(expected));
        assert_eq!(zone.record_count(), expected.record_count());
        assert_eq!(zone.wire_size(), expected.wire_size());
        assert_eq!(zone.types(), expected.types());
    }

    /// The zone an IXFR from `from` makes of `current`.
    fn ixfr(from: u32, stream: Vec<Vec<Record>>, current: &Zone) -> Zone {
        match collect(Kind::Ixfr { from }, stream, Some(current)).unwrap() {
            Outcome::Incremental { zone, .. } => zone,
            _ => panic!("not applied as differences"),
        }
    }

    #[test]
    fn an_ixfr_makes_the_zone_a_full_transfer_would() {
        let current = full(
            1,
            vec![
                a("x.y.z.example.com.", 1),
                a("www.example.com.", 1),
                a("www.example.com.", 2),
                a("keep.y.z.example.com.", 3),
            ],
        );
        let mut ttl_changed = a("www.example.com.", 2);
        ttl_changed.ttl = 60;
        let stream = vec![vec![
            soa(2),
            soa(1),
            // The deepest name goes; its parents stay for keep.y.z.
            a("x.y.z.example.com.", 1),
            a("www.example.com.", 1),
            a("www.example.com.", 2),
            soa(2),
            a("a.b.c.example.com.", 4),
            ttl_changed.clone(),
            soa(2),
        ]];
        let zone = ixfr(1, stream, &current);
        let expected = full(
            2,
            vec![
                a("keep.y.z.example.com.", 3),
                a("a.b.c.example.com.", 4),
                ttl_changed,
            ],
        );
        assert_same(&zone, &expected);
        // Then the last name below z goes: z and y.z go with it.
        let stream = vec![vec![
            soa(3),
            soa(2),
            a("keep.y.z.example.com.", 3),
            soa(3),
            soa(3),
        ]];
        let third = ixfr(2, stream, &zone);
        let expected = full(
            3,
            vec![a("a.b.c.example.com.", 4), {
                let mut r = a("www.example.com.", 2);
                r.ttl = 60;
                r
            }],
        );
        assert_same(&third, &expected);
        // Changes that empty no node are finished from the nodes they touch alone: a changed
        // address, a new name two labels below an existing one, a new type at the apex.
        let mut txt = a("example.com.", 0);
        (txt.rtype, txt.rdata) = (rtype::TXT, b"\x02hi".to_vec());
        let stream = vec![vec![
            soa(4),
            soa(3),
            a("a.b.c.example.com.", 4),
            soa(4),
            a("a.b.c.example.com.", 5),
            a("d.e.www.example.com.", 6),
            txt.clone(),
            soa(4),
        ]];
        let fourth = ixfr(3, stream, &third);
        let mut www = a("www.example.com.", 2);
        www.ttl = 60;
        let expected = full(
            4,
            vec![
                a("a.b.c.example.com.", 5),
                www,
                a("d.e.www.example.com.", 6),
                txt,
            ],
        );
        assert_same(&fourth, &expected);
        // The copy it came from is unchanged.
        assert_eq!(current.record_count(), 5);
        let deepest: Name = "x.y.z.example.com.".parse().unwrap();
        assert!(current.node(&deepest.lowercase_wire()).is_some());
    }

    #[test]
    fn ixfr_differences_apply() {
        let current = full(1, vec![a("www.example.com.", 1), a("old.example.com.", 9)]);
        let stream = vec![
            vec![
                soa(3),
                soa(1),
                a("old.example.com.", 9),
                soa(2),
                a("new.example.com.", 7),
            ],
            vec![
                soa(2),
                a("www.example.com.", 1),
                soa(3),
                a("www.example.com.", 2),
                soa(3),
            ],
        ];
        let Outcome::Incremental { zone, diffs, .. } =
            collect(Kind::Ixfr { from: 1 }, stream, Some(&current)).unwrap()
        else {
            panic!()
        };
        assert_eq!((zone.serial(), diffs), (3, 2));
        let names: Vec<String> = zone
            .records()
            .map(|(o, t, _, d)| format!("{o} {t} {d:?}"))
            .collect();
        assert!(
            names.contains(&"new.example.com. 1 [192, 0, 2, 7]".to_string()),
            "{names:?}"
        );
        assert!(
            names.contains(&"www.example.com. 1 [192, 0, 2, 2]".to_string()),
            "{names:?}"
        );
        assert!(!names.iter().any(|n| n.starts_with("old.")), "{names:?}");
        assert_eq!(zone.record_count(), 3);
        // The new copy says which owners changed, for publishing only what changed.
        let mut changed: Vec<String> = zone
            .changed_since(&current)
            .expect("made from the current copy")
            .iter()
            .map(|n| Name::from_wire(n).unwrap().to_string())
            .collect();
        changed.sort();
        assert_eq!(
            changed,
            [
                "example.com.",
                "new.example.com.",
                "old.example.com.",
                "www.example.com."
            ]
        );
        assert!(zone.changed_since(&zone).is_none());
    }

    #[test]
    fn ixfr_that_does_not_apply_is_an_error() {
        let deletes_missing = vec![soa(2), soa(1), a("nothere.example.com.", 1), soa(2), soa(2)];
        assert!(ixfr_onto_www(deletes_missing).is_err());
        let wrong_start = vec![soa(3), soa(2), soa(3), soa(3)];
        assert!(ixfr_onto_www(wrong_start).is_err());
    }

    #[test]
    fn a_difference_to_the_same_serial_is_malformed() {
        // 1 -> 1 (nothing changes but records), then 1 -> 2: NSD refuses the whole transfer.
        let e = ixfr_error(vec![
            soa(2),
            soa(1),
            a("www.example.com.", 1),
            soa(1),
            soa(1),
            soa(2),
            a("www.example.com.", 2),
            soa(2),
        ]);
        assert!(e.contains("from serial 1 to the same serial"), "{e}");
    }

    #[test]
    fn the_old_soa_is_matched_by_its_serial_and_errors_say_what_is_missing() {
        let current = full(1, vec![a("www.example.com.", 1)]);
        // The primary's old SOA has other timers than ours: still the difference from 1.
        let mut old = soa(1);
        let at = old.rdata.len() - 4;
        old.rdata[at..].copy_from_slice(&999u32.to_be_bytes());
        let stream = vec![vec![soa(2), old, soa(2), a("new.example.com.", 2), soa(2)]];
        let zone = ixfr(1, stream, &current);
        assert_eq!((zone.serial(), zone.record_count()), (2, 3));

        let e = ixfr_error(vec![
            soa(2),
            soa(1),
            a("gone.example.com.", 9),
            soa(2),
            soa(2),
        ]);
        assert!(
            e.contains("from serial 1 deletes gone.example.com. A 192.0.2.9"),
            "{e}"
        );
    }

    #[test]
    fn ixfr_answered_with_a_full_zone_or_up_to_date() {
        let axfr_style = vec![soa(4), a("www.example.com.", 4), soa(4)];
        let outcome = ixfr_onto_www(axfr_style).unwrap();
        assert!(matches!(outcome, Outcome::Full { ref zone, .. } if zone.serial() == 4));
        let outcome = ixfr_onto_www(vec![soa(1)]).unwrap();
        assert!(matches!(outcome, Outcome::UpToDate { serial: 1 }));
    }

    /// A primary may end a message anywhere, also right after the first SOA.
    #[test]
    fn a_newer_soa_alone_in_the_first_message_starts_a_transfer() {
        let current = full(1, vec![a("www.example.com.", 1)]);
        let split = |records: Vec<Record>| {
            let mut messages = vec![records[..1].to_vec()];
            messages.push(records[1..].to_vec());
            messages
        };
        let incremental = split(vec![
            soa(2),
            soa(1),
            soa(2),
            a("new.example.com.", 2),
            soa(2),
        ]);
        let outcome = collect(Kind::Ixfr { from: 1 }, incremental, Some(&current)).unwrap();
        assert!(
            matches!(outcome, Outcome::Incremental { ref zone, .. } if zone.record_count() == 3)
        );
        let axfr_style = split(vec![soa(2), a("www.example.com.", 2), soa(2)]);
        let outcome = collect(Kind::Ixfr { from: 1 }, axfr_style, Some(&current)).unwrap();
        assert!(matches!(outcome, Outcome::Full { ref zone, .. } if zone.serial() == 2));
    }

    #[test]
    fn record_limit() {
        let limits = Limits {
            max_records: 2,
            ..Limits::default()
        };
        let mut collector = Collector::new(apex(), Kind::Axfr, limits);
        assert!(matches!(
            collector.accept(vec![soa(1), a("a.example.com.", 1), a("b.example.com.", 1)]),
            Err(TransferError::Limit(_))
        ));
    }
}
