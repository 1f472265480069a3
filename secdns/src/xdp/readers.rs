//! Who read what: for every unit (a zone's node) the XDP compiler compiled, the names its
//! answers read (see `zone::reads`), indexed by name, so that a change to a zone's names
//! compiles again only the units that read them (see `xdp::published`).
//!
//! A full compile builds it whole, as one array of 16-byte reads sorted by name. Units
//! compiled again later keep their reads in a small overlay and their reads in the array are
//! skipped; the caller compiles everything afresh once the overlay grows (`is_stale`).
//! A name read by many units of its zone (see [`is_wide`]: a zone's apex, its wildcard and
//! probe names, the SOA's name server) keeps only the kinds of reads made and the zones that
//! read it: a change there changes the answers of most of the zone's names, and compiles the
//! whole zone again.

use std::sync::Arc;

use foldhash::{HashMap, HashMapExt};

use crate::zone::reads::{Kind, Read};

/// The name of a unit compiled again (lowercased), shared by its reads.
type UnitName = Arc<[u8]>;

/// Reads of one name up to which they are always listed one by one.
pub const WIDE_MIN: usize = 16;
/// A name read by more than this share of its zone's units keeps only the kinds read.
const WIDE_SHARE: usize = 64;

/// Whether a name read `count` times, in a zone of `zone_units` units, keeps only the kinds
/// read: listing the readers would cost more than compiling the zone again. A share of a
/// compile holds a 64th of the units (`compile::SHARES`): a name every unit reads is wide
/// within each share, also when the zone's units divide evenly (read by exactly a 64th).
fn is_wide(count: usize, zone_units: u32) -> bool {
    count > WIDE_MIN && count.saturating_mul(WIDE_SHARE) >= zone_units as usize
}

/// A name read too often to list its readers.
#[derive(Default)]
pub struct Wide {
    /// The kinds of reads made.
    pub kinds: Vec<Kind>,
    /// The zones (by index) whose units read it, ascending: the root and the names above
    /// apexes are read by tens of thousands of zones.
    pub zones: Vec<u32>,
}

impl Wide {
    fn add(&mut self, zone: u32, kind: Kind) {
        if !self.kinds.contains(&kind) {
            self.kinds.push(kind);
        }
        self.add_zone(zone);
    }

    /// Zones come in ascending order mostly (units are in zone order): appended then.
    fn add_zone(&mut self, zone: u32) {
        match self.zones.last() {
            Some(&last) if last >= zone => {
                if let Err(at) = self.zones.binary_search(&zone) {
                    self.zones.insert(at, zone);
                }
            }
            _ => self.zones.push(zone),
        }
    }
}

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
/// (no hashing per read), sorted by name and collapsed now and then (`settle`), wide names
/// kept as the kinds read only.
#[derive(Default)]
pub struct Collector {
    reads: Vec<BaseRead>,
    wide: HashMap<u64, Wide>,
    /// `reads` is sorted by name and holds no wide name.
    settled: bool,
    /// Settle again when `reads` holds this many.
    next_settle: usize,
    /// The reads of the last unit added, when all of them were wide: a zone's plain hosts
    /// share theirs, and adding them again changes nothing.
    last_wide: Option<(u32, Arc<[Read]>)>,
}

/// Reads collected before a collector sorts and collapses them.
const SETTLE_AT: usize = 1 << 20;

impl Collector {
    /// Notes the reads of unit `unit` of zone `zone`; `units` lists every unit.
    pub fn add(&mut self, unit: u32, zone: u32, reads: &Arc<[Read]>, units: &Units) {
        if let Some((last_zone, last)) = &self.last_wide
            && *last_zone == zone
            && Arc::ptr_eq(last, reads)
        {
            return;
        }
        let before = self.reads.len();
        for &(name, kind) in reads.iter() {
            // Wide names are a few per zone: a small map, in cache.
            if let Some(wide) = self.wide.get_mut(&name) {
                wide.add(zone, kind);
                continue;
            }
            self.reads.push(BaseRead { name, unit, kind });
        }
        self.last_wide = (self.reads.len() == before).then(|| (zone, reads.clone()));
        self.settled = false;
        if self.reads.len() >= self.next_settle.max(SETTLE_AT) {
            self.settle(units);
            self.next_settle = 2 * self.reads.len();
        }
    }

