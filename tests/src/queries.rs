//! The queries the differential suites send: every owner of the differential zone and a
//! child of each, wildcard, DNAME and delegation names, pseudo-random names, and the types
//! asked for each.

use std::collections::BTreeSet;

/// The zone both differential suites serve.
pub const ZONE: &str = include_str!("../data/differential.zone");
pub const APEX: &str = "diff.example.";

pub fn names() -> Vec<String> {
    let owners = [
        "",
        "ns1",
        "mail",
        "www",
        "alias",
        "chain1",
        "chain2",
        "loop1",
        "outside",
        "dangling",
        "sub.wild",
        "a*b.star",
        "dname",
        "inzone",
        "deleg",
        "secure",
        "ns.deleg",
        "a.b.c.ent",
        "_sip._tcp",
        "hinfo",
        "caa",
        "ptr",
        "unknown",
        "big",
    ];
    let mut names = BTreeSet::new();
    for owner in owners {
        let name = if owner.is_empty() {
            APEX.to_string()
        } else {
            format!("{owner}.{APEX}")
        };
        names.insert(format!("nx.{name}"));
        names.insert(name);
    }
    for extra in [
        "x.wild",
        "a.b.wild",
        "wild",
        "x.sub.wild",
        "*.wild",
        "x.wcname",
        "x.wempty",
        "star",
        "axb.star",
        "x.dname",
        "a.b.dname",
        "x.inzone",
        "x.deleg",
        "b.c.ent",
        "c.ent",
        "ent",
        "nothere",
        "_tcp",
        "www.other.example.",
        "example.",
        "other.example.",
        "x.y.z.w",
    ] {
        names.insert(if extra.ends_with('.') {
            extra.to_string()
        } else {
            format!("{extra}.{APEX}")
        });
    }
    // And names nobody chose: deterministic pseudo-random labels under the apex and its
    // subtrees.
    let mut state: u64 = 0x5eed_d1ff;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    for _ in 0..24 {
        let len = 1 + next() % 12;
        let label: String = (0..len)
            .map(|_| (b'a' + (next() % 26) as u8) as char)
            .collect();
        let parent = ["", "wild.", "deleg.", "dname.", "c.ent.", "www."][next() % 6];
        names.insert(format!("{label}.{parent}{APEX}"));
    }
    names.into_iter().collect()
}

pub const TYPES: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("CNAME", 5),
    ("SOA", 6),
    ("PTR", 12),
    ("HINFO", 13),
    ("MX", 15),
    ("TXT", 16),
    ("AAAA", 28),
    ("SRV", 33),
    ("DNAME", 39),
    ("DS", 43),
    ("RRSIG", 46),
    ("NSEC", 47),
    ("DNSKEY", 48),
    ("NSEC3", 50),
    ("NSEC3PARAM", 51),
    ("CAA", 257),
    ("TYPE65280", 65280),
    ("ANY", 255),
];

/// Alternates letter case so that case handling is compared too.
pub fn mixed_case(name: &str) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}
