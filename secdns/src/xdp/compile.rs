//! Compiling a zone snapshot into XDP answer-map entries. Each entry is exactly what the
//! userspace responder would write for that name and type (same lookup, same encoder).
//!
//! Three groups of entries, kept in this order when the maps cannot hold everything:
//! - a name's own answers, one per type it holds (and at a CNAME, per type the chain can end
//!   in);
//! - a name's default: the answer for every other type (NODATA, a referral);
//! - what the XDP program needs to answer names that do not exist: for every name, the answer
//!   for the names below it (NXDOMAIN, a wildcard's answers, a referral from a cut), found by
//!   walking up from the query name. Where that answer is the parent's (a leaf's plain
//!   NXDOMAIN), it is left out and the walk goes on to the parent. Either all of these are published or none: a walk that
//!   skipped a name because its entry was left out would answer from the wrong ancestor.
//!
//! Where the kernel must not answer, a "pass" entry (no body) stands in, so that a lookup or a
//! walk that reaches it stops and leaves the query to userspace.
//!
//! Here: what a unit and its entries are. Which zone has which slot: [`slots`]. The compiler,
//! node by node on every core: [`nodes`], with [`shares`]; an entry built: [`builder`] (and
//! [`plain_host`], [`zone_prefix`]). One entry per key and what fits: [`mod@merge`].

use std::{
    collections::{HashSet, hash_map::Entry as Entry_},
    sync::Arc,
};

use foldhash::{HashMap, HashMapExt};

use secdns_common::{
    DEFAULT_QTYPE, MAX_BODY_LEN, MAX_FIXUPS, NAME_BUF_LEN, NO_ZONE_SLOT, OPTION_DO_PASS,
    OPTION_HAS_DO_VARIANT, OPTION_TYPED_BELOW, SCOPE_BELOW, SCOPE_NAME, SCOPE_ZONE_PREFIX,
    ZONE_SLOTS, ZoneSlot, dns_lowercase, has_own_answer, left_to_userspace, name_hash,
};

use crate::{
    answer::{
        encode::{Body, Trace, encode_traced, ones_complement_sum},
        lookup::{Answer, lookup},
    },
    dns::{
        codes::{rcode, rtype},
        name::label_offsets,
        rdata::compressible_names,
    },
    parallel,
    snapshot::{Served, Snapshot},
    xdp::{
        layout::{AnswerKey, dnssec_extension, hasher},
        packed::{Bodies, BodyStore, PackedEntry, Packer, Upserts},
        readers::{Collector, Readers, Units, WIDE_MIN},
        value::Value,
    },
    zone::{
        Node, Zone,
        reads::{self, Read},
    },
};

mod builder;
mod merge;
mod nodes;
mod plain_host;
mod shares;
mod slots;
mod zone_prefix;

pub use builder::ParentCache;
use builder::*;
pub use merge::{Finished, Merged, MergedEntry, finish, merge};
pub use nodes::Compiler;
use shares::*;
pub use shares::{All, Stream};
pub use slots::{serials, zone_slots};

#[derive(Default)]
pub struct Compiled {
    pub entries: Upserts,
    /// Answers left to userspace because they exceed the fast path's body size.
    pub too_big: usize,
    /// Names left to userspace because their hash collides with another name's.
    pub collisions: usize,
    /// Entries left out because the maps cannot hold them.
    pub left_out: usize,
    /// Whether names that do not exist are answered in the kernel.
    pub walk: bool,
    /// (zone slot, SOA serial) for every zone with a slot: what the program writes into the
    /// answers that hold the zone's SOA (see `BodyHeader::serial_at`).
    pub serials: Vec<(ZoneSlot, u32)>,
}

/// Compiles `snapshot` into at most `capacity` entries.
pub fn compile(snapshot: &Snapshot, capacity: usize) -> Compiled {
    let slots = zone_slots(snapshot, &HashMap::new());
    let finished = finish(
        merge(Compiler::new(snapshot, &slots, false).all(None)),
        capacity,
    );
    Compiled {
        entries: finished.entries,
        too_big: finished.too_big,
        collisions: finished.collisions,
        left_out: finished.left_out,
        walk: finished.walk,
        serials: serials(snapshot, &slots),
    }
}