    /// Takes `names` of zone `zone` as wide from the start: names every unit of a zone reads
    /// (see `ZoneFacts::read_by_every_unit`), which [`Collector::settle`] would find wide only
    /// after sorting every read of them. A name made wide early only makes a change there
    /// compile more.
    pub fn seed_wide(&mut self, zone: u32, names: &[u64]) {
        for &name in names {
            self.wide.entry(name).or_default().add_zone(zone);
        }
    }

    /// Sorts the reads by name (stably: runs already sorted merge in one pass) and moves
    /// wide names to `wide`. A name's count here is of the reads collected so far: it only
    /// grows, so a name found wide stays wide.
    pub fn settle(&mut self, units: &Units) {
        if self.settled {
            return;
        }
        self.reads.sort_by_key(|read| read.name);
        let mut kept = 0;
        let mut at = 0;
        while at < self.reads.len() {
            let name = self.reads[at].name;
            let end = at + self.reads[at..].partition_point(|read| read.name == name);
            let zone_units = units.zone_units(self.reads[at].unit);
            if self.wide.contains_key(&name) || is_wide(end - at, zone_units) {
                let wide = self.wide.entry(name).or_default();
                for read in &self.reads[at..end] {
                    wide.add(units.zone_of(read.unit), read.kind);
                }
            } else {
                self.reads.copy_within(at..end, kept);
                kept += end - at;
            }
            at = end;
        }
        self.reads.truncate(kept);
        // Collapsing leaves most of a share's reads unused: give the room back.
        self.reads.shrink_to_fit();
        self.settled = true;
    }

    /// The units the reads kept point at, ascending (after collapsing them): those whose
    /// names [`Readers`] needs.
    pub fn listed_units(&mut self, units: &Units) -> Vec<u32> {
        self.settle(units);
        let mut listed: Vec<u32> = self.reads.iter().map(|read| read.unit).collect();
        listed.sort_unstable();
        listed.dedup();
        listed
    }

    pub fn merge(&mut self, other: Collector) {
        if self.reads.is_empty() && self.wide.is_empty() {
            *self = other;
            return;
        }
        for (name, theirs) in other.wide {
            let ours = self.wide.entry(name).or_default();
            for &kind in &theirs.kinds {
                for &zone in &theirs.zones {
                    ours.add(zone, kind);
                }
            }
        }
        self.reads.extend(other.reads);
        self.settled = false;
    }
}

/// The units of a full compile, by position: every zone's names, zone after zone. Names
/// (lowercased) are kept only for the units a listed read points at: the rest are never
/// looked up, and all of them took a third of a gigabyte for ten million records.
#[derive(Default)]
pub struct Units {
    /// The first unit of each zone, by zone index, then one past the last unit.
    zone_starts: Vec<u32>,
    /// Units whose names are kept, ascending; where each name starts in `names`, and one
    /// more, where the last ends.
    named: Vec<u32>,
    starts: Vec<u32>,
    names: Vec<u8>,
    /// There were too many units, or the names did not fit 4 GiB: the index cannot be used.
    overflowed: bool,
}

impl Units {
    /// The units of zones of `counts` units each, in zone order.
    pub fn new(counts: &[usize]) -> Self {
        let mut units = Units {
            zone_starts: Vec::with_capacity(counts.len() + 1),
            starts: vec![0],
            ..Units::default()
        };
        let mut start: usize = 0;
        for &count in counts.iter().chain([&0]) {
            units
                .zone_starts
                .push(u32::try_from(start).unwrap_or(u32::MAX));
            start += count;
        }
        units.overflowed = u32::try_from(start).is_err();
        units
    }

    /// Keeps the name of `unit`; units must come in ascending order.
    pub fn name(&mut self, unit: u32, name: impl IntoIterator<Item = u8>) {
        if self.named.last().is_some_and(|&last| last >= unit) {
            return;
        }
        self.names.extend(name);
        match u32::try_from(self.names.len()) {
            Ok(end) => self.starts.push(end),
            Err(_) => self.overflowed = true,
        }
        self.named.push(unit);
    }

