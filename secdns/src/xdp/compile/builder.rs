//! Building a unit's entries: each answer looked up and encoded as userspace would, keyed,
//! and checked for what the kernel can send.

use super::*;

pub(super) struct Builder<'s> {
    pub(super) snapshot: &'s Snapshot,
    pub(super) slots: &'s HashMap<Box<[u8]>, ZoneSlot>,
    pub(super) entries: Vec<Entry>,
    pub(super) too_big: usize,
}

/// A private-use type asked for when compiling a name's default answer: the answer to a type
/// the zone does not hold.
pub(super) const ABSENT_TYPE: u16 = 65534;

/// Candidate first bytes of the one-byte label that stands for "a name below" when
/// compiling the answers for names below a name (the probe must not exist).
pub(super) const PROBE_LABELS: [u8; 4] = [0x00, 0x01, 0x7f, 0xff];

impl Builder<'_> {
    pub(super) fn unit(self, name: Box<[u8]>, reads: Vec<Read>) -> Unit {
        Unit {
            too_big: self.too_big,
            ..Unit::new(name, self.entries, reads)
        }
    }

    /// The answer for (qname, qtype), and its DO variant if the zone is signed: without the
    /// zone's `prefix` when one is given and the answer starts with it.
    pub(super) fn add_name_answer(
        &mut self,
        qname: &[u8],
        qtype: u16,
        chain: bool,
        group: Group,
        prefix: Option<&zone_prefix::Prefix>,
    ) {
        let Some((plain, serials)) = compile_name(self.snapshot, qname, qtype, false, chain) else {
            self.pass(qname, qtype, SCOPE_NAME, group);
            return;
        };
        let slot = self.slot_of(qname, qtype);
        let Some(mut value) = pack(qname, qname.len(), &plain, &[], &serials, slot) else {
            self.too_big += 1;
            self.pass(qname, qtype, SCOPE_NAME, group);
            return;
        };
        let mut signed = None;
        let rest =
            prefix.and_then(|prefix| zone_prefix::rest_after(self.snapshot, qname, prefix, slot));
        if let Some(rest) = rest {
            value.options |= OPTION_HAS_DO_VARIANT;
            signed = Some(rest);
        } else if self.signed_at(qname, qtype) {
            match compile_name(self.snapshot, qname, qtype, true, chain) {
                Some((body, _)) if body == plain => {}
                Some((body, serials)) => match pack(qname, qname.len(), &body, &[], &serials, slot)
                {
                    Some(signed_value) => match dnssec_extension(&value, signed_value) {
                        Ok(dnssec) => value.dnssec = Some(Box::new(dnssec)),
                        Err(signed_value) => {
                            value.options |= OPTION_HAS_DO_VARIANT;
                            signed = Some(signed_value);
                        }
                    },
                    None => {
                        self.too_big += 1;
                        value.options |= OPTION_DO_PASS;
                    }
                },
                None => value.options |= OPTION_DO_PASS,
            }
        }
        self.insert(key(qname, qtype, SCOPE_NAME), group, value, signed);
    }

    /// The answers for names below `name` that do not exist, compiled for a probe name one
    /// short label below it.
    pub(super) fn add_below(&mut self, zone: &Zone, name: &[u8], chain_types: &[u16]) {
        let Some(probe) = probe_below(zone, name) else {
            self.pass(name, DEFAULT_QTYPE, SCOPE_BELOW, Group::Walk);
            return;
        };
        let signed = self.signed_at(&probe, DEFAULT_QTYPE);
        // A wildcard child answers each type it holds (or, as a CNAME, each type its chain
        // can end in) differently.
        let mut wildcard_owner = vec![1, b'*'];
        wildcard_owner.extend_from_slice(name);
        let (mut types, chain) = match zone.node(&wildcard_owner) {
            Some(wildcard) => answer_types(wildcard, chain_types),
            None => (Vec::new(), false),
        };
        // The program looks for these only for types without an answer of their own.
        types.retain(|t| !has_own_answer(*t));
        for &qtype in &types {
            match self.compile_below(name, &probe, qtype, chain, signed) {
                Some(value) => {
                    self.insert(key(name, qtype, SCOPE_BELOW), Group::Walk, value, None);
                }
                None => self.pass(name, qtype, SCOPE_BELOW, Group::Walk),
            }
        }
        match self.compile_below(name, &probe, DEFAULT_QTYPE, chain, signed) {
            Some(mut value) => {
                if !types.is_empty() {
                    value.options |= OPTION_TYPED_BELOW;
                }
                self.insert(
                    key(name, DEFAULT_QTYPE, SCOPE_BELOW),
                    Group::Walk,
                    value,
                    None,
                );
            }
            None => self.pass(name, DEFAULT_QTYPE, SCOPE_BELOW, Group::Walk),
        }
    }

    /// The entry for names below `name` asking `qtype`, or `None` where the kernel cannot
    /// give userspace's answer by moving pointers (DNAME synthesis, too many pointers, too
    /// big). Names in the answer that lie below `name` but do not exist get pass entries: a
    /// query name ending in one would be compressed against it.
    pub(super) fn compile_below(
        &mut self,
        name: &[u8],
        probe: &[u8],
        qtype: u16,
        chain: bool,
        signed: bool,
    ) -> Option<Value> {
        let absent = qtype == DEFAULT_QTYPE;
        let answer = lookup(
            self.snapshot,
            probe,
            if absent { ABSENT_TYPE } else { qtype },
            false,
        );
        let synthesized = answer.answer.iter().any(|rr| rr.rtype == rtype::DNAME);
        if synthesized || !usable(&answer, chain, absent) {
            return None;
        }
        let (body, trace) = encode_traced(probe, &answer);
        self.poison_names_below(name, probe, &trace);
        // Pointers to the probe itself stay; the rest move with the query name's length.
        let fixups: Vec<u16> = trace
            .pointers
            .iter()
            .filter(|(_, target)| *target != 12)
            .filter_map(|(at, _)| u16::try_from(*at).ok())
            .collect();
        if fixups.len() > MAX_FIXUPS {
            return None;
        }
        let slot = self.slot_of(probe, DEFAULT_QTYPE);
        let Some(mut value) = pack(name, probe.len(), &body, &fixups, &trace.serials, slot) else {
            self.too_big += 1;
            return None;
        };
        if signed {
            // Denial and wildcard proofs are computed per query.
            value.options |= OPTION_DO_PASS;
        }
        Some(value)
    }

    /// Pass entries for the names in `trace` below `name` (other than the probe) that do
    /// not exist: a query at or below one would not get the probe's compression.
    pub(super) fn poison_names_below(&mut self, name: &[u8], probe: &[u8], trace: &Trace) {
        for written in &trace.names {
            let lower: Vec<u8> = written.iter().map(|b| b.to_ascii_lowercase()).collect();
            for offset in label_offsets(&lower) {
                let suffix = &lower[offset..];
                if suffix.len() <= name.len() || !suffix.ends_with(name) {
                    break;
                }
                if suffix != probe && !self.exists(suffix) {
                    self.pass(suffix, DEFAULT_QTYPE, SCOPE_NAME, Group::Walk);
                    self.pass(suffix, DEFAULT_QTYPE, SCOPE_BELOW, Group::Walk);
                }
            }
        }
    }

    /// The zone with data that userspace answers `qtype` at `name` from.
    pub(super) fn zone_of(&self, name: &[u8], qtype: u16) -> Option<&Zone> {
        match self.snapshot.find_for(name, qtype) {
            Some(Served::Zone(zone)) => Some(zone),
            _ => None,
        }
    }

    /// The serial slot of the zone userspace answers `qtype` at `name` from.
    pub(super) fn slot_of(&self, name: &[u8], qtype: u16) -> Option<ZoneSlot> {
        let zone = self.zone_of(name, qtype)?;
        self.slots.get(zone.apex_key()).copied()
    }

    pub(super) fn exists(&self, name: &[u8]) -> bool {
        self.zone_of(name, DEFAULT_QTYPE)
            .is_some_and(|zone| zone.name_node(name).is_some())
    }

    /// Whether answers to `qtype` at `name` differ for DO queries: the zone userspace answers
    /// them from is signed.
    pub(super) fn signed_at(&self, name: &[u8], qtype: u16) -> bool {
        self.zone_of(name, qtype)
            .is_some_and(|zone| zone.is_signed())
    }

    pub(super) fn pass(&mut self, name: &[u8], qtype: u16, scope: u32, group: Group) {
        let value = Value::pass(name);
        self.insert(key(name, qtype, scope), group, value, None);
    }

    pub(super) fn insert(
        &mut self,
        key: AnswerKey,
        group: Group,
        value: Value,
        signed: Option<Value>,
    ) {
        self.entries.push(Entry { key, value, group });
        if let Some(value) = signed {
            let key = AnswerKey {
                dnssec_ok: 1,
                ..key
            };
            self.entries.push(Entry { key, value, group });
        }
    }
}

