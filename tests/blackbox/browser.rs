//! A real-browser check of the postmortem page `GET /deploys/{id}`, in headless Debian Chromium
//! driven through chromedriver's W3C WebDriver HTTP API.
//!
//! A rolled-back deploy (canary checks that breach, a vote, the rollback, two passing checks) is
//! loaded in Chromium with `?token=`. The test then reads DOM facts with WebDriver's
//! `execute/sync` (the page itself runs no script): the phase table's five durations, and for each
//! `figure.chart` the rect of its `svg.chart-svg`, the canary and baseline polylines (six points
//! each), the `max` bound and the breach/decision/rollback markers; no scripts, and nothing loaded
//! from another origin. It takes element screenshots of each chart and of the phase table and ties
//! the pictures to those facts, not to a stored image: each screenshot is the size of its
//! element's rect; each chart shows the canary stroke color (#dc2626) filling the canary
//! polyline's rect edge to edge, and nowhere else but on elements the DOM paints in that color (the
//! legend swatch, breach points), and the baseline stroke color (#2563eb); the table shows dark
//! text. The screenshots are saved under `target/browser-check/` for a person to look at.
//!
//! Without `/usr/bin/chromium` or `/usr/bin/chromedriver` the test says SKIPPED and passes, unless
//! `CANARYBOT_REQUIRE_CHROMIUM=1` (as CI sets it) makes that a failure.

use crate::support::{Backend, ExecutorMode, Setup, TOKEN, TestApp};
use base64::Engine;
use serde_json::{Value, json};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const REQUIRE_ENV: &str = "CANARYBOT_REQUIRE_CHROMIUM";
/// The key WebDriver names an element reference by.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// Stroke colors of the two series on the page.
const CANARY_RGB: [u8; 3] = [220, 38, 38];
const BASELINE_RGB: [u8; 3] = [37, 99, 235];
/// Per-channel distance that still counts as the stroke color (anti-aliased edges drift).
const COLOR_TOLERANCE: i16 = 40;
/// Fewest stroke-colored pixels a chart must show for each series.
const MIN_STROKE_PIXELS: usize = 30;
/// Element screenshot size vs. the element's bounding rect.
const SIZE_TOLERANCE: f64 = 2.0;
/// Canary-colored pixels vs. the canary polyline's bounding rect (the stroke sticks out of it).
const POSITION_TOLERANCE: f64 = 4.0;
const PHASES: [&str; 5] = ["detect", "decide", "execute", "verify", "total"];

/// The DOM facts, gathered in one script so that they describe one rendering.
const DOM_FACTS_JS: &str = r#"
const rect = (el) => {
  if (!el) return null;
  const r = el.getBoundingClientRect();
  return {x: r.x, y: r.y, width: r.width, height: r.height};
};
const phases = document.querySelector('table#phases');
const durations = {};
for (const name of ['detect', 'decide', 'execute', 'verify', 'total']) {
  const td = phases && phases.querySelector(`tr[data-phase="${name}"] td.duration`);
  durations[name] = td ? td.textContent.trim() : null;
}
const charts = Array.from(document.querySelectorAll('figure.chart')).map((f) => {
  const svg = f.querySelector('svg.chart-svg');
  const canary = f.querySelector('polyline.series.canary');
  const baseline = f.querySelector('polyline.series.baseline');
  return {
    criterion: f.getAttribute('data-criterion'),
    svg: rect(svg),
    canary: rect(canary),
    canary_points: canary ? canary.getAttribute('data-points') : null,
    baseline_points: baseline ? baseline.getAttribute('data-points') : null,
    canary_vertices: canary ? canary.points.numberOfItems : null,
    baseline_vertices: baseline ? baseline.points.numberOfItems : null,
    // Everything else the DOM paints in the canary color (a legend swatch, breach points).
    canary_colored: Array.from(f.querySelectorAll('svg.chart-svg *'))
      .filter((el) => el !== canary && el.getBBox !== undefined)
      .filter((el) => {
        const style = getComputedStyle(el);
        return [style.stroke, style.fill].includes('rgb(220, 38, 38)');
      })
      .map((el) => ({element: el.tagName + '.' + el.getAttribute('class'), rect: rect(el)})),
    bound_max: f.querySelector('[data-bound="max"]') !== null,
    breach: f.querySelector('g.marker.breach') !== null,
    decision: f.querySelector('g.marker.decision') !== null,
    rollback: f.querySelector('g.marker.rollback') !== null,
  };
});
// Anything that would make the browser fetch from another origin.
const external = [];
const outside = (u) => {
  if (!u) return false;
  try {
    const url = new URL(u, location.href);
    return url.protocol !== 'data:' && url.origin !== location.origin;
  } catch (e) {
    return true;
  }
};
const check = (what, u) => { if (outside(u)) external.push(`${what}: ${u}`); };
document.querySelectorAll('link[href]').forEach((el) => check('link', el.getAttribute('href')));
document.querySelectorAll('img[src], script[src], iframe[src], source[src], embed[src], video[src], audio[src]')
  .forEach((el) => check(el.tagName.toLowerCase(), el.getAttribute('src')));
