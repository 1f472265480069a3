//! DNS Cookies (RFC 7873, server cookies as RFC 9018): the server cookie secdns makes is the
//! one Knot and BIND make for the same secret, client cookie, time and client address, so
//! that a fleet sharing a secret (secdns, Knot or BIND) accepts each other's cookies. Knot's
//! and BIND's own output are the reference.

use std::{net::SocketAddr, process::Command};

use secdns_common::cookie::server_cookie;
use secdns_tests::{
    EXAMPLE_ZONE,
    bind::Bind,
    knot::{Knot, KnotOptions, TsigSpec, free_port},
    prerequisites::require_tools,
};

/// The server cookie in kdig's output ("COOKIE: <client><server>"), as bytes.
fn server_cookie_in(output: &str) -> Vec<u8> {
    let line = output
        .lines()
        .find(|line| line.contains("COOKIE:"))
        .unwrap_or_else(|| panic!("no COOKIE in kdig's output:\n{output}"));
    let hex: String = line
        .split_once("COOKIE:")
        .map(|(_, rest)| rest)
        .unwrap_or_default()
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || c.is_whitespace())
        .filter(char::is_ascii_hexdigit)
        .collect();
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    assert!(bytes.len() > 8, "no server cookie in {line}");
    bytes[8..].to_vec()
}

/// The server cookies the server on loopback `port` makes for two client cookies are the
/// ones secdns makes with `secret` for the same time and address.
fn assert_server_cookies_made_with(port: u16, secret: &[u8; 16]) {
    for client in [[0x24, 0x64, 0xc4, 0xab, 0xcf, 0x10, 0xc9, 0x57], [1; 8]] {
        let hex: String = client.iter().map(|b| format!("{b:02x}")).collect();
        let output = Command::new("kdig")
            .args(["@127.0.0.1", "-p", &port.to_string()])
            .args([&format!("+cookie={hex}"), "example.com.", "SOA"])
            .output()
            .expect("running kdig");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let theirs = server_cookie_in(&text);
        assert_eq!(theirs.len(), 16, "an RFC 9018 server cookie:\n{text}");
        assert_eq!(theirs[0], 1, "version 1:\n{text}");
        let timestamp = u32::from_be_bytes([theirs[4], theirs[5], theirs[6], theirs[7]]);
        let ours = server_cookie(secret, &client, timestamp, &[127, 0, 0, 1]);
        assert_eq!(ours.as_slice(), theirs.as_slice(), "kdig's output:\n{text}");
        // Another address would be another cookie: the hash covers the client's.
        let elsewhere = server_cookie(secret, &client, timestamp, &[127, 0, 0, 2]);
        assert_ne!(elsewhere.as_slice(), theirs.as_slice());
    }
}

#[test]
fn our_server_cookie_is_the_one_knot_makes_for_the_same_secret() {
    let secret: [u8; 16] = core::array::from_fn(|i| 0xe5 ^ (i as u8 * 17));
    let mut options = KnotOptions::new("example.com.", EXAMPLE_ZONE);
    options.cookie_secret = Some(secret);
    let knot = Knot::start(options).unwrap();
    assert_server_cookies_made_with(knot.port, &secret);
}

/// BIND serving example.com. with cookies under `secret`.
fn bind_with_cookies(secret: [u8; 16]) -> Bind {
    require_tools(&["named"]);
    let key = TsigSpec::new("unused.", "hmac-sha256", b"no transfers in these tests");
    // NOTIFY is sent nowhere that listens.
    let nowhere = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
    let port = free_port().unwrap();
    Bind::start_with_cookie_secret("example.com.", EXAMPLE_ZONE, port, &key, nowhere, secret)
        .unwrap()
}

#[test]
fn our_server_cookie_is_the_one_bind_makes_for_the_same_secret() {
    let secret: [u8; 16] = core::array::from_fn(|i| 0x5b ^ (i as u8 * 13));
    let bind = bind_with_cookies(secret);
    assert_server_cookies_made_with(bind.port, &secret);
}