/// Whether nothing at `name` (of `node`, in `zone`) makes the answers at or below it other
/// than the zone's plain ones: the zone is unsigned, the name holds none of `types`, and no
/// SOA name is at or below it (the answer would compress it against the question).
pub(super) fn plain_at(
    zone: &Zone,
    facts: &ZoneFacts,
    node: &Node,
    name: &[u8],
    types: &[u16],
) -> bool {
    !zone.is_signed()
        && !types.iter().any(|&t| node.rrset(t).is_some())
        && !facts
            .soa_names
            .iter()
            .any(|soa_name| soa_name.ends_with(name))
}

/// The name one label up from `name`, when `name` is not the apex of `zone`.
pub(super) fn parent_in<'n>(zone: &Zone, name: &'n [u8]) -> Option<&'n [u8]> {
    if name.len() <= zone.apex().wire().len() {
        return None;
    }
    label_offsets(name).nth(1).map(|offset| &name[offset..])
}

/// Per thread of compiling: the parents' entries for names below them, and what computing
/// them read.
#[derive(Default)]
pub struct ParentCache {
    pub(super) below: HashMap<Box<[u8]>, ParentBelow>,
    /// By zone (its address) and first-label length.
    pub(super) defaults: HashMap<(usize, u8), ZoneDefault>,
    /// The same, for plain hosts (see `plain_host`).
    pub(super) hosts: HashMap<(usize, u8), plain_host::HostShared>,
    /// By zone (its address): the prefix of its negative DO answers.
    pub(super) prefixes: HashMap<usize, ZonePrefix>,
}

