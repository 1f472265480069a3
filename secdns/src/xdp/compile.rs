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

mod plain_host;
mod zone_prefix;

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

/// (slot, serial) of every zone with a slot.
pub fn serials(snapshot: &Snapshot, slots: &HashMap<Box<[u8]>, ZoneSlot>) -> Vec<(ZoneSlot, u32)> {
    snapshot
        .zones()
        .filter_map(|zone| Some((*slots.get(&zone.apex().lowercase_wire())?, zone.serial())))
        .collect()
}

/// A slot for each zone with data, as far as there are slots. A zone keeps the slot it had
/// in `before` (so its answers, which carry the slot, do not change, and its answer counts
/// stay its own); a new zone takes the lowest slot `before` did not use, so that a slot
/// freed now is taken again only once the maps that used it are gone.
pub fn zone_slots(
    snapshot: &Snapshot,
    before: &HashMap<Box<[u8]>, ZoneSlot>,
) -> HashMap<Box<[u8]>, ZoneSlot> {
    let mut apexes: Vec<Box<[u8]>> = snapshot
        .zones()
        .map(|zone| zone.apex().lowercase_wire())
        .collect();
    apexes.sort();
    let mut slots = HashMap::with_capacity(apexes.len());
    let mut new = Vec::new();
    for apex in apexes {
        match before.get(&apex) {
            Some(&slot) => {
                slots.insert(apex, slot);
            }
            None => new.push(apex),
        }
    }
    let used_before: HashSet<ZoneSlot> = before.values().copied().collect();
    let kept: HashSet<ZoneSlot> = slots.values().copied().collect();
    // Slots never used before first; only when they run out (over 260,000 zones), those
    // freed now, whose last answers may then count for the new zone.
    let mut free = (0..ZONE_SLOTS)
        .filter(|slot| !used_before.contains(slot))
        .chain((0..ZONE_SLOTS).filter(|slot| used_before.contains(slot) && !kept.contains(slot)));
    for apex in new {
        let Some(slot) = free.next() else {
            break;
        };
        slots.insert(apex, slot);
    }
    slots
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

/// Compiles units of one snapshot.
pub struct Compiler<'s> {
    snapshot: &'s Snapshot,
    slots: &'s HashMap<Box<[u8]>, ZoneSlot>,
    /// Whether units record what they read.
    record: bool,
}

impl<'s> Compiler<'s> {
    pub fn new(
        snapshot: &'s Snapshot,
        slots: &'s HashMap<Box<[u8]>, ZoneSlot>,
        record: bool,
    ) -> Self {
        Self {
            snapshot,
            slots,
            record,
        }
    }

    /// Every unit of the snapshot, packed as it is compiled, and who read what (when
    /// recording).
    pub fn all(&self, stream: Option<&mut Stream<'_>>) -> All {
        let zones: Vec<(&Zone, ZoneFacts)> = self
            .snapshot
            .zones()
            .map(|zone| (zone.as_ref(), ZoneFacts::of(zone)))
            .collect();
        let overlapping = overlapping_zones(self.snapshot);
        let mut stops = Vec::new();
        // Units in order: every zone's nodes, zone after zone (names that own only NSEC3
        // records do not exist for queries and compile to nothing: the walk answers them).
        // Counted, not listed: a list of millions of units would be held through the whole
        // compile.
        let mut counts = Vec::with_capacity(zones.len());
        for (zone, facts) in &zones {
            stops.extend(self.zone_stop(zone, facts));
            counts.push(zone.node_count());
        }
        // Who read what is indexed by unit (see `readers`).
        let mut units = Units::new(&counts);
        let total: usize = counts.iter().sum();
        let overlaps: Vec<bool> = zones
            .iter()
            .map(|(zone, _)| overlapping.contains(zone.apex_key()))
            .collect();
        // Nothing to answer from: the zone's names stop every lookup and walk.
        stops.extend(
            self.snapshot
                .unavailable()
                .map(|name| self.stop_at(name.lowercase_wire())),
        );
        // Names compile independently, each share packing its values as it goes (only the
        // packed form is kept).
        let mut all = All {
            units: total + stops.len(),
            ..All::default()
        };
        all.overlapping = overlapping;
        // Shares taken by the cores in turn (zones of any size balance out), each kept in
        // order. A streamed share is held until it is staged, a kept one until they are put
        // together: small shares keep both small.
        let share_len = total.div_ceil(SHARES).max(MIN_SHARE);
        let shares = share_starts(&units, share_len);
        let count = shares.len();
        // Stores by index: the shares', the stop entries', then the other entries of
        // streamed shares (their own stores go with them).
        let mut stores: Vec<BodyStore> = (0..count + 2).map(|_| BodyStore::default()).collect();
        let mut others = Packer::new(count as u32 + 1);
        let mut collectors: Vec<Collector> = (0..count).map(|_| Collector::default()).collect();
        let mut kept: Vec<Option<Packed>> = (0..count).map(|_| None).collect();
        let mut stream = stream;
        let compile_share = |&(first, zone, skip): &(usize, usize, usize)| {
            let mut parents = ParentCache::default();
            let mut reads = Collector::default();
            let mut packed = Packed::new((first / share_len) as u32, share_len);
            let share = zones
                .iter()
                .enumerate()
                .skip(zone)
                .flat_map(|(index, (zone_of, facts))| {
                    let skip = if index == zone { skip } else { 0 };
                    zone_of
                        .nodes_from(skip)
                        .map(move |node| (index as u32, *zone_of, facts, node))
                })
                .take(share_len);
            let share = prefetched(share, |(_, _, _, node)| node);
            let mut seeded = None;
            for (at, (zone_index, zone, facts, node)) in share.enumerate() {
                if seeded != Some(zone_index) {
                    seeded = Some(zone_index);
                    if zone.node_count() > WIDE_MIN {
                        reads.seed_wide(zone_index, &facts.read_by_every_unit);
                    }
                }
                if node.is_nsec3_only() {
                    continue;
                }
                let overlaps = overlaps.get(zone_index as usize).copied().unwrap_or(true);
                let unit = self.node(zone, facts, node, !overlaps, &mut parents);
                reads.add((first + at) as u32, zone_index, &unit.reads, &units);
                packed.add(unit, overlaps);
            }
            // Sorted on this thread; merging the shares' runs is then one pass.
            reads.settle(&units);
            (packed, reads)
        };
        parallel::each_as_done(&shares, compile_share, |number, (packed, reads)| {
            if let Some(slot) = collectors.get_mut(number) {
                *slot = reads;
            }
            match stream.as_mut() {
                Some(to) => {
                    if !all.stream(number, packed, &mut others, &mut stores, to) {
                        stream = None;
                    }
                }
                None => {
                    if let Some(slot) = kept.get_mut(number) {
                        *slot = Some(packed);
                    }
                }
            }
        });
        for (number, packed) in kept.into_iter().enumerate() {
            if let Some(packed) = packed {
                all.take(number, packed, &mut stores);
            }
        }
        let mut packed = Packed::new(count as u32, 0);
        for unit in stops {
            packed.add(unit, true);
        }
        all.take(count, packed, &mut stores);
        if let Some(slot) = stores.get_mut(count + 1) {
            *slot = others.into_store();
        }
        all.bodies = Bodies::new(stores);
        let mut collected = Collector::default();
        for reads in collectors {
            collected.merge(reads);
        }
        if self.record {
            let listed = collected.listed_units(&units);
            name_units(&zones, &listed, &mut units);
            all.readers = Readers::new(
                zones
                    .iter()
                    .map(|(zone, _)| zone.apex().lowercase_wire())
                    .collect(),
                units,
                collected,
            );
        }
        all
    }

