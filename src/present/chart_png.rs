//! One criterion's chart as a PNG image, for chat (a breach, the closing summary) and for
//! `GET /deploys/{id}/charts/{criterion}.png`: the page's chart (`page::charts`) drawn in a phone
//! style, rendered by resvg with the font embedded in the binary, so it looks the same on every
//! machine (containers have no fonts). Pure CPU: no runtime, no files, no clock.

use crate::domain::criteria::Criterion;
use crate::domain::deploy::EventData;
use crate::present::page::charts::{self, ChartStyle};
use crate::present::postmortem::{ChartPoint, Marker, Postmortem, markers};
use crate::present::words::with_unit;
use chrono::{DateTime, Utc};
use resvg::{tiny_skia, usvg};
use std::sync::{Arc, OnceLock};

/// The image's width, in pixels.
pub const WIDTH: u32 = 800;
/// The image's height, in pixels.
pub const HEIGHT: u32 = 400;

/// How far back the image reaches before its end.
pub const WINDOW_MS: i64 = 30 * 60 * 1000;

/// How far after the last sample the image still marks what happened.
pub const MARKER_REACH_MS: i64 = 5 * 60 * 1000;

/// Slack's limit for an image's `alt_text` is 1000 characters; ours stays under it.
pub const ALT_TEXT_MAX_CHARS: usize = 990;

/// DejaVu Sans (Bitstream Vera licence, which permits embedding: assets/fonts/LICENSE-DejaVu.txt).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FONT_FAMILY: &str = "DejaVu Sans";

/// Legible on a phone: 800 px wide, labels of 14 px and more, thick lines, Okabe–Ito colours
/// (canary vermillion and solid, baseline blue and dashed, the bound grey and dotted).
pub(crate) const PHONE: ChartStyle = ChartStyle {
    width: WIDTH as f64,
    height: HEIGHT as f64,
    left: 84.0,
    right: 20.0,
    top: 74.0,
    bottom: 44.0,
    font_family: FONT_FAMILY,
    font_size: 14.0,
    legend_size: 15.0,
    title_size: 17.0,
    legend_step: 150.0,
    canary: "#D55E00",
    baseline: "#0072B2",
    bound: "#7A7A7A",
    canary_dash: "",
    baseline_dash: "12 6",
    bound_dash: "2 5",
    series_width: 4.0,
    bound_width: 2.5,
    note_mark: "note: ",
};

/// One criterion's chart as a PNG, with the words to go with it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartImage {
    pub png: Vec<u8>,
    /// The numbers in words, for people who cannot see the image (under 1000 characters).
    pub alt_text: String,
    /// `checkout 2.4.1 — p99 latency: canary vs baseline`.
    pub title: String,
}

/// What one image is drawn from: the criterion, its samples and markers in the window, and the
/// failing checks in it (time, canary value).
pub(crate) struct Cut<'a> {
    pub criterion: &'a Criterion,
    pub points: Vec<ChartPoint>,
    pub markers: Vec<Marker>,
    pub failing: Vec<(i64, f64)>,
    /// A breach named the criterion by the end of the window.
    pub breached: bool,
}

#[cfg(test)]
impl Cut<'_> {
    /// Where the image puts a time and a value.
    pub fn scale(&self) -> charts::Scale {
        charts::layout(&PHONE, self.criterion, &self.points, &self.markers).0
    }
}

