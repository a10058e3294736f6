//! What people said: their notes from chat (pinned messages, `/canary note`) as the postmortem
//! shows them — the timeline at the time each was said, the "What people said" section of the
//! Markdown and of the page, and a marker on the page's charts. Their text comes from outside:
//! it is data, escaped for Markdown here and for HTML by [`Html`](super::html::Html).

use super::postmortem::{Marker, MarkerKind};
use super::words::timestamp;
use crate::domain::deploy::fold::noted_key;
use crate::domain::deploy::{ChatNote, Event, EventData, FileLink};

/// A person's note still standing (not withdrawn), as the postmortem shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct NoteRow<'a> {
    pub text: &'a str,
    pub chat: &'a ChatNote,
    /// When it was added to the timeline.
    pub added_at_ms: i64,
}

impl NoteRow<'_> {
    /// Who added it and when, when that was someone other than the author.
    pub fn added_by_words(&self) -> Option<String> {
        self.chat
            .added_by
            .as_ref()
            .map(|p| format!("added by {} at {}", p.name, timestamp(self.added_at_ms)))
    }
}

/// When an event is shown in the timeline: a person's note at the time it was said, anything
/// else at the time it was recorded.
pub fn shown_at_ms(e: &Event) -> i64 {
    match &e.data {
        EventData::Note {
            chat: Some(chat), ..
        } => chat.said_at_ms,
        _ => e.at_ms,
    }
}

/// The timeline in the order it is shown: by [`shown_at_ms`], recording order among equals (a
/// pinned message said before the breach comes before it).
pub fn timeline_order(events: &[Event]) -> Vec<&Event> {
    let mut out: Vec<&Event> = events.iter().collect();
    out.sort_by_key(|e| shown_at_ms(e));
    out
}

/// The notes people added and did not withdraw, in the order they were said.
pub fn standing(events: &[Event]) -> Vec<NoteRow<'_>> {
    let mut rows: Vec<NoteRow<'_>> = Vec::new();
    for e in events {
        match &e.data {
            EventData::Note {
                text,
                chat: Some(chat),
            } => rows.push(NoteRow {
                text,
                chat,
                added_at_ms: e.at_ms,
            }),
            EventData::NoteWithdrawn { message, .. } => {
                let key = noted_key(message);
                rows.retain(|r| r.chat.message.as_ref().map(noted_key) != Some(key.clone()));
            }
            _ => {}
        }
    }
    rows.sort_by_key(|r| r.chat.said_at_ms);
    rows
}

/// A person's note's summary as a Markdown table cell, escaped (its text is from outside);
/// `None` for any other event.
pub fn markdown_cell(e: &Event) -> Option<String> {
    match &e.data {
        EventData::Note { chat: Some(_), .. } => Some(markdown_text(&e.summary.replace('\n', " "))),
        _ => None,
    }
}

/// The timeline summary of a person's note: who said what when, its files, who added it.
pub fn summary(text: &str, chat: &ChatNote, added_at_ms: i64) -> String {
    let mut out = format!(
        "{} said at {}: \u{201c}{}\u{201d}",
        chat.author.name,
        timestamp(chat.said_at_ms),
        text
    );
    if !chat.files.is_empty() {
        let names: Vec<&str> = chat.files.iter().map(|f| f.name.as_str()).collect();
        out.push_str(&format!(" (files: {})", names.join(", ")));
    }
    if let Some(p) = &chat.added_by {
        out.push_str(&format!(
            " — added by {} at {}",
            p.name,
            timestamp(added_at_ms)
        ));
    }
    out
}

/// A marker on the page's charts at the time each standing note was said.
pub fn markers(events: &[Event]) -> Vec<Marker> {
    standing(events)
        .into_iter()
        .map(|r| Marker {
            at_ms: r.chat.said_at_ms,
            kind: MarkerKind::Note,
            label: format!("{}: {}", r.chat.author.name, one_line(r.text, 120)),
            criteria: Vec::new(),
        })
        .collect()
}

/// The text on one line, cut to `max` characters.
pub fn one_line(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        format!("{}…", flat.chars().take(max).collect::<String>())
    }
}

/// Outside text as Markdown text: every character Markdown or its embedded HTML could read as
/// markup is escaped (emphasis, code, links and images, tables, tags and entities, and what
/// starts a heading or a list), so a note shows as written and never becomes a link, an image
/// or a tag. Each line is escaped on its own.
pub fn markdown_text(s: &str) -> String {
    s.split('\n')
        .map(markdown_line)
        .collect::<Vec<_>>()
        .join("\n")
}

fn markdown_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 8);
    let body = line.trim_start();
    out.push_str(&line[..line.len() - body.len()]);
    // What makes a block of a line's start: a heading, a list item, a setext underline.
    if body.starts_with(['#', '-', '+', '=']) {
        out.push('\\');
    }
    let digits = body.chars().take_while(char::is_ascii_digit).count();
    let list_at = (digits > 0 && body[digits..].starts_with(['.', ')'])).then_some(digits);
    for (i, c) in body.char_indices() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\r' => {}
            _ if Some(i) == list_at => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// A URL a Markdown link may carry: http(s) only, with the characters that would end or break
/// the link percent-encoded. `None` for anything else (the file is then named, not linked).
pub fn markdown_url(url: &str) -> Option<String> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return None;
    }
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        match c {
            '(' | ')' | ' ' | '<' | '>' | '"' | '\'' | '`' | '\\' | '[' | ']' => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            c if c.is_control() || c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    Some(out)
}

