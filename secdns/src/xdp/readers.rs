//! Who read what: for every unit (a zone's node) the XDP compiler compiled, the names its
//! answers read (see `zone::reads`), indexed by name, so that a change to a zone's names
//! compiles again only the units that read them (see `xdp::published`).
//!
//! A full compile builds it whole, as one array of 16-byte reads sorted by name. Units
//! compiled again later keep their reads in a small overlay and their reads in the array are
//! skipped; the caller compiles everything afresh once the overlay grows (`is_stale`).
//! A name read more than [`WIDE`] times (a zone's apex, its wildcard and probe names, the
//! SOA's name server) keeps only the kinds of reads made: a change there changes the answers
//! of most names and is published by a full compile.

use std::sync::Arc;

use foldhash::{HashMap, HashMapExt};

use crate::zone::reads::{Kind, Read};

/// The name of a unit compiled again (lowercased), shared by its reads.
type UnitName = Arc<[u8]>;

/// Reads of one name above which only the kinds read are kept.
pub const WIDE: usize = 1024;

#[derive(Clone, Copy)]
struct BaseRead {
    name: u64,
    unit: u32,
    kind: Kind,
}

struct RecentRead {
    zone: u32,
    unit: UnitName,
    generation: u32,
    kind: Kind,
}

/// Reads collected by the threads of a full compile, by unit index: appended as they come
/// (no hashing per read), sorted by name and collapsed now and then (`settle`), names read
/// more than [`WIDE`] times kept as the kinds read only.
#[derive(Default)]
pub struct Collector {
    reads: Vec<BaseRead>,
    wide: HashMap<u64, Vec<Kind>>,
    /// `reads` is sorted by name and holds no name read more than WIDE times.
    settled: bool,
    /// Settle again when `reads` holds this many.
    next_settle: usize,
}

/// Reads collected before a collector sorts and collapses them.
const SETTLE_AT: usize = 1 << 20;

impl Collector {
    pub fn add(&mut self, unit: u32, reads: &[Read]) {
        for &(name, kind) in reads {
            // Few names are wide: a small map, in cache.
            if let Some(kinds) = self.wide.get_mut(&name) {
                add_kind(kinds, kind);
                continue;
            }
            self.reads.push(BaseRead { name, unit, kind });
        }
        self.settled = false;
        if self.reads.len() >= self.next_settle.max(SETTLE_AT) {
            self.settle();
            self.next_settle = 2 * self.reads.len();
        }
    }

    /// Sorts the reads by name (stably: runs already sorted merge in one pass) and moves
    /// names read more than WIDE times to `wide`.
    pub fn settle(&mut self) {
        if self.settled {
            return;
        }
        self.reads.sort_by_key(|read| read.name);
        let mut kept = 0;
        let mut at = 0;
        while at < self.reads.len() {
            let name = self.reads[at].name;
            let end = at + self.reads[at..].partition_point(|read| read.name == name);
            let wide = self.wide.contains_key(&name) || end - at > WIDE;
            if wide {
                let kinds = self.wide.entry(name).or_default();
                for read in &self.reads[at..end] {
                    add_kind(kinds, read.kind);
                }
            } else {
                self.reads.copy_within(at..end, kept);
                kept += end - at;
            }
            at = end;
        }
        self.reads.truncate(kept);
        self.settled = true;
    }

    pub fn merge(&mut self, other: Collector) {
        if self.reads.is_empty() && self.wide.is_empty() {
            *self = other;
            return;
        }
        for (name, kinds) in other.wide {
            let ours = self.wide.entry(name).or_default();
            for kind in kinds {
                add_kind(ours, kind);
            }
        }
        self.reads.extend(other.reads);
        self.settled = false;
    }
}

fn add_kind(kinds: &mut Vec<Kind>, kind: Kind) {
    if !kinds.contains(&kind) {
        kinds.push(kind);
    }
}

/// The units of a full compile, by position: zone index and name (lowercased), the names in
/// one buffer (not an allocation each: there is a unit per name of every zone).
#[derive(Default)]
pub struct Units {
    zones: Vec<u32>,
    /// Where each name starts in `names`; one more, where the last ends.
    starts: Vec<u32>,
    names: Vec<u8>,
    /// The names did not fit 4 GiB: the index cannot be used.
    overflowed: bool,
}

impl Units {
    pub fn push(&mut self, zone: u32, name: impl IntoIterator<Item = u8>) {
        if self.starts.is_empty() {
            self.starts.push(0);
        }
        self.names.extend(name);
        match u32::try_from(self.names.len()) {
            Ok(end) => self.starts.push(end),
            Err(_) => self.overflowed = true,
        }
        self.zones.push(zone);
    }

    fn get(&self, index: usize) -> Option<(u32, &[u8])> {
        let (start, end) = (*self.starts.get(index)?, *self.starts.get(index + 1)?);
        Some((
            *self.zones.get(index)?,
            self.names.get(start as usize..end as usize)?,
        ))
    }

    fn shrink_to_fit(&mut self) {
        self.zones.shrink_to_fit();
        self.starts.shrink_to_fit();
        self.names.shrink_to_fit();
    }
}

#[derive(Default)]
pub struct Readers {
    /// Zone index of each zone compiled, by apex (lowercased wire form).
    zone_index: HashMap<Box<[u8]>, u32>,
    units: Units,
    base: Vec<BaseRead>,
    wide: HashMap<u64, Vec<Kind>>,
    /// Units compiled again since, by zone and name: how many times.
    recompiled: HashMap<u32, HashMap<UnitName, u32>>,
    recent: HashMap<u64, Vec<RecentRead>>,
    recent_reads: usize,
}

