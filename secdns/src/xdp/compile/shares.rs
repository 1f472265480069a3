//! What compiling on every core works with: the units cut into shares, each share's nodes
//! prefetched, and the units packed as they come (see `Compiler::all`).

use super::*;

/// How many nodes ahead of the one compiled are asked for (see [`prefetched`]).
pub(super) const NODES_AHEAD: usize = 8;

/// `items` as they are, each item's node's name and records asked for [`NODES_AHEAD`] items
/// before it is reached: they lie all over the heap, and compiling the nodes one after
/// another otherwise waits for each (the nodes themselves come in table order).
pub(super) fn prefetched<'n, T>(
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
pub(super) fn name_units(zones: &[(&Zone, ZoneFacts)], listed: &[u32], units: &mut Units) {
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
pub(super) fn share_starts(units: &Units, len: usize) -> Vec<(usize, usize, usize)> {
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
pub(super) const SHARES: usize = 64;
pub(super) const MIN_SHARE: usize = 4096;

/// Where [`Compiler::all`] may hand each share's entries that no other unit gives as soon
/// as the share is compiled, so that they are not all held at once: true when taken; after
/// the first refusal, everything is kept.
pub type Stream<'a> = dyn FnMut(&Upserts) -> bool + 'a;

/// What [`Compiler::all`] compiled.
#[derive(Default)]
pub struct All {
    /// Entries no other unit can give: a unit's own name's, in a zone that overlaps none.
    pub entries: Vec<PackedEntry>,
    /// The rest, which [`fn@merge`] merges.
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
    pub(super) fn take(&mut self, number: usize, packed: Packed, stores: &mut [BodyStore]) {
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
    /// bodies, and keeps the others (their bodies copied into `others`) for [`fn@merge`]; what
    /// `stream` refuses is kept as [`All::take`] keeps it. False when it refused.
    pub(super) fn stream(
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
pub(super) struct Packed {
    pub(super) packer: Packer,
    pub(super) entries: Vec<PackedEntry>,
    pub(super) others: Vec<PackedEntry>,
    pub(super) too_big: usize,
}

impl Packed {
    /// Packs about `units` units (room made for them: growing the body store and its
    /// index as they came was a fiftieth of a large compile).
    pub(super) fn new(store: u32, units: usize) -> Self {
        Self {
            packer: Packer::with_room(store, units),
            entries: Vec::new(),
            others: Vec::new(),
            too_big: 0,
        }
    }

    /// Packs `unit`'s entries; `overlaps`: its zone lies above or below another, whose units
    /// may give the same names.
    pub(super) fn add(&mut self, unit: Unit, overlaps: bool) {
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
pub(super) fn overlapping_zones(snapshot: &Snapshot) -> foldhash::HashSet<Box<[u8]>> {
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
