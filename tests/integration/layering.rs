//! The module graph stays one-way: `digest, paths, api, vision, runtime` <- `engine` <- `record`
//! <- `station` <- `server, cli, app`. Reads the sources: a `crate::x` path in a file of a lower
//! layer that names a higher layer fails here, with the file and line.

use std::path::{Path, PathBuf};

/// Each layer and the crate modules it must not name.
const RULES: &[(&str, &[&str])] = &[
    (
        "digest.rs",
        &[
            "api", "vision", "runtime", "engine", "record", "station", "server", "cli", "app",
            "kiosk", "eval", "camera",
        ],
    ),
    (
        "paths.rs",
        &[
            "api", "vision", "runtime", "engine", "record", "station", "server", "cli", "app",
            "kiosk", "eval", "camera",
        ],
    ),
    (
        "api",
        &[
            "vision", "runtime", "engine", "record", "station", "server", "cli", "app", "kiosk",
            "eval", "camera",
        ],
    ),
    (
        "vision",
        &[
            "api", "engine", "record", "station", "server", "cli", "app", "kiosk", "eval", "camera",
        ],
    ),
    (
        "runtime.rs",
        &[
            "api", "vision", "engine", "record", "station", "server", "cli", "app", "kiosk",
            "eval", "camera",
        ],
    ),
    (
        "engine",
        &[
            "record", "station", "server", "cli", "app", "kiosk", "eval", "camera",
        ],
    ),
    (
        "record",
        &["station", "server", "cli", "app", "kiosk", "eval", "camera"],
    ),
    (
        "station.rs",
        &["server", "cli", "app", "kiosk", "eval", "camera"],
    ),
    ("server", &["cli", "app", "kiosk"]),
    ("eval", &["station", "server", "cli", "app", "kiosk"]),
];

fn rust_files(p: &Path) -> Vec<PathBuf> {
    if p.is_file() {
        return vec![p.to_path_buf()];
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The crate modules a source line names (`crate::x`, `use crate::{x, y}` counts `x` and `y`).
fn named_modules(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push(name);
            }
        } else {
            out.push(
                rest.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect(),
            );
        }
    }
    out
}

/// Lines outside `#[cfg(test)]` modules (tests may reach anywhere).
fn non_test_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let cut = text.find("#[cfg(test)]").unwrap_or(text.len());
    text[..cut].lines().enumerate().map(|(i, l)| (i + 1, l))
}

#[test]
fn no_layer_names_a_higher_one() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut violations = Vec::new();
    for (layer, forbidden) in RULES {
        for file in rust_files(&src.join(layer)) {
            let text = std::fs::read_to_string(&file).expect("source");
            for (n, line) in non_test_lines(&text) {
                if line.trim_start().starts_with("//") {
                    continue;
                }
                for m in named_modules(line) {
                    if forbidden.contains(&m.as_str()) {
                        violations.push(format!(
                            "{}:{n}: `{layer}` must not use `crate::{m}`: {}",
                            file.strip_prefix(&src).unwrap_or(&file).display(),
                            line.trim()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "layering violations:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_checker_sees_grouped_and_plain_paths() {
    assert_eq!(named_modules("use crate::engine::X;"), ["engine"]);
    assert_eq!(
        named_modules("use crate::{record::Y, station};"),
        ["record", "station"]
    );
    assert!(named_modules("let x = 1;").is_empty());
}

/// No two files of `src/engine/` import each other's internals (`super::local` from `remote`
/// was one such circle); shared helpers live in a lower module.
#[test]
fn engine_files_do_not_import_each_other() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/engine");
    for (file, sibling) in [("remote.rs", "local"), ("local.rs", "remote")] {
        let text = std::fs::read_to_string(src.join(file)).expect("source");
        for (n, line) in non_test_lines(&text) {
            assert!(
                !line.contains(&format!("super::{sibling}")),
                "engine/{file}:{n} imports engine/{sibling}: {line}"
            );
        }
    }
}
