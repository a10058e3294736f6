//! `GET /deploys/{id}/charts/{criterion}.png`: one criterion's chart as the image chat gets,
//! behind the pages' token rule; the pixels show both series where they are.

use crate::on_both_backends;
use crate::support::{Backend, Setup, TOKEN, TestApp};
use canarybot::present::chart_png::{HEIGHT, WIDTH};

on_both_backends!(chart_image_of_a_criterion,);

/// The image's series colours (Okabe–Ito vermillion and blue).
const CANARY: [u8; 3] = [0xD5, 0x5E, 0x00];
const BASELINE: [u8; 3] = [0x00, 0x72, 0xB2];

fn close(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter()
        .zip(b)
        .all(|(x, y)| (*x as i16 - y as i16).abs() <= 40)
}

/// Width, height and RGBA pixels.
fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    assert_eq!(info.color_type, png::ColorType::Rgba);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

async fn chart_image_of_a_criterion(b: Backend) {
    let Some(app) = TestApp::spawn(b, Setup::default()).await else {
        return;
    };
    let id = app.start_deploy("2.4.1").await;
    // p99 climbs from the baseline's 0.2 s.
    for p99 in [0.21, 0.3, 0.38, 0.45] {
        app.check(&id, 0.004, p99).await;
    }
    let path = format!("/deploys/{id}/charts/p99%20latency.png");

    // The pages' token rule.
    let none = app
        .http
        .get(format!("{}{path}", app.url))
        .send()
        .await
        .expect("get");
    assert_eq!(none.status().as_u16(), 401);
    let wrong = app
        .http
        .get(format!("{}{path}", app.url))
        .basic_auth("me", Some("nope"))
        .send()
        .await
        .expect("get");
    assert_eq!(wrong.status().as_u16(), 401);
    let query = app
        .http
        .get(format!("{}{path}?token={TOKEN}", app.url))
        .send()
        .await
        .expect("get");
    assert_eq!(query.status().as_u16(), 200);

    let resp = app
        .http
        .get(format!("{}{path}", app.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status().as_u16(), 200);
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(header("content-type"), "image/png");
    assert_eq!(header("cache-control"), "no-store");
    let bytes = resp.bytes().await.expect("body");
    shows_both_series_canary_above(&bytes);

    // Unknown criterion, unknown deploy, not a PNG name: 404 naming what is unknown.
    let (status, body) = app.get(&format!("/deploys/{id}/charts/p50.png")).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no criterion `p50`"), "{body}");
    assert!(body.contains("p99 latency"), "the criteria it has: {body}");
    let (status, body) = app.get("/deploys/nosuch/charts/p99%20latency.png").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("nosuch"), "{body}");
    let (status, body) = app
        .get(&format!("/deploys/{id}/charts/p99%20latency.svg"))
        .await;
    assert_eq!(status, 404, "{body}");
    app.finish().await;
}

/// The chart image as a person looks at it: WIDTH×HEIGHT, both series drawn in their colours in
/// the plot (below the legend, which shows both colours too), and near the last sample (the right
/// end) the canary well above the baseline.
pub(crate) fn shows_both_series_canary_above(bytes: &[u8]) {
    let (w, h, rgba) = decode(bytes);
    assert_eq!((w, h), (WIDTH, HEIGHT));
    let at = |x: u32, y: u32| {
        let i = ((y * w + x) * 4) as usize;
        [rgba[i], rgba[i + 1], rgba[i + 2]]
    };
    let plot_top = 74;
    let count = |color: [u8; 3]| -> usize {
        (plot_top..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .filter(|(x, y)| close(at(*x, *y), color))
            .count()
    };
    assert!(count(CANARY) > 300, "canary pixels: {}", count(CANARY));
    assert!(
        count(BASELINE) > 150,
        "baseline pixels: {}",
        count(BASELINE)
    );
    let first_row = |color: [u8; 3], x0: u32| {
        (plot_top..h).find(|y| (x0..x0 + 20).any(|x| close(at(x, *y), color)))
    };
    let x = w - 60;
    let canary_y = first_row(CANARY, x).expect("canary near the right end");
    let baseline_y = first_row(BASELINE, x).expect("baseline near the right end");
    assert!(
        canary_y + 40 < baseline_y,
        "the canary (y {canary_y}) well above the baseline (y {baseline_y})"
    );
}
