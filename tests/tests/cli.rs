//! The `secdns` command's handling of bad input: a bad config or zone file stops the start
//! with the file, line and reason, and nothing is left running or bound.

use std::process::Command;

use secdns_tests::{EXAMPLE_ZONE, TempDir, knot::free_port, prerequisites::secdns_bin};

fn config(dir: &std::path::Path, port: u16, zone_text: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("zone"), zone_text).unwrap();
    let control = free_port().unwrap();
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:{port}\"]\nstate_dir = \"{}\"\ncontrol = \"127.0.0.1:{control}\"\n\n[[zone]]\nname = \"example.com.\"\nfile = \"zone\"\n",
        dir.join("state").display()
    );
    let path = dir.join("secdns.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `secdns check-config FILE` or `secdns serve --config FILE`.
fn run(command: &str, config: &std::path::Path) -> (bool, String) {
    let mut cmd = Command::new(secdns_bin());
    match command {
        "serve" => cmd.args(["serve", "--config"]),
        _ => cmd.arg(command),
    };
    let output = cmd.arg(config).output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn check_accepts_the_example_zone() {
    let dir = TempDir::new("cli-ok").unwrap();
    let path = config(dir.path(), free_port().unwrap(), EXAMPLE_ZONE);
    let output = Command::new(secdns_bin())
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("OK, 1 zone"));
}

#[test]
fn a_bad_zone_file_stops_the_start_with_file_and_line() {
    let dir = TempDir::new("cli-bad").unwrap();
    let port = free_port().unwrap();
    let bad = EXAMPLE_ZONE.replace(
        "www     300 IN A 192.0.2.80",
        "www     300 IN A 192.0.2.800",
    );
    let line = bad.lines().position(|l| l.contains("192.0.2.800")).unwrap() + 1;
    let path = config(dir.path(), port, &bad);
    for command in ["check-config", "serve"] {
        let (ok, stderr) = run(command, &path);
        assert!(!ok, "{command:?} accepted a bad zone");
        let expected = format!("{}:{line}:", dir.path().join("zone").display());
        assert!(
            stderr.contains(&expected),
            "{command:?}: no {expected:?} in: {stderr}"
        );
    }
    // Nothing was left bound: the port is still free.
    assert!(std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok());
}

#[test]
fn a_bad_config_line_is_named() {
    let dir = TempDir::new("cli-config").unwrap();
    let path = dir.path().join("secdns.toml");
    std::fs::write(
        &path,
        "[server]\nlisten = [\"127.0.0.1:53\"]\nstate_dir = \"/tmp/x\"\nlisen = 1\n",
    )
    .unwrap();
    let (ok, stderr) = run("check-config", &path);
    assert!(!ok);
    assert!(
        stderr.contains("lisen") && stderr.contains("line 4"),
        "{stderr}"
    );
}

#[test]
fn stats_without_a_server_says_how_to_reach_one() {
    let port = free_port().unwrap();
    let output = Command::new(secdns_bin())
        .args(["stats", "--control", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot reach the secdns control API"),
        "{stderr}"
    );
}
