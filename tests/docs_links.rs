//! Every relative link in README.md, ARCHITECTURE.md and the book under `docs/` resolves: the file
//! exists, and a `#anchor` names a heading of the target file, slugged as GitHub and mdBook do
//! (lower case; letters, digits, `-` and `_` kept; spaces become `-`; everything else dropped; a
//! repeated heading gets `-1`, `-2`, …). Every page of the book is listed in its SUMMARY.md.
//!
//! Hand-written rather than built on a Markdown parser: what it needs is code blocks and code
//! spans (whose text is not a link), headings and `[text](target)`, and no parser is in the build.

use std::collections::{BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn every_relative_link_and_anchor_in_the_docs_resolves() {
    let root = Path::new(ROOT);
    let files = markdown_files(root);
    assert!(
        files.iter().any(|f| f.ends_with("docs/src/SUMMARY.md")),
        "docs/src/SUMMARY.md is missing: {files:#?}"
    );
    let problems = broken_links(root, &files);
    assert!(
        problems.is_empty(),
        "{} broken link(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn every_page_of_the_book_is_in_its_summary() {
    let src = Path::new(ROOT).join("docs/src");
    let summary = std::fs::read_to_string(src.join("SUMMARY.md")).expect("docs/src/SUMMARY.md");
    let listed: BTreeSet<PathBuf> = links(&summary)
        .into_iter()
        .map(|link| normalize(&src.join(link.target.split('#').next().unwrap_or(""))))
        .collect();
    let mut missing = Vec::new();
    for page in walk(&src) {
        if page.extension().is_some_and(|e| e == "md")
            && !page.ends_with("SUMMARY.md")
            && !listed.contains(&normalize(&page))
        {
            missing.push(
                page.strip_prefix(ROOT)
                    .unwrap_or(&page)
                    .display()
                    .to_string(),
            );
        }
    }
    assert!(
        missing.is_empty(),
        "pages not listed in docs/src/SUMMARY.md (mdBook would leave them out): {missing:?}"
    );
}

/// README.md, ARCHITECTURE.md (when present) and every `.md` under `docs/`.
fn markdown_files(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["README.md", "ARCHITECTURE.md"]
        .iter()
        .map(|name| root.join(name))
        .filter(|p| p.is_file())
        .collect();
    let docs = root.join("docs");
    if docs.is_dir() {
        files.extend(
            walk(&docs)
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "md")),
        );
    }
    files
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            // mdBook's output, if someone built the book locally.
            if path.file_name().is_some_and(|n| n == "book") {
                continue;
            }
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// One line per broken link: `file:line: [text](target): what is wrong`.
fn broken_links(root: &Path, files: &[PathBuf]) -> Vec<String> {
    let mut slugs_of: HashMap<PathBuf, BTreeSet<String>> = HashMap::new();
    let mut problems = Vec::new();
    for file in files {
        let text =
            std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let shown = file
            .strip_prefix(root)
            .unwrap_or(file)
            .display()
            .to_string();
        for link in links(&text) {
            if let Err(why) = resolve(root, file, &link.target, &mut slugs_of) {
                problems.push(format!(
                    "{shown}:{}: [{}]({}): {why}",
                    link.line, link.text, link.target
                ));
            }
        }
    }
    problems
}

fn resolve(
    root: &Path,
    from: &Path,
    target: &str,
    slugs_of: &mut HashMap<PathBuf, BTreeSet<String>>,
) -> Result<(), String> {
    if target.is_empty() {
        return Err("empty link target".into());
    }
    if is_external(target) {
        return Ok(());
    }
    let (path, anchor) = match target.split_once('#') {
        Some((path, anchor)) => (path, Some(anchor)),
        None => (target, None),
    };
    let file = if path.is_empty() {
        from.to_path_buf()
    } else if path.starts_with('/') {
        return Err("absolute path: write it relative to this file".into());
    } else {
        normalize(
            &from
                .parent()
                .expect("a file's directory")
                .join(percent_decode(path)),
        )
    };
    if !file.exists() {
        let shown = file.strip_prefix(root).unwrap_or(&file);
        return Err(format!("no such file: {}", shown.display()));
    }
    let Some(anchor) = anchor else {
        return Ok(());
    };
    if file.extension().is_none_or(|e| e != "md") {
        // Anchors into source files (`#L10`) are GitHub's line links: not checked.
        return Ok(());
    }
    let slugs = slugs_of.entry(file.clone()).or_insert_with(|| {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        heading_slugs(&text)
    });
    let anchor = percent_decode(anchor);
    if slugs.contains(&anchor) {
        Ok(())
    } else {
        Err(format!(
            "no heading with the anchor `#{anchor}` in {} (its anchors: {})",
            file.file_name().unwrap_or_default().to_string_lossy(),
            slugs.iter().cloned().collect::<Vec<_>>().join(", ")
        ))
    }
}

/// `https:`, `mailto:`, …: a scheme before the first `:`.
fn is_external(target: &str) -> bool {
    target.split_once(':').is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    })
}

