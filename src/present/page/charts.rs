//! The SVG chart of one criterion: canary and baseline over time, its bounds, and the moments
//! (breach, decisions, rollback) drawn across it.

use crate::domain::criteria::{Criterion, Verdict, fmt_num};
use crate::html;
use crate::present::html::Html;
use crate::present::postmortem::{ChartPoint, Marker, MarkerKind};
use crate::present::words::{timestamp, with_unit};
use chrono::{DateTime, Utc};

const W: f64 = 720.0;
pub(super) const H: f64 = 260.0;
pub(super) const TOP: f64 = 30.0;
pub(super) const BOTTOM: f64 = 36.0;

/// How a chart is drawn: its size, margins, type, colours and line styles. The page and the chart
/// images draw the same chart in two styles.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChartStyle {
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
    pub font_family: &'static str,
    /// Ticks, bound and marker labels.
    pub font_size: f64,
    pub legend_size: f64,
    /// The title, when one is drawn (the images; the page has its own heading).
    pub title_size: f64,
    /// Space given to each legend entry.
    pub legend_step: f64,
    pub canary: &'static str,
    pub baseline: &'static str,
    pub bound: &'static str,
    /// `stroke-dasharray` of each line, empty for solid.
    pub canary_dash: &'static str,
    pub baseline_dash: &'static str,
    pub bound_dash: &'static str,
    pub series_width: f64,
    pub bound_width: f64,
    /// What a person's note is marked with (the image's font has no emoji).
    pub note_mark: &'static str,
}

/// The page's chart.
pub(crate) const PAGE: ChartStyle = ChartStyle {
    width: W,
    height: H,
    left: 72.0,
    right: 16.0,
    top: TOP,
    bottom: BOTTOM,
    font_family: "system-ui, sans-serif",
    font_size: 11.0,
    legend_size: 11.0,
    title_size: 14.0,
    legend_step: 96.0,
    canary: "#dc2626",
    baseline: "#2563eb",
    bound: "#6b7280",
    canary_dash: "",
    baseline_dash: "",
    bound_dash: "6 4",
    series_width: 2.5,
    bound_width: 1.5,
    note_mark: "📌 ",
};

/// Where the chart puts a time and a value: the plot's box and its two domains, from the same
/// samples and markers the chart is drawn from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Scale {
    pub x0: f64,
    pub x1: f64,
    pub y0: f64,
    pub y1: f64,
    pub t0: i64,
    pub t1: i64,
    pub vmin: f64,
    pub vmax: f64,
}

impl Scale {
    pub fn x(&self, t: i64) -> f64 {
        self.x0 + ((t - self.t0) as f64) / ((self.t1 - self.t0) as f64) * (self.x1 - self.x0)
    }

    /// Off-scale values are drawn at the edge of the plot (and marked).
    pub fn y(&self, v: f64) -> f64 {
        self.y1
            - (v.clamp(self.vmin, self.vmax) - self.vmin) / (self.vmax - self.vmin)
                * (self.y1 - self.y0)
    }
}

/// A coordinate rounded to one decimal, without `-0`.
fn n(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r == 0.0 || !r.is_finite() {
        "0".into()
    } else {
        format!("{r}")
    }
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

/// How far outside the samples and the deploy's own markers a note may be and still be drawn
/// (at least; a quarter of the span when that is more).
const NOTE_REACH_MS: i64 = 10 * 60 * 1000;

fn marker_color(kind: MarkerKind) -> &'static str {
    match kind {
        MarkerKind::Breach => "#f59e0b",
        MarkerKind::Decision => "#7c3aed",
        MarkerKind::Rollback => "#0f766e",
        MarkerKind::Verified | MarkerKind::Promoted => "#16a34a",
        MarkerKind::WarmedUp => "#64748b",
        MarkerKind::Insufficient => "#92400e",
        MarkerKind::WouldHaveBreached => "#be185d",
        MarkerKind::Note => "#2563eb",
    }
}

/// The failing checks' dots on the canary line: black, ringed in white, whatever the style's
/// colours (a shape, not a hue, tells them apart).
const FAILING: &str = "#000000";
const FAILING_RADIUS: f64 = 6.0;

