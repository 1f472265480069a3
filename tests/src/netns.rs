//! Two network namespaces joined by a veth pair: a server host and a client host with their
//! own IPv4 and IPv6 addresses. Deleted (with their interfaces and XDP programs) on drop.

use std::{
    process::{Command, Output},
    sync::atomic::{AtomicUsize, Ordering},
};

use anyhow::{Context as _, bail};

pub const SERVER_V4: &str = "192.0.2.1";
pub const CLIENT_V4: &str = "192.0.2.2";
pub const SERVER_V6: &str = "2001:db8::1";
pub const CLIENT_V6: &str = "2001:db8::2";

/// Prefix of every namespace the tests and the demo create; `cargo xtask test` removes
/// leftovers with it from runs that were killed.
pub const NAMESPACE_PREFIX: &str = "sdt-";

pub struct TestNet {
    pub server_ns: String,
    pub client_ns: String,
    pub server_if: String,
    pub client_if: String,
}

fn run(args: &[&str]) -> anyhow::Result<Output> {
    let output = Command::new(args[0])
        .args(&args[1..])
        .output()
        .with_context(|| format!("running {args:?}"))?;
    if !output.status.success() {
        bail!(
            "{args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output)
}

impl TestNet {
    pub fn new(tag: &str) -> anyhow::Result<Self> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let id = format!(
            "{}{}",
            std::process::id() % 100_000,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let net = Self {
            server_ns: format!("{NAMESPACE_PREFIX}{tag}-{id}-srv"),
            client_ns: format!("{NAMESPACE_PREFIX}{tag}-{id}-cli"),
            // Interface names are limited to 15 bytes.
            server_if: format!("sd{id}s"),
            client_if: format!("sd{id}c"),
        };
        net.delete();
        net.create()
            .with_context(|| format!("creating test network {tag}"))?;
        Ok(net)
    }

    fn create(&self) -> anyhow::Result<()> {
        let (s, c) = (self.server_ns.as_str(), self.client_ns.as_str());
        let (si, ci) = (self.server_if.as_str(), self.client_if.as_str());
        run(&["ip", "netns", "add", s])?;
        run(&["ip", "netns", "add", c])?;
        run(&[
            "ip", "link", "add", si, "netns", s, "type", "veth", "peer", "name", ci, "netns", c,
        ])?;
        for (ns, ifname, v4, v6) in [(s, si, SERVER_V4, SERVER_V6), (c, ci, CLIENT_V4, CLIENT_V6)] {
            run(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
            run(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{v4}/24"),
                "dev",
                ifname,
            ])?;
            // nodad: the address is usable at once instead of after duplicate detection.
            run(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                ifname,
                "nodad",
            ])?;
            run(&["ip", "-n", ns, "link", "set", ifname, "up"])?;
        }
        Ok(())
    }

    /// A command run inside `ns`.
    pub fn command(ns: &str, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", ns, program]);
        command
    }

    pub fn server(&self, program: &str) -> Command {
        Self::command(&self.server_ns, program)
    }

    pub fn client(&self, program: &str) -> Command {
        Self::command(&self.client_ns, program)
    }

    /// Gives the client more addresses (each a /32), for tests that need many sources; the
    /// server routes replies to them over the veth.
    pub fn add_client_addresses(&self, addresses: &[&str]) -> anyhow::Result<()> {
        for address in addresses {
            let (bits, route) = if address.contains(':') {
                (128, "::/0")
            } else {
                (32, "0.0.0.0/0")
            };
            let with_len = format!("{address}/{bits}");
            let mut args = vec!["ip", "-n", &self.client_ns, "addr", "add", &with_len];
            args.extend(["dev", &self.client_if]);
            if bits == 128 {
                args.push("nodad");
            }
            run(&args)?;
            // Replies from the server's userspace follow the default route; XDP's need none.
            let _ = Command::new("ip")
                .args([
                    "-n",
                    &self.server_ns,
                    "route",
                    "add",
                    route,
                    "dev",
                    &self.server_if,
                ])
                .output();
        }
        Ok(())
    }

    /// Gives both veth ends a NIC's receive path: NAPI polling (which a veth has only with
    /// an XDP program or GRO on: GRO is turned on) in kernel threads at real-time priority
    /// 50, the priority of a threaded NIC interrupt. Otherwise a veth's receive work runs in
    /// the sending task's softirq or in ksoftirqd at normal priority, where a load generator
    /// sharing the CPUs delays it for milliseconds; on a server the NIC's interrupt would
    /// have run it at once. The same for every server, with or without XDP.
    pub fn napi_at_interrupt_priority(&self) -> anyhow::Result<()> {
        for (ns, ifname) in [
            (&self.server_ns, &self.server_if),
            (&self.client_ns, &self.client_if),
        ] {
            run(&[
                "ip", "netns", "exec", ns, "ethtool", "-K", ifname, "gro", "on",
            ])?;
            let path = format!("/sys/class/net/{ifname}/threaded");
            run(&[
                "ip",
                "netns",
                "exec",
                ns,
                "sh",
                "-c",
                &format!("echo 1 > {path}"),
            ])?;
        }
        let mut raised = 0;
        for entry in std::fs::read_dir("/proc").context("listing /proc")? {
            let entry = entry?;
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) else {
                continue; // gone meanwhile
            };
            // "napi/<interface>-<id>", cut to the kernel's 15 bytes of a task name.
            let ours = [&self.server_if, &self.client_if].iter().any(|ifname| {
                comm.trim_end()
                    .strip_prefix(&format!("napi/{ifname}"))
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
            });
            if !ours {
                continue;
            }
            let param = libc::sched_param { sched_priority: 50 };
            // SAFETY: a plain system call with a valid parameter block.
            if unsafe { libc::sched_setscheduler(pid, libc::SCHED_FIFO, &param) } != 0 {
                bail!(
                    "giving NAPI thread {pid} ({}) real-time priority: {}",
                    comm.trim_end(),
                    std::io::Error::last_os_error()
                );
            }
            raised += 1;
        }
        if raised < 2 {
            bail!(
                "found {raised} NAPI threads of {} and {} after making them threaded, \
                 expected one each",
                self.server_if,
                self.client_if
            );
        }
        Ok(())
    }

    /// Runs `work` on a thread inside the client namespace: the sockets it opens are the
    /// client's.
    pub fn on_client<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        within(&self.client_ns, work)
    }

    /// As [`TestNet::on_client`], in the server namespace (its loopback: the control API).
    pub fn on_server<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        within(&self.server_ns, work)
    }

    fn delete(&self) {
        for ns in [&self.server_ns, &self.client_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        self.delete();
    }
}

/// Runs `work` on a thread that joined network namespace `ns`.
pub fn within<T: Send + 'static>(
    ns: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || -> anyhow::Result<T> {
        let namespace = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
        // SAFETY: a valid namespace fd; setns changes this thread's namespace only.
        let joined = unsafe {
            libc::setns(
                std::os::fd::AsRawFd::as_raw_fd(&namespace),
                libc::CLONE_NEWNET,
            )
        };
        if joined != 0 {
            bail!("setns {path}: {}", std::io::Error::last_os_error());
        }
        Ok(work())
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the thread in namespace {ns} panicked"))?
}

/// Removes namespaces left by earlier runs that were killed before they could clean up.
pub fn remove_leftovers() -> anyhow::Result<usize> {
    let output = run(&["ip", "netns", "list"])?;
    let mut removed = 0;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        if name.starts_with(NAMESPACE_PREFIX) {
            run(&["ip", "netns", "del", name])?;
            removed += 1;
        }
    }
    Ok(removed)
}