fn file_markdown(f: &FileLink) -> String {
    match markdown_url(&f.url) {
        Some(url) => format!("[{}]({url})", markdown_text(&f.name)),
        None => markdown_text(&f.name),
    }
}

/// The "What people said" section of the Markdown postmortem.
pub fn markdown_section(events: &[Event]) -> String {
    let mut md = String::from("\n## What people said\n\n");
    let rows = standing(events);
    if rows.is_empty() {
        md.push_str("Nobody added a message or a note to the timeline.\n");
        return md;
    }
    for r in &rows {
        let c = r.chat;
        md.push_str(&format!(
            "- {}, **{}** (`{}`){}:\n",
            timestamp(c.said_at_ms),
            markdown_text(&c.author.name),
            c.author.identity.replace('`', ""),
            c.added_by
                .as_ref()
                .map(|p| format!(
                    ", added by {} at {}",
                    markdown_text(&p.name),
                    timestamp(r.added_at_ms)
                ))
                .unwrap_or_default()
        ));
        for line in r.text.lines() {
            md.push_str(&format!("  > {}\n", markdown_text(line)));
        }
        if !c.files.is_empty() {
            let files: Vec<String> = c.files.iter().map(file_markdown).collect();
            md.push_str(&format!("  \n  Files: {}\n", files.join(", ")));
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::deploy::{MessageRef, Person};

    fn person(id: &str, name: &str) -> Person {
        Person {
            identity: format!("slack:{id}"),
            name: name.into(),
        }
    }

    fn event(seq: i64, at_ms: i64, data: EventData) -> Event {
        Event {
            seq,
            at_ms,
            actor: "slack:U1".into(),
            source: "slack".into(),
            summary: String::new(),
            data,
        }
    }

    fn message(ts: &str) -> MessageRef {
        MessageRef {
            platform: "slack".into(),
            thread: "C1:1.0".into(),
            message: ts.into(),
        }
    }

    fn note(seq: i64, at_ms: i64, said_at_ms: i64, text: &str, ts: &str) -> Event {
        event(
            seq,
            at_ms,
            EventData::Note {
                text: text.into(),
                chat: Some(ChatNote {
                    author: person("U3", "bob"),
                    said_at_ms,
                    files: vec![FileLink {
                        name: "graph [1].png".into(),
                        url: "https://files.example/a (1).png".into(),
                    }],
                    added_by: Some(person("U2", "carol")),
                    message: Some(message(ts)),
                }),
            },
        )
    }

    #[test]
    fn notes_show_at_the_time_they_were_said_and_withdrawn_ones_leave_the_section() {
        let events = vec![
            event(1, 1_000, EventData::note("deploy started")),
            event(2, 5_000, EventData::note("breach")),
            note(3, 9_000, 3_000, "it is the payment provider", "3.0"),
            note(4, 9_500, 4_000, "withdrawn later", "4.0"),
            event(
                5,
                9_800,
                EventData::NoteWithdrawn {
                    message: message("4.0"),
                    by: person("U2", "carol"),
                },
            ),
        ];
        let order: Vec<i64> = timeline_order(&events).iter().map(|e| e.seq).collect();
        assert_eq!(order, [1, 3, 4, 2, 5]);
        let rows = standing(&events);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].text, "it is the payment provider");
        let marks = markers(&events);
        assert_eq!(marks.len(), 1);
        assert_eq!((marks[0].at_ms, marks[0].kind), (3_000, MarkerKind::Note));
        let md = markdown_section(&events);
        assert!(md.contains("## What people said"), "{md}");
        assert!(md.contains("payment provider"), "{md}");
        assert!(!md.contains("withdrawn later"), "{md}");
        assert!(md.contains("added by carol at"), "{md}");
        assert!(
            md.contains("[graph \\[1\\].png](https://files.example/a%20%281%29.png)"),
            "{md}"
        );
    }

    #[test]
    fn outside_text_cannot_become_markup() {
        let events = vec![note(
            1,
            2_000,
            1_000,
            "<img src=x onerror=alert(1)> [click](javascript:alert(1)) **bold**\n# heading",
            "1.0",
        )];
        let md = markdown_section(&events);
        assert!(!md.contains("<img"), "{md}");
        assert!(!md.contains("[click]("), "{md}");
        assert!(!md.contains("**bold**"), "{md}");
        assert!(md.contains("  > \\# heading"), "{md}");
        assert_eq!(markdown_url("javascript:alert(1)"), None);
        assert_eq!(markdown_text("1. a\n - b\n+c"), "1\\. a\n \\- b\n\\+c");
    }

    #[test]
    fn the_timeline_summary_says_who_said_it_and_who_added_it() {
        let e = note(1, 2_000, 1_000, "it is the payment provider", "1.0");
        let EventData::Note {
            text,
            chat: Some(chat),
        } = &e.data
        else {
            unreachable!()
        };
        let s = summary(text, chat, e.at_ms);
        assert!(
            s.starts_with("bob said at 1970-01-01 00:00:01.000 UTC: "),
            "{s}"
        );
        assert!(s.contains("(files: graph [1].png)"), "{s}");
        assert!(
            s.ends_with("added by carol at 1970-01-01 00:00:02.000 UTC"),
            "{s}"
        );
    }
}
