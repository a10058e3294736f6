//! Discord REST calls through serenity's `Http`: its rate limiter in production; against another
//! `api_url` (a fake on loopback) the proxy setting, which serenity applies only without it.

use super::config::DISCORD_API_URL;
use crate::chat::ChatError;
use serde_json::Value;
use serenity::builder::CreateAttachment;
use serenity::http::{
    Http, HttpBuilder, HttpError, LightMethod, Multipart, MultipartUpload, Request, Route,
};
use serenity::model::id::{ApplicationId, ChannelId, GuildId, InteractionId, MessageId};

/// Discord's error code for "a thread has already been created for this message".
pub const THREAD_ALREADY_CREATED: isize = 160004;

/// Discord's error code for "Missing Permissions".
pub const MISSING_PERMISSIONS: isize = 50013;

/// `GET /gateway/bot`'s answer, as far as canarybot reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayBot {
    /// `wss://gateway.discord.gg`
    pub url: String,
    /// `session_start_limit.remaining`: IDENTIFYs left until the limit resets.
    pub starts_left: Option<u64>,
    /// `session_start_limit.reset_after`, milliseconds.
    pub starts_reset_after_ms: Option<u64>,
}

pub struct DiscordApi {
    http: Http,
}

fn id(what: &str, s: &str) -> Result<u64, ChatError> {
    s.parse::<u64>()
        .ok()
        .filter(|v| *v != 0)
        .ok_or_else(|| ChatError::Permanent(format!("{what} `{s}` is not a Discord id")))
}

fn chat_error(what: &str, e: serenity::Error) -> ChatError {
    match e {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => {
            let status = r.status_code.as_u16();
            let message = format!(
                "{what}: Discord answered HTTP {status} (code {}: {})",
                r.error.code, r.error.message
            );
            if status == 429 {
                // With the rate limiter on, serenity waits out 429s itself; without it, wait a
                // second before the outbox tries again.
                ChatError::Transient {
                    message,
                    retry_after_ms: Some(1000),
                }
            } else if status >= 500 {
                ChatError::Transient {
                    message,
                    retry_after_ms: None,
                }
            } else {
                ChatError::Permanent(message)
            }
        }
        other => ChatError::Transient {
            message: format!("{what}: {other}"),
            retry_after_ms: None,
        },
    }
}