fn marker_short(style: &ChartStyle, m: &Marker) -> String {
    match m.kind {
        MarkerKind::Breach => "breach".into(),
        MarkerKind::Decision => m
            .label
            .split(" by ")
            .next()
            .unwrap_or("decision")
            .to_string(),
        MarkerKind::Rollback => "rolled back".into(),
        MarkerKind::Verified => "verified".into(),
        MarkerKind::Promoted => "promoted".into(),
        MarkerKind::WarmedUp => "warmed up".into(),
        MarkerKind::Insufficient => "thin traffic".into(),
        MarkerKind::WouldHaveBreached => "would breach (dry run)".into(),
        // The label names who said it; the text is in the marker's title.
        MarkerKind::Note => format!(
            "{}{}",
            style.note_mark,
            m.label.split(':').next().unwrap_or("note")
        ),
    }
}

fn hms(ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(t) => t.format("%H:%M:%S").to_string(),
        None => ms.to_string(),
    }
}

/// How far from zero the value axis may reach: ten times the typical magnitude (the median
/// sample, or a bound if larger). A value beyond it (`1e308` among values near 0.3) is drawn at
/// the edge and marked off scale instead of flattening every other point into the axis.
fn readable_reach(points: &[ChartPoint], bounds: &[Option<f64>]) -> f64 {
    let mut magnitudes: Vec<f64> = points
        .iter()
        .flat_map(|p| [finite(p.canary), finite(p.baseline)])
        .flatten()
        .map(f64::abs)
        .collect();
    magnitudes.sort_by(f64::total_cmp);
    let median = magnitudes.get(magnitudes.len() / 2).copied().unwrap_or(0.0);
    let typical = bounds
        .iter()
        .flatten()
        .map(|b| b.abs())
        .filter(|b| b.is_finite())
        .fold(median, f64::max);
    if typical > 0.0 {
        typical * 10.0
    } else {
        f64::INFINITY
    }
}