    /// The entries stopping every lookup at the apex of a zone without defaults.
    pub fn zone_stop(&self, zone: &Zone, facts: &ZoneFacts) -> Option<Unit> {
        (!facts.defaults).then(|| self.stop_at(zone.apex().lowercase_wire()))
    }

    /// Pass entries at `apex`, for the name and for names below it.
    fn stop_at(&self, apex: Box<[u8]>) -> Unit {
        let mut builder = self.builder();
        builder.pass(&apex, DEFAULT_QTYPE, SCOPE_NAME, Group::Default);
        builder.pass(&apex, DEFAULT_QTYPE, SCOPE_BELOW, Group::Walk);
        builder.unit(Box::default(), Vec::new())
    }

    /// The unit of `node` in `zone`; `alone`: the zone lies neither above nor below another
    /// zone of the snapshot (with data or not), so every name in it is answered from it.
    pub fn node(
        &self,
        zone: &Zone,
        facts: &ZoneFacts,
        node: &Node,
        alone: bool,
        parents: &mut ParentCache,
    ) -> Unit {
        let qname = node.owner().lowercase_wire();
        let Some(host) = plain_host::host_key(zone, facts, node, &qname, alone) else {
            return self.full_node(zone, facts, node, qname, parents);
        };
        let Some(shared) = parents.hosts.get(&host) else {
            let unit = self.full_node(zone, facts, node, qname, parents);
            if let Some(shared) = plain_host::HostShared::learn(&unit) {
                parents.hosts.insert(host, shared);
            }
            return unit;
        };
        let unit = self.host_unit(zone, node, qname, shared);
        #[cfg(debug_assertions)]
        {
            // Prove the shortcut on everything the tests compile.
            let full = self.full_node(zone, facts, node, unit.name.clone(), parents);
            let entries = |unit: &Unit| -> Vec<(AnswerKey, Value, Group)> {
                let mut all: Vec<_> = unit
                    .entries
                    .iter()
                    .map(|e| (e.key, e.value.clone(), e.group))
                    .collect();
                all.sort_by_key(|(key, _, _)| (key.qtype, key.scope, key.dnssec_ok));
                all
            };
            assert!(
                entries(&unit) == entries(&full)
                    && unit.reads == full.reads
                    && unit.too_big == full.too_big,
                "{:?} was taken for a plain host: {:?} / {:?} read {:?} / {:?}",
                unit.name,
                entries(&unit),
                entries(&full),
                unit.reads,
                full.reads
            );
        }
        unit
    }

