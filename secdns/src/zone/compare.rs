//! How two versions of a zone differ: which nodes and types changed (what the XDP
//! publication compiles again), and how many records (for reports, "records changed").

use foldhash::{HashSet, HashSetExt};

use super::{Node, Rrset, Zone};
use crate::dns::{codes::rtype, name::label_offsets, rdata::soa_serial_at};

/// Records in one zone and not in the other, both ways counted. Nodes shared between the
/// versions (an IXFR's unchanged ones) are skipped without looking inside.
pub fn changed_records(old: &Zone, new: &Zone) -> u64 {
    let one_way = |from: &Zone, to: &Zone| -> u64 {
        from.nodes()
            .map(
                |node: &Node| match to.node_unrecorded(node.owner().wire()) {
                    Some(other) if std::ptr::eq(node, other) => 0,
                    other => missing(node, other),
                },
            )
            .sum()
    };
    one_way(new, old) + one_way(old, new)
}

/// Records of `node` that `other` does not hold.
fn missing(node: &Node, other: Option<&Node>) -> u64 {
    node.stored
        .iter()
        .map(|rrset| {
            let theirs = other.and_then(|o| {
                o.stored
                    .iter()
                    .find(|r| r.rtype == rrset.rtype && r.covers == rrset.covers)
            });
            match theirs {
                // A large set is compared through a hash set: linear, not quadratic.
                Some(t) if t.ttl == rrset.ttl && t.rdatas.len() >= super::INDEXED_RRSET => {
                    let theirs: std::collections::HashSet<&[u8]> = t.rdatas.iter().collect();
                    rrset.rdatas.iter().filter(|d| !theirs.contains(d)).count() as u64
                }
                Some(t) if t.ttl == rrset.ttl => rrset
                    .rdatas
                    .iter()
                    .filter(|d| !t.rdatas.contains(d))
                    .count() as u64,
                // A TTL change changes every record of the set.
                _ => rrset.rdatas.len() as u64,
            }
        })
        .sum()
}

/// How a node changed between two versions of a zone.
#[derive(Debug, PartialEq, Eq)]
pub enum NodeChange {
    Added,
    Removed,
    /// These RRsets differ (the SOA's serial aside).
    Types(Vec<u16>),
}

/// Whether the SOA records of two versions of a zone differ at most in the serial.
pub fn same_soa_but_serial(old: &Zone, new: &Zone) -> bool {
    same_but_serial(old.soa(), new.soa())
}

/// Whether two SOA RRsets differ at most in the serial.
fn same_but_serial(a: Rrset, b: Rrset) -> bool {
    a.ttl == b.ttl
        && a.rdatas.len() == b.rdatas.len()
        && a.rdatas
            .iter()
            .zip(b.rdatas)
            .all(|(x, y)| but_serial(x) == but_serial(y))
}

/// SOA data without its serial.
fn but_serial(rdata: &[u8]) -> (&[u8], &[u8]) {
    match soa_serial_at(rdata) {
        Some(at) => (&rdata[..at], &rdata[at + 4..]),
        None => (rdata, &[]),
    }
}

/// The nodes that differ between two versions of a zone, by lowercased name. When the new
/// version says which owners a transfer changed, only those and the names above them (empty
/// non-terminals come and go with them) are compared.
pub fn node_changes(old: &Zone, new: &Zone) -> Vec<(Box<[u8]>, NodeChange)> {
    let candidates: Vec<&[u8]> = match new.changed_since(old) {
        Some(owners) => {
            let apex_len = new.apex().wire().len();
            let mut names: HashSet<&[u8]> = HashSet::new();
            for owner in owners {
                for offset in label_offsets(owner) {
                    if owner.len() - offset < apex_len {
                        break;
                    }
                    names.insert(&owner[offset..]);
                }
            }
            names.into_iter().collect()
        }
        None => new
            .nodes()
            .map(|node| node.owner().wire())
            .chain(
                old.nodes()
                    .map(|node| node.owner().wire())
                    .filter(|name| new.node_unrecorded(name).is_none()),
            )
            .collect(),
    };
    candidates
        .into_iter()
        .filter_map(|name| {
            let change = match (old.node_unrecorded(name), new.node_unrecorded(name)) {
                (None, None) => return None,
                (None, Some(_)) => NodeChange::Added,
                (Some(_), None) => NodeChange::Removed,
                (Some(before), Some(after)) => {
                    if std::ptr::eq(before, after)
                        || before.owner().wire() == after.owner().wire()
                            && before.rrsets_unrecorded().eq(after.rrsets_unrecorded())
                    {
                        return None;
                    }
                    let types = changed_types(before, after);
                    if types.is_empty() {
                        return None;
                    }
                    NodeChange::Types(types)
                }
            };
            Some((name.to_ascii_lowercase().into(), change))
        })
        .collect()
}

/// The types whose RRsets differ between two versions of a node, the SOA's serial aside
/// (every type when the owner's spelling changed: answers carry it).
fn changed_types(old: &Node, new: &Node) -> Vec<u16> {
    let key = |r: &Rrset| (r.rtype, r.covers);
    let spelled_alike = old.owner().wire() == new.owner().wire();
    let same = |a: Rrset, b: Rrset| {
        if a.rtype == rtype::SOA {
            same_but_serial(a, b)
        } else {
            a == b
        }
    };
    let mut types: Vec<u16> = Vec::new();
    for (this, other) in [(old, new), (new, old)] {
        for rrset in this.rrsets_unrecorded() {
            let unchanged = spelled_alike
                && other
                    .rrsets_unrecorded()
                    .find(|o| key(o) == key(&rrset))
                    .is_some_and(|o| same(o, rrset));
            if !unchanged {
                types.push(rrset.rtype);
            }
        }
    }
    types.sort_unstable();
    types.dedup();
    types
}
