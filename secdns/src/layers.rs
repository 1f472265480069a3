//! The modules' layers, kept true by the test below: a module imports only modules before it
//! in [`LAYERS`], so that none reaches back up and no two import each other. The flow it
//! follows: zones are read or transferred, compiled into a snapshot, published (arc-swap and
//! the XDP maps), and answered; the daemon at the top wires it together.

/// Bottom first.
pub const LAYERS: &[&str] = &[
    // Foundations: no DNS in them.
    "unix_time",
    "parallel",
    "prefetch",
    "memory",
    "persist",
    "named_files",
    "text_forms",
    // One DNS vocabulary: names, codes, messages, TSIG.
    "dns",
    // Zones and the set of them served.
    "zone",
    "snapshot",
    "stats",
    // Pulling zones from primaries.
    "transfer",
    // Answering a query, and the policies on answers.
    "answer",
    "rate_limit",
    "cookies",
    // The kernel fast path, then publishing a snapshot to it and to userspace.
    "xdp",
    "publish",
    // Transports: UDP and TCP, which hand each message to a request handler.
    "server",
    // Secondary zones: their definitions, notifications, and the zone work.
    "webhooks",
    "catalog",
    "secondary",
    // Routing a request: NOTIFY to the secondary zones, queries to `answer`.
    "handler",
    // The control API.
    "control",
    // The composition root and what it reads.
    "config",
    "daemon",
    "cli",
];

#[cfg(test)]
mod tests {
    use std::{collections::BTreeSet, path::Path};

    use super::LAYERS;

    /// The top-level modules `source` imports (`crate::x`, and `use crate::{x, y::z}`),
    /// outside its tests.
    fn imports(source: &str) -> BTreeSet<String> {
        // Up to the tests module: a `#[cfg(test)]` item before it is not the end of the code.
        let code = source
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or_default();
        let mut found = BTreeSet::new();
        for (at, _) in code.match_indices("crate::") {
            let rest = &code[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // Top-level items of the group: depth 0 up to its closing brace.
                let mut depth = 0;
                let mut item = String::new();
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            found.insert(first_word(&item));
                            item.clear();
                            continue;
                        }
                        _ => {}
                    }
                    item.push(c);
                }
                found.insert(first_word(&item));
            } else {
                found.insert(first_word(rest));
            }
        }
        found.remove("");
        found.remove("self");
        found
    }

    fn first_word(text: &str) -> String {
        text.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    }

    fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn modules_import_only_layers_below_them() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        let mut wrong = Vec::new();
        for file in files {
            let relative = file.strip_prefix(&src).unwrap();
            let top = relative.iter().next().unwrap().to_string_lossy();
            let top = top.trim_end_matches(".rs");
            // The crate roots: the binary imports `secdns::`, the library declares modules.
            if ["main", "lib", "layers"].contains(&top) {
                continue;
            }
            let Some(level) = LAYERS.iter().position(|m| *m == top) else {
                wrong.push(format!("{top}: not in LAYERS"));
                continue;
            };
            let source = std::fs::read_to_string(&file).unwrap();
            for imported in imports(&source) {
                if imported == top {
                    continue;
                }
                match LAYERS.iter().position(|m| *m == imported) {
                    Some(below) if below < level => {}
                    _ => wrong.push(format!("{} imports {imported}", relative.display())),
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "imports against the layers:\n{}",
            wrong.join("\n")
        );
    }

    #[test]
    fn the_check_sees_grouped_and_inline_imports() {
        // A test-only item before the code goes on does not end it; the tests module does.
        let source = "use crate::{dns::{Name, codes}, zone::Zone};\n#[cfg(test)]\nimpl X {}\n\
                      fn f() { crate::xdp::x(); }\n#[cfg(test)]\nmod tests { use crate::daemon; }";
        let expected: BTreeSet<String> = ["dns", "zone", "xdp"].map(String::from).into();
        assert_eq!(imports(source), expected);
    }
}