    /// The unit of `node` (named `qname`) in `zone`, every answer looked up.
    fn full_node(
        &self,
        zone: &Zone,
        facts: &ZoneFacts,
        node: &Node,
        qname: Box<[u8]>,
        parents: &mut ParentCache,
    ) -> Unit {
        let own = AnswerKey::new(&qname, DEFAULT_QTYPE, SCOPE_NAME).name_hash;
        let mut builder = self.builder();
        let mut compile = |builder: &mut Builder<'_>| {
            let (types, chain) = answer_types(node, &facts.chain_types);
            for qtype in types {
                builder.add_name_answer(&qname, qtype, chain, Group::Typed, None);
            }
            if facts.defaults {
                self.add_default(builder, zone, facts, node, &qname, chain, parents);
                // Answers for names below that equal the parent's (plain NXDOMAIN, mostly)
                // are left out: the walk goes on to the parent and gives the same bytes.
                let Some(parent) = parent_in(zone, &qname) else {
                    builder.add_below(zone, &qname, &facts.chain_types);
                    return;
                };
                let theirs = self.parent_below(zone, facts, parent, parents);
                if self.below_as_parents(zone, facts, node, &qname, theirs) {
                    #[cfg(debug_assertions)]
                    {
                        // Prove the shortcut on everything the tests compile.
                        let mut check = self.builder();
                        let _ =
                            reads::recording(|| check.add_below(zone, &qname, &facts.chain_types));
                        assert!(
                            normalized_below(&check.entries, own) == *theirs
                                && check.entries.iter().all(|e| e.key.name_hash == own),
                            "names below {qname:?} were taken to answer as its parent's"
                        );
                    }
                    return;
                }
                let start = builder.entries.len();
                builder.add_below(zone, &qname, &facts.chain_types);
                if normalized_below(&builder.entries[start..], own) == *theirs {
                    builder
                        .entries
                        .retain(|e| !(e.key.scope == SCOPE_BELOW && e.key.name_hash == own));
                }
            }
        };
        let mut reads = Vec::new();
        if self.record {
            // A change at the name, or at a name one label below it, compiles the unit again
            // (see `xdp::published`): reads of the name, its probes and its wildcard are
            // not listed. Every name has them; listing them would double what is kept.
            reads = reads_but_own(reads::recording(|| compile(&mut builder)).1, &qname);
        } else {
            compile(&mut builder);
        }
        builder.unit(qname, reads)
    }

    /// Adds the default answer (NODATA, a referral) of `name` (of `node`, in `zone`). For
    /// a name one label below the apex of an unsigned zone, holding no cut, DNAME or CNAME,
    /// that no SOA name is at or below, it is the zone's NODATA, the same bytes for every
    /// such name with a first label as long (the SOA's names are compressed against the
    /// question's apex): compiled for the first, taken for the others, with what it read
    /// noted again. Debug builds compile it anyway and check.
    #[allow(clippy::too_many_arguments)]
    fn add_default(
        &self,
        builder: &mut Builder<'_>,
        zone: &Zone,
        facts: &ZoneFacts,
        node: &Node,
        name: &[u8],
        chain: bool,
        parents: &mut ParentCache,
    ) {
        let Some(label) = self.plain_default(zone, facts, node, name, chain) else {
            let prefix = self.zone_prefix(builder, zone, name, chain, parents);
            builder.add_name_answer(name, DEFAULT_QTYPE, chain, Group::Default, prefix);
            return;
        };
        let cache = (std::ptr::from_ref(zone) as usize, label);
        if let Some(known) = parents.defaults.get(&cache) {
            let value = Value {
                name: name.into(),
                ..known.value.clone()
            };
            reads::note_all(&known.reads);
            #[cfg(debug_assertions)]
            {
                let mut check = self.builder();
                let ((), read) = reads::recording(|| {
                    check.add_name_answer(name, DEFAULT_QTYPE, chain, Group::Default, None)
                });
                // `recording` gives its reads sorted, as it gave the known ones.
                assert!(
                    matches!(&check.entries[..], [entry] if entry.value == value)
                        && reads_but_own(read, name) == known.reads,
                    "the default answer of {name:?} was taken to be its zone's"
                );
            }
            builder.insert(
                key(name, DEFAULT_QTYPE, SCOPE_NAME),
                Group::Default,
                value,
                None,
            );
            return;
        }
        let start = builder.entries.len();
        let ((), read) = reads::recording(|| {
            builder.add_name_answer(name, DEFAULT_QTYPE, chain, Group::Default, None)
        });
        reads::note_all(&read);
        if let [entry] = &builder.entries[start..]
            && !entry.value.is_pass()
        {
            let reads = reads_but_own(read, name);
            let value = entry.value.clone();
            parents.defaults.insert(cache, ZoneDefault { value, reads });
        }
    }

    /// The prefix of the negative DO answers of `zone` (see `zone_prefix`), when `name` is in
    /// a signed zone and its default can use it; the apex's unit gets the prefix's entry.
    fn zone_prefix<'c>(
        &self,
        builder: &mut Builder<'_>,
        zone: &Zone,
        name: &[u8],
        chain: bool,
        parents: &'c mut ParentCache,
    ) -> Option<&'c zone_prefix::Prefix> {
        if chain || !zone.is_signed() {
            return None;
        }
        let apex = zone.apex_key();
        let known = parents
            .prefixes
            .entry(std::ptr::from_ref(zone) as usize)
            .or_insert_with(|| {
                let slot = self.slots.get(apex).copied();
                let (prefix, reads) =
                    reads::recording(|| zone_prefix::of_zone(self.snapshot, zone, slot));
                ZonePrefix { prefix, reads }
            });
        reads::note_all(&known.reads);
        let prefix = known.prefix.as_ref()?;
        if name == apex {
            let key = AnswerKey {
                dnssec_ok: 1,
                ..key(apex, DEFAULT_QTYPE, SCOPE_ZONE_PREFIX)
            };
            builder.insert(key, Group::Default, prefix.value.clone(), None);
        }
        Some(prefix)
    }

    /// The length of the first label of `name` when its default answer is its zone's (see
    /// [`Compiler::add_default`]).
    fn plain_default(
        &self,
        zone: &Zone,
        facts: &ZoneFacts,
        node: &Node,
        name: &[u8],
        chain: bool,
    ) -> Option<u8> {
        let plain = !chain
            && parent_in(zone, name) == Some(zone.apex_key())
            && plain_at(zone, facts, node, name, &[rtype::NS, rtype::DNAME])
            && self.served_from(name, zone);
        plain.then(|| name.first().copied()).flatten()
    }

    /// Whether what `name` asks for is answered from `zone` (no other zone is served at or
    /// above it, below the apex).
    fn served_from(&self, name: &[u8], zone: &Zone) -> bool {
        matches!(self.snapshot.find_for(name, ABSENT_TYPE),
            Some(Served::Zone(found)) if std::ptr::eq(found.as_ref(), zone))
    }

    /// Whether the answers for names below `name` (of `node`, in `zone`) are its parent's
    /// for names below it (`theirs`, normalized) without compiling them: where the parent's
    /// are a plain NXDOMAIN in an unsigned zone, and `name` holds nothing that makes names
    /// below it answer otherwise (a cut, a DNAME, a CNAME, a wildcard child), the answer
    /// for a name below it is the same NXDOMAIN, the same bytes but for the question, if
    /// the SOA names nothing at or below it (compressed against the question, or poisoned:
    /// see `poison_names_below`). Most names of a zone are such leaves:
    /// compiling their names below took a third of the compile. Debug builds compile them
    /// anyway and check.
    fn below_as_parents(
        &self,
        zone: &Zone,
        facts: &ZoneFacts,
        node: &Node,
        name: &[u8],
        theirs: &[Keyed],
    ) -> bool {
        let [(key, value)] = theirs else {
            return false;
        };
        let plain_nxdomain = key.qtype == DEFAULT_QTYPE
            && !value.is_pass()
            && value.flags & 0x000f == u16::from(rcode::NXDOMAIN)
            && value.options & (OPTION_TYPED_BELOW | OPTION_DO_PASS | OPTION_HAS_DO_VARIANT) == 0;
        if !plain_nxdomain
            || !plain_at(
                zone,
                facts,
                node,
                name,
                &[rtype::NS, rtype::DNAME, rtype::CNAME],
            )
        {
            return false;
        }
        let mut wildcard = vec![1, b'*'];
        wildcard.extend_from_slice(name);
        if zone.node(&wildcard).is_some() {
            return false;
        }
        probe_below(zone, name).is_some_and(|probe| self.served_from(&probe, zone))
    }

    /// The parent's entries for names below it, as [`normalized_below`] gives them; what
    /// computing them read is noted (again, on a cache hit) for the unit asking.
    fn parent_below<'c>(
        &self,
        zone: &Zone,
        facts: &ZoneFacts,
        parent: &[u8],
        parents: &'c mut ParentCache,
    ) -> &'c [Keyed] {
        if !parents.below.contains_key(parent) {
            let mut theirs = self.builder();
            let ((), reads) =
                reads::recording(|| theirs.add_below(zone, parent, &facts.chain_types));
            // Never empty: `add_below` always gives the name an entry.
            let hash = AnswerKey::new(parent, DEFAULT_QTYPE, SCOPE_NAME).name_hash;
            let below = normalized_below(&theirs.entries, hash);
            parents
                .below
                .insert(parent.into(), ParentBelow { below, reads });
        }
        // Just inserted if it was not there.
        let Some(cached) = parents.below.get(parent) else {
            return &[];
        };
        reads::note_all(&cached.reads);
        &cached.below
    }

    fn builder(&self) -> Builder<'s> {
        Builder {
            snapshot: self.snapshot,
            slots: self.slots,
            entries: Vec::new(),
            too_big: 0,
        }
    }
}

