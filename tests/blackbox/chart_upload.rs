//! Charts in the thread (issue 23): at a breach, and in the closing summary, each breached
//! criterion's chart is posted once in the canary thread — Slack's three-step upload, Discord's
//! multipart message — through the outbox: retried without a second image, and a platform that
//! refuses files gets the links as text instead.

use crate::fake_discord::{DiscordMessage, FakeDiscord};
use crate::fake_slack::{FakeSlack, SharedFile};
use crate::on_both_backends;
use crate::support::{Backend, Setup, TestApp};
use canarybot::present::chart_png::{HEIGHT, WIDTH};
use std::sync::atomic::Ordering;
use std::time::Duration;

on_both_backends!(
    slack_breach_and_close_post_one_chart_each_in_the_thread,
    slack_upload_retried_after_a_failure_posts_one_chart,
    slack_without_files_write_posts_the_text_once,
    a_chart_that_cannot_be_posted_holds_up_no_message,
    discord_breach_posts_one_image_in_the_thread,
    discord_post_retried_after_a_failure_posts_one_image,
    discord_without_attach_files_posts_the_text_once,
);

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// The PNG's width and height, as a viewer decodes them.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.starts_with(PNG_SIGNATURE), "not a PNG");
    let reader = png::Decoder::new(std::io::Cursor::new(bytes.to_vec()))
        .read_info()
        .expect("decodes as a PNG");
    (reader.info().width, reader.info().height)
}

async fn eventually(what: &str, check: impl Fn() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never: {what}");
}

async fn slack_app(b: Backend) -> Option<(TestApp, FakeSlack)> {
    let fake = FakeSlack::start().await;
    let setup = Setup {
        slack_api: Some(fake.api_url.clone()),
        api_tokens: true,
        ..Setup::default()
    };
    Some((TestApp::spawn(b, setup).await?, fake))
}

async fn discord_app(b: Backend) -> Option<(TestApp, FakeDiscord)> {
    let fake = FakeDiscord::start().await;
    let setup = Setup {
        discord_api: Some(fake.api_url.clone()),
        api_tokens: true,
        ..Setup::default()
    };
    Some((TestApp::spawn(b, setup).await?, fake))
}

/// Two failing checks of p99 (limit 2): the breach names `p99 latency` only.
async fn breach(app: &TestApp) -> String {
    let id = app.start_deploy("3.1.0").await;
    // p99 climbs from the baseline's until two checks fail: a line the chart shows rising.
    for p99 in [0.21, 0.3, 0.9, 0.9] {
        app.check(&id, 0.004, p99).await;
    }
    app.wait_state(&id, "breached").await;
    id
}

fn check_slack_chart(f: &SharedFile, root_ts: &str) {
    assert_eq!(f.channel, "C0CHECKOUT");
    assert_eq!(
        f.thread_ts.as_deref(),
        Some(root_ts),
        "in the canary thread"
    );
    assert!(
        f.upload.filename.starts_with("chart-") && f.upload.filename.ends_with(".png"),
        "{}",
        f.upload.filename
    );
    assert!(
        f.upload.alt_txt.contains("p99 latency"),
        "{}",
        f.upload.alt_txt
    );
    let bytes = f.upload.bytes.as_deref().expect("uploaded");
    assert_eq!(bytes.len(), f.upload.length);
    assert_eq!(png_size(bytes), (WIDTH, HEIGHT));
}

async fn slack_breach_and_close_post_one_chart_each_in_the_thread(b: Backend) {
    let Some((app, slack)) = slack_app(b).await else {
        return;
    };
    let id = breach(&app).await;
    eventually("the breach's chart", || !slack.shared_files().is_empty()).await;
    app.settle_chat().await;
    let root = slack.roots()[0].ts.clone();
    let shared = slack.shared_files();
    assert_eq!(shared.len(), 1, "one chart: the one breached criterion");
    check_slack_chart(&shared[0], &root);
    // The breach's chart shows the canary climbing away from the baseline.
    crate::charts_png::shows_both_series_canary_above(
        shared[0].upload.bytes.as_deref().expect("uploaded"),
    );
    // The three steps, with the bot token.
    let asked = slack.calls_to("files.getUploadURLExternal");
    assert_eq!(asked.len(), 1);
    assert_eq!(
        asked[0].authorization.as_deref(),
        Some("Bearer xoxb-test-token")
    );
    let completed = slack.calls_to("files.completeUploadExternal");
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].body["channel_id"], "C0CHECKOUT");
    assert_eq!(completed[0].body["thread_ts"], root.as_str());
    assert!(
        completed[0].body["files"][0]["title"]
            .as_str()
            .unwrap_or_default()
            .contains("p99 latency")
    );
    // After the breach message.
    let calls = slack.calls();
    let breach_at = calls
        .iter()
        .position(|c| {
            c.body["text"]
                .as_str()
                .unwrap_or_default()
                .contains("BREACH")
        })
        .expect("the breach message");
    let upload_at = calls
        .iter()
        .position(|c| c.method == "files.getUploadURLExternal")
        .expect("the upload");
    assert!(breach_at < upload_at, "the chart follows the breach");

    // The close: promoted after the breach, the summary shows the breached criterion again.
    let (status, body) = app.vote(&id, "slack:U01ALICE", &[], "promote").await;
    assert_eq!(status, 202, "{body}");
    eventually("the closing chart", || slack.shared_files().len() == 2).await;
    app.settle_chat().await;
    let shared = slack.shared_files();
    assert_eq!(shared.len(), 2, "one more chart at the close");
    check_slack_chart(&shared[1], &root);
    assert_ne!(shared[0].upload.filename, shared[1].upload.filename);
    app.finish().await;
}

