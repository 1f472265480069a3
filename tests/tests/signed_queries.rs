//! Queries signed with TSIG (RFC 8945 §5.2), sent by `dig -y` to knotd and to secdns serving
//! the same zone with the same key: a known key gets a signed answer that dig verifies; an
//! unknown key, a wrong secret or a name outside every zone gets what knotd gives (NOTAUTH
//! with BADKEY or BADSIG in an unsigned TSIG, REFUSED). And NOTIFY replies as Knot gives
//! them: OPT when the NOTIFY had one (RFC 6891 §7), FORMERR for a malformed one, which is not
//! acted on.

use std::{
    net::{SocketAddr, UdpSocket},
    time::Duration,
};

use secdns_tests::{
    dig::DigAnswer,
    frame::QueryBuilder,
    knot::{Knot, KnotOptions, TsigSpec},
    prerequisites::{require_tools, secdns_bin},
    queries::{APEX, ZONE},
    secdns::Secondary,
};

fn key(name: &str, secret: &[u8]) -> TsigSpec {
    TsigSpec::new(name, "hmac-sha256", secret)
}

/// The TSIG record dig shows (in its pseudosection), without the fields that differ every
/// time (time signed, MAC, original ID): key, algorithm and error.
fn tsig_summary(answer: &DigAnswer) -> Option<String> {
    let mut lines = answer.raw.lines();
    lines.find(|line| line.starts_with(";; TSIG PSEUDOSECTION:"))?;
    let fields: Vec<&str> = lines.next()?.split_whitespace().collect();
    let error = fields
        .iter()
        .find(|f| f.starts_with("BAD") || **f == "NOERROR")
        .copied()
        .unwrap_or("?");
    Some(format!("{} {} {error}", fields.first()?, fields.get(4)?))
}

fn verified(answer: &DigAnswer) -> bool {
    !answer.raw.contains("could not be validated") && !answer.raw.contains("Couldn't verify")
}

/// (what, the key dig signs with, the name asked, whether the answer must verify, the
/// status, the TSIG error shown).
type Case<'a> = (
    &'a str,
    &'a TsigSpec,
    &'a str,
    bool,
    &'a str,
    Option<&'a str>,
);

#[test]
fn signed_queries_are_answered_and_refused_as_knot_does() {
    require_tools(&["knotd", "dig"]);
    let _ = secdns_bin();
    let known = key("query-key.", b"0123456789abcdef0123456789abcdef");
    let mut options = KnotOptions::new(APEX, ZONE);
    // knotd knows a key for queries when an ACL of the zone names it.
    options.key = Some(known.clone());
    let knot = Knot::start(options).unwrap();
    let zone_file = std::env::temp_dir().join(format!("secdns-signed-{}.zone", std::process::id()));
    std::fs::write(&zone_file, ZONE).unwrap();
    let secdns = Secondary::start(&format!(
        "[[tsig]]\nname = \"{}\"\nalgorithm = \"{}\"\nsecret = \"{}\"\n\n\
         [[zone]]\nname = \"{APEX}\"\nfile = \"{}\"\n",
        known.name,
        known.algorithm,
        known.secret,
        zone_file.display()
    ))
    .unwrap();
    let wrong_secret = key("query-key.", b"fedcba9876543210fedcba9876543210");
    let unknown = key("stranger-key.", b"0123456789abcdef0123456789abcdef");
    let www = format!("www.{APEX}");
    // The key's name in capitals is the same key (RFC 8945 §4.3.3 signs its canonical form).
    let shouting = TsigSpec {
        name: known.name.to_uppercase(),
        ..known.clone()
    };
    let cases: [Case; 6] = [
        (
            "known key",
            &known,
            www.as_str(),
            true,
            "NOERROR",
            Some("NOERROR"),
        ),
        (
            "known key, TCP",
            &known,
            www.as_str(),
            true,
            "NOERROR",
            Some("NOERROR"),
        ),
        (
            "known key in capitals",
            &shouting,
            www.as_str(),
            true,
            "NOERROR",
            Some("NOERROR"),
        ),
        (
            "wrong secret",
            &wrong_secret,
            www.as_str(),
            false,
            "NOTAUTH",
            Some("BADSIG"),
        ),
        (
            "unknown key",
            &unknown,
            www.as_str(),
            false,
            "NOTAUTH",
            Some("BADKEY"),
        ),
        (
            "outside every zone",
            &known,
            "www.example.org.",
            false,
            "REFUSED",
            None,
        ),
    ];
    for (what, spec, name, valid, status, tsig_error) in cases {
        let y = spec.dig_arg();
        let mut extra = vec!["-y", y.as_str()];
        if what.ends_with("TCP") {
            extra.push("+tcp");
        }
        let theirs = knot.query(name, "A", &extra).unwrap();
        let ours = secdns.query_with(name, "A", &extra).unwrap();
        assert_eq!(theirs.status, status, "{what}: knotd\n{}", theirs.raw);
        assert_eq!(ours.status, status, "{what}: secdns\n{}", ours.raw);
        assert_eq!(
            tsig_summary(&ours),
            tsig_summary(&theirs),
            "{what}: the TSIG error\nknotd:\n{}\nsecdns:\n{}",
            theirs.raw,
            ours.raw
        );
        assert_eq!(
            tsig_summary(&ours).is_some(),
            tsig_error.is_some(),
            "{what}: an error in a TSIG record or none\n{}",
            ours.raw
        );
        if valid {
            assert!(
                verified(&ours),
                "{what}: dig verifies our signature\n{}",
                ours.raw
            );
            assert_eq!(ours.sections, theirs.sections, "{what}: the same answer");
        }
        if let Some(error) = tsig_error {
            let summary = tsig_summary(&ours).unwrap_or_default();
            assert!(summary.ends_with(error), "{what}: {summary}\n{}", ours.raw);
        }
    }
    // A key added while serving signs queries from then on.
    let added = key("added-key.", b"fedcba9876543210fedcba9876543210");
    let y = added.dig_arg();
    let before = secdns.query_with(&www, "A", &["-y", &y]).unwrap();
    assert_eq!(before.status, "NOTAUTH", "{}", before.raw);
    secdns.cli(&added.cli_add_args()).unwrap();
    let after = secdns.query_with(&www, "A", &["-y", &y]).unwrap();
    assert_eq!(after.status, "NOERROR", "{}", after.raw);
    assert!(verified(&after), "{}", after.raw);
    let _ = std::fs::remove_file(&zone_file);
}

