//! Who may use the API: loopback clients without a token, whoever gives it with one.

use serde_json::Value;

use secdns_tests::{
    netns::{SERVER_V4, TestNet},
    prerequisites::{require_root, secdns_bin},
    secdns::Secondary,
};

/// Without a token the API answers loopback clients only; with one, whoever gives it. The
/// CLI exits 1 when refused and 2 on a usage error.
#[test]
fn non_local_clients_need_the_token() {
    require_root();
    let net = TestNet::new("api").unwrap();
    let control: std::net::SocketAddr = "0.0.0.0:8053".parse().unwrap();
    let remote = format!("{SERVER_V4}:8053");
    let mut secondary = Secondary::start_with(53, Some(&net.server_ns), control, "").unwrap();
    let from_client = |args: &[&str]| {
        net.client(&secdns_bin().display().to_string())
            .args(["--control", &remote])
            .args(args)
            .output()
            .unwrap()
    };
    let refused = from_client(&["health"]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("non-local"), "{stderr}");
    secondary.cli(&["health"]).unwrap();

    secondary.kill();
    let token = "a-token-of-some-length";
    std::fs::write(
        &secondary.config,
        std::fs::read_to_string(&secondary.config).unwrap().replace(
            "\ncontrol =",
            &format!("\ncontrol_token = \"{token}\"\ncontrol ="),
        ),
    )
    .unwrap();
    secondary.restart().unwrap();
    let no_token = from_client(&["health"]);
    assert_eq!(no_token.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&no_token.stderr);
    assert!(stderr.contains("Bearer"), "{stderr}");
    let wrong = from_client(&["--token", "a-token-of-some-lengtH", "health"]);
    assert_eq!(wrong.status.code(), Some(1));
    let with_token = from_client(&["--token", token, "health", "--json"]);
    assert!(with_token.status.success(), "{with_token:?}");
    let health: Value = serde_json::from_slice(&with_token.stdout).unwrap();
    assert_eq!(health["status"], "ok");
    // Loopback clients need it too once it is set.
    assert!(secondary.cli(&["health"]).is_err());

    let usage = from_client(&["zone", "add"]);
    assert_eq!(usage.status.code(), Some(2), "{usage:?}");
}