/// `a/./b/../c` → `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && let Ok(hex) = std::str::from_utf8(hex)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Debug, PartialEq)]
struct Link {
    line: usize,
    text: String,
    target: String,
}

/// The anchors a file's headings get, duplicates numbered as GitHub and mdBook number them.
fn heading_slugs(text: &str) -> BTreeSet<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut slugs = BTreeSet::new();
    for (line, fenced) in lines_with_fences(text) {
        if fenced {
            continue;
        }
        let Some(heading) = heading_text(line) else {
            continue;
        };
        let base = slug(heading);
        let n = seen.entry(base.clone()).or_insert(0);
        slugs.insert(if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        });
        *n += 1;
    }
    // Explicit anchors: <a id="…"></a> or <a name="…"></a>.
    for attr in ["id=\"", "name=\""] {
        for (at, _) in text.match_indices(attr) {
            let rest = &text[at + attr.len()..];
            if let Some(end) = rest.find('"')
                && text[..at]
                    .rfind('<')
                    .is_some_and(|lt| text[lt..at].starts_with("<a "))
            {
                slugs.insert(rest[..end].to_string());
            }
        }
    }
    slugs
}

/// The text of an ATX heading (`## Title ##`), or `None`.
fn heading_text(line: &str) -> Option<&str> {
    let trimmed = line
        .strip_prefix("   ")
        .or(line.strip_prefix("  "))
        .or(line.strip_prefix(' '))
        .unwrap_or(line);
    let hashes = trimmed.chars().take_while(|&c| c == '#').count();
    if !(1..=6).contains(&hashes) {
        return None;
    }
    let rest = &trimmed[hashes..];
    if !(rest.is_empty() || rest.starts_with(' ') || rest.starts_with('\t')) {
        return None;
    }
    // A closing run of `#` is dropped only when a space precedes it (`# C#` keeps its `#`).
    let text = rest.trim();
    let unclosed = text.trim_end_matches('#');
    Some(if unclosed.is_empty() || unclosed.ends_with(' ') {
        unclosed.trim_end()
    } else {
        text
    })
}

/// A heading's anchor: the text as rendered (code ticks, emphasis and link targets gone), lower
/// case, letters, digits, `-` and `_` kept, white space made `-`.
fn slug(heading: &str) -> String {
    let rendered = strip_link_targets(heading);
    rendered
        .chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                Some(c.to_lowercase().collect::<String>())
            } else if c.is_whitespace() {
                Some("-".into())
            } else {
                None
            }
        })
        .collect()
}

/// `[text](target)` → `text`.
fn strip_link_targets(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(open) = rest.find("](") {
        let Some(close) = rest[open..].find(')') else {
            break;
        };
        out.push_str(&rest[..open]);
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out.replace('[', "")
}

/// Each line with whether it is inside (or is a fence of) a fenced code block.
fn lines_with_fences(text: &str) -> Vec<(&str, bool)> {
    let mut out = Vec::new();
    let mut open: Option<(char, usize)> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let fence = ['`', '~']
            .into_iter()
            .find(|&c| trimmed.starts_with(&c.to_string().repeat(3)))
            .map(|c| (c, trimmed.chars().take_while(|&x| x == c).count()));
        match (open, fence) {
            (None, Some(f)) => {
                open = Some(f);
                out.push((line, true));
            }
            (Some((c, n)), Some((fc, fnum)))
                if c == fc && fnum >= n && trimmed.trim_end().chars().all(|x| x == c) =>
            {
                open = None;
                out.push((line, true));
            }
            (Some(_), _) => out.push((line, true)),
            (None, None) => out.push((line, false)),
        }
    }
    out
}

/// The text with code blocks and code spans blanked out (line breaks kept), so that what looks
/// like a link inside code is not taken for one.
fn without_code(text: &str) -> String {
    let mut prose = String::with_capacity(text.len());
    for (line, fenced) in lines_with_fences(text) {
        if fenced {
            prose.extend(line.chars().map(|_| ' '));
        } else {
            prose.push_str(line);
        }
        prose.push('\n');
    }
    // Code spans: a run of N backticks up to the next run of exactly N, within a paragraph.
    let chars: Vec<char> = prose.chars().collect();
    let mut out = chars.clone();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&c| c == '`').count();
        let mut j = i + run;
        let mut close = None;
        while j < chars.len() {
            if chars[j] == '\n' && chars.get(j + 1) == Some(&'\n') {
                break;
            }
            if chars[j] == '`' {
                let n = chars[j..].iter().take_while(|&&c| c == '`').count();
                if n == run {
                    close = Some(j + n);
                    break;
                }
                j += n;
            } else {
                j += 1;
            }
        }
        match close {
            Some(end) => {
                for c in &mut out[i..end] {
                    if *c != '\n' {
                        *c = ' ';
                    }
                }
                i = end;
            }
            None => i += run,
        }
    }
    out.into_iter().collect()
}

