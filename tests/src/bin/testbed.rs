//! `testbed demo`: two namespaces, secdns with native XDP in one, dig in the other; shows
//! which path answered each query. `testbed cleanup`: removes namespaces left by killed runs.
//! Run through `cargo xtask demo` / `cargo xtask test`.

use std::time::Duration;

use anyhow::{Context as _, bail};
use secdns_tests::{
    EXAMPLE_APEX, TempDir, dig,
    netns::{SERVER_V4, SERVER_V6, TestNet, remove_leftovers},
    prerequisites::{require_root, require_tools, secdns_bin},
    secdns::{CONTROL, start_server, start_xdp_peer, stats, write_example_config},
};

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

fn demo() -> anyhow::Result<()> {
    require_root();
    require_tools(&["ip", "dig"]);
    let bin = secdns_bin();
    let bin = bin.to_str().context("non-UTF-8 path")?;
    let dir = TempDir::new("demo")?;
    let net = TestNet::new("demo")?;
    let config = write_example_config(dir.path(), &net.server_if)?;
    println!(
        "== network: namespace {} ({SERVER_V4}, {SERVER_V6}) <-veth-> namespace {}",
        net.server_ns, net.client_ns
    );
    let peer = start_xdp_peer(&net)?;
    let server = start_server(&net, &config)?;
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
        let before = stats(&net)?;
        let answer = dig::query(net.client("dig"), server_addr, 53, name, rtype, options)?;
        let after = stats(&net)?;
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
