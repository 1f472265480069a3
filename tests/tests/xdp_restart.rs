//! A restart does not stop the kernel answering: `secdns serve` with native XDP on a veth,
//! asked at a fixed rate from the other side while it is stopped (SIGTERM, as `systemctl
//! restart` does) and started again. Every query must be answered, none from data older than
//! the last served; `--no-takeover` starts empty, and a config that no longer names the
//! interface detaches it.

use std::{
    net::{IpAddr, SocketAddr, UdpSocket},
    os::fd::AsRawFd as _,
    path::{Path, PathBuf},
    process::Command,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use secdns_tests::{
    TempDir,
    bpffs::BpfFs,
    frame::QueryBuilder,
    netns::{SERVER_V4, TestNet},
    prerequisites::{previous_secdns_bin, require_root, require_tools, secdns_bin},
    secdns::{
        secondary_of_knot, start_server, start_server_from, start_server_with, start_xdp_peer,
        stats, write_example_config,
    },
};

/// What a query got: the A address answered, or nothing within the timeout.
type Outcome = (Duration, Option<IpAddr>);

/// Asks `www.example.net A` (the secondary zone) from the client namespace every 5 ms until
/// stopped.
struct Asker {
    stop: Arc<AtomicBool>,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Asker {
    fn start(net: &TestNet) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let netns = PathBuf::from("/run/netns").join(&net.client_ns);
        let (stop_, outcomes_) = (stop.clone(), outcomes.clone());
        let thread = std::thread::spawn(move || {
            // This thread alone moves into the client's namespace.
            let ns = std::fs::File::open(&netns).unwrap();
            // SAFETY: a namespace fd we opened; affects this thread only.
            assert_eq!(
                unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) },
                0
            );
            let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
            socket
                .set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            let server = SocketAddr::new(SERVER_V4.parse().unwrap(), 53);
            let started = Instant::now();
            let mut id: u16 = 0;
            let mut buf = [0u8; 1500];
            while !stop_.load(Ordering::Relaxed) {
                id = id.wrapping_add(1);
                let mut query = QueryBuilder::new("www.example.net.", 1).build();
                query[..2].copy_from_slice(&id.to_be_bytes());
                let sent = started.elapsed();
                socket.send_to(&query, server).unwrap();
                let deadline = Instant::now() + Duration::from_millis(500);
                let mut answer = None;
                while Instant::now() < deadline {
                    let Ok(len) = socket.recv(&mut buf) else {
                        break;
                    };
                    if len > 12 && buf[..2] == id.to_be_bytes() {
                        answer = a_record(&buf[..len]);
                        break;
                    }
                }
                outcomes_.lock().unwrap().push((sent, answer));
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Self {
            stop,
            outcomes,
            thread: Some(thread),
        }
    }

    fn outcomes(&self) -> Vec<Outcome> {
        self.outcomes.lock().unwrap().clone()
    }

    /// Waits until an answer carries `address`.
    fn wait_for(&self, address: IpAddr, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.outcomes().iter().any(|(_, a)| *a == Some(address)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let outcomes = self.outcomes();
        let answered: Vec<_> = outcomes.iter().filter_map(|(_, a)| *a).collect();
        panic!(
            "no answer with {address} within {timeout:?}: {} queries, {} answered, last {:?}",
            outcomes.len(),
            answered.len(),
            answered.last()
        );
    }

    fn finish(mut self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        self.outcomes()
    }
}

impl Drop for Asker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The address of the first A record in a reply's answer section (the question is one name
/// without compression, then four bytes).
fn a_record(reply: &[u8]) -> Option<IpAddr> {
    let mut at = 12;
    while *reply.get(at)? != 0 {
        at += 1 + *reply.get(at)? as usize;
    }
    at += 5;
    // Owner (a pointer), type, class, TTL, length, address.
    let rdata = reply.get(at + 12..at + 16)?;
    (reply.get(at + 2..at + 4)? == [0, 1])
        .then(|| IpAddr::from([rdata[0], rdata[1], rdata[2], rdata[3]]))
}

fn with_pin_dir(config: &Path, pins: &Path) {
    let text = std::fs::read_to_string(config).unwrap();
    let text = text.replacen(
        "[xdp]\n",
        &format!("[xdp]\npin_dir = \"{}\"\n", pins.display()),
        1,
    );
    std::fs::write(config, text).unwrap();
}

fn xdp_program(net: &TestNet) -> String {
    let output = Command::new("ip")
        .args(["-n", &net.server_ns, "link", "show", "dev", &net.server_if])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).to_string()
}

/// The attached XDP program's id on the server's interface, if one is attached.
fn xdp_program_id(net: &TestNet) -> Option<u32> {
    let shown = xdp_program(net);
    let after = shown.split("prog/xdp id ").nth(1)?;
    after.split_whitespace().next()?.parse().ok()
}

/// Every query from the first answer on was answered, and none from data older than an
/// answer before it: answers must follow `versions` (the addresses the zone held, oldest
/// first) in order. (Before the first answer the server was still starting, on a machine
/// that may be busy with other tests: not what is judged here.)
fn assert_answered_never_older(outcomes: &[Outcome], versions: &[IpAddr]) {
    let first = outcomes.iter().position(|(_, a)| a.is_some()).unwrap_or(0);
    let outcomes = &outcomes[first..];
    let unanswered: Vec<&Outcome> = outcomes.iter().filter(|(_, a)| a.is_none()).collect();
    assert!(
        unanswered.is_empty(),
        "{} of {} queries unanswered, at {:?}",
        unanswered.len(),
        outcomes.len(),
        unanswered.iter().map(|(t, _)| t).collect::<Vec<_>>()
    );
    let mut newest = 0;
    for (at, answer) in outcomes {
        let version = versions.iter().position(|v| Some(*v) == *answer);
        let version = version.unwrap_or_else(|| panic!("answered {answer:?} at {at:?}"));
        assert!(
            version >= newest,
            "answered {answer:?} at {at:?} after {} was served",
            versions[newest]
        );
        newest = version;
    }
    assert!(outcomes.len() > 200, "only {} queries", outcomes.len());
}

/// secdns (the binary at `binary`) serving with native XDP on a veth, its links pinned in a
/// bpffs of its own, secondary of a Knot primary whose zone has changed once by NOTIFY and
/// IXFR (kept in the state directory for the next start), asked at a fixed rate throughout.
/// Fields in the order they must go: the asker and the processes before the namespaces,
/// the bpffs before the directory it is mounted in.
struct Changed {
    asker: Asker,
    server: secdns_tests::process::Process,
    knot: secdns_tests::knot::Knot,
    _peer: secdns_tests::process::Process,
    _bpffs: BpfFs,
    net: TestNet,
    config: PathBuf,
    versions: Vec<IpAddr>,
    _dir: TempDir,
}

fn serving_a_changed_zone(name: &str, binary: &str) -> Changed {
    let dir = TempDir::new(name).unwrap();
    let net = TestNet::new(name).unwrap();
    let bpffs = BpfFs::mount(&dir.path().join("bpffs")).unwrap();
    let config = write_example_config(dir.path(), &net.server_if).unwrap();
    with_pin_dir(&config, &bpffs.pin_dir());
    let peer = start_xdp_peer(&net).unwrap();
    let server = start_server_from(binary, &net, &config, &[]).unwrap();
    let knot = secondary_of_knot(&net).unwrap();
    let asker = Asker::start(&net);
    let old: IpAddr = "192.0.2.80".parse().unwrap();
    let new: IpAddr = "192.0.2.81".parse().unwrap();
    asker.wait_for(old, Duration::from_secs(5));
    knot.change(&["www 300 A 192.0.2.81"], &["www A 192.0.2.80"])
        .unwrap();
    asker.wait_for(new, Duration::from_secs(10));
    Changed {
        asker,
        server,
        knot,
        _peer: peer,
        _bpffs: bpffs,
        net,
        config,
        versions: vec![old, new],
        _dir: dir,
    }
}

/// Stops `server` as systemctl stops it (SIGTERM) and checks that it left XDP attached.
fn stop_leaving_xdp(server: secdns_tests::process::Process, net: &TestNet) {
    let (status, log) = server.terminate(Duration::from_secs(10)).unwrap();
    assert!(status.success(), "{log}");
    assert!(log.contains("XDP stays attached"), "{log}");
    assert!(xdp_program(net).contains("prog/xdp"), "detached at exit");
}

#[test]
fn the_kernel_answers_through_a_restart_and_never_from_older_data() {
    require_root();
    require_tools(&["ip", "mount", "umount", "knotd"]);
    let run = serving_a_changed_zone("restart", secdns_bin().to_str().unwrap());
    let (net, config, knot, asker) = (&run.net, &run.config, &run.knot, run.asker);
    let mut server = run.server;
    // Growth under traffic: 400 new names outgrow the maps the server started with; a
    // bigger instance of the program is swapped in on the link while the asker goes on.
    let grown: Vec<String> = (0..400)
        .map(|i| format!("grow{i} 300 A 198.51.100.{}", i % 250))
        .collect();
    let grown: Vec<&str> = grown.iter().map(String::as_str).collect();
    knot.change(&grown, &[]).unwrap();
    server
        .wait_until("growth", Duration::from_secs(30), |out| {
            out.contains("XDP answer maps moved to a new instance")
        })
        .unwrap();

    // Stopped as systemctl stops it; no userspace at all for a while; started again.
    stop_leaving_xdp(server, net);
    std::thread::sleep(Duration::from_millis(500));
    let server = start_server(net, config).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let outcomes = asker.finish();
    let log = server.output();
    assert!(log.contains("taking over the XDP program"), "{log}");
    assert!(log.contains("XDP taken over"), "{log}");
    assert_answered_never_older(&outcomes, &run.versions);

    // --no-takeover: the program left attached goes, ours starts empty.
    let (status, _) = server.terminate(Duration::from_secs(10)).unwrap();
    assert!(status.success());
    let fresh = start_server_with(net, config, &["--no-takeover"]).unwrap();
    assert!(
        fresh
            .output()
            .contains("detached the XDP program left attached (no takeover)")
    );
    let (status, _) = fresh.terminate(Duration::from_secs(10)).unwrap();
    assert!(status.success());

    // A config that names another interface (one end of a second veth pair, generic mode)
    // detaches the program left on this one, and says so.
    let dummy = format!("{}x", net.server_if);
    let status = Command::new("ip")
        .args([
            "-n",
            &net.server_ns,
            "link",
            "add",
            &dummy,
            "type",
            "veth",
            "peer",
            "name",
        ])
        .arg(format!("{}y", net.server_if))
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(config).unwrap();
    std::fs::write(
        config,
        text.replace(
            &format!("interfaces = [\"{}\"]\nmode = \"native\"", net.server_if),
            &format!("interfaces = [\"{dummy}\"]\nmode = \"generic\""),
        ),
    )
    .unwrap();
    let server = start_server(net, config).unwrap();
    assert!(
        server
            .output()
            .contains("the config no longer names the interface"),
        "{}",
        server.output()
    );
    assert!(!xdp_program(net).contains("prog/xdp"), "still attached");
}

/// An upgrade: the previous release (built by `cargo xtask test` from this clone's history,
/// with another XDP program) serves, is stopped, and this build takes over its pinned links
/// and the zone copy it saved. The kernel answers throughout, never from older data; this
/// build's program is then the one attached, and a change after the upgrade reaches it.
#[test]
fn the_kernel_answers_through_an_upgrade_from_the_previous_release() {
    require_root();
    require_tools(&["ip", "mount", "umount", "knotd"]);
    let previous = previous_secdns_bin();
    let run = serving_a_changed_zone("upgrade", previous.to_str().unwrap());
    let (net, config, knot, asker) = (&run.net, &run.config, &run.knot, run.asker);
    let mut versions = run.versions.clone();
    let server = run.server;
    let previous_program = xdp_program_id(net).expect("the previous release attached XDP");
    stop_leaving_xdp(server, net);
    std::thread::sleep(Duration::from_millis(300));
    let mut server = start_server(net, config).unwrap();
    server
        .wait_until("takeover", Duration::from_secs(20), |out| {
            out.contains("XDP taken over")
        })
        .unwrap();
    assert!(server.output().contains("taking over the XDP program"));
    let program = xdp_program_id(net).expect("XDP attached after the upgrade");
    assert_ne!(
        program, previous_program,
        "the previous release's program is still the one attached"
    );
    // A change after the upgrade: this build's maps, written by this build, answer it.
    let newer: IpAddr = "192.0.2.82".parse().unwrap();
    knot.change(&["www 300 A 192.0.2.82"], &["www A 192.0.2.81"])
        .unwrap();
    versions.push(newer);
    asker.wait_for(newer, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(200));
    let outcomes = asker.finish();
    assert_answered_never_older(&outcomes, &versions);
    let stats = stats(net).unwrap();
    assert!(
        stats.xdp_answered > 0,
        "this build's program answered nothing: {stats:?}"
    );
}
