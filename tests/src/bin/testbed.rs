//! `testbed demo`: two namespaces, secdns with native XDP in one, dig in the other; shows
//! which path answered each query. `testbed cleanup`: removes namespaces left by killed runs.
//! Run through `cargo xtask demo` / `cargo xtask test`.

use std::time::Duration;

use anyhow::{Context as _, bail};
use secdns::stats::StatsReport;
use secdns_tests::{
    EXAMPLE_APEX, EXAMPLE_ZONE, TempDir, dig,
    netns::{SERVER_V4, SERVER_V6, TestNet, remove_leftovers},
    prerequisites::{require_root, require_tools, secdns_bin},
    process::Process,
};

const CONTROL: &str = "127.0.0.1:8053";

fn main() -> anyhow::Result<()> {
    match std::env::args().nth(1).as_deref() {
        Some("demo") => demo(),
        Some("cleanup") => {
            let removed = remove_leftovers()?;
            if removed > 0 {
                eprintln!("removed {removed} namespace(s) left by an earlier run");
            }
            Ok(())
        }
        _ => bail!("usage: testbed demo|cleanup"),
    }
}

fn stats(net: &TestNet, bin: &str) -> anyhow::Result<StatsReport> {
    let output = net
        .server(bin)
        .args(["stats", "--json", "--control", CONTROL])
        .output()?;
    if !output.status.success() {
        bail!("secdns stats: {}", String::from_utf8_lossy(&output.stderr));
    }
    serde_json::from_slice(&output.stdout).context("reading secdns stats")
}

fn demo() -> anyhow::Result<()> {
    require_root();
    require_tools(&["ip", "dig"]);
    let bin = secdns_bin();
    let bin = bin.to_str().context("non-UTF-8 path")?;
    let dir = TempDir::new("demo")?;
    let net = TestNet::new("demo")?;
    std::fs::write(dir.path().join("example.com.zone"), EXAMPLE_ZONE)?;
    let config = dir.path().join("secdns.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = [\"0.0.0.0:53\", \"[::]:53\"]\nstate_dir = \"{}\"\ncontrol = \"{CONTROL}\"\n\n\
             [xdp]\ninterfaces = [\"{}\"]\nmode = \"native\"\n\n\
             [[zone]]\nname = \"{EXAMPLE_APEX}\"\nfile = \"example.com.zone\"\n",
            dir.path().join("state").display(),
            net.server_if
        ),
    )?;
    println!(
        "== network: namespace {} ({SERVER_V4}, {SERVER_V6}) <-veth-> namespace {}",
        net.server_ns, net.client_ns
    );

    let mut peer = Process::spawn("xdp-peer", {
        let mut c = net.client(bin);
        c.args(["xdp-peer", "--interface", &net.client_if]);
        c
    })?;
    peer.wait_until("attach", Duration::from_secs(20), |o| {
        o.contains("attached")
    })?;
    let mut server = Process::spawn("secdns serve", {
        let mut c = net.server(bin);
        c.arg("serve").arg("--config").arg(&config);
        c
    })?;
    server.wait_until("start-up", Duration::from_secs(20), |o| {
        o.contains("secdns is serving")
    })?;
    println!(
        "== secdns serves {EXAMPLE_APEX} with XDP (native) on {}\n",
        net.server_if
    );

    let queries: [(&str, &str, &str, &[&str]); 6] = [
        (SERVER_V4, "www.example.com.", "A", &["+notcp"]),
        (SERVER_V6, "WwW.Example.COM.", "AAAA", &["+notcp"]),
        (SERVER_V4, "example.com.", "MX", &["+notcp"]),
        (SERVER_V4, "nope.example.com.", "A", &["+notcp"]),
        (SERVER_V6, "www.example.org.", "A", &["+notcp"]),
        (SERVER_V4, "www.example.com.", "A", &["+tcp"]),
    ];
    for (server_addr, name, rtype, options) in queries {
        let before = stats(&net, bin)?;
        let answer = dig::query(net.client("dig"), server_addr, 53, name, rtype, options)?;
        let after = stats(&net, bin)?;
        let path = if after.xdp_answered > before.xdp_answered {
            "XDP (in the kernel)"
        } else if after.tcp_answered > before.tcp_answered {
            "userspace TCP"
        } else {
            "userspace UDP"
        };
        println!("$ dig @{server_addr} {name} {rtype} {}", options.join(" "));
        println!(
            "  status {} over {}, answered by {path}",
            answer.status, answer.transport
        );
        for section in ["ANSWER", "AUTHORITY", "ADDITIONAL"] {
            for record in answer.section(section) {
                println!("  {section:<10} {record}");
            }
        }
        println!();
    }
    let output = net
        .server(bin)
        .args(["stats", "--control", CONTROL])
        .output()?;
    println!(
        "$ secdns stats\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let (status, _) = server.terminate(Duration::from_secs(10))?;
    println!("== secdns stopped ({status}); namespaces and XDP programs removed");
    drop(peer);
    Ok(())
}