/// A zone's prefix (see `zone_prefix`), and what computing it read.
pub(super) struct ZonePrefix {
    pub(super) prefix: Option<zone_prefix::Prefix>,
    pub(super) reads: Vec<Read>,
}

/// A zone's default answer for the names one label below its apex whose first label is as
/// long (see [`Compiler::add_default`]), and what computing it read but for the name.
pub(super) struct ZoneDefault {
    pub(super) value: Value,
    pub(super) reads: Vec<Read>,
}

pub(super) struct ParentBelow {
    pub(super) below: Vec<Keyed>,
    pub(super) reads: Vec<Read>,
}

/// A value with its key.
pub(super) type Keyed = (AnswerKey, Value);

/// The entries among `entries` for names below the name hashed `hash`, as they answer: the
/// same for two names exactly when the program sends the same bytes from either, once it has
/// moved the pointers for the query name. Sorted by type.
pub(super) fn normalized_below(entries: &[Entry], hash: u64) -> Vec<Keyed> {
    let mut out: Vec<Keyed> = entries
        .iter()
        .filter(|e| e.key.scope == SCOPE_BELOW && e.key.name_hash == hash)
        .map(|e| {
            let mut value = e.value.clone();
            let mut body = value.body.to_vec();
            for &at in value.fixups.iter() {
                let at = at as usize;
                if let Some(pointer) = body.get_mut(at..at + 2) {
                    let target = u16::from_be_bytes([pointer[0], pointer[1]]) & 0x3fff;
                    // Relative to the question's end, as the program makes it.
                    let moved = target.wrapping_sub(value.question_len);
                    pointer.copy_from_slice(&moved.to_be_bytes());
                }
            }
            value.body = body.into();
            value.name = Box::default();
            value.question_len = 0;
            value.body_csum = 0;
            (
                AnswerKey {
                    name_hash: 0,
                    check: 0,
                    ..e.key
                },
                value,
            )
        })
        .collect();
    out.sort_by_key(|(k, _)| (k.qtype, k.dnssec_ok));
    out
}

/// The types that get an entry of their own at `node`: those it holds, and at a CNAME every
/// type the chain can end in (`chain_types`), but those left to userspace. Also whether it is
/// a CNAME.
pub(super) fn answer_types(node: &Node, chain_types: &[u16]) -> (Vec<u16>, bool) {
    let chain = node.rrset(rtype::CNAME).is_some();
    let mut types: Vec<u16> = node.all().map(|r| r.rtype).collect();
    if chain {
        types.extend(chain_types);
    }
    types.retain(|t| !left_to_userspace(*t));
    types.sort_unstable();
    types.dedup();
    (types, chain)
}

pub(super) fn key(name: &[u8], qtype: u16, scope: u32) -> AnswerKey {
    AnswerKey::new(name, qtype, scope)
}

