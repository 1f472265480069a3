//! DNS Cookies (RFC 7873, server cookies as RFC 9018): the server cookie secdns makes is the
//! one Knot makes for the same secret, client cookie, time and client address, so that a
//! fleet sharing a secret (secdns or Knot) accepts each other's cookies. Knot's own output is
//! the reference.

use std::process::Command;

use secdns_common::cookie::server_cookie;
use secdns_tests::{
    EXAMPLE_ZONE,
    knot::{Knot, KnotOptions},
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

#[test]
fn our_server_cookie_is_the_one_knot_makes_for_the_same_secret() {
    let secret: [u8; 16] = core::array::from_fn(|i| 0xe5 ^ (i as u8 * 17));
    let mut options = KnotOptions::new("example.com.", EXAMPLE_ZONE);
    options.cookie_secret = Some(secret);
    let knot = Knot::start(options).unwrap();
    for client in [[0x24, 0x64, 0xc4, 0xab, 0xcf, 0x10, 0xc9, 0x57], [1; 8]] {
        let hex: String = client.iter().map(|b| format!("{b:02x}")).collect();
        let output = Command::new("kdig")
            .args(["@127.0.0.1", "-p", &knot.port.to_string()])
            .args([&format!("+cookie={hex}"), "example.com.", "SOA"])
            .output()
            .expect("running kdig");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let knots = server_cookie_in(&text);
        assert_eq!(knots.len(), 16, "an RFC 9018 server cookie:\n{text}");
        assert_eq!(knots[0], 1, "version 1:\n{text}");
        let timestamp = u32::from_be_bytes([knots[4], knots[5], knots[6], knots[7]]);
        let ours = server_cookie(&secret, &client, timestamp, &[127, 0, 0, 1]);
        assert_eq!(ours.as_slice(), knots.as_slice(), "kdig's output:\n{text}");
        // Another address would be another cookie: the hash covers the client's.
        let elsewhere = server_cookie(&secret, &client, timestamp, &[127, 0, 0, 2]);
        assert_ne!(elsewhere.as_slice(), knots.as_slice());
    }
}
