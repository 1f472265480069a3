//! What the answer maps hold, kept so that the next snapshot is published as a change: only
//! what a zone change touched is compiled again, and only entries that differ are written.
//!
//! A changed zone is compiled again name by name (see [`Published::incremental`]) when the
//! rest stays as it was: the same zones are served, the zone is unsigned before and after
//! (denial proofs depend on neighbours in the NSEC/NSEC3 chain), it does not overlap another
//! zone, it holds the same types, and its SOA changed at most in the serial (which the
//! program writes; see `BodyHeader::serial_at`). The names compiled again are the changed
//! ones and those whose answers read a changed name (what each name's answers read is
//! recorded by `zone::reads` while compiling). Anything else compiles the whole snapshot
//! again; even then only the entries that differ are written.

use std::{collections::BTreeSet, sync::Arc};

use foldhash::{HashMap, HashMapExt, HashSet};

use secdns_common::{ZoneSlot, name_hash};

use super::{
    compile::{Compiler, ParentCache, Stream, Unit, ZoneFacts, finish, merge, serials, zone_slots},
    packed::{Upserts, value_identity},
    readers::Readers,
};
use crate::{
    snapshot::{Served, Snapshot},
    xdp::{layout::AnswerKey, value::Value},
    zone::{
        Zone,
        compare::{NodeChange, node_changes, same_soa_but_serial},
        reads::Kind,
    },
};

/// What to write into the answer maps to go from the last published set to the new one.
#[derive(Default)]
pub struct MapChange {
    pub upserts: Upserts,
    pub removals: Vec<AnswerKey>,
    /// (zone slot, SOA serial) that changed.
    pub serials: Vec<(ZoneSlot, u32)>,
    /// The change starts from empty maps: `upserts` is the whole set.
    pub from_empty: bool,
    /// `upserts` is the whole new set: every other key goes (the maps know which), and an
    /// upsert of what a key already holds writes nothing.
    pub whole: bool,
    /// Zone slots given to a zone that did not have them: their answer counts start at zero.
    pub fresh_slots: Vec<ZoneSlot>,
    /// The set starts from empty maps that already hold the entries handed to the stream
    /// (see [`Published::update`]): `upserts` is the rest.
    pub streamed: bool,
}

impl MapChange {
    pub fn len(&self) -> usize {
        self.upserts.len() + self.removals.len() + self.serials.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Totals of the published set, as `secdns stats` and the logs report them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub entries: usize,
    /// Answers left to userspace because they exceed the fast path's body size.
    pub too_big: usize,
    /// Entries that stand for two names with one hash.
    pub collisions: usize,
    /// Entries left out because the maps cannot hold them.
    pub left_out: usize,
    /// Whether names that do not exist are answered in the kernel.
    pub walk: bool,
}

pub struct Update {
    pub change: MapChange,
    pub totals: Totals,
    /// Names (units) compiled for this update.
    pub compiled: usize,
    /// Entries the stream took.
    pub streamed: usize,
    /// Whether only what changed was compiled.
    pub incremental: bool,
    /// What the published set no longer needs. Freeing a big zone takes a while: drop this
    /// once the change is live.
    pub retired: Retired,
}

#[derive(Default)]
pub struct Retired {
    _snapshot: Option<Arc<Snapshot>>,
    _state: Option<Box<Published>>,
}

/// A key that more than one unit gives, or that a unit gives for another name.
struct KeyState {
    hash: u64,
    /// How many units gave the key.
    owners: u32,
    /// Units gave it different values (see `compile::merge`).
    conflicted: bool,
}

/// Keys a change touched that stay, with their state in `Published::shared` (`None`: not
/// shared).
type Kept = Vec<(AnswerKey, Option<KeyState>)>;

/// A dirty unit: (zone index in `Readers`, name).
type Dirty = (u32, Box<[u8]>);

#[derive(Default)]
pub struct Published {
    snapshot: Option<Arc<Snapshot>>,
    slots: HashMap<Box<[u8]>, ZoneSlot>,
    serials: HashMap<ZoneSlot, u32>,
    facts: HashMap<Box<[u8]>, ZoneFacts>,
    readers: Readers,
    /// Apexes of the zones that overlap another, as the last full compile found them (a
    /// change compiled alone keeps the set of zones).
    overlapping: HashSet<Box<[u8]>>,
    /// Keys given by more than one unit, or by a unit for a name other than its own (a
    /// zone's stop entries, pass entries for names below a name). Every other published key
    /// is given by the unit of its name alone, which a change compiles again whole: what it
    /// gave before is what it gives compiled against the snapshot before.
    shared: HashMap<AnswerKey, KeyState>,
    totals: Totals,
}

impl Published {
    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// Forgets what was published (the next publication compiles everything and starts from
    /// empty maps) except which zone has which slot.
    pub fn forget_all_but_slots(&mut self) {
        *self = Published {
            slots: std::mem::take(&mut self.slots),
            ..Published::default()
        };
    }

