//! The chart image as a phone shows it: its size, the series' colours where the chart's own scale
//! puts each sample, the legend, the failing checks, the cut at `until_ms`, and its words.

use super::*;
use crate::domain::deploy::{DeployInfo, Event, Input, Policy, Sample};
use crate::present::outcome::{handle, start};
use std::collections::BTreeMap;

const T0: i64 = 1_800_000_000_000; // 2027-01-15 08:00:00 UTC
/// Per-channel distance that still counts as the colour (anti-aliased edges drift).
const TOLERANCE: i16 = 40;

/// p99 latency climbs over ten checks a minute apart; the baseline stays at 0.24 s; the last
/// three checks fail (bound max 0.5 s, breach after two).
const P99: [f64; 10] = [0.24, 0.25, 0.26, 0.30, 0.35, 0.42, 0.48, 0.55, 0.60, 0.62];

fn policy() -> Policy {
    let mut p = crate::present::tests::policy();
    p.criteria[1].unit = Some("s".into());
    p
}

struct Run {
    events: Vec<Event>,
    samples: BTreeMap<String, Vec<ChartPoint>>,
    now: i64,
}

impl Run {
    fn new() -> Self {
        let info = DeployInfo {
            id: "checkout:production:2.4.1".into(),
            service: "checkout".into(),
            environment: "production".into(),
            version: "2.4.1".into(),
            ..DeployInfo::default()
        };
        Run {
            events: start(info, policy(), T0, "test").events,
            samples: BTreeMap::new(),
            now: T0,
        }
    }

    /// One check a minute after the last: both criteria's samples stored, the check judged.
    fn check(&mut self, p99: f64) {
        self.now += 60_000;
        let samples = [("5xx ratio", 0.001, 0.004), ("p99 latency", p99, 0.24)];
        for (name, canary, baseline) in samples {
            self.samples
                .entry(name.to_string())
                .or_default()
                .push(ChartPoint {
                    at_ms: self.now,
                    canary: Some(canary),
                    baseline: Some(baseline),
                });
        }
        let d = crate::domain::Deploy::fold(&self.events).expect("fold");
        let input = Input::Check {
            at_ms: None,
            samples: samples
                .iter()
                .map(|(name, canary, baseline)| Sample {
                    criterion: name.to_string(),
                    canary: Some(*canary),
                    baseline: Some(*baseline),
                    ..Sample::default()
                })
                .collect(),
        };
        let out = handle(&d, input, self.now, "test").expect("handle");
        self.events.extend(out.events);
    }

    fn postmortem(&self) -> Postmortem {
        Postmortem {
            deploy: crate::domain::Deploy::fold(&self.events).expect("fold"),
            events: self.events.clone(),
            samples: self.samples.clone(),
            threads: Vec::new(),
            links: Default::default(),
            criteria_now: None,
        }
    }
}

fn climbing() -> Run {
    let mut run = Run::new();
    for v in P99 {
        run.check(v);
    }
    run
}

/// The sample times, oldest first.
fn times() -> Vec<i64> {
    (1..=P99.len() as i64).map(|i| T0 + i * 60_000).collect()
}

struct Image {
    width: u32,
    height: u32,
    rgba: Vec<u8>,
}

impl Image {
    fn decode(png_bytes: &[u8]) -> Image {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().expect("a PNG");
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut buf).expect("a frame");
        assert_eq!(info.color_type, png::ColorType::Rgba, "RGBA");
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        buf.truncate(info.buffer_size());
        Image {
            width: info.width,
            height: info.height,
            rgba: buf,
        }
    }

    fn at(&self, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * self.width + x) * 4) as usize;
        [self.rgba[i], self.rgba[i + 1], self.rgba[i + 2]]
    }

    /// Whether some pixel within `dx`, `dy` of (x, y) is `color`.
    fn near(&self, x: f64, y: f64, dx: i64, dy: i64, color: [u8; 3]) -> bool {
        let (cx, cy) = (x.round() as i64, y.round() as i64);
        (cx - dx..=cx + dx).any(|px| {
            (cy - dy..=cy + dy).any(|py| {
                px >= 0
                    && py >= 0
                    && (px as u32) < self.width
                    && (py as u32) < self.height
                    && close(self.at(px as u32, py as u32), color)
            })
        })
    }

    /// Pixels in the box darker than mid-grey.
    fn dark_in(&self, x0: u32, y0: u32, x1: u32, y1: u32) -> usize {
        let mut count = 0;
        for y in y0..y1.min(self.height) {
            for x in x0..x1.min(self.width) {
                let [r, g, b] = self.at(x, y);
                if (r as u32 + g as u32 + b as u32) < 3 * 100 {
                    count += 1;
                }
            }
        }
        count
    }
}

