//! Zones built a node at a time, on every core, from records that come grouped by owner: a
//! saved copy, an AXFR as primaries send it. The builder takes records one at a time on one
//! core (a million in about a second); a group becomes its node in one step where its
//! records are. Anything the builder would say a word about (a record twice, TTLs that
//! differ within a set, an owner out of the zone, a limit reached, one owner in two groups)
//! makes [`node`] or [`zone`] answer `None`, and the caller gives the records to the builder
//! instead, which says what is wrong.

use super::{
    Node, RecordLimits, Survey, Zone, ZoneBuilder, ZoneError, covers, meta_type, nodes::Partition,
    soa_readable,
};
use crate::{
    dns::{Name, codes::rtype},
    parallel::in_shares,
};

pub use super::nodes::HashedNode;

/// One record of a group: type, TTL, data.
pub type GroupRecord<'r> = (u16, u32, &'r [u8]);

/// A record of a node being made: type, covered type, TTL, data.
type HeldRecord<'r> = (u16, u16, u32, &'r [u8]);

/// The node of every record of `owner` (`records`), when the builder would take them
/// without a word; `None` otherwise.
pub fn node<'r>(
    owner: Name,
    apex: &Name,
    records: impl Iterator<Item = GroupRecord<'r>>,
    limits: RecordLimits,
) -> Option<HashedNode> {
    if !owner.is_at_or_below(apex) {
        return None;
    }
    let at_apex = owner == *apex;
    let mut held: smallvec::SmallVec<[HeldRecord; 4]> = records
        .map(|(rr_type, ttl, data)| (rr_type, covers(rr_type, data), ttl, data))
        .collect();
    if held.len() > limits.per_name
        || held
            .iter()
            .any(|&(rr_type, _, _, data)| !plain(rr_type, data, at_apex))
    {
        return None;
    }
    // Sets in type order, each set's records in the order they came.
    held.sort_by_key(|&(rr_type, covers, ..)| (rr_type, covers));
    let sets = held.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)).count();
    let size = held.iter().map(|r| 2 + r.3.len()).sum::<usize>();
    let mut packer = super::rrsets::Packer::for_owner(&owner, sets * super::rrsets::HEADER + size);
    let mut scratch: smallvec::SmallVec<[&[u8]; 4]> = smallvec::SmallVec::new();
    for set in held.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
        let (rr_type, covers, ttl, _) = *set.first()?;
        scratch.clear();
        scratch.extend(set.iter().map(|r| r.3));
        if set.len() > limits.per_rrset || set.iter().any(|r| r.2 != ttl) || repeats(&mut scratch) {
            return None;
        }
        packer.set(rr_type, covers, ttl);
        for record in set {
            packer.record(record.3);
        }
    }
    let hash = super::nodes::name_hash(owner.wire());
    Some((hash, Node::packed(packer)))
}

/// The zone at `apex` of the node `make` gives for each group, made on every core; `None`
/// if it gave `None` for one, or two nodes are of one name. As each node is made, while its
/// memory is at hand, it is counted (records, types) and put with the nodes of its part of
/// the table; a node below a child of the apex is kept to look for missing parents once
/// the table is whole.
pub fn zone<G: Sync>(
    apex: &Name,
    groups: &[G],
    make: impl Fn(&G) -> Option<HashedNode> + Sync,
) -> Option<Result<Zone, ZoneError>> {
    let partition = Partition::for_len(groups.len());
    let apex_len = apex.wire().len();
    let shares = in_shares(groups, 4096, |_, _, share| {
        let mut made = Made {
            parts: (0..partition.parts()).map(|_| Vec::new()).collect(),
            survey: Survey::default(),
            deeper: Vec::new(),
        };
        for group in share {
            let (hash, node) = make(group)?;
            made.survey.count(&node);
            if super::below_a_child(node.owner().wire(), apex_len) {
                made.deeper.push(node.owner().to_owned());
            }
            made.parts
                .get_mut(partition.part_of(hash))?
                .push((hash, node));
        }
        Some(made)
    });
    let shares = shares.into_iter().collect::<Option<Vec<_>>>()?;
    ZoneBuilder::finish_made(apex.clone(), &partition, shares)
}

/// What one share of the groups made.
pub(super) struct Made {
    /// Its nodes, in the parts of the table they go in.
    pub parts: Vec<Vec<HashedNode>>,
    pub survey: Survey,
    /// Owners of the nodes whose parent is not the apex.
    pub deeper: Vec<Name>,
}

/// Whether a set's records hold one twice (a set is a set: the builder would drop it).
fn repeats(records: &mut [&[u8]]) -> bool {
    if records.len() <= 8 {
        return records
            .iter()
            .enumerate()
            .any(|(at, a)| records[at + 1..].contains(a));
    }
    records.sort_unstable();
    records.windows(2).any(|pair| pair[0] == pair[1])
}

/// Whether the builder takes a record of `rr_type` as it is: no meta type, and an SOA only
/// at the apex with data it can read.
fn plain(rr_type: u16, data: &[u8], at_apex: bool) -> bool {
    data.len() <= u16::MAX as usize
        && meta_type(rr_type).is_none()
        && (rr_type != rtype::SOA || at_apex && soa_readable(data))
}
