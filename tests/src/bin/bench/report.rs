//! What every bench writes under `bench/results/`: a markdown page and a JSON file named by
//! date and bench (`-quick` runs are not committed), with the machine and the versions run.

use std::path::Path;

/// Writes `<date>-<name>[-quick].{md,json}` (and `.svg` when given) under `bench/results/`.
/// `data`'s fields are added to the JSON next to the date, machine, versions and command.
pub fn write(
    name: &str,
    title: &str,
    quick: bool,
    table: &str,
    data: serde_json::Value,
    svg: Option<String>,
) -> anyhow::Result<()> {
    let date = command_output("date", &["-u", "+%Y-%m-%d"]);
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/results");
    std::fs::create_dir_all(&results)?;
    let stem = format!("{date}-{name}{}", if quick { "-quick" } else { "" });
    let mut json = serde_json::json!({
        "date": date,
        "machine": {
            "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "kernel": command_output("uname", &["-r"]),
            "cpu": std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|c| {
                c.lines().find_map(|l| l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned()))
            }),
        },
        "versions": {
            "secdns": command_output("git", &["rev-parse", "--short", "HEAD"]),
            "knotd": command_output("knotd", &["-V"]),
            "nsd": command_output("nsd", &["-v"]),
            "named": command_output("named", &["-v"]),
            "dnsperf": command_output("dnsperf", &["-h"]),
        },
        "command": format!("cargo xtask bench {name}{}", if quick { " --quick" } else { "" }),
    });
    if let (Some(json), serde_json::Value::Object(data)) = (json.as_object_mut(), data) {
        json.extend(data);
    }
    let json_path = results.join(format!("{stem}.json"));
    std::fs::write(&json_path, serde_json::to_string_pretty(&json)?)?;
    let mut page = format!("# {title}, {date}\n\n{table}");
    if let Some(svg) = svg {
        let svg_name = format!("{stem}.svg");
        std::fs::write(results.join(&svg_name), svg)?;
        page.push_str(&format!("\n![CPU per query]({svg_name})\n"));
    }
    let md_path = results.join(format!("{stem}.md"));
    std::fs::write(&md_path, page)?;
    println!(
        "written to {} and {}",
        json_path.display(),
        md_path.display()
    );
    Ok(())
}

/// One of the issue's targets, as a bench measured it.
#[derive(serde::Serialize)]
pub struct Target {
    pub target: String,
    pub measured: String,
    /// None: not measured by this run.
    pub met: Option<bool>,
}

/// Appends the issue's targets as a table.
pub fn targets_table(out: &mut String, targets: &[Target]) {
    out.push_str("\n| target | measured | |\n|---|---|---|\n");
    for target in targets {
        let verdict = match target.met {
            Some(true) => "met",
            Some(false) => "missed",
            None => "not measured",
        };
        out.push_str(&format!(
            "| {} | {} | {verdict} |\n",
            target.target, target.measured
        ));
    }
}

/// The first line a program prints, for versions.
fn command_output(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .unwrap_or_else(|e| format!("unknown ({e})"))
}
