//! Developer workflows: `cargo xtask setup | test | demo`.
//!
//! Kept free of the workspace's own crates: `setup` must build and run on a machine that
//! cannot build secdns yet (no bpf-linker, no nightly rust-src).

mod setup;

use std::process::Command;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "secdns developer workflows")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install every prerequisite (Debian packages, nightly rust-src, bpf-linker). Idempotent.
    Setup,
    /// Set up, build, then run every test, clippy and the format check.
    Test {
        /// Passed to `cargo test` as a test name filter.
        filter: Option<String>,
    },
    /// Set up, build, and show secdns answering from XDP and from userspace in two network
    /// namespaces.
    Demo,
    /// Measure: `xdp` times the XDP program per packet with BPF_PROG_TEST_RUN.
    Bench {
        /// all, xdp (the program per packet, publishing), servers (against knotd, nsd,
        /// named), transfers, rrsets (userspace CPU per query by RRset size), or scale (ten
        /// million records in 100,000 zones).
        #[arg(default_value = "all")]
        which: String,
        /// Shorter runs (about 3 minutes in all).
        #[arg(long)]
        quick: bool,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Task::Setup => setup::run(),
        Task::Test { filter } => {
            setup::run()?;
            test(filter.as_deref())
        }
        Task::Bench { which, quick } => {
            setup::run()?;
            // Timings of a debug build say little about the product; the bench runs the
            // secdns built beside it.
            cargo(&[
                "build",
                "--release",
                "-p",
                "secdns",
                "-p",
                "secdns-tests",
                "--bins",
            ])?;
            let mut args = vec![
                "run",
                "--release",
                "--quiet",
                "-p",
                "secdns-tests",
                "--bin",
                "bench",
                "--",
                &which,
            ];
            if quick {
                args.push("--quick");
            }
            cargo(&args)
        }
        Task::Demo => {
            setup::run()?;
            build()?;
            testbed("demo")
        }
    }
}

fn build() -> anyhow::Result<()> {
    step("build");
    cargo(&["build", "-p", "secdns", "-p", "secdns-tests", "--bins"])
}

fn test(filter: Option<&str>) -> anyhow::Result<()> {
    step("format check");
    cargo(&["fmt", "--all", "--", "--check"]).context("run `cargo fmt --all`")?;
    build()?;
    testbed("cleanup")?;
    step("tests");
    let mut args = vec!["test", "--workspace", "--exclude", "secdns-ebpf"];
    if let Some(filter) = filter {
        args.push(filter);
    }
    let (passed, failed) = cargo_test(&args)?;
    step("clippy");
    cargo(&[
        "clippy",
        "--workspace",
        "--exclude",
        "secdns-ebpf",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    // One closing line for the whole run; cargo's own last line may be an empty doc-test run.
    println!("tests: {passed} passed, {failed} failed");
    Ok(())
}

/// Runs `cargo test`, echoing its output, and adds up its "test result" lines.
fn cargo_test(args: &[&str]) -> anyhow::Result<(u64, u64)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut child = Command::new(&cargo)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("running cargo test")?;
    let (mut passed, mut failed) = (0, 0);
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            let line = line.context("reading cargo test output")?;
            println!("{line}");
            if let Some(result) = line.strip_prefix("test result: ") {
                let count = |word: &str| -> u64 {
                    result
                        .split(';')
                        .find_map(|part| part.trim().strip_suffix(word))
                        .and_then(|n| n.trim().rsplit(' ').next()?.parse().ok())
                        .unwrap_or(0)
                };
                passed += count(" passed");
                failed += count(" failed");
            }
        }
    }
    let status = child.wait()?;
    if !status.success() {
        println!("tests: {passed} passed, {failed} failed");
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok((passed, failed))
}

/// The tests crate's `testbed` binary: the demo and the namespace clean-up.
fn testbed(task: &str) -> anyhow::Result<()> {
    tests_bin("testbed", task)
}

/// Runs one of the tests crate's binaries with one argument.
fn tests_bin(bin: &str, arg: &str) -> anyhow::Result<()> {
    cargo(&[
        "run",
        "--quiet",
        "-p",
        "secdns-tests",
        "--bin",
        bin,
        "--",
        arg,
    ])
}

fn step(name: &str) {
    eprintln!("==> {name}");
}

pub fn cargo(args: &[&str]) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args(args)
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}