    /// The slot of each zone (by lowercased apex) in what was published last.
    pub fn slots(&self) -> &HashMap<Box<[u8]>, ZoneSlot> {
        &self.slots
    }

    /// What the maps answer from: the snapshot published last (none before the first).
    pub fn snapshot(&self) -> Option<&Arc<Snapshot>> {
        self.snapshot.as_ref()
    }

    /// Compiles `snapshot` and says what to write to publish it after the last one. A full
    /// compile hands entries to `stream` (when given) as they are compiled, so that they
    /// are not all held at once: it should stage them into maps nobody reads (empty ones,
    /// or a fresh instance that will hold the set alone), or refuse.
    pub fn update(
        &mut self,
        snapshot: Arc<Snapshot>,
        capacity: usize,
        stream: Option<&mut Stream<'_>>,
    ) -> Update {
        if let Some(mut update) = self.incremental(&snapshot, capacity) {
            update.retired._snapshot = self.snapshot.replace(snapshot);
            return update;
        }
        self.full(snapshot, capacity, stream)
    }

    /// Compiles everything: the change is the whole new set.
    fn full(
        &mut self,
        snapshot: Arc<Snapshot>,
        capacity: usize,
        stream: Option<&mut Stream<'_>>,
    ) -> Update {
        let from_empty = self.snapshot.is_none();
        let slots = zone_slots(&snapshot, &self.slots);
        let fresh_slots = slots
            .iter()
            .filter(|(apex, slot)| self.slots.get(*apex) != Some(*slot))
            .map(|(_, slot)| *slot)
            .collect();
        let started = std::time::Instant::now();
        // Parts beyond what `capacity` holds are refused: they are kept, and the set compiled
        // again whole (below).
        let mut taken = 0;
        // The stream says whether it takes parts: into empty maps nobody reads, or into a
        // fresh instance the set needs anyway.
        let mut within = stream.map(|stream| {
            move |part: &Upserts| {
                let fits = taken + part.len() <= capacity && stream(part);
                taken += if fits { part.len() } else { 0 };
                fits
            }
        });
        let stream = within.as_mut().map(|s| s as &mut Stream<'_>);
        let mut all = Compiler::new(&snapshot, &slots, true).all(stream);
        let units_ms = started.elapsed().as_millis() as u64;
        let compiled = all.units;
        let streamed = all.streamed;
        let readers = std::mem::take(&mut all.readers);
        let overlapping = std::mem::take(&mut all.overlapping);
        let merged = merge(all);
        let merged_ms = started.elapsed().as_millis() as u64;
        let shared: HashMap<AnswerKey, KeyState> = merged
            .entries
            .iter()
            .filter(|merged| merged.owners > 1 || merged.conflicted || merged.entry.foreign)
            .map(|merged_entry| {
                let state = KeyState {
                    hash: merged.bodies.identity(&merged_entry.entry),
                    owners: merged_entry.owners,
                    conflicted: merged_entry.conflicted,
                };
                (merged_entry.entry.key, state)
            })
            .collect();
        let published = finish(merged, capacity);
        if streamed > 0 && streamed + published.entries.len() + published.left_out > capacity {
            // What was staged would have to make way for what matters more (see `finish`):
            // compile again, keeping everything.
            tracing::info!(streamed, capacity, "XDP maps full: compiling again, whole");
            return self.full(snapshot, capacity, None);
        }
        tracing::debug!(
            units = compiled,
            units_ms,
            merged_ms,
            finished_ms = started.elapsed().as_millis() as u64,
            shared_keys = shared.len(),
            listed_reads = readers.listed(),
            wide_names = readers.wide_names(),
            "XDP full compile"
        );
        let fresh = Published {
            facts: snapshot
                .zones()
                .map(|zone| (zone.apex().lowercase_wire(), ZoneFacts::of(zone)))
                .collect(),
            serials: serials(&snapshot, &slots).into_iter().collect(),
            slots,
            readers,
            overlapping,
            shared,
            totals: Totals {
                entries: streamed + published.entries.len(),
                too_big: published.too_big,
                collisions: published.collisions,
                left_out: published.left_out,
                walk: published.walk,
            },
            snapshot: Some(snapshot),
        };
        let change = MapChange {
            upserts: published.entries,
            serials: fresh
                .serials
                .iter()
                .filter(|(slot, serial)| from_empty || self.serials.get(slot) != Some(serial))
                .map(|(slot, serial)| (*slot, *serial))
                .collect(),
            from_empty,
            whole: true,
            fresh_slots,
            streamed: streamed > 0,
            ..MapChange::default()
        };
        let old = std::mem::replace(self, fresh);
        Update {
            change,
            totals: self.totals,
            compiled,
            streamed,
            incremental: false,
            retired: Retired {
                _snapshot: None,
                _state: Some(Box::new(old)),
            },
        }
    }

    /// Compiles only what changed, when the change allows (see the module comment); `None`
    /// when the whole snapshot must be compiled.
    fn incremental(&mut self, snapshot: &Arc<Snapshot>, capacity: usize) -> Option<Update> {
        let old = self.snapshot.clone()?;
        let complete = self.totals.walk && self.totals.left_out == 0;
        if !complete || self.readers.is_stale() {
            return None;
        }
        let changed_zones = changed_zones(&old, snapshot)?;
        // The units to compile again.
        let mut dirty: BTreeSet<Dirty> = BTreeSet::new();
        let mut new_serials = Vec::new();
        let mut zones: HashMap<u32, (&Zone, &Zone, &ZoneFacts)> = HashMap::new();
        // Zones a change to a wide name (see `readers`) compiles whole.
        let mut whole: BTreeSet<u32> = BTreeSet::new();
        for (old_zone, zone) in &changed_zones {
            let apex = zone.apex().lowercase_wire();
            let facts = self.facts.get(&apex)?;
            if old_zone.is_signed()
                || zone.is_signed()
                || self.overlapping.contains(&apex)
                || *facts != ZoneFacts::of(zone)
                || !same_soa_but_serial(old_zone, zone)
            {
                return None;
            }
            let index = self.readers.zone_index(&apex)?;
            zones.insert(index, (old_zone.as_ref(), zone.as_ref(), facts));
            if let Some(&slot) = self.slots.get(&apex) {
                new_serials.push((slot, zone.serial()));
            }
            for (name, change) in node_changes(old_zone, zone) {
                let hash = name_hash(&name);
                if let Some(wide) = self.readers.wide(hash)
                    && wide.kinds.iter().any(|kind| affects(&change, *kind))
                {
                    whole.extend(&wide.zones);
                }
                self.readers.each_reader(hash, |zone, unit, kind| {
                    if affects(&change, kind) {
                        dirty.insert((zone, unit.into()));
                    }
                });
                // A unit's reads of the names one label below it are not listed (see
                // `Compiler::node`): the parent of a changed name compiles again.
                if name.len() > apex.len()
                    && let Some(&label) = name.first()
                    && let Some(parent) = name.get(1 + usize::from(label)..)
                {
                    dirty.insert((index, parent.into()));
                }
                dirty.insert((index, name));
            }
        }
        // Compiling much of every unit again costs more than a full compile, which also
        // makes the index of reads compact again.
        let most = (self.readers.units() / 8).max(4096);
        for index in whole {
            // A zone that did not change reads the name: not worth finding its units.
            let (old_zone, zone, _) = zones.get(&index)?;
            for node in old_zone.name_nodes().chain(zone.name_nodes()) {
                dirty.insert((index, node.owner().lowercase_wire()));
                if dirty.len() > most {
                    return None;
                }
            }
        }
        // Compile the dirty units against both snapshots: what they gave, what they give.
        let compiler = Compiler::new(snapshot, &self.slots, true);
        let compiler_before = Compiler::new(&old, &self.slots, false);
        let (mut parents, mut parents_before) = (ParentCache::default(), ParentCache::default());
        let mut before = Vec::with_capacity(dirty.len());
        let mut units = Vec::with_capacity(dirty.len());
        for (index, name) in &dirty {
            // A zone's stop unit (empty name) depends only on its facts, which are the same.
            if name.is_empty() {
                continue;
            }
            let (old_zone, zone, facts) = zones.get(index)?;
            let compile =
                |compiler: &Compiler<'_>, zone: &Zone, parents: &mut ParentCache| match zone
                    .name_node(name)
                {
                    // Zones beside another are compiled whole (above).
                    Some(node) => compiler.node(zone, facts, node, true, parents),
                    None => Unit::new(name.clone(), Vec::new(), Vec::new()),
                };
            before.push(compile(&compiler_before, old_zone, &mut parents_before));
            units.push(compile(&compiler, zone, &mut parents));
        }
        let (mut change, kept, entries) = self.key_changes(&before, &units, capacity)?;
        // Commit: nothing below can fail.
        let compiled = units.len();
        for ((index, _), unit) in dirty
            .iter()
            .filter(|(_, name)| !name.is_empty())
            .zip(&units)
        {
            self.readers.recompiled(*index, &unit.name, &unit.reads);
        }
        let too_big = |units: &[Unit]| units.iter().map(|u| u.too_big).sum::<usize>();
        self.totals.too_big =
            (self.totals.too_big + too_big(&units)).saturating_sub(too_big(&before));
        for key in &change.removals {
            self.shared.remove(key);
        }
        for (key, state) in kept {
            match state {
                Some(state) => self.shared.insert(key, state),
                None => self.shared.remove(&key),
            };
        }
        for &(slot, serial) in &new_serials {
            if self.serials.insert(slot, serial) != Some(serial) {
                change.serials.push((slot, serial));
            }
        }
        self.totals.entries = entries;
        Some(Update {
            change,
            totals: self.totals,
            compiled,
            streamed: 0,
            incremental: true,
            retired: Retired::default(),
        })
    }

    /// The entries to write and remove for `units` (compiled again) to replace `before`
    /// (what they gave), the new state in `shared` of every touched key that stays (`None`:
    /// not shared), and the entry count after; `None` when a key the units give is also
    /// given, differently, by a unit not compiled again (a hash collision, one name in two
    /// zones), or when the maps would overflow.
    fn key_changes(
        &self,
        before: &[Unit],
        units: &[Unit],
        capacity: usize,
    ) -> Option<(MapChange, Kept, usize)> {
        // Every key the units gave loses them as owners...
        let mut lost: HashMap<AnswerKey, (u32, u64)> = HashMap::new();
        for entry in before.iter().flat_map(|u| &u.entries) {
            let hash = value_identity(&entry.value);
            lost.entry(entry.key).or_insert((0, hash)).0 += 1;
        }
        // ... and the keys they give now gain them.
        let mut given: HashMap<AnswerKey, Given<'_>> = HashMap::new();
        for unit in units {
            let own = unit.own_hash();
            for entry in &unit.entries {
                let hash = value_identity(&entry.value);
                let foreign = own != Some(entry.key.name_hash);
                match given.get_mut(&entry.key) {
                    Some(known) if known.hash == hash => {
                        known.count += 1;
                        known.foreign |= foreign;
                    }
                    Some(_) => return None,
                    None => {
                        let value = &entry.value;
                        given.insert(
                            entry.key,
                            Given {
                                value,
                                hash,
                                count: 1,
                                foreign,
                            },
                        );
                    }
                }
            }
        }
        let touched: HashSet<AnswerKey> = lost.keys().chain(given.keys()).copied().collect();
        let mut change = MapChange::default();
        let mut upserts = Vec::new();
        let mut kept = Vec::new();
        let mut total = self.totals.entries;
        for key in touched {
            let lost_here = lost.get(&key).copied();
            let (owners, old_hash) = match (self.shared.get(&key), lost_here) {
                (Some(state), _) if state.conflicted => return None,
                (Some(state), _) => (state.owners, Some(state.hash)),
                // Not shared: the unit of its name alone gave it, and that unit is here.
                (None, Some((1, hash))) => (1, Some(hash)),
                (None, Some(_)) => return None,
                (None, None) => (0, None),
            };
            let remaining = owners.saturating_sub(lost_here.map_or(0, |(count, _)| count));
            match given.get(&key) {
                Some(new) => {
                    if remaining > 0 && old_hash != Some(new.hash) {
                        return None;
                    }
                    if old_hash != Some(new.hash) {
                        upserts.push((key, new.value));
                        total += usize::from(old_hash.is_none());
                    }
                    let owners = remaining + new.count;
                    let shared = owners > 1 || new.foreign;
                    kept.push((
                        key,
                        shared.then_some(KeyState {
                            hash: new.hash,
                            owners,
                            conflicted: false,
                        }),
                    ));
                }
                None if remaining == 0 => {
                    if old_hash.is_some() {
                        change.removals.push(key);
                        total = total.saturating_sub(1);
                    }
                }
                None => kept.push((
                    key,
                    Some(KeyState {
                        hash: old_hash.unwrap_or_default(),
                        owners: remaining,
                        conflicted: false,
                    }),
                )),
            }
        }
        change.upserts = Upserts::from_values(upserts.iter().map(|(key, value)| (key, *value)));
        (total <= capacity).then_some((change, kept, total))
    }
}

/// A key the units compiled again give.
struct Given<'u> {
    value: &'u Value,
    hash: u64,
    count: u32,
    /// Some unit gave it for a name other than its own.
    foreign: bool,
}

/// The zones of `new` that are not the very zones of `old`, with their old version; `None`
/// when the set of zones (or their availability) differs.
fn changed_zones(old: &Snapshot, new: &Snapshot) -> Option<Vec<(Arc<Zone>, Arc<Zone>)>> {
    let apexes = |s: &Snapshot| -> BTreeSet<(Box<[u8]>, bool)> {
        s.zones()
            .map(|z| (z.apex().lowercase_wire(), true))
            .chain(s.unavailable().map(|n| (n.lowercase_wire(), false)))
            .collect()
    };
    if apexes(old) != apexes(new) {
        return None;
    }
    let mut changed = Vec::new();
    for zone in new.zones() {
        let Some(Served::Zone(before)) = old.find(&zone.apex().lowercase_wire()) else {
            return None;
        };
        if !Arc::ptr_eq(before, zone) {
            changed.push((before.clone(), zone.clone()));
        }
    }
    Some(changed)
}

/// Whether userspace may serve `next` while the kernel still answers from `held`: when
/// every zone the kernel answers for is in `next` unchanged, and the zones `next` adds lie
/// below none of them (the kernel passes what it does not hold, and the names of zones
/// without data, to userspace). Then a new zone is answered during its compile.
pub fn kernel_may_lag(held: &Snapshot, next: &Snapshot) -> bool {
    let unchanged = held.zones().all(|zone| {
        matches!(next.find(&zone.apex().lowercase_wire()),
            Some(Served::Zone(same)) if Arc::ptr_eq(same, zone))
    });
    let added_apart = next
        .zones()
        .all(|zone| match held.find(&zone.apex().lowercase_wire()) {
            Some(Served::Zone(enclosing)) => Arc::ptr_eq(enclosing, zone),
            Some(Served::Unavailable(_)) | None => true,
        });
    unchanged && added_apart
}

/// Whether a read of `kind` at a node sees `change`.
fn affects(change: &NodeChange, kind: Kind) -> bool {
    match (change, kind) {
        (NodeChange::Added | NodeChange::Removed, _) => true,
        (NodeChange::Types(_), Kind::Exists) => false,
        (NodeChange::Types(_), Kind::Whole) => true,
        (NodeChange::Types(types), Kind::Type(t)) => types.contains(&t),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{dns::Name, xdp::compile::compile, zone::zonefile};

    #[test]
    fn userspace_leads_only_with_zones_the_kernel_does_not_answer_for() {
        let parse = |apex: &str, serial: u32| {
            let text = format!(
                "@ IN SOA ns hostmaster {serial} 3600 600 86400 300\n@ IN NS ns\nns IN A 192.0.2.1\n"
            );
            Arc::new(zonefile::zone_of(apex, &text))
        };
        let (parent, other) = (parse("example.", 1), parse("other.", 1));
        let held =
            Snapshot::with_unavailable([parent.clone()], ["waiting.".parse::<Name>().unwrap()]);
        let with = |zones: Vec<Arc<Zone>>| Snapshot::new(zones);
        // Added apart from what the kernel holds, or a zone without data getting some.
        assert!(kernel_may_lag(
            &held,
            &with(vec![parent.clone(), other.clone()])
        ));
        assert!(kernel_may_lag(
            &held,
            &with(vec![parent.clone(), parse("waiting.", 1)])
        ));
        assert!(kernel_may_lag(
            &Snapshot::default(),
            &with(vec![parent.clone()])
        ));
        // A new version, a removal, or a zone below one the kernel answers for.
        assert!(!kernel_may_lag(&held, &with(vec![parse("example.", 2)])));
        assert!(!kernel_may_lag(&held, &with(vec![other])));
        assert!(!kernel_may_lag(
            &held,
            &with(vec![parent, parse("sub.example.", 1)])
        ));
    }

    /// Records every version of the zone has, so that it always holds the same types.
    const BASE: &str = "@ IN NS ns\nns IN A 192.0.2.1\nbase IN AAAA 2001:db8::1\n\
                        base IN TXT \"b\"\nbase IN MX 10 ns\nbase-c IN CNAME ns\n\
                        base-s IN SRV 0 0 53 ns\nbase-d IN DNAME elsewhere.\n\
                        base-n IN NS ns.elsewhere.\n";

    /// Records a version may have or not.
    const POOL: &[&str] = &[
        "www IN A 192.0.2.2",
        "www IN A 192.0.2.3",
        "www IN TXT \"x\"",
        "WWW IN AAAA 2001:db8::2",
        "mail IN MX 10 www",
        "mail IN A 192.0.2.4",
        "alias IN CNAME www",
        "alias2 IN CNAME alias",
        "dangling IN CNAME nowhere",
        "*.w IN A 192.0.2.5",
        "*.w IN TXT \"w\"",
        "x.w IN A 192.0.2.10",
        "x.y.z IN A 192.0.2.6",
        "z IN TXT \"z\"",
        "sub IN NS ns.sub",
        "ns.sub IN A 192.0.2.7",
        "deep.sub IN A 192.0.2.8",
        "*.c IN CNAME www",
        "c IN A 192.0.2.11",
        "d IN DNAME www.t.",
        "srv IN SRV 0 0 53 mail",
        "ns IN AAAA 2001:db8::3",
        "hm IN A 192.0.2.12",
        "* IN MX 20 mail",
        "\\000 IN A 192.0.2.13",
    ];

    fn zone(serial: u32, present: &[bool]) -> Arc<Zone> {
        Arc::new(parse_zone(serial, present))
    }

    fn parse_zone(serial: u32, present: &[bool]) -> Zone {
        let mut text = format!("$ORIGIN t.\n$TTL 60\n@ IN SOA ns hm {serial} 2 3 4 5\n{BASE}");
        for (line, _) in POOL.iter().zip(present).filter(|(_, p)| **p) {
            text.push_str(line);
            text.push('\n');
        }
        zonefile::zone_of("t.", &text)
    }

    /// Version `serial` of the zone, made from `base` as an IXFR would make it: saying
    /// which owners changed (those of the pool lines that differ, and the apex).
    fn derived(serial: u32, present: &[bool], base: &Zone, was: &[bool]) -> Arc<Zone> {
        let mut zone = parse_zone(serial, present);
        let owners = POOL
            .iter()
            .zip(present.iter().zip(was))
            .filter(|(_, (now, then))| now != then)
            .map(|(line, _)| line.split(' ').next().unwrap_or_default())
            .chain(["@"])
            .map(|owner| {
                let name = if owner == "@" {
                    "t.".to_owned()
                } else {
                    format!("{owner}.t.")
                };
                name.parse::<Name>().unwrap().lowercase_wire()
            })
            .collect();
        zone.set_derived(base, owners);
        Arc::new(zone)
    }

    fn other() -> Arc<Zone> {
        let text = "$ORIGIN u.\n$TTL 60\n@ IN SOA ns hm 7 2 3 4 5\n@ IN NS ns\nns IN A 192.0.2.1\n";
        Arc::new(zonefile::zone_of("u.", text))
    }

    /// What the maps hold after the changes so far.
    #[derive(Default)]
    struct Maps {
        entries: HashMap<AnswerKey, Value>,
        serials: HashMap<ZoneSlot, u32>,
    }

    impl Maps {
        fn apply(&mut self, change: MapChange) {
            if change.from_empty {
                *self = Maps::default();
            }
            if change.whole {
                let given: HashSet<AnswerKey> =
                    change.upserts.entries.iter().map(|e| e.key).collect();
                self.entries.retain(|key, _| given.contains(key));
            }
            for key in change.removals {
                assert!(
                    self.entries.remove(&key).is_some(),
                    "removes {key:?}, not there"
                );
            }
            self.entries.extend(change.upserts.values());
            self.serials.extend(change.serials);
        }
    }

    fn assert_same_as_full(maps: &Maps, snapshot: &Snapshot) {
        let full = compile(snapshot, 1 << 20);
        assert_eq!(maps.entries.len(), full.entries.len(), "entry count");
        for (key, value) in &full.entries.values() {
            let ours = maps
                .entries
                .get(key)
                .unwrap_or_else(|| panic!("{key:?} missing"));
            assert!(ours == value, "{key:?} differs from a full compile");
        }
        let serials: HashMap<ZoneSlot, u32> = full.serials.into_iter().collect();
        assert_eq!(maps.serials, serials);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Publishing a change compiles less but ends with exactly what compiling the whole
        /// new version gives.
        #[test]
        fn a_change_publishes_what_a_full_compile_gives(
            before in proptest::collection::vec(any::<bool>(), POOL.len()),
            toggles in proptest::collection::vec(proptest::bool::weighted(0.15), POOL.len()),
            later in proptest::collection::vec(proptest::bool::weighted(0.15), POOL.len()),
            from_ixfr in any::<bool>(),
        ) {
            let unrelated = other();
            let after: Vec<bool> = before.iter().zip(&toggles).map(|(b, t)| b ^ t).collect();
            let last: Vec<bool> = after.iter().zip(&later).map(|(b, t)| b ^ t).collect();
            let mut published = Published::default();
            let mut maps = Maps::default();
            let mut incremental = 0;
            let mut previous: Option<(Arc<Zone>, &Vec<bool>)> = None;
            for (serial, present) in [(1, &before), (2, &after), (3, &last)] {
                let version = match &previous {
                    Some((base, was)) if from_ixfr => derived(serial, present, base, was),
                    _ => zone(serial, present),
                };
                previous = Some((version.clone(), present));
                let snapshot = Arc::new(Snapshot::new([version, unrelated.clone()]));
                let update = published.update(snapshot.clone(), 1 << 20, None);
                incremental += usize::from(update.incremental);
                maps.apply(update.change);
                assert_same_as_full(&maps, &snapshot);
            }
            // Both changes keep the zone set, its types and its SOA but the serial.
            prop_assert_eq!(incremental, 2);
        }
    }

    #[test]
    fn a_new_serial_alone_writes_only_the_serial_and_the_changed_name() {
        let present = vec![true; POOL.len()];
        let mut published = Published::default();
        let first = published.update(Arc::new(Snapshot::new([zone(1, &present)])), 1 << 20, None);
        assert!(first.change.from_empty);
        let update = published.update(Arc::new(Snapshot::new([zone(2, &present)])), 1 << 20, None);
        assert!(update.incremental);
        // Nothing else changed: nothing compiles again, no entry is written.
        assert_eq!(update.compiled, 0);
        assert!(update.change.upserts.is_empty() && update.change.removals.is_empty());
        assert_eq!(update.change.serials.len(), 1);
        assert_eq!(update.change.serials[0].1, 2);
    }

    #[test]
    fn forgetting_what_was_published_keeps_the_slots() {
        let present = vec![true; POOL.len()];
        let mut published = Published::default();
        let first = published.update(Arc::new(Snapshot::new([zone(1, &present)])), 1 << 20, None);
        assert_eq!(
            first.change.fresh_slots,
            [0],
            "a new zone's counts start at zero"
        );
        let slots = published.slots().clone();
        published.forget_all_but_slots();
        let again = published.update(Arc::new(Snapshot::new([zone(1, &present)])), 1 << 20, None);
        assert!(again.change.from_empty && !again.incremental);
        assert!(
            again.change.fresh_slots.is_empty(),
            "the zone keeps its slot and counts"
        );
        assert_eq!(published.slots(), &slots);
    }

    /// A zone of `names` hosts beside the test zones: more units than one share holds.
    fn many(names: usize) -> Arc<Snapshot> {
        let mut text =
            "$ORIGIN h.\n$TTL 60\n@ IN SOA ns hm 1 2 3 4 5\n@ IN NS ns\nns IN A 192.0.2.1\n"
                .to_owned();
        for n in 0..names {
            text.push_str(&format!("host{n} IN A 10.0.{}.{}\n", n >> 8 & 255, n & 255));
        }
        let hosts = Arc::new(zonefile::zone_of("h.", &text));
        Arc::new(Snapshot::new([
            hosts,
            zone(1, &[true; POOL.len()]),
            other(),
        ]))
    }

    /// What `update` writes with what its stream took, by key.
    fn whole_set(
        update: &Update,
        streamed: Vec<(AnswerKey, Value)>,
    ) -> std::collections::HashMap<AnswerKey, Value> {
        let mut set = std::collections::HashMap::new();
        for (key, value) in streamed.into_iter().chain(update.change.upserts.values()) {
            assert!(set.insert(key, value).is_none(), "{key:?} given twice");
        }
        set
    }

    #[test]
    fn a_streamed_first_publication_is_the_set_a_whole_one_gives() {
        let snapshot = many(20_000);
        let whole = Published::default().update(snapshot.clone(), 1 << 20, None);
        assert!(whole.streamed == 0 && whole.change.from_empty && !whole.change.streamed);
        let expected = whole_set(&whole, Vec::new());
        // Every part taken, then only the first two.
        for accepted in [usize::MAX, 2] {
            let (mut parts, mut streamed) = (0, Vec::new());
            let mut stream = |part: &Upserts| {
                parts += 1;
                let take = parts <= accepted;
                if take {
                    streamed.extend(part.values());
                }
                take
            };
            let mut published = Published::default();
            let update = published.update(snapshot.clone(), 1 << 20, Some(&mut stream));
            assert!(parts > 2, "{parts} parts");
            assert_eq!(update.streamed, streamed.len());
            assert!(update.change.streamed && update.change.from_empty);
            assert_eq!(update.totals.entries, expected.len());
            assert_eq!(whole_set(&update, streamed), expected);
            // What follows is a change from it, as from a whole publication.
            let again = published.update(snapshot.clone(), 1 << 20, None);
            assert!(again.incremental && again.change.is_empty());
        }
        // Maps too small for everything: staged parts would have to make way, so the set is
        // compiled again and published whole, as without a stream.
        let small = expected.len() - 10;
        let mut stream = |_: &Upserts| true;
        let update = Published::default().update(snapshot.clone(), small, Some(&mut stream));
        let unstreamed = Published::default().update(snapshot, small, None);
        assert!(update.streamed == 0 && !update.change.streamed);
        assert_eq!(update.totals, unstreamed.totals);
        assert_eq!(
            update.change.upserts.values(),
            unstreamed.change.upserts.values()
        );
    }
}