/// The criterion's samples, markers and failing checks up to `until_ms` (all when `None`): the
/// samples of the last [`WINDOW_MS`] up to the last one kept, the markers up to
/// [`MARKER_REACH_MS`] after it.
pub(crate) fn cut<'a>(
    p: &'a Postmortem,
    criterion: &str,
    until_ms: Option<i64>,
) -> Result<Cut<'a>, String> {
    let d = &p.deploy;
    let Some(c) = d.policy.criteria.iter().find(|c| c.name == criterion) else {
        let names: Vec<&str> = d.policy.criteria.iter().map(|c| c.name.as_str()).collect();
        return Err(format!(
            "deploy {} has no criterion `{criterion}` (criteria: {})",
            d.info.id,
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ));
    };
    let until = until_ms.unwrap_or(i64::MAX);
    let all: Vec<ChartPoint> = p
        .samples
        .get(criterion)
        .map(|v| v.iter().filter(|s| s.at_ms <= until).copied().collect())
        .unwrap_or_default();
    let Some(last) = all.iter().map(|s| s.at_ms).max() else {
        return Err(format!(
            "no samples of `{criterion}` stored for deploy {}{}",
            d.info.id,
            match until_ms {
                Some(u) => format!(" up to {}", hm(u)),
                None => String::new(),
            }
        ));
    };
    // The 30 minutes up to the last sample (a chart posted long after the checks stopped still
    // shows them), and the moments just after it (the breach, a decision, the rollback).
    let start = last.saturating_sub(WINDOW_MS);
    let end = until.min(last.saturating_add(MARKER_REACH_MS));
    let inside = |at: i64| at >= start && at <= end;
    let points: Vec<ChartPoint> = all.into_iter().filter(|s| inside(s.at_ms)).collect();
    let markers: Vec<Marker> = markers(&p.events)
        .into_iter()
        .filter(|m| inside(m.at_ms))
        .collect();
    let failing: Vec<(i64, f64)> = p
        .events
        .iter()
        .filter(|e| inside(e.at_ms))
        .filter_map(|e| match &e.data {
            EventData::CheckFailed {
                criterion: name,
                canary: Some(v),
                ..
            } if name == criterion && v.is_finite() => Some((e.at_ms, *v)),
            _ => None,
        })
        .collect();
    let breached = p.events.iter().any(|e| {
        e.at_ms <= until
            && matches!(&e.data, EventData::BreachDetected { criteria, .. } if criteria.iter().any(|n| n == criterion))
    });
    Ok(Cut {
        criterion: c,
        points,
        markers,
        failing,
        breached,
    })
}

/// One criterion's chart as a PNG, from what the postmortem is made of, cut at `until_ms`
/// (samples and markers after it left out, so a retry renders the same image): canary and
/// baseline over the canary so far, at most the last 30 minutes of samples before `until_ms`
/// (the whole canary when `None`), with what happened up to 5 minutes after the last of them.
pub fn criterion_png(
    p: &Postmortem,
    criterion: &str,
    until_ms: Option<i64>,
) -> Result<ChartImage, String> {
    let cut = cut(p, criterion, until_ms)?;
    let c = cut.criterion;
    let d = &p.deploy;
    let title = format!(
        "{}{} {} — {}: canary vs baseline",
        if d.info.is_drill() { "DRILL: " } else { "" },
        d.info.service,
        d.info.version,
        c.name
    );
    let svg = charts::chart(
        &PHONE,
        c,
        &cut.points,
        &cut.markers,
        cut.breached,
        &cut.failing,
        Some(&title),
    )
    .into_string();
    let png = render(&svg)?;
    let alt_text = alt_text(&cut, &format!("{} {}", d.info.service, d.info.version));
    Ok(ChartImage {
        png,
        alt_text,
        title,
    })
}

/// The fonts the images are drawn with: the embedded one, loaded once.
fn fonts() -> Arc<usvg::fontdb::Database> {
    static DB: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    DB.get_or_init(|| {
        let mut db = usvg::fontdb::Database::new();
        db.load_font_source(usvg::fontdb::Source::Binary(Arc::new(FONT)));
        db.set_sans_serif_family(FONT_FAMILY);
        Arc::new(db)
    })
    .clone()
}

/// SVG text to PNG bytes, at the SVG's own size.
pub(crate) fn render(svg: &str) -> Result<Vec<u8>, String> {
    let options = usvg::Options {
        font_family: FONT_FAMILY.to_string(),
        fontdb: fonts(),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| format!("chart SVG: {e}"))?;
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| format!("chart size {}×{}", size.width(), size.height()))?;
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap
        .encode_png()
        .map_err(|e| format!("chart PNG encoding: {e}"))
}