    fn len(&self) -> usize {
        self.zone_starts.last().copied().unwrap_or(0) as usize
    }

    /// How many zones the units are of.
    pub fn zones(&self) -> usize {
        self.zone_starts.len().saturating_sub(1)
    }

    /// The units of zone `zone`.
    pub fn zone_range(&self, zone: usize) -> std::ops::Range<u32> {
        match (self.zone_starts.get(zone), self.zone_starts.get(zone + 1)) {
            (Some(&start), Some(&end)) => start..end,
            _ => 0..0,
        }
    }

    pub fn zone_of(&self, unit: u32) -> u32 {
        match self.zone_starts.partition_point(|&start| start <= unit) {
            0 => u32::MAX,
            after => (after - 1) as u32,
        }
    }

    /// Units of the zone of `unit`.
    fn zone_units(&self, unit: u32) -> u32 {
        self.zone_range(self.zone_of(unit) as usize).len() as u32
    }

    /// The zone and the kept name of unit `index`.
    fn get(&self, index: usize) -> Option<(u32, &[u8])> {
        let unit = u32::try_from(index).ok()?;
        let at = self.named.binary_search(&unit).ok()?;
        let (start, end) = (*self.starts.get(at)?, *self.starts.get(at + 1)?);
        Some((
            self.zone_of(unit),
            self.names.get(start as usize..end as usize)?,
        ))
    }

