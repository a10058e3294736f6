//! The Slack Web API calls canarybot makes, through slack-morphism, at a configurable base URL.

use crate::chat::ChatError;
use crate::retry::Try;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct SlackApi {
    client: SlackClient<SlackClientHyperHttpsConnector>,
    token: SlackApiToken,
    group_cache: Duration,
    groups: Mutex<HashMap<String, (Instant, Vec<String>)>>,
    /// For the one call outside the Web API: a file's bytes to the URL Slack gave for them.
    uploads: reqwest::Client,
}

/// Slack error codes that say the app as installed may not post files: the scope it lacks.
const FILE_REFUSALS: &[&str] = &[
    "missing_scope",
    "not_allowed_token_type",
    "no_permission",
    "restricted_action",
];

/// [`chat_error`] for a file upload's steps: a refusal for want of a scope or a permission is
/// `NotAllowed` (the outbox posts the chart's link instead).
fn file_error(method: &str, e: SlackClientError) -> ChatError {
    if let SlackClientError::ApiError(api) = &e
        && FILE_REFUSALS.contains(&api.code.as_str())
    {
        return ChatError::NotAllowed {
            message: format!("{method}: Slack error `{}`", api.code),
            need: "the files:write scope".to_string(),
        };
    }
    chat_error(method, e)
}

/// The metadata event type on every message canarybot posts in a thread: its payload names the
/// deploy and the outbox item, so a retry can find what an earlier try posted.
pub const METADATA_EVENT: &str = "canarybot_message";

/// Metadata naming a deploy and one outbox item.
pub fn metadata(deploy_id: &str, key: &str) -> SlackMessageMetadata {
    SlackMessageMetadata {
        event_type: METADATA_EVENT.to_string(),
        event_payload: Some(HashMap::from([
            ("deploy_id".to_string(), deploy_id.to_string()),
            ("item".to_string(), key.to_string()),
        ])),
    }
}