/// How many nodes ahead of the one compiled are asked for (see [`prefetched`]).
const NODES_AHEAD: usize = 8;

/// `items` as they are, each item's node's name and records asked for [`NODES_AHEAD`] items
/// before it is reached: they lie all over the heap, and compiling the nodes one after
/// another otherwise waits for each (the nodes themselves come in table order).
fn prefetched<'n, T>(
    items: impl Iterator<Item = T>,
    node_of: impl Fn(&T) -> &'n Node,
) -> impl Iterator<Item = T> {
    let mut items = items.fuse();
    let mut ahead = std::collections::VecDeque::with_capacity(NODES_AHEAD);
    std::iter::from_fn(move || {
        while ahead.len() < NODES_AHEAD {
            let Some(item) = items.next() else {
                break;
            };
            node_of(&item).prefetch_data();
            ahead.push_back(item);
        }
        ahead.pop_front()
    })
}

/// Gives `units` the names of the `listed` units (ascending): only the zones that hold one
/// are walked.
fn name_units(zones: &[(&Zone, ZoneFacts)], listed: &[u32], units: &mut Units) {
    let mut listed = listed.iter().copied().peekable();
    while let Some(&first) = listed.peek() {
        let zone = units.zone_of(first) as usize;
        let range = units.zone_range(zone);
        let Some((zone, _)) = zones.get(zone) else {
            return;
        };
        for (unit, node) in range.clone().zip(zone.nodes()) {
            if listed.next_if_eq(&unit).is_some() {
                units.name(unit, node.owner().wire().iter().map(|&b| dns_lowercase(b)));
            }
        }
        // Past the zone, whatever it held.
        while listed.next_if(|unit| range.contains(unit)).is_some() {}
        if listed.peek() == Some(&first) {
            return;
        }
    }
}

/// Where each share of `len` units starts, the units being every zone's nodes zone after
/// zone: (its first unit, its first zone, the units of that zone before it).
fn share_starts(units: &Units, len: usize) -> Vec<(usize, usize, usize)> {
    let len = len.max(1);
    let mut starts = Vec::new();
    for zone in 0..units.zones() {
        let range = units.zone_range(zone);
        let (first, end) = (range.start as usize, range.end as usize);
        let mut next = first.next_multiple_of(len);
        while next < end {
            starts.push((next, zone, next - first));
            next += len;
        }
    }
    starts
}

/// How many shares [`Compiler::all`] cuts the units into, and the fewest units in one.
const SHARES: usize = 64;
const MIN_SHARE: usize = 4096;

/// Where [`Compiler::all`] may hand each share's entries that no other unit gives as soon
/// as the share is compiled, so that they are not all held at once: true when taken; after
/// the first refusal, everything is kept.
pub type Stream<'a> = dyn FnMut(&Upserts) -> bool + 'a;

/// What [`Compiler::all`] compiled.
#[derive(Default)]
pub struct All {
    /// Entries no other unit can give: a unit's own name's, in a zone that overlaps none.
    pub entries: Vec<PackedEntry>,
    /// The rest, which [`merge`] merges.
    pub others: Vec<PackedEntry>,
    pub bodies: Bodies,
    /// Units compiled.
    pub units: usize,
    /// Entries handed to the stream (see [`Stream`]) instead of kept here.
    pub streamed: usize,
    pub too_big: usize,
    /// Who read what (when recording).
    pub readers: Readers,
    /// Apexes of the zones that overlap another (see [`overlapping_zones`]).
    pub overlapping: foldhash::HashSet<Box<[u8]>>,
}

impl All {
    /// Keeps share `number`'s entries, its store at its index.
    fn take(&mut self, number: usize, packed: Packed, stores: &mut [BodyStore]) {
        if self.entries.is_empty() {
            self.entries = packed.entries;
        } else {
            self.entries.extend(packed.entries);
        }
        self.others.extend(packed.others);
        self.too_big += packed.too_big;
        if let Some(slot) = stores.get_mut(number) {
            *slot = packed.packer.into_store();
        }
    }

