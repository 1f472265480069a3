//! Clients that stall: sending half a request head, nothing, a head a byte at a time, a
//! body that never completes, nothing after a request, or never reading a reply; and
//! clients refused for want of the token. Each is let go of in bounded time, and meanwhile
//! the operator is still answered.

use std::{
    io::{ErrorKind, Read, Write},
    net::TcpStream,
    thread,
    time::{Duration, Instant},
};

use secdns::control::api::{
    connections::{HEAD_TIME, MAX_CONNECTIONS, WRITE_STALL},
    error::BODY_TIME,
};
use secdns_tests::{api::Api, prerequisites::secdns_bin, records::hosts_zone, secdns::Secondary};
use socket2::{Domain, Socket, Type};

/// The longest the API waits for a client's body or for it to take some of a reply.
const LONGEST_WAIT: Duration = if BODY_TIME.as_secs() > WRITE_STALL.as_secs() {
    BODY_TIME
} else {
    WRITE_STALL
};
/// Long enough for any of them on a loaded machine: those beyond the 64 wait for a slot
/// first.
const WITHIN: Duration = Duration::from_secs(90);
const TOKEN: &str = "token-of-the-stalling-test";
/// Some 200,000 records: their listing (some 18 MB of JSON) is far more than the socket
/// buffers of a client that reads nothing can take.
const HOSTS: usize = 200_000;

/// Waits for the server to close `stream`, reading whatever it sent; fails if it is still
/// open after `within`.
fn closed_by_server(mut stream: TcpStream, within: Duration, what: &str) -> Vec<u8> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "{what}: still open after {within:?}");
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return got,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("{what}: still open after {within:?}")
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// A request head, with the token.
fn head(method: &str, path: &str, more: &str) -> String {
    format!("{method} {path} HTTP/1.1\r\nHost: secdns\r\nAuthorization: Bearer {TOKEN}\r\n{more}")
}

#[test]
fn stalling_clients_are_let_go() {
    let _ = secdns_bin();
    let dir = secdns_tests::TempDir::new("stalling").unwrap();
    let apex = "big.example.";
    let zone_file = dir.path().join("big.zone");
    std::fs::write(&zone_file, hosts_zone(apex, 1, HOSTS)).unwrap();
    let mut secondary = Secondary::start(&format!(
        "control_token = \"{TOKEN}\"\n\n[[zone]]\nname = \"{apex}\"\nfile = \"{}\"\n",
        zone_file.display()
    ))
    .unwrap();
    let control = secondary.control;
    let health = Api::new(control, Some(TOKEN)).call("GET", "/health", None);
    assert_eq!(health.unwrap().status, 200);

    // A reply never read: a client with a small receive buffer asks for the listing and
    // reads nothing. The server gives up on the write; the client finds the reply cut off.
    let unread = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    unread.set_recv_buffer_size(4096).unwrap();
    unread.connect(&control.into()).unwrap();
    let mut unread: TcpStream = unread.into();
    let unread_peer = unread.local_addr().unwrap();
    write!(
        unread,
        "{}\r\n",
        head("GET", &format!("/zones/{apex}/records"), "")
    )
    .unwrap();

    // A body that never completes: 408 once its time is up.
    let mut slow_body = TcpStream::connect(control).unwrap();
    let type_and_length = "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n";
    write!(
        slow_body,
        "{}{{\"name\":",
        head("POST", "/peers", type_and_length)
    )
    .unwrap();

    // A head a byte at a time, for ever: cut off once the head's time is up.
    let mut dribble = TcpStream::connect(control).unwrap();
    let dribbling = thread::spawn(move || {
        let start = Instant::now();
        dribble
            .write_all(head("GET", "/health", "X-Pad: ").as_bytes())
            .unwrap();
        while dribble.write_all(b"a").is_ok() {
            assert!(
                start.elapsed() < WITHIN,
                "a dribbled head: still taken after {WITHIN:?}"
            );
            thread::sleep(Duration::from_millis(200));
        }
    });

    // Nothing after one request: closed once idle for the head's time.
    let mut idle = TcpStream::connect(control).unwrap();
    write!(idle, "{}\r\n", head("GET", "/health", "")).unwrap();

    // Refused for want of the token: answered 401 and closed at once, not kept open.
    let mut refused = TcpStream::connect(control).unwrap();
    write!(refused, "GET /health HTTP/1.1\r\nHost: secdns\r\n\r\n").unwrap();
    let reply = closed_by_server(refused, HEAD_TIME / 2, "a refused client");
    assert!(
        reply.starts_with(b"HTTP/1.1 401"),
        "{}",
        String::from_utf8_lossy(&reply)
    );

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
    let waiting = thread::spawn(move || {
        for (i, stream) in stalled.into_iter().enumerate() {
            closed_by_server(stream, WITHIN, &format!("stalled connection {i}"));
        }
    });
    // The operator, on a connection of its own, waits for a slot, not for ever.
    let health = Api::new(control, Some(TOKEN)).call("GET", "/health", None);
    assert_eq!(health.unwrap().status, 200);

    let reply = closed_by_server(slow_body, WITHIN, "a body that never ends");
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("did not arrive"), "{reply}");
    let reply = closed_by_server(idle, WITHIN, "an idle connection");
    assert!(
        reply.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    dribbling.join().unwrap();

    // Had the server waited for the reader, the whole reply would be read here.
    let server = secondary.process.as_mut().unwrap();
    let given_up = format!("peer={unread_peer}");
    server
        .wait_until("giving up on the unread reply", WITHIN, |out| {
            out.lines()
                .any(|line| line.contains("connection ended") && line.contains(&given_up))
        })
        .unwrap();
    let reply = closed_by_server(unread, LONGEST_WAIT, "a reply never read");
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
        reply.len() < length,
        "read all {length} bytes: the server waited for the reader"
    );

    waiting.join().unwrap();
    // With all of them let go of, the API serves as before.
    let zones = Api::new(control, Some(TOKEN)).call("GET", "/zones", None);
    assert_eq!(zones.unwrap().status, 200);
}