/// Slack error codes worth retrying.
const TRANSIENT_CODES: &[&str] = &[
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

/// Maps a Slack client error to retry-or-not, keeping Slack's error code in the message.
fn chat_error(method: &str, e: SlackClientError) -> ChatError {
    match e {
        SlackClientError::RateLimitError(r) => ChatError::Transient {
            message: format!("{method}: rate limited by Slack"),
            retry_after_ms: r.retry_after.map(|d| d.as_millis() as u64),
        },
        SlackClientError::ApiError(api) => {
            let message = format!("{method}: Slack error `{}`", api.code);
            if TRANSIENT_CODES.contains(&api.code.as_str()) {
                ChatError::Transient {
                    message,
                    retry_after_ms: None,
                }
            } else {
                ChatError::Permanent(message)
            }
        }
        SlackClientError::HttpError(h) if h.status_code.is_client_error() => {
            ChatError::Permanent(format!("{method}: HTTP {}", h.status_code))
        }
        other => ChatError::Transient {
            message: format!("{method}: {other}"),
            retry_after_ms: None,
        },
    }
}

/// [`chat_error`] for a call that writes (a post, an update): an answer that says Slack did not
/// act — a rate limit, a transient error code, a 5xx — is a refusal, after which a retry need not
/// look for what this call posted. A call that got no answer may have posted.
fn write_error(method: &str, e: SlackClientError) -> ChatError {
    let answered = match &e {
        SlackClientError::RateLimitError(_) => true,
        SlackClientError::ApiError(api) => TRANSIENT_CODES.contains(&api.code.as_str()),
        SlackClientError::HttpError(h) => h.status_code.is_server_error(),
        _ => false,
    };
    match chat_error(method, e) {
        ChatError::Transient {
            message,
            retry_after_ms,
        } if answered => ChatError::Refused {
            message,
            retry_after_ms,
        },
        other => other,
    }
}

/// Group lookups: 300 ms doubling, at most 2 s between tries.
const GROUP_LOOKUP_BACKOFF: crate::retry::Backoff =
    crate::retry::Backoff::new(Duration::from_millis(300), Duration::from_secs(2));

impl SlackApi {
    /// One message, by its channel and `ts`: `conversations.replies` bounded to that ts (it
    /// answers for a thread's root and for a reply alike), so a pinned message's author, text,
    /// files and thread can be read. `None` when Slack has no such message.
    pub async fn message(
        &self,
        channel: &str,
        ts: &str,
    ) -> Result<Option<SlackHistoryMessage>, ChatError> {
        let params: Vec<(&str, Option<String>)> = vec![
            ("channel", Some(channel.to_string())),
            ("ts", Some(ts.to_string())),
            ("oldest", Some(ts.to_string())),
            ("latest", Some(ts.to_string())),
            ("inclusive", Some("true".to_string())),
            ("limit", Some("1".to_string())),
        ];
        let session = self.client.open_session(&self.token);
        let resp: SlackApiConversationsRepliesResponse = session
            .http_session_api
            .http_get("conversations.replies", &params, None)
            .await
            .map_err(|e| chat_error("conversations.replies", e))?;
        // A reply's thread may come with its root first: the message is the one with this ts.
        Ok(resp.messages.into_iter().find(|m| m.origin.ts.0 == ts))
    }

    /// A client for `api_url` (https for Slack itself, plain http for a fake on loopback).
    pub fn new(api_url: &str, bot_token: &str, group_cache: Duration) -> anyhow::Result<SlackApi> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .build();
        let connector = SlackClientHyperConnector::with_connector(https)
            .with_slack_api_url(api_url.trim_end_matches('/'));
        Ok(SlackApi {
            client: SlackClient::new(connector),
            token: SlackApiToken::new(bot_token.to_string().into()),
            group_cache,
            groups: Mutex::new(HashMap::new()),
            uploads: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
        })
    }

    /// The ts of the message in the thread that shares a file named `filename` (an earlier try's
    /// upload), if there is one.
    pub async fn find_file(
        &self,
        channel: &str,
        thread_ts: &str,
        filename: &str,
        oldest_ms: i64,
    ) -> Result<Option<String>, ChatError> {
        let oldest = format!("{}.000000", (oldest_ms / 1000 - 60).max(0));
        let params: Vec<(&str, Option<String>)> = vec![
            ("channel", Some(channel.to_string())),
            ("ts", Some(thread_ts.to_string())),
            ("oldest", Some(oldest)),
            ("limit", Some("200".to_string())),
        ];
        let session = self.client.open_session(&self.token);
        let resp: SlackApiConversationsRepliesResponse = session
            .http_session_api
            .http_get("conversations.replies", &params, None)
            .await
            .map_err(|e| chat_error("conversations.replies", e))?;
        let found = resp.messages.into_iter().find(|m| {
            m.content
                .files
                .as_ref()
                .is_some_and(|files| files.iter().any(|f| f.name.as_deref() == Some(filename)))
        });
        Ok(found.map(|m| m.origin.ts.value().to_string()))
    }

    /// Shares `png` in the thread `thread_ts` of `channel`, the way Slack uploads files now:
    /// `files.getUploadURLExternal` (name, length, alt text), the bytes to the URL it gives, then
    /// `files.completeUploadExternal` into the thread. Until the last step nothing is posted; a
    /// last step without an answer may have posted (`Transient`: the retry looks first).
    pub async fn upload_png(
        &self,
        channel: &str,
        thread_ts: &str,
        filename: &str,
        title: &str,
        alt_text: &str,
        png: &[u8],
    ) -> Result<(), ChatError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiFilesGetUploadUrlExternalRequest::new(filename.to_string(), png.len())
            .with_alt_txt(alt_text.chars().take(1000).collect());
        // Nothing is in the thread before the last step: a failure here needs no look.
        let url = session.get_upload_url_external(&req).await.map_err(|e| {
            match file_error("files.getUploadURLExternal", e) {
                ChatError::Transient {
                    message,
                    retry_after_ms,
                } => ChatError::Refused {
                    message,
                    retry_after_ms,
                },
                other => other,
            }
        })?;
        let sent = self
            .uploads
            .post(url.upload_url.value().clone())
            .header("content-type", "image/png")
            .body(png.to_vec())
            .send()
            .await
            .map_err(|e| ChatError::Refused {
                message: format!("uploading the file's bytes: {e}"),
                retry_after_ms: None,
            })?;
        if !sent.status().is_success() {
            // Not shared yet: nothing is in the thread, so the retry uploads again.
            return Err(ChatError::Refused {
                message: format!("uploading the file's bytes: HTTP {}", sent.status()),
                retry_after_ms: None,
            });
        }
        let complete = SlackApiFilesCompleteUploadExternalRequest::new(vec![
            SlackApiFilesComplete::new(url.file_id).with_title(title.to_string()),
        ])
        .with_channel_id(channel.to_string().into())
        .with_thread_ts(thread_ts.to_string().into());
        session
            .files_complete_upload_external(&complete)
            .await
            .map_err(|e| file_error("files.completeUploadExternal", e))?;
        Ok(())
    }

    /// `apps.connections.open` with the app-level token: the WebSocket URL of a new Socket Mode
    /// connection. Through slack-morphism's client (not its Socket Mode listener, see
    /// `slack::socket`): the same base URL, connector and error mapping as every other call.
    pub async fn open_connection(&self, app_token: &str) -> Result<String, ChatError> {
        let token = SlackApiToken::new(app_token.to_string().into());
        let opened = self
            .client
            .open_session(&token)
            .apps_connections_open(&SlackApiAppsConnectionOpenRequest::new())
            .await
            .map_err(|e| chat_error("apps.connections.open", e))?;
        Ok(opened.url.0.to_string())
    }

    /// Finds, among messages posted since `oldest_ms`, the one whose metadata carries `key`
    /// (in the channel, or in the thread of `thread_ts`); returns its ts. A lookup that fails is
    /// `Transient`, never `Refused`: it has not ruled out an earlier try's message.
    pub async fn find_by_key(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        key: &str,
        oldest_ms: i64,
    ) -> Result<Option<String>, ChatError> {
        // A minute early: clocks of Slack and this host differ.
        let oldest = format!("{}.000000", (oldest_ms / 1000 - 60).max(0));
        let session = self.client.open_session(&self.token);
        let mut params: Vec<(&str, Option<String>)> = vec![
            ("channel", Some(channel.to_string())),
            ("oldest", Some(oldest)),
            ("include_all_metadata", Some("true".to_string())),
            ("limit", Some("200".to_string())),
        ];
        let (method, messages) = match thread_ts {
            Some(ts) => {
                params.push(("ts", Some(ts.to_string())));
                let resp: SlackApiConversationsRepliesResponse = session
                    .http_session_api
                    .http_get("conversations.replies", &params, None)
                    .await
                    .map_err(|e| chat_error("conversations.replies", e))?;
                ("conversations.replies", resp.messages)
            }
            None => {
                let resp: SlackApiConversationsHistoryResponse = session
                    .http_session_api
                    .http_get("conversations.history", &params, None)
                    .await
                    .map_err(|e| chat_error("conversations.history", e))?;
                ("conversations.history", resp.messages)
            }
        };
        let found = messages.into_iter().find(|m| {
            m.content.metadata.as_ref().is_some_and(|md| {
                md.event_type == METADATA_EVENT
                    && md
                        .event_payload
                        .as_ref()
                        .and_then(|p| p.get("item"))
                        .is_some_and(|item| item == key)
            })
        });
        tracing::debug!(
            method,
            key,
            found = found.is_some(),
            "looked for an earlier try"
        );
        Ok(found.map(|m| m.origin.ts.value().to_string()))
    }

    /// Posts a message (a reply when `thread_ts` is set); returns its ts.
    pub async fn post(
        &self,
        channel: &str,
        content: SlackMessageContent,
        thread_ts: Option<&str>,
    ) -> Result<String, ChatError> {
        let mut req = SlackApiChatPostMessageRequest::new(channel.to_string().into(), content);
        if let Some(ts) = thread_ts {
            req = req.with_thread_ts(ts.to_string().into());
        }
        let session = self.client.open_session(&self.token);
        let resp = session
            .chat_post_message(&req)
            .await
            .map_err(|e| write_error("chat.postMessage", e))?;
        Ok(resp.ts.value().to_string())
    }

    pub async fn update(
        &self,
        channel: &str,
        ts: &str,
        content: SlackMessageContent,
    ) -> Result<(), ChatError> {
        let req = SlackApiChatUpdateRequest::new(
            channel.to_string().into(),
            content,
            ts.to_string().into(),
        );
        let session = self.client.open_session(&self.token);
        session
            .chat_update(&req)
            .await
            .map_err(|e| write_error("chat.update", e))?;
        Ok(())
    }

    /// A message only `user` sees, in the thread when there is one.
    pub async fn ephemeral(
        &self,
        channel: &str,
        user: &str,
        text: &str,
        thread_ts: Option<&str>,
    ) -> Result<(), ChatError> {
        let mut req = SlackApiChatPostEphemeralRequest::new(
            channel.to_string().into(),
            user.to_string().into(),
            SlackMessageContent::new().with_text(text.to_string()),
        );
        if let Some(ts) = thread_ts {
            req = req.with_thread_ts(ts.to_string().into());
        }
        let session = self.client.open_session(&self.token);
        session
            .chat_post_ephemeral(&req)
            .await
            .map_err(|e| write_error("chat.postEphemeral", e))?;
        Ok(())
    }

    /// Opens a modal for the person whose press carried `trigger_id` (valid for 3 s after it).
    /// The answer's view is not read, so only Slack's `ok` is checked.
    pub async fn open_view(&self, trigger_id: &str, view: SlackView) -> Result<(), ChatError> {
        let req = SlackApiViewsOpenRequest::new(trigger_id.to_string().into(), view);
        let session = self.client.open_session(&self.token);
        session
            .http_session_api
            .http_post::<_, serde::de::IgnoredAny>("views.open", &req, None)
            .await
            .map_err(|e| chat_error("views.open", e))?;
        Ok(())
    }

    /// Members of a user group (`S…`) as cached, if the cache is still fresh.
    fn cached_members(&self, group: &str) -> Option<Vec<String>> {
        let cache = self.groups.lock().ok()?;
        let (at, members) = cache.get(group)?;
        (at.elapsed() < self.group_cache).then(|| members.clone())
    }

    /// Members of a user group (`S…`), cached for `group_cache`.
    pub async fn group_members(&self, group: &str) -> Result<Vec<String>, ChatError> {
        if let Some(members) = self.cached_members(group) {
            return Ok(members);
        }
        let req = SlackApiUserGroupsUsersListRequest::new(group.to_string().into());
        // A short wait is worth it: the person is waiting for their vote to count (and the
        // caller bounds the whole lookup, see `groups_of_within`).
        let resp = crate::retry::with_retries(
            GROUP_LOOKUP_BACKOFF,
            2,
            |_| async {
                let session = self.client.open_session(&self.token);
                match session.usergroups_users_list(&req).await {
                    Ok(r) => Try::Done(r),
                    Err(e) => match chat_error("usergroups.users.list", e) {
                        ChatError::Transient {
                            message,
                            retry_after_ms,
                        }
                        | ChatError::Refused {
                            message,
                            retry_after_ms,
                        } => Try::Again {
                            error: ChatError::Transient {
                                message,
                                retry_after_ms,
                            },
                            retry_after: retry_after_ms.map(Duration::from_millis),
                        },
                        other => Try::GiveUp(other),
                    },
                }
            },
            |n, e, wait| tracing::debug!(try_number = n, error = %e, ?wait, "Slack group lookup retried"),
        )
        .await
        .map_err(|(e, _)| e)?;
        let members: Vec<String> = resp.users.iter().map(|u| u.value().to_string()).collect();
        if let Ok(mut cache) = self.groups.lock() {
            cache.insert(group.to_string(), (Instant::now(), members.clone()));
        }
        Ok(members)
    }

    /// [`SlackApi::groups_of`], waiting at most `wait`: Slack wants its answer within 3 s, so a
    /// slow `usergroups.users.list` must not hold the person's answer. The lookup goes on in the
    /// background and fills the cache, so trying again a moment later finds the membership.
    pub async fn groups_of_within(
        self: &Arc<Self>,
        user: &str,
        deciders: &[String],
        wait: Duration,
    ) -> Result<Vec<String>, ChatError> {
        // Most votes need no call to Slack (named deciders, a warm cache): answer those here,
        // without a task and a timer for a lookup that will not happen.
        if let Some(groups) = self.groups_known(user, deciders) {
            return Ok(groups);
        }
        let me = self.clone();
        let (user, deciders) = (user.to_string(), deciders.to_vec());
        let lookup = tokio::spawn(async move { me.groups_of(&user, &deciders).await });
        match tokio::time::timeout(wait, lookup).await {
            Ok(Ok(groups)) => groups,
            Ok(Err(e)) => Err(ChatError::Transient {
                message: format!("the user-group lookup failed: {e}"),
                retry_after_ms: None,
            }),
            Err(_) => Err(ChatError::Transient {
                message: format!(
                    "Slack did not list the user group within {} ms; it is still being read",
                    wait.as_millis()
                ),
                retry_after_ms: None,
            }),
        }
    }

    /// [`SlackApi::groups_of`] when it needs no call to Slack, else `None`.
    fn groups_known(&self, user: &str, deciders: &[String]) -> Option<Vec<String>> {
        if deciders.iter().any(|d| *d == format!("slack:{user}")) {
            return Some(Vec::new());
        }
        let mut out = Vec::new();
        for d in deciders {
            let Some(group) = d.strip_prefix("slack-group:") else {
                continue;
            };
            if self.cached_members(group)?.iter().any(|m| m == user) {
                out.push(d.clone());
            }
        }
        Some(out)
    }

    /// Which of the `slack-group:S…` deciders this user belongs to. A user listed by name needs
    /// no lookup; a group that cannot be read is an error, never an assumption either way.
    pub async fn groups_of(
        &self,
        user: &str,
        deciders: &[String],
    ) -> Result<Vec<String>, ChatError> {
        if let Some(groups) = self.groups_known(user, deciders) {
            return Ok(groups);
        }
        let mut out = Vec::new();
        for d in deciders {
            let Some(group) = d.strip_prefix("slack-group:") else {
                continue;
            };
            if self.group_members(group).await?.iter().any(|m| m == user) {
                out.push(d.clone());
            }
        }
        Ok(out)
    }

    /// `auth.test`: the workspace's web address (`https://acme.slack.com/`), where permalinks
    /// start when `[slack] workspace_url` does not say.
    pub async fn workspace_url(&self) -> Result<String, ChatError> {
        let session = self.client.open_session(&self.token);
        let answer = session
            .auth_test()
            .await
            .map_err(|e| chat_error("auth.test", e))?;
        Ok(answer.url.0.to_string())
    }
}
