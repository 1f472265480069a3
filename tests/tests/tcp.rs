//! TCP per RFC 7766: many queries on one connection, sent back to back before any reply is
//! read, each answered; an idle connection is closed after the idle timeout; one client
//! cannot hold more than its share of connections, and at the limit the connection idle the
//! longest makes room (§6.2.3), so that other clients are answered at once; the idle
//! timeout is told to clients that ask (edns-tcp-keepalive, RFC 7828); a client that sends a
//! byte at a time or never reads its replies holds a connection for an idle timeout at most.

use std::{
    io::{ErrorKind, Read, Write},
    net::{SocketAddr, TcpStream},
    process::Command,
    time::{Duration, Instant},
};

use secdns_tests::{
    EXAMPLE_ZONE, dig, frame::QueryBuilder, prerequisites::secdns_bin, secdns::Secondary,
};
use socket2::{Domain, Protocol, Socket, Type};

fn server() -> (Secondary, std::path::PathBuf) {
    server_with("tcp_idle_timeout = 2\n")
}

/// A server for example.com with `settings` in its `[server]` table.
fn server_with(settings: &str) -> (Secondary, std::path::PathBuf) {
    server_with_records(settings, "")
}

/// As [`server_with`], with `records` added to the zone.
fn server_with_records(settings: &str, records: &str) -> (Secondary, std::path::PathBuf) {
    let _ = secdns_bin();
    let file = std::env::temp_dir().join(format!(
        "secdns-tcp-{}-{:?}.zone",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&file, format!("{EXAMPLE_ZONE}\n{records}")).unwrap();
    // The first lines continue the [server] table that `Secondary` writes.
    let config = format!(
        "{settings}\n[[zone]]\nname = \"example.com.\"\nfile = \"{}\"\n",
        file.display()
    );
    let secdns = Secondary::start(&config).unwrap();
    (secdns, file)
}

/// A TCP connection to the server from `source`: every 127/8 address is this host's, so
/// each stands for another client.
fn connect_from(source: [u8; 4], port: u16) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    socket.bind(&SocketAddr::from((source, 0)).into()).unwrap();
    socket
        .connect(&SocketAddr::from(([127, 0, 0, 1], port)).into())
        .unwrap();
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
}

/// `query` as sent over TCP: its length first (RFC 1035 §4.2.2).
fn framed(query: &[u8]) -> Vec<u8> {
    [&(query.len() as u16).to_be_bytes(), query].concat()
}

/// www.example.com A, framed for TCP.
fn www_query() -> Vec<u8> {
    framed(&QueryBuilder::new("www.example.com.", 1).build())
}

/// Asks www.example.com A on `stream`: whether the reply is NOERROR with answers.
fn ask(stream: &mut TcpStream) -> std::io::Result<bool> {
    stream.write_all(&www_query())?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len)?;
    let mut reply = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut reply)?;
    let (rcode, answers) = (reply[3] & 0x0f, u16::from_be_bytes([reply[6], reply[7]]));
    Ok(rcode == 0 && answers > 0)
}

