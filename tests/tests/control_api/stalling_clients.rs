//! Clients that stall: sending half a request head or nothing, a body that never
//! completes, or never reading a reply. Each is let go of in bounded time, and meanwhile
//! the operator is still answered.

use std::{
    io::{ErrorKind, Read, Write},
    net::TcpStream,
    thread,
    time::{Duration, Instant},
};

use secdns_tests::{api::Api, prerequisites::secdns_bin, secdns::Secondary};
use socket2::{Domain, Socket, Type};

/// The API's bounds (`control/api/connections.rs`, `control/api/error.rs`): 64 connections
/// at once, 10 s for a request head, 20 s for a body or one stalled write.
const MAX_CONNECTIONS: usize = 64;
const LONGEST_WAIT: Duration = Duration::from_secs(20);

/// A zone whose record listing (some 18 MB of JSON) is far more than the socket buffers
/// of a client that reads nothing can take.
fn big_zone(apex: &str) -> String {
    let mut text = format!("$ORIGIN {apex}\n$TTL 60\n@ SOA ns hm 1 3600 600 86400 60\n@ NS ns\n");
    for i in 0..200_000 {
        text.push_str(&format!("h{i} A 192.0.2.{}\n", i % 250 + 1));
    }
    text
}

/// Waits for the server to close `stream`, reading (and counting) whatever it sent; fails
/// if it is still open after `within`.
fn closed_by_server(mut stream: TcpStream, within: Duration, what: &str) -> (usize, Vec<u8>) {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "{what}: still open after {within:?}");
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return (got.len(), got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return (got.len(), got),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("{what}: still open after {within:?}")
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

#[test]
fn stalling_clients_are_let_go() {
    let _ = secdns_bin();
    let dir = secdns_tests::TempDir::new("stalling").unwrap();
    let apex = "big.example.";
    let zone_file = dir.path().join("big.zone");
    std::fs::write(&zone_file, big_zone(apex)).unwrap();
    let secondary = Secondary::start(&format!(
        "[[zone]]\nname = \"{apex}\"\nfile = \"{}\"\n",
        zone_file.display()
    ))
    .unwrap();
    let control = secondary.control;
    let api = Api::new(control, None);
    assert_eq!(api.call("GET", "/health", None).unwrap().status, 200);

    // A reply never read: a client with a small receive buffer asks for the listing and
    // reads nothing. The server gives up on the write; the client finds the reply cut off.
    let unread = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    unread.set_recv_buffer_size(4096).unwrap();
    unread.connect(&control.into()).unwrap();
    let mut unread: TcpStream = unread.into();
    write!(
        unread,
        "GET /zones/{apex}/records HTTP/1.1\r\nHost: secdns\r\n\r\n"
    )
    .unwrap();

    // A body that never completes: 408 once its time is up.
    let mut slow_body = TcpStream::connect(control).unwrap();
    slow_body
        .write_all(
            b"POST /peers HTTP/1.1\r\nHost: secdns\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"name\":",
        )
        .unwrap();

    // More connections than the API serves at once: half a head, or nothing.
    let stalled: Vec<TcpStream> = (0..MAX_CONNECTIONS + 16)
        .map(|i| {
            let mut stream = TcpStream::connect(control).unwrap();
            if i % 2 == 0 {
                stream.write_all(b"GET /health HTTP/1.1\r\nHo").unwrap();
            }
            stream
        })
        .collect();
    // Those beyond the 64 wait for a slot, so they take up to twice the head's time.
    let waiting = thread::spawn(move || {
        for (i, stream) in stalled.into_iter().enumerate() {
            closed_by_server(stream, 3 * LONGEST_WAIT, &format!("stalled connection {i}"));
        }
    });
    // The operator waits for a slot, not for ever.
    let health = api.call("GET", "/health", None).unwrap();
    assert_eq!(health.status, 200, "{}", health.body);

    let (_, reply) = closed_by_server(slow_body, 3 * LONGEST_WAIT, "a body that never ends");
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("did not arrive"), "{reply}");

    // Had the server waited for the reader, the whole reply would be read here.
    thread::sleep(LONGEST_WAIT + Duration::from_secs(5));
    let (read, reply) = closed_by_server(unread, LONGEST_WAIT, "a reply never read");
    let head = String::from_utf8_lossy(&reply[..reply.len().min(1024)]).to_lowercase();
    let length: usize = head
        .split("content-length: ")
        .nth(1)
        .and_then(|rest| rest.split("\r\n").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no content-length in {head}"));
    assert!(
        length > 10 << 20,
        "a listing of {length} bytes is too short a test"
    );
    assert!(
        read < length,
        "read all {read} bytes: the server waited for the reader"
    );

    waiting.join().unwrap();
    // Let go of all of them, the API serves as before.
    let zones = api.call("GET", "/zones", None).unwrap();
    assert_eq!(zones.status, 200, "{}", zones.body);
}