/// Which of the three groups (see the module comment) an entry belongs to.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Group {
    Typed,
    Default,
    Walk,
}

pub struct Entry {
    pub key: AnswerKey,
    pub value: Value,
    pub group: Group,
}

/// What one node compiles to (or, with an empty `name`, the entries that stop every lookup
/// at a zone's apex): what is compiled again when the node, or anything its answers read,
/// changes.
pub struct Unit {
    pub name: Box<[u8]>,
    pub entries: Vec<Entry>,
    /// What its answers read, other than its own node; empty unless recorded. Shared by
    /// the units that read the same (a zone's plain hosts).
    pub reads: Arc<[Read]>,
    /// Answers of the unit left to userspace for their size.
    pub too_big: usize,
    /// The name hash of `name` (see [`Unit::own_hash`]).
    own: Option<u64>,
}

impl Unit {
    /// A unit of `name`, giving `entries`.
    pub fn new(name: Box<[u8]>, entries: Vec<Entry>, reads: Vec<Read>) -> Self {
        let own = (!name.is_empty()).then(|| hasher().hash(&name).0);
        Self {
            name,
            entries,
            reads: reads.into(),
            too_big: 0,
            own,
        }
    }

    /// The name hash of the entries for the unit's own name; `None` for a zone's stop unit.
    pub fn own_hash(&self) -> Option<u64> {
        self.own
    }
}

/// What the answers of every name of a zone depend on: the types the zone holds anywhere
/// (see `add_zone`), and whether it has defaults (see [`ABSENT_TYPE`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneFacts {
    chain_types: Vec<u16>,
    defaults: bool,
    /// The names in the zone's SOA (lowercased): a negative answer names them.
    soa_names: Vec<Box<[u8]>>,
    /// Names (their `name_hash`) whose reads a zone of more than `WIDE_MIN` units keeps as
    /// wide from the start (see `Collector::seed_wide`): the apex, its probes and wildcard,
    /// the names above it (where a lookup looks for a name's zone) and the SOA's names
    /// (which a negative answer checks).
    read_by_every_unit: Vec<u64>,
}