async fn slack_upload_retried_after_a_failure_posts_one_chart(b: Backend) {
    let Some((app, slack)) = slack_app(b).await else {
        return;
    };
    // Slack shares the file, then answers 500: the retry finds it in the thread.
    slack.fail_completes.store(1, Ordering::SeqCst);
    breach(&app).await;
    eventually("a second try", || {
        slack.calls_to("conversations.replies").len()
            + slack.calls_to("files.completeUploadExternal").len()
            >= 2
    })
    .await;
    app.settle_chat().await;
    let root = slack.roots()[0].ts.clone();
    let shared = slack.shared_files();
    assert_eq!(shared.len(), 1, "one chart in the thread after the retry");
    check_slack_chart(&shared[0], &root);
    assert_eq!(slack.calls_to("files.completeUploadExternal").len(), 1);
    app.finish().await;
}

async fn slack_without_files_write_posts_the_text_once(b: Backend) {
    let Some((app, slack)) = slack_app(b).await else {
        return;
    };
    slack.files_refused.store(true, Ordering::SeqCst);
    let id = breach(&app).await;
    // A vote after the breach is not held up by the refused chart.
    let (status, body) = app.vote(&id, "slack:U01ALICE", &[], "promote").await;
    assert_eq!(status, 202, "{body}");
    app.wait_state(&id, "promoted").await;
    app.settle_chat().await;
    let root = slack.roots()[0].ts.clone();
    let texts: Vec<String> = slack.replies(&root).into_iter().map(|m| m.text).collect();
    let fallbacks: Vec<&String> = texts.iter().filter(|t| t.contains("📈")).collect();
    // One line for the breach's chart, one for the close's: each once.
    assert_eq!(fallbacks.len(), 2, "{texts:#?}");
    assert!(
        fallbacks[0].contains("p99 latency") && fallbacks[0].contains("postmortem page"),
        "{}",
        fallbacks[0]
    );
    assert!(slack.shared_files().is_empty());
    // After the first refusal the platform is known to refuse: the close's chart is not tried.
    assert_eq!(slack.calls_to("files.getUploadURLExternal").len(), 1);
    let at = |needle: &str| {
        texts
            .iter()
            .position(|t| t.contains(needle))
            .unwrap_or_else(|| panic!("no `{needle}` in {texts:#?}"))
    };
    assert!(at("BREACH") < at("📈"), "{texts:#?}");
    assert!(texts.iter().any(|t| t.contains("promote")), "{texts:#?}");
    app.finish().await;
}

/// A call creating a message that shows an attached image.
fn is_image_post(c: &crate::fake_discord::DiscordCall) -> bool {
    c.body["embeds"][0]["image"]["url"]
        .as_str()
        .is_some_and(|u| u.starts_with("attachment://"))
}

/// Uploads failing for as long as it takes: the chart is retried, and the messages after it — a
/// vote, the decision, the close — are posted all the same.
async fn a_chart_that_cannot_be_posted_holds_up_no_message(b: Backend) {
    let Some((app, slack)) = slack_app(b).await else {
        return;
    };
    slack.uploads_down.store(true, Ordering::SeqCst);
    let id = breach(&app).await;
    eventually("the chart failing", || {
        slack.calls_to("files.getUploadURLExternal").len() >= 2
    })
    .await;
    let (status, body) = app.vote(&id, "slack:U01ALICE", &[], "promote").await;
    assert_eq!(status, 202, "{body}");
    let root = slack.roots()[0].ts.clone();
    eventually("the vote and the close in the thread", || {
        let texts: Vec<String> = slack.replies(&root).into_iter().map(|m| m.text).collect();
        texts.iter().any(|t| t.contains("votes *promote*"))
            && texts.iter().any(|t| t.contains("🏁"))
    })
    .await;
    assert!(slack.shared_files().is_empty());
    // Uploads work again: the chart (and the close's) arrive, once each.
    slack.uploads_down.store(false, Ordering::SeqCst);
    eventually("the charts", || slack.shared_files().len() == 2).await;
    app.settle_chat().await;
    assert_eq!(slack.shared_files().len(), 2);
    app.finish().await;
}