document.querySelectorAll('object[data]').forEach((el) => check('object', el.getAttribute('data')));
document.querySelectorAll('image, use, feImage').forEach((el) =>
  check(el.tagName, el.getAttribute('href') || el.getAttribute('xlink:href')));
const cssUrls = (what, text) => {
  for (const m of (text || '').matchAll(/url\(\s*['"]?([^'")]+)/g)) check(what, m[1]);
  for (const m of (text || '').matchAll(/@import\s+['"]([^'"]+)/g)) check(what, m[1]);
};
for (const sheet of Array.from(document.styleSheets)) {
  check('stylesheet', sheet.href);
  try {
    for (const rule of Array.from(sheet.cssRules)) cssUrls('css', rule.cssText);
  } catch (e) {
    external.push(`unreadable stylesheet ${sheet.href}`);
  }
}
document.querySelectorAll('[style]').forEach((el) => cssUrls('style attribute', el.getAttribute('style')));
for (const entry of performance.getEntriesByType('resource')) check('fetched', entry.name);
return {
  ready_state: document.readyState,
  title: document.title,
  body_start: (document.body ? document.body.innerText : '').slice(0, 300),
  scripts: document.scripts.length,
  external: external,
  viewport: {width: window.innerWidth, height: window.innerHeight},
  phases: rect(phases),
  durations: durations,
  charts: charts,
};
"#;

/// Where the screenshots go: `target/browser-check/` (or under `CARGO_TARGET_DIR`).
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("browser-check")
}

/// chromedriver in its own process group; dropping it kills the group (chromedriver and the
/// Chromium it started), also when the test fails half-way.
struct Chromedriver {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Chromedriver {
    fn start(dir: &Path) -> Chromedriver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = dir.join("chromedriver.log");
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {CHROMEDRIVER}: {e}"));
        Chromedriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Waits (up to 20 s) until `GET /status` says ready.
    async fn wait_ready(&mut self, http: &reqwest::Client) {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("chromedriver exited with {status}:\n{}", self.log_tail());
            }
            let ready = match http
                .get(format!("{}/status", self.url))
                .timeout(Duration::from_secs(2))
                .send()
                .await
            {
                Ok(resp) => resp
                    .json::<Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == true),
                Err(_) => false,
            };
            if ready {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver not ready within 20 s:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The child is not reaped yet, so its id is still its process group's.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One WebDriver session.
struct Session {
    http: reqwest::Client,
    /// `{driver}/session/{id}`
    base: String,
}

impl Session {
    async fn new(http: &reqwest::Client, driver: &str, user_data_dir: &Path) -> Session {
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--window-size=1280,4000",
            &format!("--user-data-dir={}", user_data_dir.display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let value = call(
            http,
            reqwest::Method::POST,
            &format!("{driver}/session"),
            Some(caps),
        )
        .await;
        let id = value["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no sessionId in {value}"));
        Session {
            http: http.clone(),
            base: format!("{driver}/session/{id}"),
        }
    }

    async fn get(&self, path: &str) -> Value {
        call(
            &self.http,
            reqwest::Method::GET,
            &format!("{}{path}", self.base),
            None,
        )
        .await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        call(
            &self.http,
            reqwest::Method::POST,
            &format!("{}{path}", self.base),
            Some(body),
        )
        .await
    }

    async fn navigate(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    async fn execute(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": []}))
            .await
    }

    async fn elements(&self, css: &str) -> Vec<String> {
        let found = self
            .post("/elements", json!({"using": "css selector", "value": css}))
            .await;
        found
            .as_array()
            .unwrap_or_else(|| panic!("elements {css}: {found}"))
            .iter()
            .map(|e| {
                e[ELEMENT_KEY]
                    .as_str()
                    .unwrap_or_else(|| panic!("no element reference in {e}"))
                    .to_string()
            })
            .collect()
    }

    async fn element_screenshot(&self, element: &str) -> Vec<u8> {
        let b64 = self.get(&format!("/element/{element}/screenshot")).await;
        decode_base64(&b64)
    }

    async fn screenshot(&self) -> Vec<u8> {
        decode_base64(&self.get("/screenshot").await)
    }

    async fn delete(self) {
        call(&self.http, reqwest::Method::DELETE, &self.base, None).await;
    }
}

/// A WebDriver command; its `value`, or a panic with WebDriver's error.
async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> Value {
    let mut req = http.request(method.clone(), url);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("WebDriver {method} {url}: {e}"));
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    let value: Value = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("WebDriver {method} {url}: {status} {text}"));
    assert!(
        status.is_success(),
        "WebDriver {method} {url}: {status} {}",
        value["value"]
    );
    value["value"].clone()
}

fn decode_base64(value: &Value) -> Vec<u8> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("no base64 screenshot in {value}"));
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("screenshot is base64")
}

/// A decoded screenshot, opaque RGB.
struct Image {
    width: u32,
    height: u32,
    pixels: Vec<[u8; 3]>,
}

impl Image {
    fn decode(bytes: &[u8]) -> Image {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder.read_info().expect("PNG header");
        let mut buf = vec![0; reader.output_buffer_size().expect("PNG size")];
        let info = reader.next_frame(&mut buf).expect("PNG frame");
        let channels = match info.color_type {
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            png::ColorType::Grayscale => 1,
            png::ColorType::GrayscaleAlpha => 2,
            png::ColorType::Indexed => panic!("indexed PNG left after expansion"),
        };
        let width = info.width as usize;
        let mut pixels = Vec::with_capacity(width * info.height as usize);
        for line in buf[..info.buffer_size()].chunks(info.line_size) {
            for px in line[..width * channels].chunks(channels) {
                let (rgb, alpha) = match channels {
                    1 => ([px[0]; 3], 255),
                    2 => ([px[0]; 3], px[1]),
                    3 => ([px[0], px[1], px[2]], 255),
                    _ => ([px[0], px[1], px[2]], px[3]),
                };
                // Over white, as the page's background.
                let a = u16::from(alpha);
                pixels.push(rgb.map(|c| ((u16::from(c) * a + 255 * (255 - a)) / 255) as u8));
            }
        }
        Image {
            width: info.width,
            height: info.height,
            pixels,
        }
    }

    /// Coordinates of the pixels within `COLOR_TOLERANCE` of `rgb` on every channel.
    fn near(&self, rgb: [u8; 3]) -> Vec<(u32, u32)> {
        let w = self.width as usize;
        self.pixels
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                p.iter()
                    .zip(rgb)
                    .all(|(&a, b)| (i16::from(a) - i16::from(b)).abs() <= COLOR_TOLERANCE)
            })
            .map(|(i, _)| ((i % w) as u32, (i / w) as u32))
            .collect()
    }

    /// Share of pixels dark enough to be text.
    fn dark_share(&self) -> f64 {
        let dark = self
            .pixels
            .iter()
            .filter(|p| p.iter().map(|&c| u32::from(c)).sum::<u32>() < 3 * 110)
            .count();
        dark as f64 / self.pixels.len().max(1) as f64
    }
}

#[derive(Debug, Clone, Copy)]
struct Rect {
    x: f64,
    y: f64,
    width: f64,
    height: f64,
}

impl Rect {
    fn of(value: &Value, what: &str) -> Rect {
        let n = |k: &str| {
            value[k]
                .as_f64()
                .unwrap_or_else(|| panic!("{what}: no rect ({value})"))
        };
        Rect {
            x: n("x"),
            y: n("y"),
            width: n("width"),
            height: n("height"),
        }
    }
}

/// The screenshot is the element's size (±2 px).
fn assert_size(image: &Image, rect: Rect, what: &str) {
    assert!(
        (f64::from(image.width) - rect.width).abs() <= SIZE_TOLERANCE
            && (f64::from(image.height) - rect.height).abs() <= SIZE_TOLERANCE,
        "{what}: screenshot {}x{} but the element is {:.1}x{:.1}",
        image.width,
        image.height,
        rect.width,
        rect.height
    );
}

fn save(dir: &Path, name: &str, png: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// Breach after three failing checks (5xx ratio rising, p99 rising but under its bound), a refused
/// vote, the deciding vote, the executor done, two passing checks. Copied from postmortem.rs with
/// values that vary, so that the lines have slopes.
async fn rolled_back_deploy(app: &TestApp) -> String {
    let id = app.start_deploy("2.4.1").await;
    app.check(&id, 0.004, 0.21).await;
    app.check(&id, 0.02, 0.26).await;
    app.check(&id, 0.03, 0.31).await;
    app.check(&id, 0.05, 0.36).await;
    assert_eq!(app.state(&id).await, "breached");
    let (status, _) = app.vote(&id, "slack:U09EVE", &[], "rollback").await;
    assert_eq!(status, 403, "Eve is no decider");
    let (status, vote) = app
        .vote(&id, "slack:U02BOB", &["slack-group:S01SRE"], "rollback")
        .await;
    assert_eq!(status, 202, "{vote}");
    app.wait_state(&id, "rolled_back").await;
    app.check(&id, 0.004, 0.22).await;
    app.check(&id, 0.004, 0.2).await;
    app.wait_state(&id, "rollback_verified").await;
    id
}

/// Whether the browser is here; `false` means the test should say SKIPPED.
fn chromium_installed() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var(REQUIRE_ENV).as_deref() != Ok("1"),
        "{REQUIRE_ENV}=1 but {} missing: install the Debian packages chromium and chromium-driver",
        missing.join(" and ")
    );
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postmortem_page_renders_in_chromium() {
    if !chromium_installed() {
        println!("SKIPPED: chromium not installed");
        return;
    }
    let started = Instant::now();
    let Some(app) = TestApp::spawn(
        Backend::Sqlite,
        Setup {
            executor: Some(ExecutorMode::Done),
            ..Setup::default()
        },
    )
    .await
    else {
        return;
    };
    let id = rolled_back_deploy(&app).await;
    let scenario = started.elapsed();

    let tmp = tempfile::tempdir().expect("tempdir");
    let shots = screenshot_dir();
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    // Loopback only: no proxy, and every request bounded (page loads are bounded by WebDriver's
    // own page-load timeout, 300 s by default, well inside this).
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(330))
        .build()
        .expect("http client");
    let mut driver = Chromedriver::start(tmp.path());
    driver.wait_ready(&http).await;
    let session = Session::new(&http, &driver.url, &tmp.path().join("profile")).await;
    let browser_up = started.elapsed();

    session
        .navigate(&format!("{}/deploys/{id}?token={TOKEN}", app.url))
        .await;
    let facts = session.execute(DOM_FACTS_JS).await;

    // The page as a browser sees it.
    assert_eq!(facts["ready_state"], "complete", "{facts}");
    assert_eq!(facts["scripts"], 0, "the page runs no script: {facts}");
    assert_eq!(
        facts["external"],
        json!([]),
        "nothing loaded from another origin"
    );
    assert!(
        facts["phases"].is_object(),
        "no table#phases: not the postmortem page? title {}, body starts {}",
        facts["title"],
        facts["body_start"]
    );
    let phases = Rect::of(&facts["phases"], "table#phases");
    assert!(phases.width > 0.0 && phases.height > 0.0, "{facts}");
    for phase in PHASES {
        let text = facts["durations"][phase].as_str().unwrap_or_default();
        assert!(
            !text.is_empty() && text != "—",
            "phase {phase} has no duration: {:?}",
            facts["durations"]
        );
    }
    let charts = facts["charts"].as_array().expect("charts");
    let criteria: Vec<&str> = charts
        .iter()
        .map(|c| c["criterion"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(criteria, ["5xx ratio", "p99 latency"], "{facts}");
    for chart in charts {
        let criterion = chart["criterion"].as_str().unwrap_or_default();
        // Four checks in canary, two verifying; the polylines draw as many vertices.
        assert_eq!(chart["canary_points"], "6", "{criterion}: {chart}");
        assert_eq!(chart["baseline_points"], "6", "{criterion}: {chart}");
        assert_eq!(chart["canary_vertices"], 6, "{criterion}: {chart}");
        assert_eq!(chart["baseline_vertices"], 6, "{criterion}: {chart}");
        for flag in ["bound_max", "breach", "decision", "rollback"] {
            assert_eq!(chart[flag], true, "{criterion}: no {flag} in {chart}");
        }
        let svg = Rect::of(&chart["svg"], criterion);
        let canary = Rect::of(&chart["canary"], criterion);
        assert!(
            svg.width > 100.0 && svg.height > 50.0,
            "{criterion}: {chart}"
        );
        assert!(
            canary.width > 10.0 && canary.height > 1.0,
            "{criterion}: the canary line is flat or empty: {chart}"
        );
    }

    // The pictures, tied to those facts.
    let mut saved = Vec::new();
    let page_png = session.screenshot().await;
    let page = Image::decode(&page_png);
    let viewport = &facts["viewport"];
    assert_eq!(
        (u64::from(page.width), u64::from(page.height)),
        (
            viewport["width"].as_u64().unwrap_or_default(),
            viewport["height"].as_u64().unwrap_or_default()
        ),
        "the screenshot is the viewport"
    );
    saved.push(save(&shots, "page.png", &page_png));

    let svgs = session.elements("figure.chart svg.chart-svg").await;
    assert_eq!(svgs.len(), charts.len(), "one svg per chart");
    for (element, chart) in svgs.iter().zip(charts) {
        let criterion = chart["criterion"].as_str().unwrap_or_default();
        let png_bytes = session.element_screenshot(element).await;
        let name = format!("chart-{}.png", criterion.replace(' ', "-"));
        saved.push(save(&shots, &name, &png_bytes));
        let image = Image::decode(&png_bytes);
        let svg = Rect::of(&chart["svg"], criterion);
        assert_size(&image, svg, criterion);

        let canary = Rect::of(&chart["canary"], criterion);
        let red = image.near(CANARY_RGB);
        let blue = image.near(BASELINE_RGB);
        assert!(
            red.len() >= MIN_STROKE_PIXELS,
            "{criterion}: only {} canary-colored pixels in {name}",
            red.len()
        );
        assert!(
            blue.len() >= MIN_STROKE_PIXELS,
            "{criterion}: only {} baseline-colored pixels in {name}",
            blue.len()
        );
        // Where the canary color shows, relative to the svg: the line fills the canary
        // polyline's rect from edge to edge, and any other canary-colored pixel belongs to an
        // element the DOM paints in that color.
        let within = |r: Rect, (x, y): (u32, u32)| {
            let (x, y) = (f64::from(x), f64::from(y));
            let (left, top) = (r.x - svg.x, r.y - svg.y);
            x >= left - POSITION_TOLERANCE
                && x <= left + r.width + POSITION_TOLERANCE
                && y >= top - POSITION_TOLERANCE
                && y <= top + r.height + POSITION_TOLERANCE
        };
        let on_line: Vec<(u32, u32)> = red.iter().copied().filter(|&p| within(canary, p)).collect();
        assert!(
            on_line.len() >= MIN_STROKE_PIXELS,
            "{criterion}: only {} canary-colored pixels inside the canary line's rect; see {name}",
            on_line.len()
        );
        let span = |pick: fn(&(u32, u32)) -> u32| {
            let values = on_line.iter().map(pick);
            (
                f64::from(values.clone().min().unwrap_or_default()),
                f64::from(values.max().unwrap_or_default()) + 1.0,
            )
        };
        let ((min_x, max_x), (min_y, max_y)) = (span(|p| p.0), span(|p| p.1));
        let (left, top) = (canary.x - svg.x, canary.y - svg.y);
        for (what, drawn, dom) in [
            ("left", min_x, left),
            ("right", max_x, left + canary.width),
            ("top", min_y, top),
            ("bottom", max_y, top + canary.height),
        ] {
            assert!(
                (drawn - dom).abs() <= POSITION_TOLERANCE,
                "{criterion}: the drawn canary line's {what} edge is at {drawn:.0} px, the \
                 polyline's rect says {dom:.1} px; see {name}"
            );
        }
        let others: Vec<(String, Rect)> = chart["canary_colored"]
            .as_array()
            .expect("canary_colored")
            .iter()
            .map(|o| {
                let what = o["element"].as_str().unwrap_or_default().to_string();
                let rect = Rect::of(&o["rect"], &what);
                (what, rect)
            })
            .collect();
        let stray: Vec<(u32, u32)> = red
            .iter()
            .copied()
            .filter(|&p| !within(canary, p) && !others.iter().any(|(_, r)| within(*r, p)))
            .collect();
        assert!(
            stray.is_empty(),
            "{criterion}: {} of {} canary-colored pixels lie outside the canary line's rect and \
             outside every other canary-colored element ({:?}), e.g. {:?}; see {name}",
            stray.len(),
            red.len(),
            others.iter().map(|(w, _)| w).collect::<Vec<_>>(),
            &stray[..stray.len().min(10)]
        );
        println!(
            "{criterion}: {} canary-colored pixels ({} on the line, edges x {min_x:.0}..{max_x:.0} \
             y {min_y:.0}..{max_y:.0} vs rect x {left:.1}..{:.1} y {top:.1}..{:.1}; others: {:?}), \
             {} baseline-colored",
            red.len(),
            on_line.len(),
            left + canary.width,
            top + canary.height,
            others.iter().map(|(w, _)| w).collect::<Vec<_>>(),
            blue.len()
        );
    }

    let tables = session.elements("table#phases").await;
    assert_eq!(tables.len(), 1, "one phase table");
    let png_bytes = session.element_screenshot(&tables[0]).await;
    saved.push(save(&shots, "phases.png", &png_bytes));
    let image = Image::decode(&png_bytes);
    assert_size(&image, phases, "table#phases");
    let dark = image.dark_share();
    assert!(
        (0.005..0.6).contains(&dark),
        "the phase table shows {:.1}% dark pixels: blank or a block",
        dark * 100.0
    );

    session.delete().await;
    drop(driver);
    app.finish().await;
    for path in &saved {
        println!("screenshot: {}", path.display());
    }
    println!(
        "browser check: scenario {:.1}s, chromedriver and Chromium up at {:.1}s, total {:.1}s \
         (phase table {:.1}% dark pixels)",
        scenario.as_secs_f64(),
        browser_up.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        dark * 100.0
    );
}
