//! The zone-file corpus in `tests/zonefiles/`: hand-written files in the styles operators use.
//! Every file in `valid/` is loaded by a real knotd and transferred (AXFR) into secdns as a
//! secondary; the records secdns received must be exactly the records secdns reads from the
//! same file. Then knotd goes away and secdns restarts: the saved copies must serve the same
//! records. Every file in `invalid/` is refused by knotd (kzonecheck) and by secdns, which
//! names the file, the line and the reason.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use secdns::{control::RecordListing, dns::Name, zone::zonefile};
use secdns_tests::{
    TempDir,
    knot::free_port,
    prerequisites::{require_tools, secdns_bin},
    process::Process,
    secdns::Secondary,
};

struct CorpusFile {
    path: PathBuf,
    apex: String,
    /// For files knotd refuses: the line it names.
    error_line: Option<usize>,
}

fn corpus(kind: &str) -> Vec<CorpusFile> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("zonefiles")
        .join(kind);
    let mut files: Vec<CorpusFile> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "zone"))
        .map(|path| {
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            let header = |key: &str| {
                text.lines()
                    .take(5)
                    .find_map(|l| l.strip_prefix(&format!("; {key}:")))
                    .map(|v| v.trim().to_owned())
            };
            let apex =
                header("zone").unwrap_or_else(|| panic!("{}: no '; zone:' line", path.display()));
            // 0: an error about the whole zone, with no line.
            let error_line = header("error-line")
                .and_then(|l| l.parse().ok())
                .filter(|&l| l > 0);
            CorpusFile {
                path,
                apex,
                error_line,
            }
        })
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// A record as both sides are compared: owner (lower case, presentation), type, TTL, data.
type Record = (String, u16, u32, String);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Record data with the names knotd compresses in a transfer (NS, CNAME, PTR, MX, SOA)
/// lowercased: a compressed suffix takes the letter case of the name it points to (the
/// question, as secdns asked it), and names compare without case.
fn comparable(rr_type: u16, rdata: &[u8]) -> String {
    let mut data = rdata.to_vec();
    for (start, len) in secdns::dns::rdata::compressible_names(rr_type, rdata) {
        data[start..start + len].make_ascii_lowercase();
    }
    hex(&data)
}

fn read_by_secdns(file: &CorpusFile) -> BTreeSet<Record> {
    let apex: Name = file.apex.parse().unwrap();
    let (zone, _) = zonefile::load(&file.path, &apex)
        .unwrap_or_else(|e| panic!("secdns refuses a file knotd loads: {e}"));
    zone.records()
        .map(|(owner, rr_type, ttl, rdata)| {
            (
                owner.to_string().to_ascii_lowercase(),
                rr_type,
                ttl,
                comparable(rr_type, rdata),
            )
        })
        .collect()
}

fn served_by_secdns(secondary: &Secondary, apex: &str) -> BTreeSet<Record> {
    let listing: Vec<RecordListing> = serde_json::from_str(
        &secondary
            .cli(&["zone", "records", apex, "--json"])
            .unwrap_or_else(|e| panic!("records of {apex}: {e}")),
    )
    .unwrap();
    listing
        .into_iter()
        .map(|r| {
            let rr_type = secdns_type_number(&r.rtype);
            let wire: Vec<u8> = (0..r.wire.len() / 2)
                .map(|i| u8::from_str_radix(&r.wire[2 * i..2 * i + 2], 16).unwrap())
                .collect();
            (
                r.name.to_ascii_lowercase(),
                rr_type,
                r.ttl,
                comparable(rr_type, &wire),
            )
        })
        .collect()
}

/// The listing names types as `rtype_name` does: back to numbers through a table made once.
fn secdns_type_number(name: &str) -> u16 {
    static NUMBERS: std::sync::OnceLock<std::collections::HashMap<String, u16>> =
        std::sync::OnceLock::new();
    let numbers = NUMBERS.get_or_init(|| {
        (0..=u16::MAX)
            .map(|n| (secdns::dns::codes::rtype_name(n), n))
            .collect()
    });
    *numbers.get(name).unwrap_or_else(|| panic!("type {name}"))
}

/// What differs, as lines a person can read.
fn differences(expected: &BTreeSet<Record>, got: &BTreeSet<Record>) -> String {
    let mut lines = Vec::new();
    for r in expected.difference(got) {
        lines.push(format!("  only in secdns's reading: {r:?}"));
    }
    for r in got.difference(expected) {
        lines.push(format!("  only in knotd's:          {r:?}"));
    }
    lines.join("\n")
}