/// A NOTIFY for `zone`: the SOA in the answer section when `soa` is given (its record data),
/// an OPT when `edns`.
fn notify(zone: &str, qtype: u16, soa: Option<&[u8]>, edns: bool) -> Vec<u8> {
    let mut builder = QueryBuilder::new(zone, qtype);
    builder.flags = 0x2000 | 0x0400; // NOTIFY, AA
    if edns {
        builder = builder.with_opt(1232, false);
    }
    let mut message = builder.build();
    let Some(rdata) = soa else {
        return message;
    };
    // The answer section goes between the question and the OPT record.
    let question_end = 12 + zone.parse::<secdns::dns::Name>().unwrap().wire().len() + 4;
    let mut record = vec![0xc0, 0x0c, 0, 6, 0, 1, 0, 0, 0x0e, 0x10];
    record.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    record.extend_from_slice(rdata);
    message.splice(question_end..question_end, record);
    message[7] = 1; // ANCOUNT
    message
}

fn ask(server: SocketAddr, message: &[u8]) -> Vec<u8> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    socket.send_to(message, server).unwrap();
    let mut buf = [0u8; 4096];
    let (len, _) = socket.recv_from(&mut buf).expect("a reply to the NOTIFY");
    buf[..len].to_vec()
}

#[test]
fn notify_replies_carry_opt_and_malformed_ones_are_refused() {
    require_tools(&["knotd"]);
    let _ = secdns_bin();
    let primary = Knot::serve_zone(APEX, ZONE).unwrap();
    let secdns = Secondary::start(&format!(
        "[[peer]]\nname = \"knot\"\naddress = \"127.0.0.1\"\nport = {}\n\n\
         [[zone]]\nname = \"{APEX}\"\npeers = [\"knot\"]\n",
        primary.port
    ))
    .unwrap();
    secdns
        .wait_for(APEX, Duration::from_secs(10), "the first transfer", |s| {
            s.serial.is_some()
        })
        .unwrap();
    let server = SocketAddr::from(([127, 0, 0, 1], secdns.port));
    // MNAME and RNAME at the root, then the five numbers.
    let soa: Vec<u8> = [&[0u8, 0][..], &[0u8; 20][..]].concat();

    let with_edns = ask(server, &notify(APEX, 6, Some(&soa), true));
    assert_eq!(with_edns[3] & 0x0f, 0, "NOERROR");
    assert_eq!(
        with_edns[2] & 0x04,
        0,
        "not authoritative data: no AA, as Knot"
    );
    assert_eq!(&with_edns[10..12], &[0, 1], "an OPT, as the NOTIFY had one");
    let opt_at = with_edns.len() - 11;
    assert_eq!(&with_edns[opt_at..opt_at + 3], &[0, 0, 41]);
    let plain = ask(server, &notify(APEX, 6, None, false));
    assert_eq!((plain[3] & 0x0f, &plain[10..12]), (0, &[0u8, 0][..]));

    // The log is written behind the replies: let the accepted ones reach it first.
    std::thread::sleep(Duration::from_millis(300));
    let log_before = secdns.log().matches("NOTIFY accepted").count();
    assert_eq!(log_before, 2, "both well-formed NOTIFYs were accepted");
    let short_soa = &soa[..soa.len() - 3];
    let malformed = ask(server, &notify(APEX, 6, Some(short_soa), true));
    assert_eq!(malformed[3] & 0x0f, 1, "FORMERR for a SOA cut short");
    assert_eq!(
        &malformed[10..12],
        &[0, 0],
        "no OPT in reply to a message not understood"
    );
    let not_soa = ask(server, &notify(APEX, 1, None, false));
    assert_eq!(not_soa[3] & 0x0f, 1, "FORMERR for a NOTIFY about type A");
    std::thread::sleep(Duration::from_millis(200));
    let log = secdns.log();
    assert_eq!(
        log.matches("NOTIFY accepted").count(),
        log_before,
        "neither was acted on:\n{log}"
    );
    assert!(log.contains("malformed NOTIFY ignored"), "{log}");
}
