//! Property tests of what secdns reads from others, on hostile input: messages as a primary
//! sends them, the records of a transfer in any order and split, signed requests, saved zone
//! copies, and zone files. Whatever comes in, nothing panics; what is damaged is refused,
//! what is whole is read as it was. (Queries are `fuzz_answers.rs`'s.)

use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use secdns::{
    answer::{Transport, respond},
    dns::{
        Name,
        codes::{class, rtype},
        message::{self, Record, build_query},
        rdata::soa_serial_at,
        tsig::{self, Algorithm, Key},
    },
    snapshot::Snapshot,
    transfer::{
        apply::{Collector, Kind, Outcome},
        client::Limits,
    },
    zone::{Zone, render::sorted_records, wire_file, zonefile},
};
use secdns_tests::queries::{self, APEX, ZONE};

fn apex() -> Name {
    APEX.parse().unwrap()
}

/// The hand-written zone, read once.
fn zone() -> &'static Arc<Zone> {
    static ZONE_READ: OnceLock<Arc<Zone>> = OnceLock::new();
    ZONE_READ.get_or_init(|| Arc::new(zonefile::parse(ZONE, &apex(), "fuzz").unwrap().0))
}

fn snapshot() -> &'static Snapshot {
    static SNAPSHOT: OnceLock<Snapshot> = OnceLock::new();
    SNAPSHOT.get_or_init(|| Snapshot::new([zone().clone()]))
}

/// Replies of every shape the zone gives (answers, referrals, NXDOMAIN with NSEC, CNAME
/// chains, compressed names in record data): real messages to damage.
fn replies() -> &'static [Vec<u8>] {
    static REPLIES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    REPLIES.get_or_init(|| {
        let mut out = Vec::new();
        for name in queries::names() {
            for qtype in [
                rtype::SOA,
                rtype::A,
                rtype::MX,
                rtype::NS,
                rtype::ANY,
                rtype::TXT,
            ] {
                let query = build_query(7, 0, &name.parse().unwrap(), qtype, &[]);
                let transport = Transport::Tcp {
                    payload: 1232,
                    keepalive: None,
                };
                if let Some(reply) = respond(&query, snapshot(), transport) {
                    out.push(reply);
                }
            }
        }
        assert!(out.len() > 20, "too few replies to damage");
        out
    })
}

fn owned(zone: &Zone) -> Vec<Record> {
    sorted_records(zone)
        .into_iter()
        .map(|(owner, rtype, ttl, rdata)| Record {
            owner: owner.to_owned(),
            rtype,
            class: class::IN,
            ttl,
            rdata: rdata.to_vec(),
        })
        .collect()
}

/// The zone's SOA with `serial`.
fn soa(serial: u32) -> Record {
    let mut soa = owned(zone())
        .into_iter()
        .find(|r| r.rtype == rtype::SOA)
        .unwrap();
    let at = soa_serial_at(&soa.rdata).unwrap();
    soa.rdata[at..at + 4].copy_from_slice(&serial.to_be_bytes());
    soa
}

/// An IXFR reply from the zone's serial to the next: two records removed, one added.
fn ixfr_records() -> Vec<Record> {
    let (from, to) = (zone().serial(), zone().serial().wrapping_add(1));
    let records = owned(zone());
    let removed = records
        .iter()
        .filter(|r| r.rtype == rtype::A)
        .take(2)
        .cloned();
    let added = Record {
        owner: "new.diff.example.".parse().unwrap(),
        rtype: rtype::A,
        class: class::IN,
        ttl: 60,
        rdata: vec![192, 0, 2, 99],
    };
    let mut out = vec![soa(to), soa(from)];
    out.extend(removed);
    out.extend([soa(to), added, soa(to)]);
    out
}