    /// Hands share `number`'s entries that no other unit gives to `stream`, with their
    /// bodies, and keeps the others (their bodies copied into `others`) for [`merge`]; what
    /// `stream` refuses is kept as [`All::take`] keeps it. False when it refused.
    fn stream(
        &mut self,
        number: usize,
        packed: Packed,
        others: &mut Packer,
        stores: &mut [BodyStore],
        stream: &mut Stream<'_>,
    ) -> bool {
        let bodies = Bodies::one_at(number as u32, packed.packer.into_store());
        self.others.extend(
            packed
                .others
                .iter()
                .map(|entry| others.copy(entry, &bodies)),
        );
        self.too_big += packed.too_big;
        let part = Upserts {
            entries: packed.entries,
            bodies,
        };
        if stream(&part) {
            self.streamed += part.len();
            return true;
        }
        self.entries.extend(part.entries);
        if let (Some(slot), Some(store)) = (stores.get_mut(number), part.bodies.into_stores().pop())
        {
            *slot = store;
        }
        false
    }
}

/// One thread's units, packed.
struct Packed {
    packer: Packer,
    entries: Vec<PackedEntry>,
    others: Vec<PackedEntry>,
    too_big: usize,
}

impl Packed {
    /// Packs about `units` units (room made for them: growing the body store and its
    /// index as they came was a fiftieth of a large compile).
    fn new(store: u32, units: usize) -> Self {
        Self {
            packer: Packer::with_room(store, units),
            entries: Vec::new(),
            others: Vec::new(),
            too_big: 0,
        }
    }

    /// Packs `unit`'s entries; `overlaps`: its zone lies above or below another, whose units
    /// may give the same names.
    fn add(&mut self, unit: Unit, overlaps: bool) {
        self.too_big += unit.too_big;
        let own = unit.own_hash();
        // A unit may give one key twice (a type 0 record's answer and the default).
        let repeated = |key: &AnswerKey| unit.entries.iter().filter(|e| e.key == *key).count() > 1;
        for entry in &unit.entries {
            let foreign = own != Some(entry.key.name_hash);
            let packed = self
                .packer
                .pack(entry.key, &entry.value, entry.group, foreign);
            if foreign || overlaps || repeated(&entry.key) {
                self.others.push(packed);
            } else {
                self.entries.push(packed);
            }
        }
    }
}

/// The apexes (lowercased) of the zones of `snapshot`, with data or not, that lie above or
/// below another (answers near the cut come from either).
fn overlapping_zones(snapshot: &Snapshot) -> foldhash::HashSet<Box<[u8]>> {
    let apexes: foldhash::HashSet<Box<[u8]>> = snapshot
        .zones()
        .map(|zone| zone.apex_key().into())
        .chain(snapshot.unavailable().map(|name| name.lowercase_wire()))
        .collect();
    let mut overlapping = foldhash::HashSet::default();
    for apex in &apexes {
        // Every proper suffix, the root included.
        let above = label_offsets(apex)
            .skip(1)
            .chain(std::iter::once(apex.len() - 1))
            .filter(|&offset| offset > 0);
        for offset in above {
            if let Some(above) = apexes.get(&apex[offset..]) {
                overlapping.insert(above.clone());
                overlapping.insert(apex.clone());
            }
        }
    }
    overlapping
}

/// One entry per key, from every unit's entries.
pub struct Merged {
    /// Entries only one unit gives (see [`All::entries`]).
    pub unique: Vec<PackedEntry>,
    /// The others, one per key, in the order first given.
    pub entries: Vec<MergedEntry>,
    /// Where each of those keys is in `entries`.
    index: HashMap<AnswerKey, u32>,
    pub bodies: Bodies,
    pub collisions: usize,
    pub too_big: usize,
}

pub struct MergedEntry {
    /// Its group is the lowest of the entries merged, and it is foreign if any was.
    pub entry: PackedEntry,
    /// How many units gave this key.
    pub owners: u32,
    /// Units gave it different values: what was kept depends on all of them.
    pub conflicted: bool,
}

/// Merges units into one entry per key. Two names with one hash get a pass entry with no
/// name, which stops lookups and walks for both and confirms neither. One name from two
/// zones (a delegation in the parent, the child's apex), compiled by the same lookup, keeps
/// the first, unless the other is a pass. Only entries another unit may give are looked at:
/// a unit's own names in a zone that overlaps none are given by no other (but for a 96-bit
/// keyed hash collision, which nobody can aim for).
pub fn merge(all: All) -> Merged {
    let count = all.others.len();
    let mut merged = Merged {
        unique: all.entries,
        entries: Vec::with_capacity(count),
        index: HashMap::with_capacity(count),
        bodies: all.bodies,
        collisions: 0,
        too_big: all.too_big,
    };
    for entry in all.others {
        merged.add(entry);
    }
    merged
}

impl Merged {
    fn add(&mut self, entry: PackedEntry) {
        let at = match self.index.entry(entry.key) {
            Entry_::Vacant(slot) => {
                slot.insert(self.entries.len() as u32);
                self.entries.push(MergedEntry {
                    entry,
                    owners: 1,
                    conflicted: false,
                });
                return;
            }
            Entry_::Occupied(slot) => *slot.get(),
        };
        let identity = self.bodies.identity(&entry);
        let Some(slot) = self.entries.get_mut(at as usize) else {
            return;
        };
        slot.owners += 1;
        slot.entry.foreign |= entry.foreign;
        if slot.conflicted && slot.entry.name == 0 {
            self.collisions += 1;
            return;
        }
        if slot.entry.name != entry.name {
            // A pass entry for no name (see `Value::pass`).
            slot.entry.body = None;
            slot.entry.options = 0;
            slot.entry.name = 0;
            slot.entry.group = slot.entry.group.min(entry.group);
            slot.conflicted = true;
            self.collisions += 2;
        } else if self.bodies.identity(&slot.entry) != identity {
            slot.conflicted = true;
            if entry.body.is_none() {
                slot.entry.body = None;
                slot.entry.options = entry.options;
            }
        }
    }
}

/// The entries to publish: everything, if it fits in `capacity`; otherwise names' own
/// answers first, then defaults, and the walk entries only all together.
pub fn finish(merged: Merged, capacity: usize) -> Finished {
    let mut candidates = merged.unique;
    candidates.extend(merged.entries.into_iter().map(|merged| merged.entry));
    let total = candidates.len();
    // The walk entries are published whole or not at all (see the module comment).
    let walk = total <= capacity;
    if !walk {
        candidates.retain(|c| c.group != Group::Walk);
        candidates.sort_by_key(|c| c.group);
        candidates.truncate(capacity);
    }
    let left_out = total - candidates.len();
    Finished {
        entries: Upserts {
            entries: candidates,
            bodies: merged.bodies,
        },
        too_big: merged.too_big,
        collisions: merged.collisions,
        left_out,
        walk,
    }
}