fn rgb(hex: &str) -> [u8; 3] {
    let h = hex.trim_start_matches('#');
    let c = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).expect("hex");
    [c(0), c(2), c(4)]
}

fn close(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter()
        .zip(b)
        .all(|(x, y)| (*x as i16 - y as i16).abs() <= TOLERANCE)
}

/// At the x of each sample's time and the y of its value — from the scale the chart is drawn
/// with — the image shows the canary's colour, and near it on the baseline's y the baseline's
/// (dashed, so somewhere within a dash period along the line).
#[test]
fn the_image_is_the_size_and_shows_both_series_where_the_scale_puts_them() {
    let pm = climbing().postmortem();
    let image = criterion_png(&pm, "p99 latency", None).expect("image");
    let png = Image::decode(&image.png);
    assert_eq!((png.width, png.height), (WIDTH, HEIGHT));
    let cut = cut(&pm, "p99 latency", None).expect("cut");
    let scale = cut.scale();
    let (canary, baseline) = (rgb(PHONE.canary), rgb(PHONE.baseline));
    let failing: Vec<i64> = cut.failing.iter().map(|(at, _)| *at).collect();
    assert_eq!(failing.len(), 3, "the last three checks failed");
    for (i, at) in times().into_iter().enumerate() {
        let x = scale.x(at);
        assert!((scale.x0..=scale.x1).contains(&x), "{x}");
        if failing.contains(&at) {
            // A failing check's dot covers the line.
            assert!(
                png.near(x, scale.y(P99[i]), 0, 0, rgb("#000000")),
                "failing check {i} marked at ({x}, {})",
                scale.y(P99[i])
            );
            continue;
        }
        if i >= 3 {
            // Apart from the baseline: the canary's own colour, exactly where the scale says.
            assert!(
                png.near(x, scale.y(P99[i]), 1, 1, canary),
                "canary sample {i} at ({x}, {}): {:?}",
                scale.y(P99[i]),
                png.at(x as u32, scale.y(P99[i]) as u32)
            );
            assert!(
                !png.near(x, scale.y(P99[i]), 1, 1, baseline),
                "no baseline where the canary is"
            );
        }
        // (At the first samples the canary, drawn over it, hides it.)
        assert!(
            i < 3 || png.near(x, scale.y(0.24), 9, 1, baseline),
            "baseline at sample {i}: ({x}, {})",
            scale.y(0.24)
        );
    }
    // The baseline is dashed: along its y, right of where the canary leaves it, both its colour
    // and gaps of white.
    let (from, to) = (scale.x(times()[3]) as u32, scale.x(times()[9]) as u32);
    let row: Vec<[u8; 3]> = (from..to)
        .map(|x| png.at(x, scale.y(0.24).round() as u32))
        .collect();
    let blue = row.iter().filter(|c| close(**c, baseline)).count();
    let white = row.iter().filter(|c| close(**c, [255, 255, 255])).count();
    assert!(
        blue > row.len() / 2 && white > row.len() / 8,
        "dashed: {blue} blue, {white} white of {}",
        row.len()
    );
    // The bound's dotted line (max 0.5 s), in its grey, somewhere along it.
    let y = scale.y(0.5);
    assert!(png.near((scale.x0 + scale.x1) / 2.0, y, 8, 1, rgb(PHONE.bound)));
    // The rest of the plot is white: halfway between the baseline and the top, left of the climb.
    let x = scale.x(times()[1]);
    assert!(close(
        png.at(x as u32, scale.y(0.55) as u32),
        [255, 255, 255]
    ));
}

/// The title and each legend entry's words are drawn (dark text), and the legend's swatches in
/// the series' colours.
#[test]
fn the_title_and_the_legend_are_drawn() {
    let pm = climbing().postmortem();
    let png = Image::decode(&criterion_png(&pm, "p99 latency", None).expect("image").png);
    let x0 = PHONE.left as u32;
    // Title baseline at 21 px, legend line at 47 px.
    assert!(png.dark_in(x0, 6, x0 + 300, 26) > 200, "the title");
    let legend_y = 47.0;
    let swatch = PHONE.legend_size * 2.0;
    for (i, color) in [PHONE.canary, PHONE.baseline].iter().enumerate() {
        let x = PHONE.left + 4.0 + i as f64 * PHONE.legend_step;
        assert!(png.near(x + 4.0, legend_y, 3, 1, rgb(color)), "swatch {i}");
        let tx = (x + swatch + 5.0) as u32;
        let dark = png.dark_in(tx, 36, tx + 60, 54);
        assert!(dark > 40, "legend words {i}: {dark} dark pixels");
    }
    // "failing check", since there are some.
    let x = (PHONE.left + 4.0 + 3.0 * PHONE.legend_step + swatch + 5.0) as u32;
    assert!(png.dark_in(x, 36, x + 90, 54) > 60);
    // Nothing dark between the legend and the plot's top.
    assert_eq!(png.dark_in(x0 + 2, 58, WIDTH - 30, 70), 0);
}