    fn shrink_to_fit(&mut self) {
        self.zone_starts.shrink_to_fit();
        self.named.shrink_to_fit();
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
    wide: HashMap<u64, Wide>,
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
        collected.settle(&units);
        let Collector {
            reads: mut base,
            mut wide,
            ..
        } = collected;
        base.shrink_to_fit();
        // (`Wide::zones` is kept ascending.)
        for wide in wide.values_mut() {
            wide.kinds.sort_unstable();
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

    /// What is known of the readers of `name` (by hash) when it is read too often to list
    /// them.
    pub fn wide(&self, name: u64) -> Option<&Wide> {
        self.wide.get(&name)
    }

    /// Reads of the full compile listed one by one.
    pub fn listed(&self) -> usize {
        self.base.len()
    }

    pub fn wide_names(&self) -> usize {
        self.wide.len()
    }

    /// Units of the full compile.
    pub fn units(&self) -> usize {
        self.units.len()
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
            if let Some(wide) = self.wide.get_mut(&read) {
                wide.add(zone, kind);
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
        self.units.overflowed
            || self.recent_reads > ((self.base.len() + self.units.len()) / 2).max(1 << 16)
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

    /// A share of a zone whose units divide evenly into 64 shares: the apex every unit
    /// reads is wide in it, and no read of it is held one by one until the shares merge
    /// (for a million names, 160 MB).
    #[test]
    fn a_name_every_unit_of_an_even_share_reads_is_wide_in_it() {
        let units = Units::new(&[64 * 300]);
        let mut share = Collector::default();
        for unit in 0..300u32 {
            share.add(unit, 0, &[(7, Kind::Exists)].into(), &units);
        }
        share.settle(&units);
        assert!(share.wide.contains_key(&7));
        assert!(share.reads.is_empty());
    }

    /// Names seeded wide take their reads as kinds from the first; units that share one list
    /// of reads, all wide, add nothing after the first (but in another zone); any other read
    /// is still listed.
    #[test]
    fn seeded_names_are_wide_from_the_first_read() {
        let units = Units::new(&[1000, 1000]);
        let mut share = Collector::default();
        share.seed_wide(0, &[7, 8]);
        let shared: Arc<[Read]> = [(7, Kind::Exists), (8, Kind::Type(6))].into();
        for unit in 0..100u32 {
            share.add(unit, 0, &shared, &units);
        }
        assert!(share.reads.is_empty(), "no read of a seeded name is listed");
        share.add(
            100,
            0,
            &[(7, Kind::Whole), (9, Kind::Exists)].into(),
            &units,
        );
        // The same list for a unit of another zone is not skipped.
        share.add(1000, 1, &shared, &units);
        share.add(1001, 1, &shared, &units);
        let seven = &share.wide[&7];
        assert_eq!(seven.kinds, [Kind::Exists, Kind::Whole]);
        assert_eq!(seven.zones, [0, 1]);
        assert_eq!(share.wide[&8].zones, [0, 1]);
        let listed: Vec<(u64, u32)> = share.reads.iter().map(|r| (r.name, r.unit)).collect();
        assert_eq!(listed, [(9, 100)]);
    }

    #[test]
    fn names_read_by_much_of_a_zone_keep_only_the_kinds_and_zones() {
        // Zone 0 has 2,000 units (wide above 31 readers), zone 1 has 20 (above 16).
        let mut units = Units::new(&[2000, 20]);
        // Two threads' collections, merged. Name 1 is read by every unit of zone 0 and one
        // of zone 1, name 2 by 31 units of zone 0, name 4 by 16 units of zone 1 and name 5
        // by 17.
        let mut first = Collector::default();
        let mut second = Collector::default();
        for unit in 0..2020u32 {
            let collector = if unit % 2 == 0 {
                &mut first
            } else {
                &mut second
            };
            let zone = u32::from(unit >= 2000);
            let mut reads = Vec::new();
            if zone == 0 || unit == 2000 {
                reads.push((1, Kind::Exists));
            }
            if unit < 31 {
                reads.push((2, Kind::Type(1)));
            }
            if unit == 3 {
                reads.push((1, Kind::Whole));
            }
            if (2000..2016).contains(&unit) {
                reads.push((4, Kind::Exists));
            }
            if (2000..2017).contains(&unit) {
                reads.push((5, Kind::Type(16)));
            }
            reads.sort_unstable();
            collector.add(unit, zone, &reads.into(), &units);
        }
        first.merge(second);
        // Names only for the units reads point at.
        let listed = first.listed_units(&units);
        assert!(listed.len() < 100, "{} units listed", listed.len());
        for unit in listed {
            units.name(unit, unit.to_be_bytes());
        }
        let apexes = vec![
            b"\x01t\x00".as_slice().into(),
            b"\x01u\x00".as_slice().into(),
        ];
        let mut readers = Readers::new(apexes, units, first);
        let one = readers.wide(1).expect("name 1 is wide");
        assert_eq!(one.kinds, [Kind::Exists, Kind::Whole]);
        assert_eq!(one.zones, [0, 1]);
        assert!(readers_of(&readers, 1).is_empty());
        assert!(readers.wide(2).is_none());
        let two = readers_of(&readers, 2);
        assert_eq!(two.len(), 31);
        assert_eq!(two[0].1, 0u32.to_be_bytes());
        assert!(readers.wide(4).is_none());
        assert_eq!(readers_of(&readers, 4).len(), 16);
        assert_eq!(readers.wide(5).map(|w| w.zones.clone()), Some(vec![1]));
        assert!(readers_of(&readers, 5).is_empty());

        // Unit 0 compiled again reads name 3 now, not 2; a new unit reads name 2; reads of
        // a wide name add to its kinds.
        readers.recompiled(
            0,
            &0u32.to_be_bytes(),
            &[(3, Kind::Whole), (1, Kind::Type(6))],
        );
        readers.recompiled(0, b"new", &[(2, Kind::Type(1))]);
        let two: Vec<Vec<u8>> = readers_of(&readers, 2).into_iter().map(|r| r.1).collect();
        assert_eq!(two.len(), 31);
        assert!(two.contains(&b"new".to_vec()) && !two.contains(&0u32.to_be_bytes().to_vec()));
        assert_eq!(readers_of(&readers, 3).len(), 1);
        assert!(
            readers
                .wide(1)
                .is_some_and(|w| w.kinds.contains(&Kind::Type(6)))
        );
        // Compiled once more, its earlier reads go.
        readers.recompiled(0, &0u32.to_be_bytes(), &[]);
        assert!(readers_of(&readers, 3).is_empty());
        assert!(!readers.is_stale());
    }
}