/// kdig at `port` on loopback with `+cookie=HEX`: (rcode, the COOKIE option's data).
fn kdig_cookie(port: u16, cookie: &[u8]) -> (String, Vec<u8>) {
    let hex: String = cookie.iter().map(|b| format!("{b:02x}")).collect();
    let output = Command::new("kdig")
        .args(["@127.0.0.1", "-p", &port.to_string(), "+norec", "+retry=0"])
        .args([&format!("+cookie={hex}"), "www.example.com.", "A"])
        .output()
        .expect("running kdig");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let status = text
        .split("status: ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_alphanumeric()).next())
        .unwrap_or_else(|| panic!("no status in kdig's output:\n{text}"))
        .to_owned();
    let mut data = CLIENT.to_vec();
    data.extend(server_cookie_in(&text));
    (status, data)
}

const CLIENT: [u8; 8] = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];

/// secdns serving example.com. with cookies under `secret`.
fn secdns_with_cookies(
    secret: [u8; 16],
) -> (secdns_tests::TempDir, secdns_tests::secdns::Secondary) {
    let dir = secdns_tests::TempDir::new("cookies").unwrap();
    let zone = dir.path().join("example.com.zone");
    std::fs::write(&zone, EXAMPLE_ZONE).unwrap();
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let secdns = secdns_tests::secdns::Secondary::start(&format!(
        "[cookies]\nsecret = \"{hex}\"\n\n[[zone]]\nname = \"example.com.\"\nfile = \"{}\"\n",
        zone.display()
    ))
    .unwrap();
    (dir, secdns)
}

/// A fleet of secdns and `peer` (on loopback `peer_port`) sharing `secret`: each accepts the
/// other's cookies. The peer answers BADCOOKIE to every cookie it does not accept; secdns
/// sends back a cookie it made itself (and that is fresh) as it came, and a new one for any
/// other.
fn assert_fleet(peer: &str, peer_port: u16, secret: [u8; 16]) {
    let (_dir, secdns) = secdns_with_cookies(secret);
    // Ours, made for a client cookie alone, is the peer's too: the peer answers it.
    let (status, ours) = kdig_cookie(secdns.port, &CLIENT);
    assert_eq!(status, "NOERROR");
    assert_eq!(ours.len(), 24);
    let (status, _) = kdig_cookie(peer_port, &ours);
    assert_eq!(status, "NOERROR", "{peer} took our cookie");
    // The peer's is ours: sent back as it came.
    let (_, theirs) = kdig_cookie(peer_port, &CLIENT);
    let (status, back) = kdig_cookie(secdns.port, &theirs);
    assert_eq!(status, "NOERROR");
    assert_eq!(back, theirs, "secdns took {peer}'s cookie");
    // A cookie under another secret: the peer says BADCOOKIE; secdns answers with a new one
    // (and it is no longer exempt from rate limits, which are off here).
    let timestamp = u32::from_be_bytes([ours[12], ours[13], ours[14], ours[15]]);
    let foreign = [
        &CLIENT[..],
        &server_cookie(&[9; 16], &CLIENT, timestamp, &[127, 0, 0, 1]),
    ]
    .concat();
    assert_eq!(kdig_cookie(peer_port, &foreign).0, "BADCOOKIE");
    let (status, renewed) = kdig_cookie(secdns.port, &foreign);
    assert_eq!(status, "NOERROR");
    assert_ne!(renewed, foreign);
    assert_eq!(
        kdig_cookie(peer_port, &renewed).0,
        "NOERROR",
        "{peer} took the new one"
    );
}

#[test]
fn secdns_and_knot_sharing_a_secret_accept_each_others_cookies() {
    let secret: [u8; 16] = core::array::from_fn(|i| 0x3c ^ (i as u8).wrapping_mul(29));
    let mut options = KnotOptions::new("example.com.", EXAMPLE_ZONE);
    options.cookie_secret = Some(secret);
    let knot = Knot::start(options).unwrap();
    assert_fleet("Knot", knot.port, secret);
}

#[test]
fn secdns_and_bind_sharing_a_secret_accept_each_others_cookies() {
    let secret: [u8; 16] = core::array::from_fn(|i| 0xa7 ^ (i as u8).wrapping_mul(41));
    let bind = bind_with_cookies(secret);
    assert_fleet("BIND", bind.port, secret);
}
