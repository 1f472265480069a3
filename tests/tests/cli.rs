//! The `secdns` command's handling of bad input: a bad config or zone file stops the start
//! with the file, line and reason, and nothing is left running or bound.

use std::{process::Command, time::Duration};

use secdns_tests::{
    EXAMPLE_ZONE, TempDir, knot::free_port, prerequisites::secdns_bin, process::Process,
};

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
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("OK, 1 zone"), "{stdout}");
    assert!(stdout.contains("rate limits: off (no [rrl])"), "{stdout}");
    assert!(stdout.contains("cookies: on, a random secret"), "{stdout}");
}

#[test]
fn check_shows_the_rate_limits_and_names_a_bad_one() {
    let dir = TempDir::new("cli-rrl").unwrap();
    let path = config(dir.path(), free_port().unwrap(), EXAMPLE_ZONE);
    let base = std::fs::read_to_string(&path).unwrap();
    let rrl =
        "\n[rrl]\nrate = 20\nallow = [\"192.0.2.0/24\", \"2001:db8::/32\"]\nlog_only = true\n";
    std::fs::write(&path, format!("{base}{rrl}")).unwrap();
    let output = Command::new(secdns_bin())
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(
            "rate limits: 20 a second per client (/24 IPv4, /56 IPv6), class and name or zone; \
             window 15 s; slip 2; 1048576 buckets; allowed: 192.0.2.0/24, 2001:db8::/32; log only"
        ),
        "{stdout}"
    );
    for (bad, named) in [
        ("rate = 0", "[rrl] rate must be from 1"),
        (
            "ipv6_prefix = 96",
            "[rrl] ipv6_prefix must be from 16 to 64",
        ),
        (
            "allow = [\"192.0.2.0/33\"]",
            "the length must be from 0 to 32",
        ),
        ("burst = 5", "unknown field `burst`"),
    ] {
        std::fs::write(&path, format!("{base}\n[rrl]\n{bad}\n")).unwrap();
        let (ok, stderr) = run("check-config", &path);
        assert!(!ok, "{bad} accepted");
        assert!(stderr.contains(named), "{bad}: {stderr}");
    }
    // A cookie secret must be 16 bytes in hex.
    std::fs::write(&path, format!("{base}\n[cookies]\nsecret = \"0011\"\n")).unwrap();
    let (ok, stderr) = run("check-config", &path);
    assert!(!ok && stderr.contains("16 bytes in hex"), "{stderr}");
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

/// A zone file that is not a regular file, named by the config or by `$INCLUDE`, is refused
/// at once with what it is: reading `/dev/zero` would take all the memory there is, and a
/// FIFO no one writes to would be waited on for ever.
#[test]
fn a_zone_file_that_is_not_a_regular_file_is_refused() {
    let dir = TempDir::new("cli-special").unwrap();
    let fifo = dir.fifo("fifo").unwrap();
    let path = config(dir.path(), free_port().unwrap(), EXAMPLE_ZONE);
    let config_text = std::fs::read_to_string(&path).unwrap();
    let include = |file: &std::path::Path| format!("{EXAMPLE_ZONE}\n$INCLUDE {}\n", file.display());
    let dev_zero = std::path::Path::new("/dev/zero");
    let zone_file = dir.path().join("zone");
    // (the file the config names, what the zone file holds, what the error says)
    let cases = [
        (
            dev_zero,
            EXAMPLE_ZONE.to_owned(),
            "/dev/zero: cannot read: not a regular file (a character device)".to_owned(),
        ),
        (
            dir.path(),
            EXAMPLE_ZONE.to_owned(),
            "cannot read: not a regular file (a directory)".to_owned(),
        ),
        (
            zone_file.as_path(),
            include(dev_zero),
            "$INCLUDE /dev/zero: cannot read: not a regular file (a character device)".to_owned(),
        ),
        (
            zone_file.as_path(),
            include(&fifo),
            format!(
                "$INCLUDE {}: cannot read: not a regular file (a FIFO)",
                fifo.display()
            ),
        ),
    ];
    for (file, zone, says) in cases {
        std::fs::write(&zone_file, &zone).unwrap();
        let named = format!("file = \"{}\"", file.display());
        std::fs::write(&path, config_text.replace("file = \"zone\"", &named)).unwrap();
        let mut command = Command::new(secdns_bin());
        command.arg("check-config").arg(&path);
        let check = Process::spawn("secdns check-config", command).unwrap();
        let (status, output) = check
            .exit(Duration::from_secs(30), "reading a zone file")
            .unwrap();
        assert!(!status.success(), "{named}, {zone:?}: accepted");
        assert!(output.contains(&says), "{named}: no {says:?} in: {output}");
    }
}

/// The config may be piped in (`check-config /dev/stdin`); only the files it names must be
/// regular files.
#[test]
fn the_config_may_come_through_a_pipe() {
    use std::io::Write as _;
    let dir = TempDir::new("cli-pipe").unwrap();
    let path = config(dir.path(), free_port().unwrap(), EXAMPLE_ZONE);
    // Relative paths are taken from the config's folder, which /dev/stdin's is not.
    let zone = format!("file = \"{}\"", dir.path().join("zone").display());
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("file = \"zone\"", &zone);
    let mut check = Command::new(secdns_bin())
        .args(["check-config", "/dev/stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = check.stdin.take().unwrap();
    stdin.write_all(text.as_bytes()).unwrap();
    drop(stdin);
    let output = check.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("OK, 1 zone"), "{stdout}");
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
