//! TCP per RFC 7766: many queries on one connection, sent back to back before any reply is
//! read, each answered; an idle connection is closed after the idle timeout.

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use secdns_tests::{
    EXAMPLE_ZONE, frame::QueryBuilder, prerequisites::secdns_bin, secdns::Secondary,
};

fn server() -> (Secondary, std::path::PathBuf) {
    let _ = secdns_bin();
    let file = std::env::temp_dir().join(format!("secdns-tcp-{}.zone", std::process::id()));
    std::fs::write(&file, EXAMPLE_ZONE).unwrap();
    // The first line continues the [server] table that `Secondary` writes.
    let config = format!(
        "tcp_idle_timeout = 2\n\n[[zone]]\nname = \"example.com.\"\nfile = \"{}\"\n",
        file.display()
    );
    let secdns = Secondary::start(&config).unwrap();
    (secdns, file)
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
        let bytes = query.build();
        all.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        all.extend_from_slice(&bytes);
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
