//! The domain's boundary, checked: it decides from facts and states facts, so it uses nothing
//! of the crate outside `crate::domain` (the words are `crate::present`'s) and no I/O or runtime.

use std::path::{Path, PathBuf};

/// Crates the pure core must not use.
const RUNTIME_CRATES: &[&str] = &["tokio", "sqlx", "axum", "reqwest", "hyper", "tower"];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// How deep a file's module sits below `crate`: `domain/mod.rs` is 1, `domain/deploy/event.rs` 3.
fn depth(src: &Path, file: &Path) -> usize {
    let parts = file
        .strip_prefix(src)
        .map(|p| p.components().count())
        .unwrap_or(0);
    if file.file_name().is_some_and(|n| n == "mod.rs") {
        parts - 1
    } else {
        parts
    }
}

/// What in `code` (one line of `file`) reaches outside the domain.
fn escapes(code: &str, depth: usize) -> Vec<String> {
    let mut found = Vec::new();
    let crate_path = ["crate", "::"].concat();
    for (at, _) in code.match_indices(&crate_path) {
        let before = code[..at].chars().last();
        let rest = &code[at + crate_path.len()..];
        let ident_before = before.is_some_and(|c| c.is_alphanumeric() || c == '_');
        if !ident_before && !rest.starts_with("domain") {
            found.push(format!("`{}`", code[at..].trim()));
        }
    }
    // `super::` chains that climb to the crate root.
    let climb = ["super", "::"].concat();
    let mut rest = code;
    while let Some(at) = rest.find(&climb) {
        let mut n = 0;
        let mut tail = &rest[at..];
        while let Some(t) = tail.strip_prefix(&climb) {
            n += 1;
            tail = t;
        }
        if n >= depth {
            found.push(format!("`{}` climbs out of the domain", rest[at..].trim()));
        }
        rest = tail;
    }
    for name in RUNTIME_CRATES {
        let path = format!("{name}::");
        let hit = code.match_indices(&path).any(|(at, _)| {
            !code[..at]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
        });
        if hit {
            found.push(format!("`{}` uses {name}", code.trim()));
        }
    }
    found
}

#[test]
fn the_domain_uses_nothing_outside_itself() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src.join("domain"), &mut files);
    assert!(files.len() > 10, "found the domain's sources: {files:?}");
    let mut problems = Vec::new();
    for file in &files {
        if file.ends_with("domain/boundary.rs") {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("readable source");
        for (i, line) in text.lines().enumerate() {
            // Comments may name other rooms; only code is checked.
            let code = line.split("//").next().unwrap_or_default();
            for what in escapes(code, depth(&src, file)) {
                problems.push(format!("{}:{}: {what}", file.display(), i + 1));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the domain reaches outside itself:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_check_sees_each_way_out() {
    assert!(escapes("use crate::domain::criteria::Verdict;", 3).is_empty());
    assert!(escapes("use super::super::event::Event;", 4).is_empty());
    assert!(!escapes("use crate::present::words;", 3).is_empty());
    assert!(!escapes("let x = crate::config::Config::default();", 2).is_empty());
    assert!(!escapes("use super::super::present;", 2).is_empty());
    assert!(!escapes("use super::present;", 1).is_empty());
    assert!(!escapes("tokio::spawn(async {});", 2).is_empty());
}