/// What [`finish`] keeps.
pub struct Finished {
    pub entries: Upserts,
    pub too_big: usize,
    pub collisions: usize,
    pub left_out: usize,
    pub walk: bool,
}

struct Builder<'s> {
    snapshot: &'s Snapshot,
    slots: &'s HashMap<Box<[u8]>, ZoneSlot>,
    entries: Vec<Entry>,
    too_big: usize,
}

/// A private-use type asked for when compiling a name's default answer: the answer to a type
/// the zone does not hold.
const ABSENT_TYPE: u16 = 65534;

/// Candidate first bytes of the one-byte label that stands for "a name below" when
/// compiling the answers for names below a name (the probe must not exist).
const PROBE_LABELS: [u8; 4] = [0x00, 0x01, 0x7f, 0xff];

impl Builder<'_> {
    fn unit(self, name: Box<[u8]>, reads: Vec<Read>) -> Unit {
        Unit {
            too_big: self.too_big,
            ..Unit::new(name, self.entries, reads)
        }
    }

    /// The answer for (qname, qtype), and its DO variant if the zone is signed: without the
    /// zone's `prefix` when one is given and the answer starts with it.
    fn add_name_answer(
        &mut self,
        qname: &[u8],
        qtype: u16,
        chain: bool,
        group: Group,
        prefix: Option<&zone_prefix::Prefix>,
    ) {
        let Some((plain, serials)) = compile_name(self.snapshot, qname, qtype, false, chain) else {
            self.pass(qname, qtype, SCOPE_NAME, group);
            return;
        };
        let slot = self.slot_of(qname, qtype);
        let Some(mut value) = pack(qname, qname.len(), &plain, &[], &serials, slot) else {
            self.too_big += 1;
            self.pass(qname, qtype, SCOPE_NAME, group);
            return;
        };
        let mut signed = None;
        let rest =
            prefix.and_then(|prefix| zone_prefix::rest_after(self.snapshot, qname, prefix, slot));
        if let Some(rest) = rest {
            value.options |= OPTION_HAS_DO_VARIANT;
            signed = Some(rest);
        } else if self.signed_at(qname, qtype) {
            match compile_name(self.snapshot, qname, qtype, true, chain) {
                Some((body, _)) if body == plain => {}
                Some((body, serials)) => match pack(qname, qname.len(), &body, &[], &serials, slot)
                {
                    Some(signed_value) => match dnssec_extension(&value, signed_value) {
                        Ok(dnssec) => value.dnssec = Some(Box::new(dnssec)),
                        Err(signed_value) => {
                            value.options |= OPTION_HAS_DO_VARIANT;
                            signed = Some(signed_value);
                        }
                    },
                    None => {
                        self.too_big += 1;
                        value.options |= OPTION_DO_PASS;
                    }
                },
                None => value.options |= OPTION_DO_PASS,
            }
        }
        self.insert(key(qname, qtype, SCOPE_NAME), group, value, signed);
    }

    /// The answers for names below `name` that do not exist, compiled for a probe name one
    /// short label below it.
    fn add_below(&mut self, zone: &Zone, name: &[u8], chain_types: &[u16]) {
        let Some(probe) = probe_below(zone, name) else {
            self.pass(name, DEFAULT_QTYPE, SCOPE_BELOW, Group::Walk);
            return;
        };
        let signed = self.signed_at(&probe, DEFAULT_QTYPE);
        // A wildcard child answers each type it holds (or, as a CNAME, each type its chain
        // can end in) differently.
        let mut wildcard_owner = vec![1, b'*'];
        wildcard_owner.extend_from_slice(name);
        let (mut types, chain) = match zone.node(&wildcard_owner) {
            Some(wildcard) => answer_types(wildcard, chain_types),
            None => (Vec::new(), false),
        };
        // The program looks for these only for types without an answer of their own.
        types.retain(|t| !has_own_answer(*t));
        for &qtype in &types {
            match self.compile_below(name, &probe, qtype, chain, signed) {
                Some(value) => {
                    self.insert(key(name, qtype, SCOPE_BELOW), Group::Walk, value, None);
                }
                None => self.pass(name, qtype, SCOPE_BELOW, Group::Walk),
            }
        }
        match self.compile_below(name, &probe, DEFAULT_QTYPE, chain, signed) {
            Some(mut value) => {
                if !types.is_empty() {
                    value.options |= OPTION_TYPED_BELOW;
                }
                self.insert(
                    key(name, DEFAULT_QTYPE, SCOPE_BELOW),
                    Group::Walk,
                    value,
                    None,
                );
            }
            None => self.pass(name, DEFAULT_QTYPE, SCOPE_BELOW, Group::Walk),
        }
    }

    /// The entry for names below `name` asking `qtype`, or `None` where the kernel cannot
    /// give userspace's answer by moving pointers (DNAME synthesis, too many pointers, too
    /// big). Names in the answer that lie below `name` but do not exist get pass entries: a
    /// query name ending in one would be compressed against it.
    fn compile_below(
        &mut self,
        name: &[u8],
        probe: &[u8],
        qtype: u16,
        chain: bool,
        signed: bool,
    ) -> Option<Value> {
        let absent = qtype == DEFAULT_QTYPE;
        let answer = lookup(
            self.snapshot,
            probe,
            if absent { ABSENT_TYPE } else { qtype },
            false,
        );
        let synthesized = answer.answer.iter().any(|rr| rr.rtype == rtype::DNAME);
        if synthesized || !usable(&answer, chain, absent) {
            return None;
        }
        let (body, trace) = encode_traced(probe, &answer);
        self.poison_names_below(name, probe, &trace);
        // Pointers to the probe itself stay; the rest move with the query name's length.
        let fixups: Vec<u16> = trace
            .pointers
            .iter()
            .filter(|(_, target)| *target != 12)
            .filter_map(|(at, _)| u16::try_from(*at).ok())
            .collect();
        if fixups.len() > MAX_FIXUPS {
            return None;
        }
        let slot = self.slot_of(probe, DEFAULT_QTYPE);
        let Some(mut value) = pack(name, probe.len(), &body, &fixups, &trace.serials, slot) else {
            self.too_big += 1;
            return None;
        };
        if signed {
            // Denial and wildcard proofs are computed per query.
            value.options |= OPTION_DO_PASS;
        }
        Some(value)
    }

    /// Pass entries for the names in `trace` below `name` (other than the probe) that do
    /// not exist: a query at or below one would not get the probe's compression.
    fn poison_names_below(&mut self, name: &[u8], probe: &[u8], trace: &Trace) {
        for written in &trace.names {
            let lower: Vec<u8> = written.iter().map(|b| b.to_ascii_lowercase()).collect();
            for offset in label_offsets(&lower) {
                let suffix = &lower[offset..];
                if suffix.len() <= name.len() || !suffix.ends_with(name) {
                    break;
                }
                if suffix != probe && !self.exists(suffix) {
                    self.pass(suffix, DEFAULT_QTYPE, SCOPE_NAME, Group::Walk);
                    self.pass(suffix, DEFAULT_QTYPE, SCOPE_BELOW, Group::Walk);
                }
            }
        }
    }

    /// The zone with data that userspace answers `qtype` at `name` from.
    fn zone_of(&self, name: &[u8], qtype: u16) -> Option<&Zone> {
        match self.snapshot.find_for(name, qtype) {
            Some(Served::Zone(zone)) => Some(zone),
            _ => None,
        }
    }

    /// The serial slot of the zone userspace answers `qtype` at `name` from.
    fn slot_of(&self, name: &[u8], qtype: u16) -> Option<ZoneSlot> {
        let zone = self.zone_of(name, qtype)?;
        self.slots.get(zone.apex_key()).copied()
    }

    fn exists(&self, name: &[u8]) -> bool {
        self.zone_of(name, DEFAULT_QTYPE)
            .is_some_and(|zone| zone.name_node(name).is_some())
    }

    /// Whether answers to `qtype` at `name` differ for DO queries: the zone userspace answers
    /// them from is signed.
    fn signed_at(&self, name: &[u8], qtype: u16) -> bool {
        self.zone_of(name, qtype)
            .is_some_and(|zone| zone.is_signed())
    }

    fn pass(&mut self, name: &[u8], qtype: u16, scope: u32, group: Group) {
        let value = Value::pass(name);
        self.insert(key(name, qtype, scope), group, value, None);
    }

    fn insert(&mut self, key: AnswerKey, group: Group, value: Value, signed: Option<Value>) {
        self.entries.push(Entry { key, value, group });
        if let Some(value) = signed {
            let key = AnswerKey {
                dnssec_ok: 1,
                ..key
            };
            self.entries.push(Entry { key, value, group });
        }
    }
}