/// Inline links and images `[text](target "title")`, reference definitions `[label]: target`
/// and `href="…"`, outside code.
fn links(text: &str) -> Vec<Link> {
    let prose = without_code(text);
    let mut found = Vec::new();
    for (n, line) in prose.lines().enumerate() {
        let line_no = n + 1;
        let mut from = 0;
        while let Some(at) = line[from..].find("](") {
            let open = from + at;
            let text_start = line[..open].rfind('[').map_or(0, |i| i + 1);
            let start = open + 2;
            let mut depth = 0usize;
            let mut end = None;
            for (k, c) in line[start..].char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' if depth == 0 => {
                        end = Some(start + k);
                        break;
                    }
                    ')' => depth -= 1,
                    _ => {}
                }
            }
            let Some(end) = end else {
                break;
            };
            found.push(Link {
                line: line_no,
                text: line[text_start..open].to_string(),
                target: link_destination(&line[start..end]),
            });
            from = end + 1;
        }
        let trimmed = line.trim_start();
        if trimmed.starts_with('[')
            && !trimmed.starts_with("[^")
            && let Some(close) = trimmed.find("]:")
        {
            found.push(Link {
                line: line_no,
                text: trimmed[1..close].to_string(),
                target: link_destination(&trimmed[close + 2..]),
            });
        }
        for (at, _) in line.match_indices("href=\"") {
            let rest = &line[at + 6..];
            if let Some(end) = rest.find('"') {
                found.push(Link {
                    line: line_no,
                    text: "href".into(),
                    target: rest[..end].to_string(),
                });
            }
        }
    }
    found
}

/// `<a b.md>` or `a.md "title"` → the destination alone.
fn link_destination(raw: &str) -> String {
    let raw = raw.trim();
    if let Some(inner) = raw.strip_prefix('<') {
        return inner.split('>').next().unwrap_or("").to_string();
    }
    raw.split_whitespace().next().unwrap_or("").to_string()
}

#[cfg(test)]
mod checker {
    use super::*;

    #[test]
    fn slugs_are_githubs_and_mdbooks() {
        assert_eq!(slug("`POST /hooks/deploy`"), "post-hooksdeploy");
        assert_eq!(
            slug("Watching by itself: Prometheus and Alertmanager"),
            "watching-by-itself-prometheus-and-alertmanager"
        );
        assert_eq!(
            slug("Rollback executor: `webhook`"),
            "rollback-executor-webhook"
        );
        assert_eq!(slug("`/metrics`"), "metrics");
        assert_eq!(slug("[Slack](slack.md) and *Discord*"), "slack-and-discord");
        assert_eq!(slug("log_format, Ünïcode"), "log_format-ünïcode");
        assert_eq!(heading_text("## Closed ##"), Some("Closed"));
        assert_eq!(heading_text("# C#"), Some("C#"));
        assert_eq!(heading_text("#hashtag"), None);
        let slugs = heading_slugs("# A\n## Authority\n```\n# not a heading\n```\n### Authority\n");
        assert_eq!(
            slugs,
            ["a", "authority", "authority-1"].map(String::from).into()
        );
    }

    #[test]
    fn links_in_code_are_not_links() {
        let text = "See [the guide](guide.md#setup).\n\
                    `[label](url)` and ``a `[x](y)` b``\n\
                    ```md\n[in](fence.md)\n```\n\
                    [ref]: other.md \"title\"\n\
                    ![chart](img/chart.svg) <a href=\"page.md\">p</a>\n";
        let targets: Vec<(usize, String)> = links(text)
            .into_iter()
            .map(|l| (l.line, l.target))
            .collect();
        assert_eq!(
            targets,
            vec![
                (1, "guide.md#setup".to_string()),
                (6, "other.md".to_string()),
                (7, "img/chart.svg".to_string()),
                (7, "page.md".to_string()),
            ]
        );
    }

    #[test]
    fn a_broken_link_is_named_with_its_file_line_and_target() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("docs/src")).expect("mkdir");
        std::fs::write(
            root.join("README.md"),
            "# Front\n\nSee [setup](docs/src/setup.md#install), [ok](docs/src/setup.md#run),\n\
             [gone](docs/src/gone.md), [self](#front), [nope](#back) and [web](https://x.example/#y).\n",
        )
        .expect("write");
        std::fs::write(
            root.join("docs/src/setup.md"),
            "# Setup\n\n## Run\n\nBack to the [front](../../README.md#front).\n",
        )
        .expect("write");
        let files = markdown_files(root);
        let problems = broken_links(root, &files);
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(
            problems[0].starts_with("README.md:3: [setup](docs/src/setup.md#install): no heading with the anchor `#install` in setup.md"),
            "{problems:#?}"
        );
        assert!(
            problems[1] == "README.md:4: [gone](docs/src/gone.md): no such file: docs/src/gone.md",
            "{problems:#?}"
        );
        assert!(
            problems[2].starts_with(
                "README.md:4: [nope](#back): no heading with the anchor `#back` in README.md"
            ),
            "{problems:#?}"
        );
    }
}