impl Readers {
    /// The index of a full compile of `zones` (apexes): `units` with the reads `collected`
    /// under their positions in `units`.
    pub fn new(zones: Vec<Box<[u8]>>, mut units: Units, collected: Collector) -> Self {
        units.shrink_to_fit();
        let mut collected = collected;
        collected.settle();
        let Collector {
            reads: mut base,
            mut wide,
            ..
        } = collected;
        base.shrink_to_fit();
        for kinds in wide.values_mut() {
            kinds.sort_unstable();
        }
        let zone_index = zones
            .into_iter()
            .enumerate()
            .map(|(index, apex)| (apex, index as u32))
            .collect();
        Self {
            zone_index,
            units,
            base,
            wide,
            recompiled: HashMap::new(),
            recent: HashMap::new(),
            recent_reads: 0,
        }
    }

    pub fn zone_index(&self, apex: &[u8]) -> Option<u32> {
        self.zone_index.get(apex).copied()
    }

    /// The kinds of reads made of `name` (by hash) when it is read too often to list readers.
    pub fn wide_kinds(&self, name: u64) -> &[Kind] {
        self.wide.get(&name).map_or(&[], Vec::as_slice)
    }

    /// Calls `f` with (zone index, unit name, kind) for every listed read of `name` (by hash)
    /// by the latest compile of a unit.
    pub fn each_reader(&self, name: u64, mut f: impl FnMut(u32, &[u8], Kind)) {
        let start = self.base.partition_point(|read| read.name < name);
        for read in self.base[start..]
            .iter()
            .take_while(|read| read.name == name)
        {
            let Some((zone, unit)) = self.units.get(read.unit as usize) else {
                continue;
            };
            if self.generation(zone, unit) == 0 {
                f(zone, unit, read.kind);
            }
        }
        for read in self.recent.get(&name).into_iter().flatten() {
            if self.generation(read.zone, &read.unit) == read.generation {
                f(read.zone, &read.unit, read.kind);
            }
        }
    }

    fn generation(&self, zone: u32, unit: &[u8]) -> u32 {
        self.recompiled
            .get(&zone)
            .and_then(|units| units.get(unit))
            .copied()
            .unwrap_or(0)
    }

    /// Records that the unit `name` of zone `zone` was compiled again and now reads `reads`.
    pub fn recompiled(&mut self, zone: u32, name: &[u8], reads: &[Read]) {
        let units = self.recompiled.entry(zone).or_default();
        let generation = match units.get_mut(name) {
            Some(generation) => {
                *generation = generation.wrapping_add(1).max(1);
                *generation
            }
            None => {
                units.insert(UnitName::from(name), 1);
                1
            }
        };
        let unit: UnitName = match units.get_key_value(name) {
            Some((key, _)) => key.clone(),
            None => UnitName::from(name),
        };
        for &(read, kind) in reads {
            if let Some(kinds) = self.wide.get_mut(&read) {
                add_kind(kinds, kind);
                continue;
            }
            self.recent.entry(read).or_default().push(RecentRead {
                zone,
                unit: unit.clone(),
                generation,
                kind,
            });
            self.recent_reads += 1;
        }
    }

    /// Reads of units compiled again have piled up (or the units could not be listed):
    /// compile everything afresh.
    pub fn is_stale(&self) -> bool {
        self.units.overflowed || self.recent_reads > (self.base.len() / 2).max(1 << 16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readers_of(readers: &Readers, name: u64) -> Vec<(u32, Vec<u8>, Kind)> {
        let mut found = Vec::new();
        readers.each_reader(name, |zone, unit, kind| {
            found.push((zone, unit.to_vec(), kind))
        });
        found.sort();
        found
    }

    #[test]
    fn names_read_too_often_keep_only_the_kinds_read() {
        let count = WIDE as u32 + 10;
        let mut units = Units::default();
        for i in 0..count {
            units.push(0, i.to_be_bytes());
        }
        // Two threads' collections, merged: name 1 is read by every unit, name 2 by two.
        let mut first = Collector::default();
        let mut second = Collector::default();
        for unit in 0..count {
            let collector = if unit % 2 == 0 {
                &mut first
            } else {
                &mut second
            };
            let mut reads = vec![(1, Kind::Exists)];
            if unit < 2 {
                reads.push((2, Kind::Type(1)));
            }
            if unit == 3 {
                reads.push((1, Kind::Whole));
            }
            collector.add(unit, &reads);
        }
        first.merge(second);
        let mut readers = Readers::new(vec![b"\x01t\x00".as_slice().into()], units, first);
        assert_eq!(readers.wide_kinds(1), [Kind::Exists, Kind::Whole]);
        assert!(readers_of(&readers, 1).is_empty());
        assert!(readers.wide_kinds(2).is_empty());
        let two = readers_of(&readers, 2);
        assert_eq!(two.len(), 2);
        assert_eq!(two[0].1, 0u32.to_be_bytes());

        // Unit 0 compiled again reads name 3 now, not 2; a new unit reads name 2; reads of
        // a wide name add to its kinds.
        readers.recompiled(
            0,
            &0u32.to_be_bytes(),
            &[(3, Kind::Whole), (1, Kind::Type(6))],
        );
        readers.recompiled(0, b"new", &[(2, Kind::Type(1))]);
        let two: Vec<Vec<u8>> = readers_of(&readers, 2).into_iter().map(|r| r.1).collect();
        assert_eq!(two, [1u32.to_be_bytes().to_vec(), b"new".to_vec()]);
        assert_eq!(readers_of(&readers, 3).len(), 1);
        assert!(readers.wide_kinds(1).contains(&Kind::Type(6)));
        // Compiled once more, its earlier reads go.
        readers.recompiled(0, &0u32.to_be_bytes(), &[]);
        assert!(readers_of(&readers, 3).is_empty());
        assert!(!readers.is_stale());
    }
}