/// Whether the server closed `stream` (a read sees its end, or a reset) within `wait`.
fn closed_by_server(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let seen = match stream.read(&mut [0u8; 1]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    seen
}

/// A new client's query, from connecting to the reply, answered well within 100 ms.
fn answered_at_once(source: [u8; 4], port: u16) -> TcpStream {
    let started = Instant::now();
    let mut stream = connect_from(source, port);
    let answered = ask(&mut stream).expect("a new client's TCP query is answered");
    let took = started.elapsed();
    assert!(answered, "www.example.com A from {source:?}");
    assert!(
        took < Duration::from_millis(100),
        "a new client waited {took:?} for its TCP answer"
    );
    stream
}

/// `secdns stats` counter `name`.
fn stat(secdns: &Secondary, name: &str) -> u64 {
    let text = secdns.cli(&["stats"]).unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in secdns stats:\n{text}"))
}

#[test]
fn one_client_holding_idle_connections_starves_nobody() {
    let (secdns, file) =
        server_with("tcp_idle_timeout = 30\ntcp_max_connections = 16\ntcp_max_per_client = 4\n");
    // A client opens ten times its share and sends nothing.
    let mut hoard: Vec<TcpStream> = (0..40)
        .map(|_| connect_from([127, 0, 0, 2], secdns.port))
        .collect();
    // Its first four are its share; the server closes the rest at once.
    for (i, stream) in hoard.iter_mut().enumerate().skip(4) {
        assert!(
            closed_by_server(stream, Duration::from_secs(2)),
            "connection {i} beyond the client's share was left open"
        );
    }
    for stream in &mut hoard[..4] {
        assert!(!closed_by_server(stream, Duration::from_millis(50)));
        assert!(ask(stream).unwrap(), "a connection within the share");
    }
    // Everyone else is answered at once, every time, and dig over TCP too.
    for _ in 0..20 {
        answered_at_once([127, 0, 0, 3], secdns.port);
    }
    let mut command = Command::new("dig");
    command.args(["-b", "127.0.0.4", "+tcp"]);
    let answer = dig::query(
        command,
        "127.0.0.1",
        secdns.port,
        "www.example.com.",
        "A",
        &[],
    )
    .unwrap();
    assert_eq!(answer.status, "NOERROR");
    assert!(!answer.section("ANSWER").is_empty(), "{answer:?}");
    assert_eq!(stat(&secdns, "tcp_refused_per_client"), 36);
    assert_eq!(stat(&secdns, "tcp_idle_closed"), 0);
    let _ = std::fs::remove_file(file);
}

#[test]
fn at_the_limit_the_connection_idle_longest_makes_room() {
    let (secdns, file) =
        server_with("tcp_idle_timeout = 30\ntcp_max_connections = 8\ntcp_max_per_client = 4\n");
    // Eight idle connections, oldest first, each seen answered (so admitted, in this order).
    let mut held: Vec<TcpStream> = [[127, 0, 0, 2], [127, 0, 0, 3]]
        .into_iter()
        .flat_map(|source| (0..4).map(move |_| source))
        .map(|source| {
            let mut stream = connect_from(source, secdns.port);
            assert!(ask(&mut stream).unwrap());
            stream
        })
        .collect();
    // A new client is answered at once, and the oldest idle connection made room for it.
    let _newcomer = answered_at_once([127, 0, 0, 4], secdns.port);
    assert!(
        closed_by_server(&mut held[0], Duration::from_secs(2)),
        "the oldest idle connection was left open at the limit"
    );
    // The next one takes the next oldest; the others stay and are answered.
    let _another = answered_at_once([127, 0, 0, 5], secdns.port);
    assert!(closed_by_server(&mut held[1], Duration::from_secs(2)));
    for (i, stream) in held.iter_mut().enumerate().skip(2) {
        assert!(
            ask(stream).unwrap(),
            "connection {i}, not the oldest, was closed"
        );
    }
    assert_eq!(stat(&secdns, "tcp_idle_closed"), 2);
    assert_eq!(stat(&secdns, "tcp_refused_per_client"), 0);
    let _ = std::fs::remove_file(file);
}

#[test]
fn pipelined_queries_are_all_answered() {
    let (secdns, file) = server();
    let mut stream = TcpStream::connect(("127.0.0.1", secdns.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let names = [
        "www.example.com.",
        "mail.example.com.",
        "nope.example.com.",
        "example.org.",
        "txt.example.com.",
    ];
    let mut all = Vec::new();
    for i in 0..50u16 {
        let mut query = QueryBuilder::new(names[i as usize % names.len()], 1);
        query.id = i;
        all.extend_from_slice(&framed(&query.build()));
    }
    stream.write_all(&all).unwrap();
    let mut ids = Vec::new();
    for _ in 0..50 {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).unwrap();
        let mut reply = vec![0u8; u16::from_be_bytes(len) as usize];
        stream.read_exact(&mut reply).unwrap();
        ids.push(u16::from_be_bytes([reply[0], reply[1]]));
    }
    ids.sort();
    assert_eq!(ids, (0..50).collect::<Vec<u16>>());
    let _ = std::fs::remove_file(file);
}

#[test]
fn idle_connections_are_closed() {
    let (secdns, file) = server();
    let mut stream = TcpStream::connect(("127.0.0.1", secdns.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 1];
    // The idle timeout is 2 s: the server closes, and the read sees the end.
    let read = stream.read(&mut buf).unwrap_or(0);
    assert_eq!(read, 0, "the server closed the idle connection");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "closed before the idle timeout"
    );
    let _ = std::fs::remove_file(file);
}

#[test]
fn the_idle_timeout_is_told_to_clients_that_ask_over_tcp() {
    let (secdns, file) = server_with("tcp_idle_timeout = 30\n");
    let dig = |extra: &[&str]| {
        let output = Command::new("dig")
            .args(["@127.0.0.1", "-p", &secdns.port.to_string(), "+norec"])
            .args(["+time=2", "+tries=1", "www.example.com.", "A"])
            .args(extra)
            .output()
            .expect("running dig");
        assert!(output.status.success(), "dig {extra:?} failed");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let keepalive_line = |text: &str| {
        text.lines()
            .find(|line| line.contains("KEEPALIVE"))
            .map(str::to_owned)
    };
    // 30 s, as 300 units of 100 ms.
    let tcp = dig(&["+tcp", "+keepalive"]);
    let line = keepalive_line(&tcp).unwrap_or_else(|| panic!("no keepalive in\n{tcp}"));
    assert!(line.contains("30.0 secs"), "{line}");
    assert!(tcp.contains("status: NOERROR"), "{tcp}");
    // Not asked, or over UDP (RFC 7828 §3.2.1): not told.
    assert_eq!(keepalive_line(&dig(&["+tcp"])), None);
    assert_eq!(keepalive_line(&dig(&["+keepalive"])), None);
    let _ = std::fs::remove_file(file);
}

#[test]
fn a_client_sending_a_byte_at_a_time_is_cut_off_after_the_idle_timeout() {
    let (secdns, file) = server_with("tcp_idle_timeout = 2\n");
    let query = www_query();
    let mut stream = connect_from([127, 0, 0, 2], secdns.port);
    let started = Instant::now();
    // A byte every 300 ms: each arrives well within the idle timeout, the whole query
    // would take ten seconds.
    let mut cut_off = None;
    for byte in &query {
        if stream.write_all(&[*byte]).is_err() {
            cut_off = Some(started.elapsed());
            break;
        }
        if closed_by_server(&mut stream, Duration::from_millis(300)) {
            cut_off = Some(started.elapsed());
            break;
        }
    }
    let cut_off = cut_off.expect("the server took a query sent a byte at a time to its end");
    assert!(
        cut_off < Duration::from_secs(5),
        "the slow client held its connection for {cut_off:?} (idle timeout 2 s)"
    );
    let _ = std::fs::remove_file(file);
}

#[test]
fn a_client_that_never_reads_its_replies_is_cut_off_and_starves_nobody() {
    // Forty 200-byte TXT records: an 8 KB answer.
    let big: String = (0..40)
        .map(|i| format!("big IN TXT \"{i:03}{}\"\n", "x".repeat(197)))
        .collect();
    let (secdns, file) = server_with_records("tcp_idle_timeout = 2\n", &big);
    let mut stream = connect_from([127, 0, 0, 2], secdns.port);
    // A small receive buffer, then queries for big answers, never read: the server's writes
    // block once the socket buffers are full (2,000 answers are 16 MB).
    socket2::SockRef::from(&stream)
        .set_recv_buffer_size(4096)
        .unwrap();
    let queries = framed(&QueryBuilder::new("big.example.com.", 16).build()).repeat(2000);
    stream
        .set_write_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let started = Instant::now();
    // The server stops reading while it cannot write; what does not fit waits here.
    let _ = stream.write_all(&queries);
    // Meanwhile others are answered at once.
    answered_at_once([127, 0, 0, 3], secdns.port);
    // The stuck writer gives up after the idle timeout and closes: reading now finds the
    // replies that fit, then the end (or a reset).
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let (mut sink, mut received) = (vec![0u8; 1 << 16], 0);
    let ended = loop {
        match stream.read(&mut sink) {
            Ok(0) => break true,
            Ok(read) => received += read,
            Err(e) => break !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        }
    };
    assert!(
        ended,
        "the connection of a client that does not read stayed open"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    // It gave up writing: most of the 16 MB of answers were never sent.
    assert!(
        received < 8 << 20,
        "{received} bytes of answers reached a client that read none for 3 s"
    );
    let _ = std::fs::remove_file(file);
}

#[test]
fn with_every_connection_busy_a_new_one_waits_for_one_to_go_idle() {
    let (secdns, file) =
        server_with("tcp_idle_timeout = 10\ntcp_max_connections = 2\ntcp_max_per_client = 2\n");
    let query = www_query();
    // Two connections in the middle of a query each: busy, not to be closed.
    let mut busy: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut stream = connect_from([127, 0, 0, 2], secdns.port);
            stream.write_all(&query[..5]).unwrap();
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // A newcomer's query waits: nothing can make room yet.
    let newcomer = std::thread::spawn({
        let port = secdns.port;
        move || {
            let started = Instant::now();
            let mut stream = connect_from([127, 0, 0, 3], port);
            let answered = ask(&mut stream).unwrap();
            (answered, started.elapsed())
        }
    });
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        !newcomer.is_finished(),
        "answered while every connection was busy"
    );
    // One busy connection finishes its query and goes idle: the newcomer takes its place.
    busy[0].write_all(&query[5..]).unwrap();
    let mut len = [0u8; 2];
    busy[0].read_exact(&mut len).unwrap();
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    busy[0].read_exact(&mut reply).unwrap();
    let (answered, waited) = newcomer.join().unwrap();
    assert!(answered);
    assert!(
        waited < Duration::from_secs(3),
        "the newcomer waited {waited:?} after room was made"
    );
    assert!(closed_by_server(&mut busy[0], Duration::from_secs(2)));
    assert_eq!(stat(&secdns, "tcp_idle_closed"), 1);
    let _ = std::fs::remove_file(file);
}
