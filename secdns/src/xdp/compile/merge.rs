//! One entry per key from every unit's, and what to publish when the maps cannot hold it
//! all (the capacity policy).

use super::*;

/// One entry per key, from every unit's entries.
pub struct Merged {
    /// Entries only one unit gives (see [`All::entries`]).
    pub unique: Vec<PackedEntry>,
    /// The others, one per key, in the order first given.
    pub entries: Vec<MergedEntry>,
    /// Where each of those keys is in `entries`.
    pub(super) index: HashMap<AnswerKey, u32>,
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
    pub(super) fn add(&mut self, entry: PackedEntry) {
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
