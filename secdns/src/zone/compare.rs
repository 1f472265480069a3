//! How much two versions of a zone differ, for reports ("records changed").

use super::{Node, Zone};

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