/// The messages with files in the canary thread.
fn images(discord: &FakeDiscord) -> (String, Vec<DiscordMessage>) {
    let root = discord.messages_in("1111")[0].id.clone();
    let thread = discord.messages_in(&root);
    (
        root,
        thread.into_iter().filter(|m| !m.files.is_empty()).collect(),
    )
}

fn check_discord_image(m: &DiscordMessage) {
    assert_eq!(m.files.len(), 1);
    let file = &m.files[0];
    assert_eq!(file.field, "files[0]");
    assert!(file.filename.starts_with("chart-") && file.filename.ends_with(".png"));
    assert_eq!(
        m.body["embeds"][0]["image"]["url"],
        format!("attachment://{}", file.filename),
        "the embed shows the attached file"
    );
    assert_eq!(m.body["attachments"][0]["filename"], file.filename.as_str());
    assert!(
        m.body["attachments"][0]["description"]
            .as_str()
            .unwrap_or_default()
            .contains("p99 latency")
    );
    assert!(m.nonce.is_some() && m.body["enforce_nonce"] == true);
    assert_eq!(png_size(&file.bytes), (WIDTH, HEIGHT));
    crate::charts_png::shows_both_series_canary_above(&file.bytes);
}

async fn discord_breach_posts_one_image_in_the_thread(b: Backend) {
    let Some((app, discord)) = discord_app(b).await else {
        return;
    };
    breach(&app).await;
    eventually("the chart", || {
        discord
            .messages
            .lock()
            .expect("messages")
            .iter()
            .any(|m| !m.files.is_empty())
    })
    .await;
    app.settle_chat().await;
    let (root, images) = images(&discord);
    assert_eq!(images.len(), 1, "one image: the one breached criterion");
    assert_eq!(
        images[0].channel, root,
        "in the thread (its id is the root's)"
    );
    check_discord_image(&images[0]);
    app.finish().await;
}

async fn discord_post_retried_after_a_failure_posts_one_image(b: Backend) {
    let Some((app, discord)) = discord_app(b).await else {
        return;
    };
    // Discord creates the message, then answers 500: the retry's nonce finds it.
    discord.fail_file_posts.store(1, Ordering::SeqCst);
    breach(&app).await;
    let tries = |d: &FakeDiscord| d.calls().iter().filter(|c| is_image_post(c)).count();
    eventually("a second try", || tries(&discord) >= 2).await;
    app.settle_chat().await;
    let (_, images) = images(&discord);
    assert_eq!(images.len(), 1, "one image after the retry");
    check_discord_image(&images[0]);
    app.finish().await;
}

async fn discord_without_attach_files_posts_the_text_once(b: Backend) {
    let Some((app, discord)) = discord_app(b).await else {
        return;
    };
    discord.refuse_files.store(true, Ordering::SeqCst);
    let id = breach(&app).await;
    let (status, body) = app.vote(&id, "discord:4455", &[], "promote").await;
    assert_eq!(status, 202, "{body}");
    app.wait_state(&id, "promoted").await;
    app.settle_chat().await;
    let root = discord.messages_in("1111")[0].id.clone();
    let texts: Vec<String> = discord
        .messages_in(&root)
        .iter()
        .map(|m| m.body["content"].as_str().unwrap_or_default().to_string())
        .collect();
    let fallbacks: Vec<&String> = texts.iter().filter(|t| t.contains("📈")).collect();
    assert_eq!(
        fallbacks.len(),
        2,
        "the breach's and the close's: {texts:#?}"
    );
    assert!(fallbacks[0].contains("p99 latency"), "{}", fallbacks[0]);
    let (_, images) = images(&discord);
    assert!(images.is_empty());
    let tried = discord.calls().iter().filter(|c| is_image_post(c)).count();
    assert_eq!(tried, 1, "refused once, then not tried again");
    assert!(texts.iter().any(|t| t.contains("BREACH")), "{texts:#?}");
    app.finish().await;
}
