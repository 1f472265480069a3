//! `testbed demo`: two namespaces, secdns with native XDP in one, dig in the other; shows
//! which path answered each query, then a secondary zone transferred from a Knot primary and
//! changed there. `testbed cleanup`: removes namespaces left by killed runs.
//! Run through `cargo xtask demo` / `cargo xtask test`.

use anyhow::bail;
use secdns_tests::{
    EXAMPLE_APEX, TempDir, dig,
    knot::TsigSpec,
    netns::{SERVER_V4, SERVER_V6, TestNet, remove_leftovers},
    prerequisites::{require_root, require_tools},
    secdns::{
        PRIMARY_APEX, PRIMARY_PORT, add_secondary_zone, cli, start_primary, start_server,
        start_xdp_peer, stats, wait_for_zone, write_example_config,
    },
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

/// Runs dig from the client namespace and says which path answered.
fn ask(
    net: &TestNet,
    server_addr: &str,
    name: &str,
    rtype: &str,
    options: &[&str],
) -> anyhow::Result<()> {
    let before = stats(net)?;
    let answer = dig::query(net.client("dig"), server_addr, 53, name, rtype, options)?;
    let after = stats(net)?;
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
    Ok(())
}

/// Runs `secdns ARGS` against the server and prints the command and its output.
fn show(net: &TestNet, args: &[&str]) -> anyhow::Result<()> {
    let output = cli(net, args)?;
    println!("$ secdns {}", args.join(" "));
    for line in output.lines() {
        println!("  {line}");
    }
    println!();
    Ok(())
}

fn demo() -> anyhow::Result<()> {
    require_root();
    require_tools(&["ip", "dig", "knotd", "knotc"]);
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
        "== secdns serves {EXAMPLE_APEX} from a file, with XDP (native) on {}\n",
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
        ask(&net, server_addr, name, rtype, options)?;
    }

    println!(
        "== a secondary zone: a Knot primary for {PRIMARY_APEX} on 127.0.0.1:{PRIMARY_PORT}, TSIG required\n"
    );
    let key = TsigSpec::new(
        "demo-key.",
        "hmac-sha256",
        b"thirty-two bytes of demo secret!",
    );
    let knot = start_primary(&net, &key)?;
    add_secondary_zone(&key, |args| show(&net, args))?;
    wait_for_zone(&net, PRIMARY_APEX, "AXFR", |s| s.serial == Some(1))?;
    show(&net, &["zone", "show", PRIMARY_APEX])?;
    ask(&net, SERVER_V4, "www.example.net.", "A", &[])?;

    println!(
        "== at the primary: www.example.net. A 192.0.2.80 -> 192.0.2.81 (knotc zone-begin/set/unset/commit)\n"
    );
    knot.change(&["www 300 A 192.0.2.81"], &["www A 192.0.2.80"])?;
    wait_for_zone(&net, PRIMARY_APEX, "NOTIFY + IXFR", |s| s.serial == Some(2))?;
    show(&net, &["zone", "show", PRIMARY_APEX])?;
    show(&net, &["zone", "records", PRIMARY_APEX])?;
    ask(&net, SERVER_V4, "www.example.net.", "A", &[])?;

    println!("== a local override of www.example.net. A, answered by XDP, then removed\n");
    show(
        &net,
        &[
            "override",
            "add",
            PRIMARY_APEX,
            "www.example.net.",
            "A",
            "198.51.100.7",
            "--ttl",
            "60",
        ],
    )?;
    // The XDP maps switch right after the userspace snapshot.
    std::thread::sleep(std::time::Duration::from_millis(200));
    ask(&net, SERVER_V4, "www.example.net.", "A", &[])?;
    show(
        &net,
        &["override", "rm", PRIMARY_APEX, "www.example.net.", "A"],
    )?;
    show(&net, &["health"])?;
    show(&net, &["stats"])?;

    let (status, _) = server.terminate(std::time::Duration::from_secs(10))?;
    println!("== secdns stopped ({status}); namespaces, processes and XDP programs removed");
    drop(knot);
    drop(peer);
    Ok(())
}