/// The hashes of `name` and of the names one label below it that its unit reads: the probe
/// candidates and the wildcard.
pub(super) fn own_names(name: &[u8]) -> Vec<u64> {
    let mut own = vec![name_hash(name)];
    if name.len() + 2 <= secdns_common::MAX_NAME_LEN {
        let mut below = vec![1, b'*'];
        below.extend_from_slice(name);
        for label in PROBE_LABELS.into_iter().chain([b'*']) {
            below[1] = label;
            own.push(name_hash(&below));
        }
    }
    own
}

/// `reads` but those of `name` itself, its probes and its wildcard (see [`own_names`]).
pub(super) fn reads_but_own(reads: Vec<Read>, name: &[u8]) -> Vec<Read> {
    let own = own_names(name);
    reads
        .into_iter()
        .filter(|(read, _)| !own.contains(read))
        .collect()
}

/// A name one label below `name` that does not exist, if one fits.
pub(super) fn probe_below(zone: &Zone, name: &[u8]) -> Option<Vec<u8>> {
    if name.len() + 2 > secdns_common::MAX_NAME_LEN {
        return None;
    }
    PROBE_LABELS.iter().find_map(|&label| {
        let mut probe = vec![1, label];
        probe.extend_from_slice(name);
        zone.node(&probe).is_none().then_some(probe)
    })
}

/// Whether the kernel may send `answer`: not an error, and for a name without CNAME, a
/// default that does not depend on the type asked (NODATA, a referral, NXDOMAIN) or a
/// positive answer for a type.
pub(super) fn usable(answer: &Answer<'_>, chain: bool, absent: bool) -> bool {
    answer.extended_error.is_none()
        && match (chain, absent) {
            (true, _) => matches!(answer.rcode, rcode::NOERROR | rcode::NXDOMAIN),
            (false, true) => {
                answer.rcode == rcode::NXDOMAIN
                    || answer.rcode == rcode::NOERROR && answer.answer.is_empty()
            }
            (false, false) => answer.rcode == rcode::NOERROR && !answer.answer.is_empty(),
        }
}

/// The body userspace would send for (qname, qtype), or for [`DEFAULT_QTYPE`] the body every
/// type without an entry gets. At a name without CNAME that is a positive answer for a type
/// present, and NODATA or a referral for the default; at a CNAME, whatever the chain gives.
pub(super) fn compile_name(
    snapshot: &Snapshot,
    qname: &[u8],
    qtype: u16,
    dnssec_ok: bool,
    chain: bool,
) -> Option<(Body, Vec<usize>)> {
    let absent = qtype == DEFAULT_QTYPE;
    let answer = lookup(
        snapshot,
        qname,
        if absent { ABSENT_TYPE } else { qtype },
        dnssec_ok,
    );
    // The name exists, so a default is never NXDOMAIN unless a chain ends there.
    let usable = usable(&answer, chain, absent) && (chain || answer.rcode == rcode::NOERROR);
    usable.then(|| {
        let (body, trace) = encode_traced(qname, &answer);
        (body, trace.serials)
    })
}

/// The entry for `name` holding `body`, compiled for a question name of `question_len`
/// bytes with the pointers at `fixups` to move for longer ones. The SOA serial at `serials`
/// (one at most) is left for the program to write from the zone's `slot`.
pub(super) fn pack(
    name: &[u8],
    question_len: usize,
    body: &Body,
    fixups: &[u16],
    serials: &[usize],
    slot: Option<ZoneSlot>,
) -> Option<Value> {
    if body.bytes.is_empty() || body.bytes.len() > MAX_BODY_LEN || name.len() >= NAME_BUF_LEN {
        return None;
    }
    let mut value = Value::pass(name);
    let mut bytes = body.bytes.clone();
    // The slot also counts the zone's answers in the kernel.
    value.zone_slot = slot.unwrap_or(NO_ZONE_SLOT);
    match (serials, slot) {
        ([], _) | (_, None) => {}
        ([at], Some(_)) => {
            let serial_at = u16::try_from(*at).ok().filter(|&at| at > 0)?;
            bytes.get_mut(*at..*at + 4)?.fill(0);
            value.serial_at = serial_at;
        }
        _ => return None,
    }
    value.flags = body.flags;
    value.ancount = body.ancount;
    value.nscount = body.nscount;
    value.arcount = body.arcount;
    value.question_len = question_len as u16;
    value.fixups = fixups.into();
    value.body_csum = ones_complement_sum(&bytes) as u32;
    value.body = bytes.into_boxed_slice();
    Some(value)
}
