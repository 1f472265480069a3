//! What an operator installs: the sample config passes `secdns check-config`, the systemd unit
//! passes `systemd-analyze verify`, and the capabilities the unit grants are enough to serve
//! with XDP as an unprivileged user, each of them needed.

use std::{os::unix::fs::PermissionsExt as _, path::Path, process::Command, time::Duration};

use secdns_tests::{
    TempDir,
    netns::TestNet,
    prerequisites::{require_root, require_tools, secdns_bin},
    process::Process,
    secdns::{ask_counting_xdp, start_xdp_peer, write_example_config},
};

fn packaging(file: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../packaging")
        .join(file)
}

#[test]
fn the_sample_config_passes_check_config() {
    let output = Command::new(secdns_bin())
        .arg("check-config")
        .arg(packaging("secdns.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("1 secondary zone(s), 2 peer(s), 1 TSIG key(s)"),
        "{stdout}"
    );
    let json = Command::new(secdns_bin())
        .args(["check-config", "--json"])
        .arg(packaging("secdns.toml"))
        .output()
        .unwrap();
    let summary: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        (&summary["ok"], &summary["peers"]),
        (&true.into(), &2.into()),
        "{summary}"
    );
}

#[test]
fn the_systemd_unit_verifies() {
    require_tools(&["systemd-analyze"]);
    let dir = TempDir::new("unit").unwrap();
    // verify wants the programs it names to exist.
    let unit = std::fs::read_to_string(packaging("secdns.service"))
        .unwrap()
        .replace("/usr/bin/secdns", &secdns_bin().display().to_string());
    let path = dir.path().join("secdns.service");
    std::fs::write(&path, unit).unwrap();
    let output = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("secdns.service"))
        .collect();
    assert!(ours.is_empty(), "systemd-analyze complains: {ours:#?}");
}

/// The capabilities the unit grants, as setpriv names them (`net_admin`).
fn unit_capabilities() -> Vec<String> {
    let unit = std::fs::read_to_string(packaging("secdns.service")).unwrap();
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("AmbientCapabilities="))
        .expect("AmbientCapabilities in the unit");
    line.split_whitespace()
        .map(|c| c.trim_start_matches("CAP_").to_lowercase())
        .collect()
}

/// `secdns serve` as user nobody with only `caps`, in `net`'s server namespace.
fn serve_as_nobody(net: &TestNet, dir: &Path, caps: &[String]) -> Process {
    let config = write_example_config(dir, &net.server_if).unwrap();
    let binary = dir.join("secdns");
    std::fs::copy(secdns_bin(), &binary).unwrap();
    for path in [dir, &binary, &config, &dir.join("example.com.zone")] {
        let mode = if path.is_dir() || path == binary {
            0o755
        } else {
            0o644
        };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::os::unix::fs::chown(&state, Some(65534), Some(65534)).unwrap();
    let set = format!(
        "-all{}",
        caps.iter().map(|c| format!(",+{c}")).collect::<String>()
    );
    let mut command = net.server("setpriv");
    command
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .args([
            "--inh-caps",
            &set,
            "--ambient-caps",
            &set,
            "--bounding-set",
            &set,
        ])
        .arg(&binary)
        .arg("serve")
        .arg("--config")
        .arg(&config);
    Process::spawn("secdns serve (as nobody)", command).unwrap()
}

#[test]
fn the_units_capabilities_serve_xdp_and_each_is_needed() {
    require_root();
    require_tools(&["setpriv", "ip", "dig"]);
    let caps = unit_capabilities();
    assert!(caps.contains(&"bpf".to_string()), "{caps:?}");

    let dir = TempDir::new("caps").unwrap();
    let net = TestNet::new("caps").unwrap();
    let _peer = start_xdp_peer(&net).unwrap();
    let mut server = serve_as_nobody(&net, dir.path(), &caps);
    server
        .wait_until("start-up", Duration::from_secs(20), |out| {
            out.contains("secdns is serving") && out.contains("xdp=true")
        })
        .unwrap();
    let (answer, by_xdp) = ask_counting_xdp(&net, "www.example.com.", "A").unwrap();
    assert_eq!(answer.status, "NOERROR");
    assert_eq!(by_xdp, 1, "answered by XDP");
    drop(server);
    drop(net);

    for missing in &caps {
        let fewer: Vec<String> = caps.iter().filter(|c| *c != missing).cloned().collect();
        let dir = TempDir::new("caps").unwrap();
        let net = TestNet::new("caps").unwrap();
        let mut server = serve_as_nobody(&net, dir.path(), &fewer);
        let started = server.wait_until("an exit", Duration::from_secs(20), |_| false);
        let error = started.unwrap_err().to_string();
        assert!(
            error.contains("exited") && error.contains("error"),
            "without {missing}, secdns should fail to start: {error}"
        );
    }
}
