//! Installs what building and testing secdns needs, skipping whatever is already there, so a
//! second run takes a moment.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context as _, bail};

/// Debian packages: the DNS servers (Knot, BIND, NSD) and tools the tests and the bench run;
/// faketime for clock-skew tests. No LLVM: bpf-linker links against the nightly's own.
const PACKAGES: &[&str] = &[
    "knot",
    "knot-dnsutils",
    // kzonecheck: the zone-file corpus test proves knotd refuses what secdns refuses.
    "knot-dnssecutils",
    "dnsutils",
    "dnsperf",
    "bpftool",
    "iproute2",
    // The flood bench turns GRO (and with it NAPI polling) on for the veth pair.
    "ethtool",
    "tcpdump",
    "faketime",
    "bind9",
    "nsd",
    "bind9-utils",
    // The packaging tests: `systemd-analyze verify` and `setpriv`.
    "systemd",
    "util-linux",
    // Certificates for the https webhook test.
    "openssl",
];

const BPF_LINKER_VERSION: &str = "0.13.0";
/// The LLVM majors bpf-linker 0.13.0 has a feature for (llvm-21, llvm-22, llvm-23).
const SUPPORTED_LLVM: std::ops::RangeInclusive<u32> = 21..=23;

/// Schemathesis, which the API test runs against a live server (from PyPI, pinned so that
/// its checks do not change under the tests).
const SCHEMATHESIS: &str = "4.32.5";

pub fn run() -> anyhow::Result<()> {
    debian_packages()?;
    nightly_rust_src()?;
    bpf_linker()?;
    schemathesis()?;
    Ok(())
}

fn schemathesis() -> anyhow::Result<()> {
    let installed = Command::new("schemathesis")
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(SCHEMATHESIS));
    if installed {
        return Ok(());
    }
    eprintln!("==> installing schemathesis {SCHEMATHESIS} with pip");
    let pip = |extra: &[&str]| {
        run_checked(
            Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(extra)
                .arg(format!("schemathesis=={SCHEMATHESIS}")),
        )
    };
    // A Python that Debian manages refuses pip (PEP 668) unless told: the CI machine is
    // thrown away after the run.
    pip(&[])
        .or_else(|_| pip(&["--break-system-packages"]))
        .context("schemathesis is needed by the control API test: install Python 3 with pip")
}