/// Whether nothing at `name` (of `node`, in `zone`) makes the answers at or below it other
/// than the zone's plain ones: the zone is unsigned, the name holds none of `types`, and no
/// SOA name is at or below it (the answer would compress it against the question).
fn plain_at(zone: &Zone, facts: &ZoneFacts, node: &Node, name: &[u8], types: &[u16]) -> bool {
    !zone.is_signed()
        && !types.iter().any(|&t| node.rrset(t).is_some())
        && !facts
            .soa_names
            .iter()
            .any(|soa_name| soa_name.ends_with(name))
}

/// The name one label up from `name`, when `name` is not the apex of `zone`.
fn parent_in<'n>(zone: &Zone, name: &'n [u8]) -> Option<&'n [u8]> {
    if name.len() <= zone.apex().wire().len() {
        return None;
    }
    label_offsets(name).nth(1).map(|offset| &name[offset..])
}

/// Per thread of compiling: the parents' entries for names below them, and what computing
/// them read.
#[derive(Default)]
pub struct ParentCache {
    below: HashMap<Box<[u8]>, ParentBelow>,
    /// By zone (its address) and first-label length.
    defaults: HashMap<(usize, u8), ZoneDefault>,
    /// The same, for plain hosts (see `plain_host`).
    hosts: HashMap<(usize, u8), plain_host::HostShared>,
    /// By zone (its address): the prefix of its negative DO answers.
    prefixes: HashMap<usize, ZonePrefix>,
}

/// A zone's prefix (see `zone_prefix`), and what computing it read.
struct ZonePrefix {
    prefix: Option<zone_prefix::Prefix>,
    reads: Vec<Read>,
}

/// A zone's default answer for the names one label below its apex whose first label is as
/// long (see [`Compiler::add_default`]), and what computing it read but for the name.
struct ZoneDefault {
    value: Value,
    reads: Vec<Read>,
}

struct ParentBelow {
    below: Vec<Keyed>,
    reads: Vec<Read>,
}

/// A value with its key.
type Keyed = (AnswerKey, Value);

/// The entries among `entries` for names below the name hashed `hash`, as they answer: the
/// same for two names exactly when the program sends the same bytes from either, once it has
/// moved the pointers for the query name. Sorted by type.
fn normalized_below(entries: &[Entry], hash: u64) -> Vec<Keyed> {
    let mut out: Vec<Keyed> = entries
        .iter()
        .filter(|e| e.key.scope == SCOPE_BELOW && e.key.name_hash == hash)
        .map(|e| {
            let mut value = e.value.clone();
            let mut body = value.body.to_vec();
            for &at in value.fixups.iter() {
                let at = at as usize;
                if let Some(pointer) = body.get_mut(at..at + 2) {
                    let target = u16::from_be_bytes([pointer[0], pointer[1]]) & 0x3fff;
                    // Relative to the question's end, as the program makes it.
                    let moved = target.wrapping_sub(value.question_len);
                    pointer.copy_from_slice(&moved.to_be_bytes());
                }
            }
            value.body = body.into();
            value.name = Box::default();
            value.question_len = 0;
            value.body_csum = 0;
            (
                AnswerKey {
                    name_hash: 0,
                    check: 0,
                    ..e.key
                },
                value,
            )
        })
        .collect();
    out.sort_by_key(|(k, _)| (k.qtype, k.dnssec_ok));
    out
}

