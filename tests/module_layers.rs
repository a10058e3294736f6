//! The crate's rooms import each other in layers, never in a circle: a reader can learn a room by
//! reading only the rooms below it (see ARCHITECTURE.md, "Layers"). This test reads every source
//! file, collects which top-level module (`crate::<room>`) each room's non-test code names, and
//! fails naming the circle and the files that close it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

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

/// The code of a file without its tests (everything from the first `#[cfg(test)]`) and without
/// comments, so that prose and test fixtures naming other rooms do not count.
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The rooms `code` names: `crate::room…` and each root of `crate::{a, b::c}`.
fn rooms_named(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let prefix = ["crate", "::"].concat();
    for (at, _) in code.match_indices(&prefix) {
        let before = code[..at].chars().last();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &code[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Only the roots of the group's top-level entries.
            let mut level = 0;
            let mut start = true;
            let mut i = 0;
            let bytes = group.as_bytes();
            while i < bytes.len() {
                let c = bytes[i] as char;
                match c {
                    '{' => level += 1,
                    '}' if level == 0 => break,
                    '}' => level -= 1,
                    ',' if level == 0 => start = true,
                    c if start && (c.is_ascii_alphabetic() || c == '_') => {
                        let name = ident_at(&group[i..]);
                        out.insert(name.to_string());
                        start = false;
                        i += name.len();
                        continue;
                    }
                    _ => {}
                }
                i += 1;
            }
        } else {
            let name = ident_at(rest);
            if !name.is_empty() {
                out.insert(name.to_string());
            }
        }
    }
    out
}

/// Room → room → the files that name it.
type Edges = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn edges() -> Edges {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let rooms: BTreeSet<String> = files
        .iter()
        .filter_map(|f| f.strip_prefix(&src).ok())
        .filter_map(|f| f.components().next())
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string()
        })
        .collect();
    let mut edges = Edges::new();
    for file in &files {
        let rel = file.strip_prefix(&src).expect("under src");
        let name = rel.file_name().unwrap_or_default().to_string_lossy();
        // Test modules in files of their own (`tests.rs`, `<concern>_tests.rs`), and the
        // domain's own boundary test.
        if name == "tests.rs" || name.ends_with("_tests.rs") || name == "boundary.rs" {
            continue;
        }
        let room = rel
            .components()
            .next()
            .map(|c| {
                c.as_os_str()
                    .to_string_lossy()
                    .trim_end_matches(".rs")
                    .to_string()
            })
            .unwrap_or_default();
        // The crate root and the binary sit above every room.
        if room == "lib" || room == "main" {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("readable source");
        for named in rooms_named(&code_of(&text)) {
            if named != room && rooms.contains(&named) {
                edges
                    .entry(room.clone())
                    .or_default()
                    .entry(named)
                    .or_default()
                    .insert(rel.display().to_string());
            }
        }
    }
    edges
}

/// Circles, each as its rooms (Tarjan's strongly connected components of more than one room).
fn circles(edges: &Edges) -> Vec<Vec<String>> {
    struct Walk<'a> {
        edges: &'a Edges,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a str) {
        let i = w.index.len();
        w.index.insert(v, i);
        w.low.insert(v, i);
        w.stack.push(v);
        let next: Vec<&'a str> = w
            .edges
            .get(v)
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        for n in next {
            if !w.index.contains_key(n) {
                visit(w, n);
                let l = w.low[n].min(w.low[v]);
                w.low.insert(v, l);
            } else if w.stack.contains(&n) {
                let l = w.index[n].min(w.low[v]);
                w.low.insert(v, l);
            }
        }
        if w.low[v] == w.index[v] {
            let mut component = Vec::new();
            while let Some(top) = w.stack.pop() {
                component.push(top.to_string());
                if top == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                w.found.push(component);
            }
        }
    }
    let mut w = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    let rooms: Vec<&str> = edges.keys().map(String::as_str).collect();
    for room in rooms {
        if !w.index.contains_key(room) {
            visit(&mut w, room);
        }
    }
    w.found
}

#[test]
fn no_room_imports_another_in_a_circle() {
    let edges = edges();
    let found = circles(&edges);
    let mut report = String::new();
    for circle in &found {
        report.push_str(&format!("circle: {}\n", circle.join(", ")));
        for a in circle {
            for (b, files) in edges.get(a).into_iter().flatten() {
                if circle.contains(b) {
                    let files: Vec<&str> = files.iter().map(String::as_str).collect();
                    report.push_str(&format!("  {a} -> {b}: {}\n", files.join(", ")));
                }
            }
        }
    }
    assert!(found.is_empty(), "{report}");
}

#[test]
fn the_reader_finds_references_in_paths_and_groups() {
    let code = code_of(
        "use crate::config::{A, b::C};\nuse crate::{http, store::Store};\n// crate::slack\nfn f() { crate::engine::run(); }\n#[cfg(test)]\nuse crate::registry;",
    );
    let named: Vec<String> = rooms_named(&code).into_iter().collect();
    assert_eq!(named, ["config", "engine", "http", "store"]);
}

#[test]
fn a_circle_is_found() {
    let mut edges = Edges::new();
    for (a, b) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        edges
            .entry(a.into())
            .or_default()
            .entry(b.into())
            .or_default()
            .insert(format!("{a}.rs"));
    }
    assert_eq!(circles(&edges), vec![vec!["a", "b", "c"]]);
}
