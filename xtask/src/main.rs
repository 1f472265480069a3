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
    let previous = build_previous_release()?;
    testbed("cleanup")?;
    step("tests");
    let mut args = vec!["test", "--workspace", "--exclude", "secdns-ebpf"];
    if let Some(filter) = filter {
        args.push(filter);
    }
    // SAFETY: set before any thread starts; the tests inherit it.
    unsafe { std::env::set_var(PREVIOUS_BIN_VAR, &previous) };
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
    // The docs are for the developers: private items too, and a broken link is an error.
    step("docs");
    cargo_with(
        &[
            "doc",
            "--no-deps",
            "--document-private-items",
            "-p",
            "secdns",
            "-p",
            "secdns-common",
        ],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    // One closing line for the whole run; cargo's own last line may be an empty doc-test run.
    println!("tests: {passed} passed, {failed} failed");
    Ok(())
}

/// The build an upgrade starts from in `xdp_restart`'s upgrade test: the last commit before
/// the XDP program's loops were rewritten (e84b112), so that the upgrade replaces one program
/// with another whose verifier-visible shape differs. Move it forward when the takeover
/// itself changes; keep it behind the program's newest change.
const UPGRADE_FROM: &str = "a61cc5afecd2f24cc566280e81259ac1577cd82f";
/// Where the tests find that build.
const PREVIOUS_BIN_VAR: &str = "SECDNS_PREVIOUS_BIN";

/// Builds `secdns` as it was at [`UPGRADE_FROM`], from this clone's history, into
/// `target/upgrade-from` (once: a later run finds it there). Returns the binary's path.
fn build_previous_release() -> anyhow::Result<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = root.join("target/upgrade-from");
    let (src, target) = (dir.join("src"), dir.join("target"));
    let binary = target.join("debug/secdns");
    let stamp = dir.join("commit");
    if binary.is_file() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(UPGRADE_FROM) {
        return Ok(binary);
    }
    step(&format!(
        "build the release an upgrade starts from ({UPGRADE_FROM:.7})"
    ));
    let _ = std::fs::remove_dir_all(&src);
    std::fs::create_dir_all(&src).with_context(|| format!("creating {}", src.display()))?;
    let archive = dir.join("src.tar");
    let status = Command::new("git")
        .arg("-C")
        .arg(&root)
        .args(["archive", "--format=tar", "-o"])
        .arg(&archive)
        .arg(UPGRADE_FROM)
        .status()
        .context("running git archive")?;
    if !status.success() {
        bail!(
            "commit {UPGRADE_FROM} is not in this clone (the upgrade test starts from it): \
             fetch the whole history with `git fetch --unshallow`"
        );
    }
    let status = Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&src)
        .status()
        .context("running tar")?;
    if !status.success() {
        bail!("unpacking {} failed ({status})", archive.display());
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args(["build", "-p", "secdns", "--bin", "secdns"])
        .current_dir(&src)
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .context("building the previous release")?;
    if !status.success() {
        bail!("building secdns at {UPGRADE_FROM} failed ({status})");
    }
    std::fs::write(&stamp, UPGRADE_FROM)?;
    Ok(binary)
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
    cargo_with(args, &[])
}

/// `cargo args` with the variables `env` set for it.
fn cargo_with(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args(args)
        .envs(env.iter().copied())
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}