/// The types that get an entry of their own at `node`: those it holds, and at a CNAME every
/// type the chain can end in (`chain_types`), but those left to userspace. Also whether it is
/// a CNAME.
fn answer_types(node: &Node, chain_types: &[u16]) -> (Vec<u16>, bool) {
    let chain = node.rrset(rtype::CNAME).is_some();
    let mut types: Vec<u16> = node.all().map(|r| r.rtype).collect();
    if chain {
        types.extend(chain_types);
    }
    types.retain(|t| !left_to_userspace(*t));
    types.sort_unstable();
    types.dedup();
    (types, chain)
}

fn key(name: &[u8], qtype: u16, scope: u32) -> AnswerKey {
    AnswerKey::new(name, qtype, scope)
}

/// The hashes of `name` and of the names one label below it that its unit reads: the probe
/// candidates and the wildcard.
fn own_names(name: &[u8]) -> Vec<u64> {
    let mut own = vec![name_hash(name)];
    if name.len() + 2 <= secdns_common::MAX_NAME_LEN {
        let mut below = vec![1, b'*'];
        below.extend_from_slice(name);
        for label in PROBE_LABELS.into_iter().chain([b'*']) {
            below[1] = label;
            own.push(name_hash(&below));
        }
    }
    own
}

/// `reads` but those of `name` itself, its probes and its wildcard (see [`own_names`]).
fn reads_but_own(reads: Vec<Read>, name: &[u8]) -> Vec<Read> {
    let own = own_names(name);
    reads
        .into_iter()
        .filter(|(read, _)| !own.contains(read))
        .collect()
}

/// A name one label below `name` that does not exist, if one fits.
fn probe_below(zone: &Zone, name: &[u8]) -> Option<Vec<u8>> {
    if name.len() + 2 > secdns_common::MAX_NAME_LEN {
        return None;
    }
    PROBE_LABELS.iter().find_map(|&label| {
        let mut probe = vec![1, label];
        probe.extend_from_slice(name);
        zone.node(&probe).is_none().then_some(probe)
    })
}

/// Whether the kernel may send `answer`: not an error, and for a name without CNAME, a
/// default that does not depend on the type asked (NODATA, a referral, NXDOMAIN) or a
/// positive answer for a type.
fn usable(answer: &Answer<'_>, chain: bool, absent: bool) -> bool {
    answer.extended_error.is_none()
        && match (chain, absent) {
            (true, _) => matches!(answer.rcode, rcode::NOERROR | rcode::NXDOMAIN),
            (false, true) => {
                answer.rcode == rcode::NXDOMAIN
                    || answer.rcode == rcode::NOERROR && answer.answer.is_empty()
            }
            (false, false) => answer.rcode == rcode::NOERROR && !answer.answer.is_empty(),
        }
}

/// The body userspace would send for (qname, qtype), or for [`DEFAULT_QTYPE`] the body every
/// type without an entry gets. At a name without CNAME that is a positive answer for a type
/// present, and NODATA or a referral for the default; at a CNAME, whatever the chain gives.
fn compile_name(
    snapshot: &Snapshot,
    qname: &[u8],
    qtype: u16,
    dnssec_ok: bool,
    chain: bool,
) -> Option<(Body, Vec<usize>)> {
    let absent = qtype == DEFAULT_QTYPE;
    let answer = lookup(
        snapshot,
        qname,
        if absent { ABSENT_TYPE } else { qtype },
        dnssec_ok,
    );
    // The name exists, so a default is never NXDOMAIN unless a chain ends there.
    let usable = usable(&answer, chain, absent) && (chain || answer.rcode == rcode::NOERROR);
    usable.then(|| {
        let (body, trace) = encode_traced(qname, &answer);
        (body, trace.serials)
    })
}

/// The entry for `name` holding `body`, compiled for a question name of `question_len`
/// bytes with the pointers at `fixups` to move for longer ones. The SOA serial at `serials`
/// (one at most) is left for the program to write from the zone's `slot`.
fn pack(
    name: &[u8],
    question_len: usize,
    body: &Body,
    fixups: &[u16],
    serials: &[usize],
    slot: Option<ZoneSlot>,
) -> Option<Value> {
    if body.bytes.is_empty() || body.bytes.len() > MAX_BODY_LEN || name.len() >= NAME_BUF_LEN {
        return None;
    }
    let mut value = Value::pass(name);
    let mut bytes = body.bytes.clone();
    // The slot also counts the zone's answers in the kernel.
    value.zone_slot = slot.unwrap_or(NO_ZONE_SLOT);
    match (serials, slot) {
        ([], _) | (_, None) => {}
        ([at], Some(_)) => {
            let serial_at = u16::try_from(*at).ok().filter(|&at| at > 0)?;
            bytes.get_mut(*at..*at + 4)?.fill(0);
            value.serial_at = serial_at;
        }
        _ => return None,
    }
    value.flags = body.flags;
    value.ancount = body.ancount;
    value.nscount = body.nscount;
    value.arcount = body.arcount;
    value.question_len = question_len as u16;
    value.fixups = fixups.into();
    value.body_csum = ones_complement_sum(&bytes) as u32;
    value.body = bytes.into_boxed_slice();
    Some(value)
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
        let apex: Name = "t.".parse().unwrap();
        let (zone, _) = zonefile::parse(ZONE, &apex, "unit").unwrap();
        Snapshot::new([Arc::new(zone)])
    }

    fn zones(apexes: &[&str]) -> Snapshot {
        Snapshot::new(apexes.iter().map(|apex| {
            let name: Name = apex.parse().unwrap();
            let text = format!("$ORIGIN {apex}\n@ 60 IN SOA ns hm 1 2 3 4 5\n@ 60 IN NS ns\n");
            Arc::new(zonefile::parse(&text, &name, "unit").unwrap().0)
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
        let apex: Name = "t.".parse().unwrap();
        let text = format!("{ZONE}www IN TYPE0 \\# 1 00\n");
        let (zone, _) = zonefile::parse(&text, &apex, "unit").unwrap();
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
