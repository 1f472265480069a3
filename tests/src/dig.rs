//! Running `dig` and reading its answer back into comparable parts.

use std::{collections::BTreeMap, process::Command};

use anyhow::{Context as _, bail};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DigAnswer {
    pub status: String,
    /// Header flags as dig prints them ("qr", "aa", ...), sorted.
    pub flags: Vec<String>,
    /// The EDNS line, if the reply had an OPT record.
    pub edns: Option<String>,
    /// Section name -> records with whitespace normalised, sorted (RRsets have no order).
    pub sections: BTreeMap<String, Vec<String>>,
    /// "UDP" or "TCP", from dig's SERVER line.
    pub transport: String,
    pub raw: String,
}

impl DigAnswer {
    /// Everything but the transport and the raw text: what two servers must agree on.
    pub fn comparable(
        &self,
    ) -> (
        String,
        Vec<String>,
        Option<String>,
        BTreeMap<String, Vec<String>>,
    ) {
        (
            self.status.clone(),
            self.flags.clone(),
            self.edns.clone(),
            self.sections.clone(),
        )
    }

    pub fn section(&self, name: &str) -> &[String] {
        self.sections.get(name).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// `dig @server -p port name type` with `extra` options, run as `command` (plain `dig`, or
/// `ip netns exec NS dig`). Recursion is not asked for, and one try is made.
pub fn query(
    mut command: Command,
    server: &str,
    port: u16,
    name: &str,
    rtype: &str,
    extra: &[&str],
) -> anyhow::Result<DigAnswer> {
    command
        .arg(format!("@{server}"))
        .args([
            "-p",
            &port.to_string(),
            name,
            rtype,
            "+norec",
            "+time=2",
            "+tries=1",
        ])
        .args(extra);
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "{command:?} failed ({}): {text}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse(&text).with_context(|| format!("reading the output of {command:?}:\n{text}"))
}

pub fn parse(text: &str) -> anyhow::Result<DigAnswer> {
    let mut answer = DigAnswer {
        raw: text.to_owned(),
        ..Default::default()
    };
    let mut section: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(";; ->>HEADER<<- ") {
            answer.status = rest
                .split(", ")
                .find_map(|part| part.strip_prefix("status: "))
                .unwrap_or_default()
                .to_owned();
        } else if let Some(rest) = line.strip_prefix(";; flags: ") {
            let flags = rest.split(';').next().unwrap_or_default();
            answer.flags = flags.split_whitespace().map(str::to_owned).collect();
            answer.flags.sort();
        } else if let Some(rest) = line.strip_prefix("; EDNS: ") {
            answer.edns = Some(rest.trim().to_owned());
        } else if let Some(rest) = line.strip_prefix(";; SERVER: ") {
            answer.transport = rest
                .rsplit('(')
                .next()
                .unwrap_or_default()
                .trim_end_matches(')')
                .to_owned();
        } else if let Some(name) = line
            .strip_prefix(";; ")
            .and_then(|l| l.strip_suffix(" SECTION:"))
        {
            section = Some(name.to_owned());
        } else if line.trim().is_empty() {
            section = None;
        } else if let Some(name) = &section {
            let record = line
                .trim_start_matches(';')
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            answer
                .sections
                .entry(name.clone())
                .or_default()
                .push(record);
        }
    }
    if answer.status.is_empty() {
        bail!("no reply header in dig's output");
    }
    for records in answer.sections.values_mut() {
        records.sort();
    }
    Ok(answer)
}

/// The SOA serial in the answer section of `answer`.
pub fn soa_serial(answer: &DigAnswer) -> anyhow::Result<u32> {
    let soa = answer
        .section("ANSWER")
        .first()
        .context("no SOA in the answer")?;
    soa.split_whitespace()
        .nth(6)
        .context("short SOA")?
        .parse()
        .context("SOA serial")
}

/// Runs `command` (a `dig ... AXFR` command line) and returns the zone it printed, one
/// normalised line a record; dig's lines for the transfer's TSIG records are left out.
pub fn axfr(mut command: Command, apex: &str) -> anyhow::Result<Vec<String>> {
    command.args(["+onesoa", "+nocmd", "+nostats", "+nocomments"]);
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() || text.contains("Transfer failed") {
        bail!("{command:?} failed: {text}");
    }
    let zone: String = text
        .lines()
        .filter(|l| l.split_whitespace().nth(3) != Some("TSIG"))
        .map(|l| format!("{l}\n"))
        .collect();
    crate::records::normalise(apex, &zone)
}
