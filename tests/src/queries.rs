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

/// The owner names written in `zone_text` (a zone file of `apex` whose owners are relative to
/// the apex or absolute, as operators and signers write them), each once, in order.
pub fn owners(apex: &str, zone_text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in zone_text.lines() {
        let Some(first) = line.split_whitespace().next() else {
            continue;
        };
        if line.starts_with(char::is_whitespace) || first.starts_with([';', '$', '(', ')']) {
            continue;
        }
        let name = match first {
            "@" => apex.to_string(),
            absolute if absolute.ends_with('.') => absolute.to_string(),
            relative => format!("{relative}.{apex}"),
        };
        if !out.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
            out.push(name);
        }
    }
    out
}

/// [`names`], and the owners written in `zone_text` (a version of [`ZONE`]) besides them: a
/// signed copy's names that own only NSEC3 records (RFC 5155 §7.2.8).
pub fn names_and_owners(zone_text: &str) -> Vec<String> {
    let mut asked = names();
    let new: Vec<String> = owners(APEX, zone_text)
        .into_iter()
        .filter(|n| !asked.contains(n))
        .collect();
    asked.extend(new);
    asked
}

/// `owners` of each zone, and for each a name below it that does not exist.
pub fn owners_and_below(zones: &[(&str, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (apex, text) in zones {
        for owner in owners(apex, text) {
            let below = if owner.starts_with("*.") {
                format!("nx{}", &owner[1..])
            } else {
                format!("nx.{owner}")
            };
            for name in [owner, below] {
                if !out.contains(&name) {
                    out.push(name);
                }
            }
        }
    }
    out
}

/// The corners zone (chains into cuts, a wildcard that is only an empty non-terminal,
/// additional sections and glue that do not fit) and two child zones served beside it.
pub fn corner_zones() -> Vec<(&'static str, String)> {
    vec![
        (CORNERS_APEX, CORNERS_ZONE.to_string()),
        (
            "child.corners.example.",
            include_str!("../data/corners-child.zone").to_string(),
        ),
        (
            "child2.corners.example.",
            include_str!("../data/corners-child2.zone").to_string(),
        ),
    ]
}

pub const CORNERS_APEX: &str = "corners.example.";
pub const CORNERS_ZONE: &str = include_str!("../data/corners.zone");

/// Names of the corners zones worth asking beyond their owners.
const CORNER_NAMES: &[&str] = &[
    "x.to-deleg.corners.example.",
    "host.deleg.corners.example.",
    "a.b.deleg.corners.example.",
    "x.into.corners.example.",
    "ns.into.corners.example.",
    "x.wc.corners.example.",
    "x.went.corners.example.",
    "*.went.corners.example.",
    "x.went2.corners.example.",
    "x.wok.corners.example.",
    "www.secure.corners.example.",
    "a.b.outside.corners.example.",
    "www.child.corners.example.",
    "x.sub.child.corners.example.",
    "x.child2.corners.example.",
];

pub fn corner_names(zones: &[(&str, String)]) -> Vec<String> {
    let mut names = owners_and_below(zones);
    for name in CORNER_NAMES {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    names
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