/// One knotd serving every valid corpus file from where it lies.
fn start_knot(files: &[CorpusFile], port: u16) -> (Process, TempDir) {
    let dir = TempDir::new("knot-corpus").unwrap();
    let d = dir.path().display();
    std::fs::create_dir_all(dir.path().join("db")).unwrap();
    let mut config = format!(
        "server:\n    rundir: \"{d}\"\n    listen: 127.0.0.1@{port}\n\
         acl:\n  - id: transfer\n    action: transfer\n\
         database:\n    storage: \"{d}/db\"\nlog:\n  - target: stdout\n    any: info\n\
         template:\n  - id: default\n    zonefile-sync: -1\n    zonefile-load: whole\n    \
         journal-content: none\n    acl: transfer\n    semantic-checks: off\nzone:\n"
    );
    for file in files {
        config.push_str(&format!(
            "  - domain: \"{}\"\n    file: \"{}\"\n",
            file.apex,
            file.path.display()
        ));
    }
    let config_file = dir.path().join("knot.conf");
    std::fs::write(&config_file, config).unwrap();
    let mut command = Command::new("knotd");
    command.arg("-c").arg(&config_file);
    let mut process = Process::spawn("knotd", command).unwrap();
    process
        .wait_until("knotd start", Duration::from_secs(60), |out| {
            out.contains("starting server")
        })
        .unwrap();
    (process, dir)
}

fn secondary_config(files: &[CorpusFile], knot_port: u16) -> String {
    let mut text = format!(
        "[[peer]]\nname = \"knot\"\naddress = \"127.0.0.1\"\nport = {knot_port}\nixfr = false\n\n"
    );
    for file in files {
        text.push_str(&format!(
            "[[zone]]\nname = \"{}\"\npeers = [\"knot\"]\nrefresh = 3600\n\n",
            file.apex.replace('\\', "\\\\")
        ));
    }
    text
}

fn compare_all(secondary: &Secondary, files: &[CorpusFile], when: &str) {
    let mut failures = Vec::new();
    for file in files {
        let expected = read_by_secdns(file);
        let got = served_by_secdns(secondary, &file.apex);
        if expected != got {
            failures.push(format!(
                "{} ({}), {when}:\n{}",
                file.path.display(),
                file.apex,
                differences(&expected, &got)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} files differ:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn every_file_knotd_reads_secdns_reads_to_the_same_records_and_keeps_them() {
    require_tools(&["knotd", "kzonecheck"]);
    let _ = secdns_bin();
    let files = corpus("valid");
    let refused: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let apex: Name = file.apex.parse().ok()?;
            zonefile::load(&file.path, &apex)
                .err()
                .map(|e| e.to_string())
        })
        .collect();
    assert!(
        refused.is_empty(),
        "secdns refuses {} files that knotd loads:\n{}",
        refused.len(),
        refused.join("\n")
    );
    let knot_port = free_port().unwrap();
    let (knot, _knot_dir) = start_knot(&files, knot_port);
    let mut secondary = Secondary::start(&secondary_config(&files, knot_port)).unwrap();
    for file in &files {
        let serial = read_serial(file);
        secondary
            .wait_for(&file.apex, Duration::from_secs(60), "the transfer", |s| {
                s.serial == Some(serial)
            })
            .unwrap_or_else(|e| panic!("{}: {e}\nknotd:\n{}", file.path.display(), knot.output()));
    }
    compare_all(&secondary, &files, "transferred from knotd");

    // Every copy saved, then no primary: a restart serves what was saved.
    for file in &files {
        secondary
            .wait_saved(&file.apex, Duration::from_secs(30))
            .unwrap();
    }
    drop(knot);
    secondary.kill();
    secondary.restart().unwrap();
    for file in &files {
        let serial = read_serial(file);
        secondary
            .wait_for(&file.apex, Duration::from_secs(30), "the saved copy", |s| {
                s.serving && s.serial == Some(serial)
            })
            .unwrap();
    }
    compare_all(&secondary, &files, "after a restart with the primary gone");
    assert!(files.len() >= 60, "the corpus holds {} files", files.len());
}

fn read_serial(file: &CorpusFile) -> u32 {
    let apex: Name = file.apex.parse().unwrap();
    zonefile::load(&file.path, &apex).unwrap().0.serial()
}

#[test]
fn files_knotd_refuses_secdns_refuses_with_file_line_and_reason() {
    require_tools(&["kzonecheck"]);
    let files = corpus("invalid");
    assert!(files.len() >= 10, "the corpus holds {} files", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let knot = Command::new("kzonecheck")
            .args(["-o", &file.apex])
            .arg(&file.path)
            .output()
            .unwrap();
        assert!(
            !knot.status.success(),
            "{}: kzonecheck accepts it, so it is no example of a refused file",
            file.path.display()
        );
        let apex: Name = match file.apex.parse() {
            Ok(apex) => apex,
            Err(_) => continue,
        };
        match zonefile::load(&file.path, &apex) {
            Ok(_) => failures.push(format!("{}: secdns reads it", file.path.display())),
            Err(e) => {
                let shown = e.to_string();
                let expected_prefix = match file.error_line {
                    Some(line) => format!("{}:{line}: ", file.path.display()),
                    None => format!("{}", file.path.display()),
                };
                if !shown.starts_with(&expected_prefix) || e.message.trim().is_empty() {
                    failures.push(format!(
                        "{}: expected '{expected_prefix}...', got '{shown}'",
                        file.path.display()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