/// A "nice" step (1, 2, 2.5, 5 × 10^k) that splits `span` into about `parts` pieces.
fn nice_step(span: f64, parts: f64) -> f64 {
    let raw = span / parts;
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let m = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 2.5 {
        2.5
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

/// Ticks on the time axis, at round clock times when the span allows it.
fn time_ticks(t0: i64, t1: i64) -> Vec<i64> {
    const STEPS_S: [i64; 19] = [
        1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
        604800,
    ];
    let span = (t1 - t0).max(1);
    let step = STEPS_S
        .iter()
        .map(|s| s * 1000)
        .find(|s| span / s <= 6)
        .unwrap_or_else(|| (span / 6).max(1));
    let first = t0.div_euclid(step) * step + if t0.rem_euclid(step) == 0 { 0 } else { step };
    let mut out = Vec::new();
    let mut t = first;
    while t <= t1 && out.len() < 12 {
        out.push(t);
        t += step;
    }
    if out.is_empty() {
        out = vec![t0, t1];
    }
    out
}

/// One criterion's chart as SVG text (see [`chart`]).
pub fn chart_svg(
    criterion: &Criterion,
    points: &[ChartPoint],
    markers: &[Marker],
    breached: bool,
) -> String {
    chart(&PAGE, criterion, points, markers, breached, &[], None).into_string()
}

/// The chart's scale, and the markers it draws (people's notes said far from the deploy left
/// out).
pub(crate) fn layout(
    style: &ChartStyle,
    criterion: &Criterion,
    points: &[ChartPoint],
    markers: &[Marker],
) -> (Scale, Vec<Marker>) {
    let (x0, x1, y0, y1) = (
        style.left,
        style.width - style.right,
        style.top,
        style.height - style.bottom,
    );

    // The time domain: samples and markers. People's notes widen it only when said near the
    // deploy's own span (a note added days later must not squeeze the chart into a corner);
    // notes outside it are not drawn.
    let times: Vec<i64> = points
        .iter()
        .map(|p| p.at_ms)
        .chain(
            markers
                .iter()
                .filter(|m| m.kind != MarkerKind::Note)
                .map(|m| m.at_ms),
        )
        .collect();
    let (mut t0, mut t1) = match (times.iter().min(), times.iter().max()) {
        (Some(a), Some(b)) => (*a, *b),
        _ => (0, 0),
    };
    let near = ((t1 - t0) / 4).max(NOTE_REACH_MS);
    let markers: Vec<Marker> = markers
        .iter()
        .filter(|m| {
            m.kind != MarkerKind::Note
                || (!times.is_empty() && m.at_ms >= t0 - near && m.at_ms <= t1 + near)
        })
        .cloned()
        .collect();
    for m in markers.iter().filter(|m| m.kind == MarkerKind::Note) {
        (t0, t1) = (t0.min(m.at_ms), t1.max(m.at_ms));
    }
    if t1 <= t0 {
        t0 -= 30_000;
        t1 = t0 + 60_000;
    }

    // The value domain: both series and every bound drawn.
    let max_ratio = finite(criterion.max_ratio);
    let max_delta = finite(criterion.max_delta);
    let abs_max = finite(criterion.max);
    let abs_min = finite(criterion.min);
    let mut values: Vec<f64> = Vec::new();
    for p in points {
        values.extend(finite(p.canary));
        if let Some(b) = finite(p.baseline) {
            values.push(b);
            if let Some(r) = max_ratio {
                values.push(b * r);
            }
            if let Some(dl) = max_delta {
                values.push(b + dl);
            }
        }
    }
    values.extend(abs_max);
    values.extend(abs_min);
    values.retain(|v| v.is_finite());
    let reach = readable_reach(points, &[abs_max, abs_min]);
    let (above, below) = (
        values.iter().any(|v| *v > reach),
        values.iter().any(|v| *v < -reach),
    );
    values.retain(|v| v.abs() <= reach);
    // The axis then reaches the limit, so a point drawn at its edge reads as "beyond".
    if above {
        values.push(reach / 1.1);
    }
    if below {
        values.push(-reach);
    }
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let vmin = if lo.is_finite() && lo < 0.0 { lo } else { 0.0 };
    let mut vmax = if !hi.is_finite() {
        1.0
    } else if hi > 0.0 {
        hi * 1.1
    } else {
        hi + 0.1 * (hi - vmin).abs()
    };
    if !(vmax.is_finite() && vmax > vmin) {
        vmax = vmin + 1.0;
    }
    let scale = Scale {
        x0,
        x1,
        y0,
        y1,
        t0,
        t1,
        vmin,
        vmax,
    };
    (scale, markers)
}

/// `stroke-dasharray` for a dash, nothing for a solid line.
fn dash_attr(dash: &'static str) -> Html {
    let mut h = Html::new();
    if !dash.is_empty() {
        html!(h, " stroke-dasharray=\"{}\"", dash);
    }
    h
}

/// One criterion's chart: canary and baseline over time, the bound, the breach, decision and
/// rollback markers, drawn in `style`. `failing` are the failing checks to mark on the canary
/// line (time, canary value); `title` is drawn above the legend when given.
pub(crate) fn chart(
    style: &ChartStyle,
    criterion: &Criterion,
    points: &[ChartPoint],
    markers: &[Marker],
    breached: bool,
    failing: &[(i64, f64)],
    title: Option<&str>,
) -> Html {
    let unit = criterion.unit.as_deref();
    let (sc, markers) = layout(style, criterion, points, markers);
    let markers = markers.as_slice();
    let Scale {
        x0,
        x1,
        y0,
        y1,
        t0,
        t1,
        vmin,
        vmax,
    } = sc;
    let (w, h, fs) = (style.width, style.height, style.font_size);
    let max_ratio = finite(criterion.max_ratio);
    let max_delta = finite(criterion.max_delta);
    let abs_max = finite(criterion.max);
    let abs_min = finite(criterion.min);
    let sx = |t: i64| sc.x(t);
    let sy = |v: f64| sc.y(v);

    let name = &criterion.name;
    let aria = format!(
        "{name}: canary and baseline over time; canary {}; {} sample{}{}",
        criterion.bounds(),
        points.len(),
        if points.len() == 1 { "" } else { "s" },
        if breached { "; breached" } else { "" }
    );
    let mut s = Html::new();
    html!(
        s,
        "<svg class=\"chart-svg\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"{}\" font-family=\"{}\" font-size=\"{}\">\n",
        w,
        h,
        w,
        h,
        aria,
        style.font_family,
        fs
    );
    html!(
        s,
        "<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n",
        w,
        h
    );

    // Axes, grid and tick labels.
    s.push_raw("<g class=\"axis\">\n");
    let step = nice_step(vmax - vmin, 4.0);
    let k0 = (vmin / step).ceil() as i64;
    let k1 = (vmax / step).floor() as i64;
    for k in k0..=k1.min(k0 + 12) {
        let v = k as f64 * step;
        let y = sy(v);
        html!(
            s,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#e5e7eb\" stroke-width=\"1\"/><text class=\"tick y\" x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#374151\">{}</text>\n",
            n(x0),
            n(y),
            n(x1),
            n(y),
            n(x0 - 6.0),
            n(y + fs / 2.75),
            with_unit(Some(v), unit)
        );
    }
    for t in time_ticks(t0, t1) {
        let x = sx(t);
        html!(
            s,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#9ca3af\" stroke-width=\"1\"/><text class=\"tick x\" x=\"{}\" y=\"{}\" text-anchor=\"{}\" fill=\"#374151\">{}</text>\n",
            n(x),
            n(y1),
            n(x),
            n(y1 + 4.0),
            n(x),
            n(y1 + 5.0 + fs),
            // A label at the right edge would be cut off: end it at its tick.
            if x > x1 - (fs * 2.0 + 2.0) {
                "end"
            } else {
                "middle"
            },
            hms(t)
        );
    }
    html!(
        s,
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#374151\" stroke-width=\"1\"/><line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#374151\" stroke-width=\"1\"/>\n",
        n(x0),
        n(y0),
        n(x0),
        n(y1),
        n(x0),
        n(y1),
        n(x1),
        n(y1)
    );
    html!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#6b7280\">time (UTC)</text>\n",
        n(x1),
        n(h - 4.0)
    );
    s.push_raw("</g>\n");

    // Bounds.
    let bound_dash = dash_attr(style.bound_dash);
    let hline = |s: &mut Html, which: &str, v: f64, label: String| {
        let y = sy(v);
        html!(
            s,
            "<line class=\"bound\" data-bound=\"{}\" data-value=\"{}\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"{}\"{}/><text class=\"bound-label\" x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"{}\" stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\">{}</text>\n",
            which,
            fmt_num(v),
            n(x0),
            n(y),
            n(x1),
            n(y),
            style.bound,
            style.bound_width,
            bound_dash.clone(),
            n(x1 - 4.0),
            n(if which == "min" {
                y + fs + 1.0
            } else {
                y - 4.0
            }),
            style.bound,
            label
        );
    };
    if let Some(v) = abs_max {
        hline(
            &mut s,
            "max",
            v,
            format!("max {}", with_unit(Some(v), unit)),
        );
    }
    if let Some(v) = abs_min {
        hline(
            &mut s,
            "min",
            v,
            format!("min {}", with_unit(Some(v), unit)),
        );
    }
    let relative = |s: &mut Html,
                    which: &str,
                    param: f64,
                    f: &dyn Fn(f64) -> f64,
                    label: String| {
        let pts: Vec<(f64, f64)> = points
            .iter()
            .filter_map(|p| finite(p.baseline).map(|b| (sx(p.at_ms), sy(f(b)))))
            .filter(|(_, y)| y.is_finite())
            .collect();
        if pts.is_empty() {
            return;
        }
        html!(
            s,
            "<polyline class=\"bound\" data-bound=\"{}\" data-value=\"{}\" data-points=\"{}\" points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\"{}/>\n",
            which,
            fmt_num(param),
            pts.len(),
            polyline_points(&pts),
            style.bound,
            style.bound_width,
            bound_dash.clone()
        );
        let (lx, ly) = pts[pts.len() - 1];
        html!(
            s,
            "<text class=\"bound-label\" x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"{}\" stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\">{}</text>\n",
            n(lx.min(x1 - 4.0)),
            n(ly - 4.0),
            style.bound,
            label
        );
    };
    if let Some(r) = max_ratio {
        relative(
            &mut s,
            "max_ratio",
            r,
            &|b| b * r,
            format!("baseline × {}", fmt_num(r)),
        );
    }
    if let Some(dl) = max_delta {
        relative(
            &mut s,
            "max_delta",
            dl,
            &|b| b + dl,
            format!("baseline + {}", with_unit(Some(dl), unit)),
        );
    }

    // Markers: the judging marks only on their own criterion's chart, dashed.
    let markers: Vec<&Marker> = markers
        .iter()
        .filter(|m| !m.kind.per_criterion() || m.criteria.iter().any(|c| c == name))
        .collect();
    for (idx, m) in markers.iter().enumerate() {
        let other = m.kind == MarkerKind::Breach && !m.criteria.iter().any(|c| c == name);
        let x = sx(m.at_ms);
        let color = marker_color(m.kind);
        let ly = y0 + fs - 1.0 + (idx % 4) as f64 * (fs + 1.0);
        let anchor_end = x > x1 - (fs * 8.0 + 2.0);
        html!(
            s,
            "<g class=\"marker {}{}\" data-at=\"{}\"{}><title>{}</title><line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"1.5\"{}/><text x=\"{}\" y=\"{}\" text-anchor=\"{}\" fill=\"{}\" stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\">{}</text></g>\n",
            m.kind.as_str(),
            if other { " other" } else { "" },
            m.at_ms,
            if other {
                Html::raw(" opacity=\"0.35\"")
            } else {
                Html::new()
            },
            format!("{} at {}", m.label, timestamp(m.at_ms)),
            n(x),
            n(y0),
            n(x),
            n(y1),
            color,
            if m.kind.per_criterion() {
                Html::raw(" stroke-dasharray=\"4 3\"")
            } else {
                Html::new()
            },
            n(if anchor_end { x - 3.0 } else { x + 3.0 }),
            n(ly),
            if anchor_end { "end" } else { "start" },
            color,
            marker_short(style, m)
        );
    }

    // The series.
    if points.is_empty() {
        html!(
            s,
            "<text class=\"no-data\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#6b7280\" font-size=\"{}\">No samples stored</text>\n",
            n((x0 + x1) / 2.0),
            n((y0 + y1) / 2.0),
            style.legend_size + 3.0
        );
    } else {
        for (class, color, dash, is_canary) in [
            ("baseline", style.baseline, style.baseline_dash, false),
            ("canary", style.canary, style.canary_dash, true),
        ] {
            let pts: Vec<(f64, f64)> = points
                .iter()
                .filter_map(|p| {
                    finite(if is_canary { p.canary } else { p.baseline })
                        .map(|v| (sx(p.at_ms), sy(v)))
                })
                .collect();
            html!(
                s,
                "<polyline class=\"series {}\" data-points=\"{}\" points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\" stroke-linejoin=\"round\"{}/>\n",
                class,
                pts.len(),
                polyline_points(&pts),
                color,
                style.series_width,
                dash_attr(dash)
            );
            for p in points {
                let Some(v) = finite(if is_canary { p.canary } else { p.baseline }) else {
                    continue;
                };
                if (vmin..=vmax).contains(&v) {
                    continue;
                }
                // A triangle at the edge, pointing the way the value went.
                let (x, above) = (sx(p.at_ms), v > vmax);
                let (edge, tip) = if above {
                    (y0 + 9.0, y0)
                } else {
                    (y1 - 9.0, y1)
                };
                html!(
                    s,
                    "<path class=\"off-scale {}\" data-at=\"{}\" data-value=\"{}\" d=\"M{},{} L{},{} L{},{} Z\" fill=\"{}\" stroke=\"#ffffff\" stroke-width=\"1\"><title>{}</title></path>\n",
                    class,
                    p.at_ms,
                    fmt_num(v),
                    n(x - 5.0),
                    n(edge),
                    n(x + 5.0),
                    n(edge),
                    n(x),
                    n(tip),
                    color,
                    format!(
                        "{class} {} at {}: off scale",
                        with_unit(Some(v), unit),
                        timestamp(p.at_ms)
                    )
                );
            }
            if let [(x, y)] = pts.as_slice() {
                // One point draws no line: show it as a dot.
                html!(
                    s,
                    "<circle class=\"sample {}\" cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{}\"/>\n",
                    class,
                    n(*x),
                    n(*y),
                    n(style.series_width + 0.5),
                    color
                );
            }
        }
        if breached {
            for p in points {
                let Some(c) = finite(p.canary) else { continue };
                if criterion.evaluate(Some(c), p.baseline).verdict == Verdict::Fail {
                    html!(
                        s,
                        "<circle class=\"breach-point\" data-at=\"{}\" cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{}\" stroke=\"#ffffff\" stroke-width=\"1\"/>\n",
                        p.at_ms,
                        n(sx(p.at_ms)),
                        n(sy(c)),
                        n(style.series_width + 1.5),
                        style.canary
                    );
                }
            }
        }
        for (at, v) in failing {
            html!(
                s,
                "<circle class=\"failing-check\" data-at=\"{}\" cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{}\" stroke=\"#ffffff\" stroke-width=\"2\"/>\n",
                at,
                n(sx(*at)),
                n(sy(*v)),
                n(FAILING_RADIUS),
                FAILING
            );
        }
    }

    // Title and legend.
    let mut ly = style.legend_size + 3.0;
    if let Some(t) = title {
        html!(
            s,
            "<text class=\"title\" x=\"{}\" y=\"{}\" fill=\"#111827\" font-size=\"{}\">{}</text>\n",
            n(x0),
            n(style.title_size + 4.0),
            style.title_size,
            t
        );
        ly += style.title_size + 12.0;
    }
    let lx = x0 + 4.0;
    let swatch = style.legend_size * 2.0;
    if style.legend_size == style.font_size {
        s.push_raw("<g class=\"legend\">\n");
    } else {
        html!(
            s,
            "<g class=\"legend\" font-size=\"{}\">\n",
            style.legend_size
        );
    }
    let entries = [
        ("canary", style.canary, style.canary_dash),
        ("baseline", style.baseline, style.baseline_dash),
        ("bound", style.bound, style.bound_dash),
    ];
    for (i, (label, color, dash)) in entries.iter().enumerate() {
        let x = lx + i as f64 * style.legend_step;
        html!(
            s,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"{}\"{}/><text x=\"{}\" y=\"{}\" fill=\"#111827\">{}</text>\n",
            n(x),
            n(ly),
            n(x + swatch),
            n(ly),
            *color,
            // Every swatch as thick as the series, so a dotted bound is seen.
            style.series_width,
            dash_attr(dash),
            n(x + swatch + 5.0),
            n(ly + style.legend_size / 2.75),
            *label
        );
    }
    if !failing.is_empty() {
        let x = lx + entries.len() as f64 * style.legend_step;
        html!(
            s,
            "<circle cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{}\" stroke=\"#ffffff\" stroke-width=\"2\"/><text x=\"{}\" y=\"{}\" fill=\"#111827\">failing check</text>\n",
            n(x + swatch / 2.0),
            n(ly),
            n(FAILING_RADIUS),
            FAILING,
            n(x + swatch + 5.0),
            n(ly + style.legend_size / 2.75)
        );
    }
    s.push_raw("</g>\n</svg>");
    s
}

/// `x,y x,y …` for a polyline.
fn polyline_points(pts: &[(f64, f64)]) -> String {
    pts.iter()
        .map(|(x, y)| format!("{},{}", n(*x), n(*y)))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A note said during the canary is a 📌 marker on the chart, its text escaped in the
    /// marker's title; one added days later is not drawn, and does not squeeze the chart.
    #[test]
    fn notes_said_near_the_deploy_are_marked_and_later_ones_left_out() {
        let c = Criterion {
            name: "5xx ratio".into(),
            max: Some(0.01),
            failure_limit: 3,
            ..Criterion::default()
        };
        let points: Vec<ChartPoint> = (0..10)
            .map(|i| ChartPoint {
                at_ms: 1_000_000 + i * 60_000,
                canary: Some(0.001),
                baseline: Some(0.001),
            })
            .collect();
        let note = |at_ms: i64, label: &str| Marker {
            at_ms,
            kind: MarkerKind::Note,
            label: label.into(),
            criteria: Vec::new(),
        };
        let svg = chart_svg(
            &c,
            &points,
            &[
                note(1_200_000, "bob: it is <the provider>"),
                note(1_000_000 + 3 * 86_400_000, "carol: later"),
            ],
            false,
        );
        assert!(
            svg.contains("class=\"marker note\" data-at=\"1200000\""),
            "{svg}"
        );
        assert!(svg.contains("📌 bob"), "{svg}");
        assert!(svg.contains("bob: it is &lt;the provider&gt;"), "{svg}");
        assert!(!svg.contains("<the provider>"));
        assert!(
            !svg.contains("carol"),
            "a note days later is not drawn: {svg}"
        );
        let without = chart_svg(&c, &points, &[], false);
        let axis = |s: &str| -> Vec<String> {
            s.lines()
                .filter(|l| l.contains("class=\"tick x\""))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(axis(&svg), axis(&without), "the same time axis");
    }
}
