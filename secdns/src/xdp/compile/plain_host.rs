//! Plain hosts, compiled without a lookup. Most names of an edge host's zones are hosts one
//! label below their apex that hold addresses and text: each answer is the RRset itself
//! behind a pointer to the question, the default is the zone's NODATA (see
//! `Compiler::add_default`), and names below answer as the apex's names below (see
//! `Compiler::below_as_parents`), so they get no entry. The first such host of a zone with a
//! first label as long is compiled in full, and its default and what its answers read (the
//! apex's records: the same for every such host) are kept for the others. Debug builds
//! compile every one in full and compare.

use super::*;
use crate::{
    dns::codes::{class, flags},
    zone::Rrset,
};

/// The types a plain host may hold: record data without names (nothing to compress, no
/// additional records).
const PLAIN_TYPES: [u16; 3] = [rtype::A, rtype::AAAA, rtype::TXT];

/// What the plain hosts of a zone with first labels of one length share.
pub(super) struct HostShared {
    /// The default entry's value, for the first such host's name.
    default: Value,
    /// What a host's answers read but its own names.
    reads: Arc<[Read]>,
}

/// The cache key of the plain host `name` (of `node`, in `zone`): the zone (its address) and
/// the length of the name's first label. `None` for a name that is not a plain host: below
/// another name than the apex, in a signed zone or one beside another zone (`alone` false),
/// holding a type not plain, named by the SOA or named as the apex's probes and wildcard,
/// or with names below it (its wildcard or the first probe of `probe_below`).
pub(super) fn host_key(
    zone: &Zone,
    facts: &ZoneFacts,
    node: &Node,
    name: &[u8],
    alone: bool,
) -> Option<(usize, u8)> {
    if !alone || !facts.defaults || zone.is_signed() {
        return None;
    }
    let label = *name.first()?;
    if name.get(1 + label as usize..)? != zone.apex_key() {
        return None;
    }
    // What the zone's names read at the apex includes its probes and wildcard: a host
    // named so would see reads of its own names as its own (see `reads_but_own`).
    if let [1, first, ..] = name
        && (PROBE_LABELS.contains(first) || *first == b'*')
    {
        return None;
    }
    let mut sets = node.rrsets_unrecorded().peekable();
    sets.peek()?;
    if !sets.all(|set| PLAIN_TYPES.contains(&set.rtype))
        || facts.soa_names.iter().any(|soa| soa.ends_with(name))
    {
        return None;
    }
    let mut below = [0u8; secdns_common::MAX_NAME_LEN];
    let below = below.get_mut(..name.len() + 2)?;
    // In a zone of hosts alone, nothing lies below a host: two lookups saved for each.
    if zone.has_deep_names() {
        below[0] = 1;
        below[2..].copy_from_slice(name);
        for first in [b'*', PROBE_LABELS[0]] {
            below[1] = first;
            if zone.node_unrecorded(below).is_some() {
                return None;
            }
        }
    }
    Some((std::ptr::from_ref(zone) as usize, label))
}

impl HostShared {
    /// What `unit`, the full compile of a plain host, shares with the others: when it is a
    /// typed entry per type and one default, as [`Compiler::host_unit`] builds them.
    pub(super) fn learn(unit: &Unit) -> Option<Self> {
        let own = unit.own_hash()?;
        let mut default = None;
        for entry in &unit.entries {
            let key = entry.key;
            if key.name_hash != own || key.scope != SCOPE_NAME || key.dnssec_ok != 0 {
                return None;
            }
            if key.qtype == DEFAULT_QTYPE {
                if default.is_some() || entry.value.is_pass() {
                    return None;
                }
                default = Some(entry.value.clone());
            } else if !PLAIN_TYPES.contains(&key.qtype) {
                return None;
            }
        }
        Some(Self {
            default: default?,
            reads: unit.reads.clone(),
        })
    }
}

impl Compiler<'_> {
    /// The unit of the plain host `node` (named `name`) in `zone`, from what the zone's plain
    /// hosts share.
    pub(super) fn host_unit(
        &self,
        zone: &Zone,
        node: &Node,
        name: Box<[u8]>,
        shared: &HostShared,
    ) -> Unit {
        let mut builder = self.builder();
        let slot = self.slots.get(zone.apex_key()).copied();
        // One hash of the name for all its keys.
        let own = key(&name, DEFAULT_QTYPE, SCOPE_NAME);
        for set in node.rrsets_unrecorded() {
            match pack(&name, name.len(), &plain_body(&set), &[], &[], slot) {
                Some(value) => {
                    let key = AnswerKey {
                        qtype: set.rtype,
                        ..own
                    };
                    builder.insert(key, Group::Typed, value, None);
                }
                None => {
                    builder.too_big += 1;
                    builder.pass(&name, set.rtype, SCOPE_NAME, Group::Typed);
                }
            }
        }
        let default = Value {
            name: name.clone(),
            ..shared.default.clone()
        };
        builder.insert(own, Group::Default, default, None);
        let reads = if self.record {
            shared.reads.clone()
        } else {
            Arc::default()
        };
        Unit {
            name,
            entries: builder.entries,
            reads,
            too_big: builder.too_big,
            own: Some(own.name_hash),
        }
    }
}

/// The answer to a plain host's `set`: its records, each owned by a pointer to the question.
fn plain_body(set: &Rrset<'_>) -> Body {
    let mut bytes = Vec::with_capacity(set.rdatas.iter().map(|d| 12 + d.len()).sum());
    for data in set.rdatas.iter() {
        bytes.extend_from_slice(&[0xc0, 12]);
        bytes.extend_from_slice(&set.rtype.to_be_bytes());
        bytes.extend_from_slice(&class::IN.to_be_bytes());
        bytes.extend_from_slice(&set.ttl.to_be_bytes());
        // Record data is at most 65535 bytes.
        let len = u16::try_from(data.len()).unwrap_or(u16::MAX);
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(data);
    }
    Body {
        bytes,
        ancount: u16::try_from(set.rdatas.len()).unwrap_or(u16::MAX),
        nscount: 0,
        arcount: 0,
        flags: flags::AA,
        extended_error: None,
    }
}