fn quiet(command: &mut Command) -> bool {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run_checked(command: &mut Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("running {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

fn is_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

fn debian_packages() -> anyhow::Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .copied()
        .filter(|p| !is_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("==> installing Debian packages: {}", missing.join(" "));
    // SAFETY: plain getter.
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "these Debian packages are missing and installing them needs root: {}",
            missing.join(" ")
        );
    }
    run_checked(Command::new("apt-get").arg("update").arg("-qq"))?;
    run_checked(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

fn nightly_rust_src() -> anyhow::Result<()> {
    let installed = Command::new("rustup")
        .args(["component", "list", "--toolchain", "nightly", "--installed"])
        .output()
        .is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains("rust-src")
        });
    if installed {
        return Ok(());
    }
    // Keep the machine's nightly when it has one: `toolchain install` would move it to the
    // newest, and bpf-linker must match whichever LLVM the nightly has.
    let has_nightly = quiet(Command::new("rustc").args(["+nightly", "--version"]));
    if has_nightly {
        eprintln!(
            "==> adding rust-src to the machine's nightly toolchain (builds the XDP program)"
        );
        return run_checked(Command::new("rustup").args([
            "component",
            "add",
            "rust-src",
            "--toolchain",
            "nightly",
        ]));
    }
    eprintln!("==> installing a nightly toolchain with rust-src (builds the XDP program)");
    run_checked(Command::new("rustup").args([
        "toolchain",
        "install",
        "nightly",
        "--profile",
        "minimal",
        "--component",
        "rust-src",
    ]))
}

/// What bpf-linker must match: the LLVM inside the nightly toolchain that writes the bitcode.
#[derive(Debug, PartialEq, Eq)]
pub struct NightlyLlvm {
    /// LLVM major version, from `rustc +nightly -vV`.
    pub major: u32,
    /// The nightly's own LLVM shared library, which bpf-linker is linked against.
    pub library: PathBuf,
}

impl NightlyLlvm {
    pub fn find() -> anyhow::Result<Self> {
        let version = output(Command::new("rustc").args(["+nightly", "-vV"]))?;
        let major = llvm_major(&version).with_context(|| {
            format!("no 'LLVM version: N' line in `rustc +nightly -vV`:\n{version}")
        })?;
        let sysroot = output(Command::new("rustc").args(["+nightly", "--print", "sysroot"]))?;
        let lib_dir = Path::new(sysroot.trim()).join("lib");
        let library = std::fs::read_dir(&lib_dir)
            .with_context(|| format!("reading {}", lib_dir.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .find(|path| {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("libLLVM.so.") && n.contains("-rust-"))
            })
            .with_context(|| {
                format!(
                    "the nightly toolchain has no libLLVM.so.*-rust-* in {}",
                    lib_dir.display()
                )
            })?;
        Ok(Self { major, library })
    }

    /// What the stamp beside bpf-linker records: the version and the library it was built for.
    fn stamp(&self) -> String {
        format!(
            "bpf-linker {BPF_LINKER_VERSION} llvm {} {}\n",
            self.major,
            self.library.display()
        )
    }
}

/// The LLVM major of a `rustc -vV` output.
pub fn llvm_major(rustc_version: &str) -> Option<u32> {
    rustc_version
        .lines()
        .find_map(|line| line.strip_prefix("LLVM version: "))
        .and_then(|v| v.trim().split('.').next()?.parse().ok())
}

fn output(command: &mut Command) -> anyhow::Result<String> {
    let out = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !out.status.success() {
        bail!(
            "{command:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Where bpf-linker's LLVM link lives; it must outlast the build, since the binary finds
/// libLLVM through an rpath to `<prefix>/lib`.
pub fn llvm_prefix() -> PathBuf {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from("/root/.cargo"));
    cargo_home.join("secdns-bpf-linker-llvm")
}

/// The stamp recording which LLVM the installed bpf-linker was built against.
pub fn stamp_path() -> PathBuf {
    llvm_prefix().join("stamp")
}

fn bpf_linker() -> anyhow::Result<()> {
    let llvm = NightlyLlvm::find()?;
    let runs = Command::new("bpf-linker")
        .arg("--version")
        .output()
        .is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains(BPF_LINKER_VERSION)
        });
    let stamp = std::fs::read_to_string(stamp_path()).unwrap_or_default();
    let found = format!(
        "nightly's LLVM is {} ({})",
        llvm.major,
        llvm.library.display()
    );
    if runs && stamp == llvm.stamp() {
        eprintln!("==> {found}; bpf-linker {BPF_LINKER_VERSION} was built for it");
        return Ok(());
    }
    let why = if !runs {
        "bpf-linker is missing or does not run"
    } else if stamp.is_empty() {
        "bpf-linker was not built by this setup"
    } else {
        "bpf-linker was built for another LLVM"
    };
    if !SUPPORTED_LLVM.contains(&llvm.major) {
        bail!(
            "{found}, and bpf-linker {BPF_LINKER_VERSION} builds only for LLVM {}-{}: \
             a newer bpf-linker is needed for this nightly",
            SUPPORTED_LLVM.start(),
            SUPPORTED_LLVM.end()
        );
    }
    eprintln!(
        "==> {found}; {why}: building bpf-linker {BPF_LINKER_VERSION} against it (about a minute)"
    );
    let prefix = llvm_prefix();
    let lib = prefix.join("lib");
    std::fs::create_dir_all(&lib).with_context(|| format!("creating {}", lib.display()))?;
    let _ = std::fs::remove_file(stamp_path());
    let file_name = llvm.library.file_name().context("library without a name")?;
    for link in [lib.join("libLLVM.so"), lib.join(file_name)] {
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&llvm.library, &link)
            .with_context(|| format!("linking {} to {}", link.display(), llvm.library.display()))?;
    }
    run_checked(
        Command::new("cargo")
            .args([
                "install",
                "bpf-linker",
                "--force",
                "--version",
                BPF_LINKER_VERSION,
                "--locked",
                "--no-default-features",
                "--features",
            ])
            .arg(format!("llvm-{}", llvm.major))
            .env("LLVM_PREFIX", &prefix),
    )
    .with_context(|| format!("building bpf-linker against LLVM {}", llvm.major))?;
    if !quiet(Command::new("bpf-linker").arg("--version")) {
        bail!("bpf-linker was installed but is not on PATH: add ~/.cargo/bin to PATH");
    }
    std::fs::write(stamp_path(), llvm.stamp())
        .with_context(|| format!("writing {}", stamp_path().display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_llvm_major() {
        let v = "rustc 1.101.0-nightly (abc 2026-11-30)\nhost: x86_64\nLLVM version: 23.1.0\n";
        assert_eq!(llvm_major(v), Some(23));
        assert_eq!(llvm_major("rustc 1.95.0\n"), None);
    }

    /// The bpf-linker on PATH loads the nightly's own LLVM, and the stamp says so: bitcode from
    /// that nightly is what it must read (`Invalid record` otherwise).
    #[test]
    fn installed_bpf_linker_matches_the_nightly() {
        let llvm = NightlyLlvm::find().expect("the nightly toolchain: run `cargo xtask setup`");
        let stamp = std::fs::read_to_string(stamp_path()).unwrap_or_default();
        assert_eq!(
            stamp,
            llvm.stamp(),
            "bpf-linker was not built for this nightly: run `cargo xtask setup`"
        );
        let linker = output(Command::new("sh").args(["-c", "command -v bpf-linker"]))
            .expect("bpf-linker on PATH: run `cargo xtask setup`");
        let libraries = output(Command::new("ldd").arg(linker.trim())).unwrap();
        let name = llvm.library.file_name().unwrap().to_str().unwrap();
        let line = libraries
            .lines()
            .find(|l| l.contains("libLLVM"))
            .unwrap_or_else(|| panic!("bpf-linker loads no libLLVM:\n{libraries}"));
        assert!(
            line.contains(name) && !line.contains("not found"),
            "bpf-linker loads {line}, the nightly has {name}"
        );
        let resolved = line
            .split("=> ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .unwrap();
        assert_eq!(
            std::fs::canonicalize(resolved).unwrap(),
            std::fs::canonicalize(&llvm.library).unwrap(),
            "bpf-linker resolves libLLVM to another file than the nightly's"
        );
    }
}