impl DiscordApi {
    pub fn new(api_url: &str, bot_token: &str, application_id: &str) -> anyhow::Result<DiscordApi> {
        let app = application_id.parse::<u64>().unwrap_or(1).max(1);
        // A hung call would hold up the whole Discord queue: give up and let the outbox retry.
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(15))
            .build()?;
        let builder = HttpBuilder::new(bot_token)
            .client(client)
            .application_id(ApplicationId::new(app));
        let api_url = api_url.trim_end_matches('/');
        let http = if api_url == DISCORD_API_URL {
            builder.build()
        } else {
            // serenity builds URLs as https://discord.com/api/v10/…; the proxy replaces the origin.
            let origin = api_url.strip_suffix("/api/v10").unwrap_or(api_url);
            builder.proxy(origin).ratelimiter_disabled(true).build()
        };
        Ok(DiscordApi { http })
    }

    async fn call(
        &self,
        what: &str,
        route: Route<'_>,
        method: LightMethod,
        body: &impl serde::Serialize,
    ) -> Result<Value, ChatError> {
        self.call_raw(route, method, body)
            .await
            .map_err(|e| chat_error(what, e))
    }

    async fn call_raw(
        &self,
        route: Route<'_>,
        method: LightMethod,
        body: &impl serde::Serialize,
    ) -> Result<Value, serenity::Error> {
        let body = serde_json::to_vec(body).map_err(serenity::Error::Json)?;
        let req = Request::new(route, method).body(Some(body));
        let resp = self.http.request(req).await?;
        let text = resp.text().await.unwrap_or_default();
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The Gateway's address (`GET /gateway/bot`, authorized by the bot token) and how many
    /// more sessions Discord lets the bot start now (`session_start_limit`).
    pub async fn gateway_bot(&self) -> Result<GatewayBot, ChatError> {
        let what = "get gateway";
        let req = Request::new(Route::GatewayBot, LightMethod::Get);
        let resp = self
            .http
            .request(req)
            .await
            .map_err(|e| chat_error(what, e))?;
        let v: Value = resp.json().await.map_err(|e| ChatError::Transient {
            message: format!("{what}: Discord's answer is not JSON: {e}"),
            retry_after_ms: None,
        })?;
        let url = v["url"].as_str().ok_or_else(|| ChatError::Transient {
            message: format!("{what}: Discord's answer has no url"),
            retry_after_ms: None,
        })?;
        let limit = &v["session_start_limit"];
        Ok(GatewayBot {
            url: url.to_string(),
            starts_left: limit["remaining"].as_u64(),
            starts_reset_after_ms: limit["reset_after"].as_u64(),
        })
    }

    /// Answers an interaction received over the Gateway:
    /// `POST /interactions/{id}/{token}/callback` with the interaction response.
    pub async fn interaction_callback(
        &self,
        interaction_id: &str,
        token: &str,
        response: &Value,
    ) -> Result<(), ChatError> {
        let interaction_id = InteractionId::new(id("interaction", interaction_id)?);
        self.call(
            "interaction callback",
            Route::InteractionResponse {
                interaction_id,
                token,
            },
            LightMethod::Post,
            response,
        )
        .await
        .map(|_| ())
    }

    fn id_of(what: &str, v: &Value) -> Result<String, ChatError> {
        v["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| ChatError::Transient {
                message: format!("{what}: Discord's answer has no id"),
                retry_after_ms: None,
            })
    }

    /// Sends a message; returns its id.
    pub async fn send(
        &self,
        channel: &str,
        body: &impl serde::Serialize,
    ) -> Result<String, ChatError> {
        let channel_id = ChannelId::new(id("channel", channel)?);
        let v = self
            .call(
                "create message",
                Route::ChannelMessages { channel_id },
                LightMethod::Post,
                body,
            )
            .await?;
        Self::id_of("create message", &v)
    }

    /// Sends a message carrying one PNG as its attachment `files[0]` (multipart: `payload_json`
    /// and the file); returns the message's id. Discord's *Missing Permissions* (403, code 50013:
    /// no *Attach Files* or *Embed Links* in the thread) is `NotAllowed`.
    pub async fn send_png(
        &self,
        channel: &str,
        payload: &Value,
        filename: &str,
        png: &[u8],
    ) -> Result<String, ChatError> {
        let what = "create message with a file";
        let channel_id = ChannelId::new(id("channel", channel)?);
        let multipart = Multipart {
            upload: MultipartUpload::Attachments(vec![CreateAttachment::bytes(
                png.to_vec(),
                filename.to_string(),
            )]),
            fields: Vec::new(),
            payload_json: Some(payload.to_string()),
        };
        let req = Request::new(Route::ChannelMessages { channel_id }, LightMethod::Post)
            .multipart(Some(multipart));
        let resp = match self.http.request(req).await {
            Ok(resp) => resp,
            Err(serenity::Error::Http(HttpError::UnsuccessfulRequest(r)))
                if r.error.code == MISSING_PERMISSIONS =>
            {
                return Err(ChatError::NotAllowed {
                    message: format!(
                        "{what}: Discord answered HTTP {} (code {}: {})",
                        r.status_code.as_u16(),
                        r.error.code,
                        r.error.message
                    ),
                    need: "the Attach Files and Embed Links permissions".to_string(),
                });
            }
            Err(e) => return Err(chat_error(what, e)),
        };
        let text = resp.text().await.unwrap_or_default();
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self::id_of(what, &v)
    }

    /// The DM channel with a user (`POST /users/@me/channels {"recipient_id"}`); returns its id.
    pub async fn dm_channel(&self, user: &str) -> Result<String, ChatError> {
        id("user", user)?;
        let v = self
            .call(
                "open DM",
                Route::UserMeDmChannels,
                LightMethod::Post,
                &serde_json::json!({ "recipient_id": user }),
            )
            .await?;
        Self::id_of("open DM", &v)
    }

    /// Starts a thread from a message; returns the thread's channel id.
    pub async fn start_thread(
        &self,
        channel: &str,
        message: &str,
        name: &str,
    ) -> Result<String, ChatError> {
        let channel_id = ChannelId::new(id("channel", channel)?);
        let message_id = MessageId::new(id("message", message)?);
        let name: String = name.chars().take(100).collect();
        let started = self
            .call_raw(
                Route::ChannelMessageThreads {
                    channel_id,
                    message_id,
                },
                LightMethod::Post,
                &serde_json::json!({"name": name, "auto_archive_duration": 1440}),
            )
            .await;
        match started {
            Ok(v) => Self::id_of("start thread", &v),
            // A thread started from a message has the message's id: an earlier try started it.
            Err(serenity::Error::Http(HttpError::UnsuccessfulRequest(r)))
                if r.error.code == THREAD_ALREADY_CREATED =>
            {
                Ok(message.to_string())
            }
            Err(e) => Err(chat_error("start thread", e)),
        }
    }

    pub async fn edit(
        &self,
        channel: &str,
        message: &str,
        body: &impl serde::Serialize,
    ) -> Result<(), ChatError> {
        let channel_id = ChannelId::new(id("channel", channel)?);
        let message_id = MessageId::new(id("message", message)?);
        self.call(
            "edit message",
            Route::ChannelMessage {
                channel_id,
                message_id,
            },
            LightMethod::Patch,
            body,
        )
        .await
        .map(|_| ())
    }

    /// Overwrites the application's commands, globally or in one guild; returns how many Discord
    /// now has.
    pub async fn register_commands(
        &self,
        application_id: &str,
        guild: Option<&str>,
        commands: &Value,
    ) -> Result<usize, ChatError> {
        let application_id = ApplicationId::new(id("application", application_id)?);
        let route = match guild {
            Some(g) => Route::GuildCommands {
                application_id,
                guild_id: GuildId::new(id("guild", g)?),
            },
            None => Route::Commands { application_id },
        };
        let v = self
            .call("register commands", route, LightMethod::Put, commands)
            .await?;
        Ok(v.as_array().map(Vec::len).unwrap_or(0))
    }
}