/// Feeds `records` to a collector in messages of the sizes `splits` gives.
fn collect(kind: Kind, records: Vec<Record>, splits: &[usize]) -> Result<Outcome, String> {
    let mut collector = Collector::new(apex(), kind, Limits::default());
    let mut records = records.into_iter();
    let mut sizes = splits.iter().cycle();
    loop {
        let batch: Vec<Record> = records.by_ref().take(*sizes.next().unwrap_or(&1)).collect();
        if batch.is_empty() {
            return Err("the records ran out before the transfer ended".into());
        }
        if collector.accept(batch).map_err(|e| e.to_string())? {
            return collector.finish(Some(zone())).map_err(|e| e.to_string());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Bytes no primary would send are read or refused.
    #[test]
    fn random_messages(raw in prop::collection::vec(any::<u8>(), 0..700)) {
        let _ = message::parse(&raw);
    }

    /// A real reply with bytes changed, cut short or lengthened is read or refused; whole,
    /// it is read with every record the header counts.
    #[test]
    fn damaged_replies(
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
        tail in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        let mut raw = which.get(replies()).clone();
        if edits.is_empty() {
            let whole = message::parse(&raw);
            prop_assert!(whole.is_ok(), "a reply of ours is refused: {whole:?}");
            let whole = whole.unwrap();
            let counted = u16::from_be_bytes([raw[6], raw[7]]) as usize;
            prop_assert_eq!(whole.answers.len(), counted);
        }
        for (at, byte) in &edits {
            let at = at.index(raw.len());
            raw[at] = *byte;
        }
        let _ = message::parse(&raw);
        raw.truncate(cut.index(raw.len() + 1));
        let _ = message::parse(&raw);
        raw.extend(&tail);
        let _ = message::parse(&raw);
    }

    /// An IXFR whose records are dropped, repeated, swapped or changed, in messages of any
    /// size, is applied or refused; untouched, it is applied whatever the message sizes.
    #[test]
    fn broken_incremental_transfers(
        splits in prop::collection::vec(1usize..5, 1..4),
        drop in prop::option::of(any::<prop::sample::Index>()),
        repeat in prop::option::of(any::<prop::sample::Index>()),
        swap in prop::option::of((any::<prop::sample::Index>(), any::<prop::sample::Index>())),
        serial in prop::option::of((any::<prop::sample::Index>(), any::<u32>())),
    ) {
        let mut records = ixfr_records();
        let from = zone().serial();
        let untouched = drop.is_none() && repeat.is_none() && swap.is_none() && serial.is_none();
        if let Some(at) = drop {
            records.remove(at.index(records.len()));
        }
        if let Some(at) = repeat {
            let at = at.index(records.len());
            records.insert(at, records[at].clone());
        }
        if let Some((a, b)) = swap {
            let (a, b) = (a.index(records.len()), b.index(records.len()));
            records.swap(a, b);
        }
        if let Some((at, new)) = serial {
            let soas: Vec<usize> =
                (0..records.len()).filter(|&i| records[i].rtype == rtype::SOA).collect();
            let at = *at.get(&soas);
            records[at] = Record { rdata: soa(new).rdata, ..records[at].clone() };
        }
        let outcome = collect(Kind::Ixfr { from }, records, &splits);
        if untouched {
            match outcome {
                Ok(Outcome::Incremental { zone: new, .. }) => {
                    prop_assert_eq!(new.serial(), from.wrapping_add(1));
                    prop_assert_eq!(new.record_count(), zone().record_count() - 1);
                }
                other => prop_assert!(false, "a whole IXFR gave {other:?}"),
            }
        }
    }

    /// A signed request with any byte of what it signs changed is refused, whatever the
    /// change (the ID aside, which RFC 8945 lets a forwarder change, and the record count the
    /// signature's own record adds to).
    #[test]
    fn damaged_signed_requests(
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        opcode in prop::sample::select(vec![0u8, 4]),
    ) {
        let key = Key {
            name: "transfer-key.".parse().unwrap(),
            algorithm: Algorithm::HmacSha256,
            secret: b"thirty-two bytes of a test secret".to_vec(),
        };
        let now = 1_796_000_000;
        let mut raw = build_query(0x1234, opcode, &apex(), rtype::SOA, &[]);
        let signed_part = raw.len();
        tsig::sign_request_at(&key, &mut raw, now);
        let verify = |raw: &[u8]| -> Result<(), String> {
            let parsed = message::parse(raw).map_err(|e| e.to_string())?;
            let record = parsed.tsig.ok_or("no TSIG")?;
            tsig::verify_request_at(&key, raw, &record, now)
                .map(drop)
                .map_err(|e| e.to_string())
        };
        prop_assert_eq!(verify(&raw), Ok(()));
        let changeable: Vec<usize> = (2..signed_part).filter(|i| !(10..12).contains(i)).collect();
        let at = *at.get(&changeable);
        raw[at] ^= flip;
        prop_assert!(verify(&raw).is_err(), "byte {} changed, still verified", at);
    }

    /// A saved copy with any byte changed, or cut short, is refused, never half-read.
    #[test]
    fn damaged_saved_copies(
        edit in prop::option::of((any::<prop::sample::Index>(), 1u8..=255)),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let mut saved = wire_file::encode(zone());
        let untouched = edit.is_none() && cut.is_none();
        if let Some((at, flip)) = edit {
            let at = at.index(saved.len());
            saved[at] ^= flip;
        }
        if let Some(cut) = cut {
            saved.truncate(cut.index(saved.len()));
        }
        let read = wire_file::decode(&saved, &apex());
        if untouched {
            prop_assert_eq!(read.map(|z| z.record_count()).ok(), Some(zone().record_count()));
        } else {
            prop_assert!(read.is_err(), "a damaged copy was read");
        }
    }

    /// A zone file with lines cut, repeated, or with random characters put in is read or
    /// refused with an error.
    #[test]
    fn damaged_zone_files(
        edits in prop::collection::vec(
            (any::<prop::sample::Index>(), 0u8..4, "[ -~\t\n()\";$@.\\\\]{0,12}"),
            1..6,
        ),
    ) {
        let mut text = ZONE.to_owned();
        for (at, how, insert) in &edits {
            let at = text.floor_char_boundary(at.index(text.len() + 1));
            match how {
                0 => text.insert_str(at, insert),
                1 => text.truncate(at),
                2 => {
                    let line_end = text[at..].find('\n').map_or(text.len(), |n| at + n + 1);
                    let line = text[at..line_end].to_owned();
                    text.insert_str(at, &line);
                }
                _ => {
                    let end = text.floor_char_boundary(at + insert.len());
                    text.replace_range(at..end, "");
                }
            }
        }
        let _ = zonefile::parse(&text, &apex(), "fuzz");
    }
}