/// Cut at `until_ms`, a later sample or check changes nothing; the cut image ends there.
#[test]
fn until_cuts_the_image() {
    let mut run = Run::new();
    for v in &P99[..6] {
        run.check(*v);
    }
    let until = run.now;
    let before = criterion_png(&run.postmortem(), "p99 latency", Some(until)).expect("image");
    // Posted two hours after the last check (a long wait for a decision): the same samples.
    let late = criterion_png(
        &run.postmortem(),
        "p99 latency",
        Some(until + 2 * 3_600_000),
    )
    .expect("image");
    assert_eq!(late.alt_text, before.alt_text);
    run.check(0.9);
    run.check(0.95);
    let after = run.postmortem();
    let again = criterion_png(&after, "p99 latency", Some(until)).expect("image");
    assert_eq!(before.alt_text, again.alt_text);
    assert!(
        before.png == again.png,
        "samples after until_ms change nothing"
    );
    let whole = criterion_png(&after, "p99 latency", None).expect("image");
    assert_ne!(
        whole.png, before.png,
        "without the cut, the later samples are drawn"
    );
    assert!(whole.alt_text.contains("0.95s"), "{}", whole.alt_text);
    assert!(!before.alt_text.contains("0.95"), "{}", before.alt_text);
}

/// The window is the last 30 minutes: older samples are left out.
#[test]
fn the_window_is_the_last_thirty_minutes() {
    let mut run = Run::new();
    for i in 0..40 {
        run.check(0.2 + i as f64 * 0.001);
    }
    let pm = run.postmortem();
    let c = cut(&pm, "p99 latency", None).expect("cut");
    assert_eq!(c.points.len(), 31, "30 minutes of checks a minute apart");
    assert_eq!(c.points[0].at_ms, run.now - WINDOW_MS);
    let scale = c.scale();
    assert_eq!((scale.t0, scale.t1), (run.now - WINDOW_MS, run.now));
}

#[test]
fn an_unknown_criterion_or_no_samples_is_an_error_naming_it() {
    let pm = climbing().postmortem();
    let err = criterion_png(&pm, "p50 latency", None).expect_err("unknown");
    assert!(err.contains("`p50 latency`"), "{err}");
    assert!(err.contains("5xx ratio, p99 latency"), "{err}");
    let fresh = Run::new().postmortem();
    let err = criterion_png(&fresh, "p99 latency", None).expect_err("no samples");
    assert!(err.contains("no samples of `p99 latency`"), "{err}");
    let err = criterion_png(&pm, "p99 latency", Some(T0)).expect_err("none yet");
    assert!(err.contains("up to 08:00"), "{err}");
}

/// The numbers in words: what each series did, the bound, the failing checks, under Slack's
/// limit even with a long name.
#[test]
fn alt_text_says_the_numbers() {
    let pm = climbing().postmortem();
    let image = criterion_png(&pm, "p99 latency", None).expect("image");
    assert_eq!(
        image.title,
        "checkout 2.4.1 — p99 latency: canary vs baseline"
    );
    assert_eq!(
        image.alt_text,
        "p99 latency of checkout 2.4.1, canary vs baseline, 08:01–08:10 UTC: canary rose from \
         0.24s to 0.62s, baseline stayed near 0.24s; bound max 0.5s; 3 failing checks from \
         08:08."
    );
    let flat = criterion_png(&pm, "5xx ratio", None).expect("image");
    assert_eq!(
        flat.alt_text,
        "5xx ratio of checkout 2.4.1, canary vs baseline, 08:01–08:10 UTC: canary stayed near \
         0.001, baseline stayed near 0.004; bound max 0.01, baseline × 1.5; no failing checks."
    );
    let mut long = pm.clone();
    long.deploy.info.service = "s".repeat(3000);
    let text = criterion_png(&long, "p99 latency", None)
        .expect("image")
        .alt_text;
    assert!(text.chars().count() < 1000, "{}", text.chars().count());
    assert!(text.ends_with('…'));
}

/// Writes the book's example image (docs/src/images/chart-example.png):
/// `cargo test --lib chart_png::tests::write_the_docs_example -- --ignored`.
#[test]
#[ignore]
fn write_the_docs_example() {
    let image = criterion_png(&climbing().postmortem(), "p99 latency", None).expect("image");
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/src/images/chart-example.png"
    );
    std::fs::write(path, &image.png).expect("write");
    println!("{path}\nalt: {}", image.alt_text);
}