impl ZoneFacts {
    pub fn of(zone: &Zone) -> Self {
        // A zone holding the type asked for defaults has no defaults (see `ABSENT_TYPE`), and
        // so no proof that a name is missing: its apex stops every walk.
        let defaults = !zone.types().contains(&ABSENT_TYPE);
        // At a CNAME, the answer depends on what the chain's end holds for the type asked:
        // every type the zone holds gets its own entry there, and the default covers the
        // types the zone holds nowhere.
        let mut chain_types: Vec<u16> = zone
            .types()
            .iter()
            .copied()
            .chain([rtype::CNAME])
            .filter(|t| !has_own_answer(*t))
            .collect();
        chain_types.sort_unstable();
        chain_types.dedup();
        let soa = zone.soa().rdatas.first().unwrap_or_default();
        let soa_names: Vec<Box<[u8]>> = compressible_names(rtype::SOA, soa)
            .into_iter()
            .filter_map(|(at, len)| soa.get(at..at + len))
            .map(|name| name.iter().map(|&b| dns_lowercase(b)).collect())
            .collect();
        let apex = zone.apex_key();
        let mut read_by_every_unit = own_names(apex);
        let above = label_offsets(apex).skip(1).filter_map(|at| apex.get(at..));
        read_by_every_unit.extend(above.chain([&[0u8][..]]).map(name_hash));
        read_by_every_unit.extend(soa_names.iter().map(|name| name_hash(name)));
        Self {
            chain_types,
            defaults,
            soa_names,
            read_by_every_unit,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{dns::Name, zone::zonefile};

    const ZONE: &str = "$ORIGIN t.\n$TTL 60\n@ IN SOA ns hm 1 2 3 4 5\n@ IN NS ns\n\
                        ns IN A 192.0.2.1\nwww IN A 192.0.2.2\nwww IN TXT \"x\"\n\
                        *.w IN A 192.0.2.3\n";

    fn snapshot() -> Snapshot {
        Snapshot::new([Arc::new(zonefile::zone_of("t.", ZONE))])
    }

    fn zones(apexes: &[&str]) -> Snapshot {
        Snapshot::new(apexes.iter().map(|apex| {
            let text = format!("$ORIGIN {apex}\n@ 60 IN SOA ns hm 1 2 3 4 5\n@ 60 IN NS ns\n");
            Arc::new(zonefile::zone_of(apex, &text))
        }))
    }

    fn hash_of(name: &str) -> u64 {
        let name: Name = name.parse().unwrap();
        AnswerKey::new(&name.lowercase_wire(), DEFAULT_QTYPE, SCOPE_NAME).name_hash
    }

    fn slot_of(slots: &HashMap<Box<[u8]>, ZoneSlot>, apex: &str) -> Option<ZoneSlot> {
        let name: Name = apex.parse().unwrap();
        slots.get(&name.lowercase_wire()).copied()
    }

    #[test]
    fn shares_start_every_len_units_across_zones() {
        // Zones of 3, 0, 5 and 2 units: units 0-2, 3-7, 8-9.
        let units = Units::new(&[3, 0, 5, 2]);
        assert_eq!(share_starts(&units, 4), [(0, 0, 0), (4, 2, 1), (8, 3, 0)]);
        assert_eq!(share_starts(&units, 100), [(0, 0, 0)]);
        assert!(share_starts(&Units::new(&[0, 0]), 4).is_empty());
    }

    #[test]
    fn zones_keep_their_slots_and_freed_slots_wait_a_round() {
        let first = zone_slots(&zones(&["a.", "b.", "c."]), &HashMap::new());
        let mut seen: Vec<ZoneSlot> = first.values().copied().collect();
        seen.sort();
        assert_eq!(seen, [0, 1, 2]);
        // b. goes, d. comes: a. and c. keep theirs, d. does not take b.'s yet.
        let second = zone_slots(&zones(&["a.", "c.", "d."]), &first);
        assert_eq!(slot_of(&second, "a."), slot_of(&first, "a."));
        assert_eq!(slot_of(&second, "c."), slot_of(&first, "c."));
        assert_eq!(slot_of(&second, "d."), Some(3));
        // A round later the freed slot is taken.
        let third = zone_slots(&zones(&["a.", "c.", "d.", "e."]), &second);
        assert_eq!(slot_of(&third, "e."), slot_of(&first, "b."));
        assert_eq!(slot_of(&third, "d."), Some(3));
        // Compiled answers carry their zone's slot.
        let compiled = compile(&zones(&["a.", "b."]), 100);
        assert!(
            values(&compiled)
                .into_iter()
                .filter(|(_, v)| !v.is_pass())
                .all(|(_, v)| v.zone_slot < 2),
        );
    }

    fn values(compiled: &Compiled) -> Vec<(AnswerKey, Value)> {
        compiled.entries.values()
    }

    #[test]
    fn zones_overlap_any_zone_above_or_below_them_the_root_too() {
        let overlapping = overlapping_zones(&zones(&[".", "example.", "a.b.", "b.", "c."]));
        let mut names: Vec<String> = overlapping
            .iter()
            .map(|apex| Name::from_wire(apex).unwrap().to_string())
            .collect();
        names.sort();
        assert_eq!(names, [".", "a.b.", "b.", "c.", "example."]);
        let apart = overlapping_zones(&zones(&["example.", "a.b.", "c."]));
        assert!(apart.is_empty(), "{apart:?}");
    }

    fn groups(compiled: &Compiled) -> (usize, usize) {
        let below = values(compiled)
            .into_iter()
            .filter(|(k, _)| k.scope == SCOPE_BELOW)
            .count();
        (compiled.entries.len() - below, below)
    }

    #[test]
    fn everything_fits_with_room() {
        let compiled = compile(&snapshot(), 1000);
        let (by_name, below) = groups(&compiled);
        assert!(compiled.walk);
        assert_eq!(compiled.left_out, 0);
        // Every node (apex, ns, www, w, *.w, plus the RNAME pass entries) has a default.
        assert!(by_name >= 10, "{by_name} entries for names");
        // Every node has an entry for the names below it; the wildcard's parent per type.
        assert!(below >= 6, "{below} entries for names below");
        let typed_below = values(&compiled)
            .into_iter()
            .any(|(k, v)| k.scope == SCOPE_BELOW && k.qtype == 1 && !v.is_pass());
        assert!(typed_below, "the wildcard's A answer");
    }

    #[test]
    fn walk_entries_go_whole_when_the_maps_are_too_small() {
        let all = compile(&snapshot(), 1000);
        let compiled = compile(&snapshot(), all.entries.len() - 1);
        assert!(!compiled.walk);
        // No entry for names below (nor the pass entries that only walks need) is left.
        assert_eq!(groups(&compiled).1, 0);
        assert!(compiled.entries.len() < groups(&all).0);
        assert_eq!(
            compiled.entries.len() + compiled.left_out,
            all.entries.len()
        );
        // Smaller still: names' own answers are kept before their defaults.
        let compiled = compile(&snapshot(), 3);
        assert_eq!(compiled.entries.len(), 3);
        assert!(
            values(&compiled)
                .into_iter()
                .all(|(k, _)| k.qtype != DEFAULT_QTYPE)
        );
    }

    #[test]
    fn names_below_a_leaf_are_answered_by_its_parents_entry() {
        let compiled = compile(&snapshot(), 1000);
        let below = |name: &str| {
            let hash = hash_of(name);
            values(&compiled)
                .into_iter()
                .filter(|(k, _)| k.scope == SCOPE_BELOW && k.name_hash == hash)
                .count()
        };
        // www's NXDOMAIN is the apex's: left out.
        assert_eq!(below("www.t."), 0);
        assert_eq!(below("t."), 1);
        // Below w, the wildcard answers: kept, per type.
        assert!(below("w.t.") >= 2, "{}", below("w.t."));
    }

    #[test]
    fn a_type_0_record_does_not_replace_the_default() {
        let text = format!("{ZONE}www IN TYPE0 \\# 1 00\n");
        let zone = zonefile::zone_of("t.", &text);
        let compiled = compile(&Snapshot::new([Arc::new(zone)]), 1000);
        let www = hash_of("www.t.");
        let defaults: Vec<_> = values(&compiled)
            .into_iter()
            .filter(|(k, _)| k.name_hash == www && k.qtype == DEFAULT_QTYPE && k.scope == 0)
            .collect();
        assert_eq!(defaults.len(), 1);
        // NODATA: no answer records.
        assert_eq!(defaults[0].1.ancount, 0);
        assert!(!defaults[0].1.is_pass());
    }

    #[test]
    fn below_answers_list_the_pointers_to_move() {
        let compiled = compile(&snapshot(), 1000);
        let apex = hash_of("t.");
        let (_, nxdomain) = values(&compiled)
            .into_iter()
            .find(|(k, _)| k.scope == SCOPE_BELOW && k.name_hash == apex)
            .expect("the apex's entry for names below it");
        // Compiled for a probe two bytes longer than the apex; the SOA owner, MNAME and
        // RNAME point into the apex.
        assert_eq!(nxdomain.question_len as usize, b"\x01t\x00".len() + 2);
        assert_eq!(nxdomain.flags & 0x000f, 3);
        assert_eq!(nxdomain.fixups.len(), 3);
        for &at in nxdomain.fixups.iter() {
            let at = at as usize;
            assert_eq!(nxdomain.body[at] & 0xc0, 0xc0, "a pointer at {at}");
        }
        // The serial is left for the program to write from the zone's slot.
        let at = nxdomain.serial_at as usize;
        assert!(at > 0);
        assert_eq!(nxdomain.body[at..at + 4], [0; 4]);
        assert_eq!(compiled.serials, [(nxdomain.zone_slot, 1)]);
    }
}
