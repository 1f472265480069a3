//! Which zone data a computation read: the XDP compiler records it per name it compiles, so
//! that a changed zone recompiles only the names whose answers read what changed. Recording
//! is per thread and off unless [`recording`] turns it on; lookups do not change.

use std::cell::{Cell, RefCell};

use secdns_common::name_hash_folding_case;

/// What was read at a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Whether a node is there.
    Exists,
    /// One RRset (for RRSIG: any signatures).
    Type(u16),
    /// Every RRset, or whether there is any.
    Whole,
}

/// A read: the hash of the name (lowercased wire form; see [`secdns_common::name_hash`]) and
/// what was read.
/// A hash stands for the name: two names with one hash only make more answers recompile.
pub type Read = (u64, Kind);

thread_local! {
    static READS: RefCell<Option<Vec<Read>>> = const { RefCell::new(None) };
    /// Whether `READS` is recording: the one check every lookup of a query pays.
    static RECORDING: Cell<bool> = const { Cell::new(false) };
}

/// Notes a read of `name` (lowercased wire form) when recording.
pub fn note(name: impl FnOnce() -> u64, kind: Kind) {
    if !RECORDING.get() {
        return;
    }
    READS.with(|reads| {
        if let Some(reads) = reads.borrow_mut().as_mut() {
            let read = (name(), kind);
            // A lookup reads one node several times in a row: noted once.
            if reads.last() != Some(&read) {
                reads.push(read);
            }
        }
    });
}

/// Notes reads made earlier (by a computation whose result is being reused).
pub fn note_all(earlier: &[Read]) {
    if !RECORDING.get() {
        return;
    }
    READS.with(|reads| {
        if let Some(reads) = reads.borrow_mut().as_mut() {
            reads.extend_from_slice(earlier);
        }
    });
}

/// Notes a read at the node owned by `owner`.
pub fn note_at(owner: &crate::dns::Dname, kind: Kind) {
    note(|| name_hash_folding_case(owner.wire()), kind);
}

/// Runs `f` and returns what it read, each read once, in order.
pub fn recording<T>(f: impl FnOnce() -> T) -> (T, Vec<Read>) {
    let outer = READS.with(|reads| reads.borrow_mut().replace(Vec::new()));
    let was_recording = RECORDING.replace(true);
    let result = f();
    RECORDING.set(was_recording);
    let mut reads = READS
        .with(|reads| std::mem::replace(&mut *reads.borrow_mut(), outer))
        .unwrap_or_default();
    reads.sort_unstable();
    reads.dedup();
    (result, reads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::Name;

    #[test]
    fn a_read_at_a_node_is_the_hash_of_its_lowercased_name() {
        let owner: Name = "Www.Some-Long-Label.EXAMPLE.com.".parse().unwrap();
        let ((), reads) = recording(|| note_at(&owner, Kind::Whole));
        let expected = secdns_common::name_hash(&owner.lowercase_wire());
        assert_eq!(reads, [(expected, Kind::Whole)]);
        // Nothing is noted outside a recording.
        note_at(&owner, Kind::Exists);
        assert!(recording(|| ()).1.is_empty());
    }
}