/// `14:02` (UTC).
fn hm(ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(t) => t.format("%H:%M").to_string(),
        None => ms.to_string(),
    }
}

/// How a series went, in words: `rose from 0.24 s to 0.62 s`, `stayed near 0.24 s`.
fn series_words(values: &[f64], unit: Option<&str>) -> String {
    let (Some(first), Some(last)) = (values.first(), values.last()) else {
        return "had no values".to_string();
    };
    let w = |v: f64| with_unit(Some(v), unit);
    let peak = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let spread = (peak - low).abs();
    let size = first.abs().max(last.abs()).max(peak.abs());
    if values.len() == 1 {
        return format!("was {}", w(*first));
    }
    if spread <= 0.1 * size || size == 0.0 {
        return format!("stayed near {}", w(*first));
    }
    let mut words = if (last - first).abs() <= 0.1 * size {
        format!("went from {} back to {}", w(*first), w(*last))
    } else if last > first {
        format!("rose from {} to {}", w(*first), w(*last))
    } else {
        format!("fell from {} to {}", w(*first), w(*last))
    };
    if peak > first.max(*last) + 0.1 * size {
        words.push_str(&format!(", peaking at {}", w(peak)));
    }
    words
}

/// The bound in words: `bound max 0.5 s`, `bound baseline × 1.5`.
fn bound_words(c: &Criterion) -> String {
    let unit = c.unit.as_deref();
    let mut parts = Vec::new();
    if let Some(v) = c.max {
        parts.push(format!("max {}", with_unit(Some(v), unit)));
    }
    if let Some(v) = c.min {
        parts.push(format!("min {}", with_unit(Some(v), unit)));
    }
    if let Some(r) = c.max_ratio {
        parts.push(format!(
            "baseline × {}",
            crate::domain::criteria::fmt_num(r)
        ));
    }
    if let Some(dl) = c.max_delta {
        parts.push(format!("baseline + {}", with_unit(Some(dl), unit)));
    }
    if parts.is_empty() {
        format!("bound {}", c.bounds())
    } else {
        format!("bound {}", parts.join(", "))
    }
}

/// The numbers of the image in words: what the canary and the baseline did, the bound, the
/// failing checks.
fn alt_text(cut: &Cut<'_>, deploy: &str) -> String {
    let c = cut.criterion;
    let unit = c.unit.as_deref();
    let series = |canary: bool| -> Vec<f64> {
        cut.points
            .iter()
            .filter_map(|p| if canary { p.canary } else { p.baseline })
            .filter(|v| v.is_finite())
            .collect()
    };
    let span = match (cut.points.first(), cut.points.last()) {
        (Some(a), Some(b)) if hm(a.at_ms) != hm(b.at_ms) => {
            format!("{}–{} UTC", hm(a.at_ms), hm(b.at_ms))
        }
        (Some(a), _) => format!("{} UTC", hm(a.at_ms)),
        _ => String::new(),
    };
    let failing = match cut.failing.as_slice() {
        [] => "no failing checks".to_string(),
        [(at, _)] => format!("1 failing check at {}", hm(*at)),
        [(at, _), ..] => format!("{} failing checks from {}", cut.failing.len(), hm(*at)),
    };
    let text = format!(
        "{} of {deploy}, canary vs baseline, {span}: canary {}, baseline {}; {}; {failing}.",
        c.name,
        series_words(&series(true), unit),
        series_words(&series(false), unit),
        bound_words(c)
    );
    if text.chars().count() <= ALT_TEXT_MAX_CHARS {
        text
    } else {
        let mut cut: String = text.chars().take(ALT_TEXT_MAX_CHARS - 1).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
#[path = "chart_png_tests.rs"]
mod tests;
