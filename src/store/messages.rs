//! The messages canarybot posted in canary threads, each tied to the event it was posted for,
//! and where each platform's web links start when the configuration does not say.

use super::*;

/// A message canarybot posted in a canary thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedMessage {
    /// The outbox item that posted it: a retry that finds the earlier try's message records
    /// nothing new.
    pub outbox_id: i64,
    pub deploy_id: String,
    pub platform: String,
    /// The event it was posted for.
    pub seq: i64,
    /// The thread as `chat_threads` stores it.
    pub thread: String,
    /// The platform's id of the message (Slack `ts`, Discord message id).
    pub message: String,
    pub at_ms: i64,
}

impl Store {
    /// Records a posted message; the first record of an outbox item stands.
    pub async fn record_message(&self, m: &PostedMessage) -> Result<(), StoreError> {
        self.write(
            "INSERT INTO chat_messages (outbox_id, deploy_id, platform, seq, thread_ref, message_id, at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (outbox_id) DO NOTHING",
            vec![
                Arg::Int(m.outbox_id),
                Arg::Text(m.deploy_id.clone()),
                Arg::Text(m.platform.clone()),
                Arg::Int(m.seq),
                Arg::Text(m.thread.clone()),
                Arg::Text(m.message.clone()),
                Arg::Int(m.at_ms),
            ],
        )
        .await?;
        Ok(())
    }

    /// The messages posted for `deploy_id`'s events, by event and then in the order posted.
    pub async fn messages(&self, deploy_id: &str) -> Result<Vec<PostedMessage>, StoreError> {
        let rows = sqlx::query(
            "SELECT outbox_id, deploy_id, platform, seq, thread_ref, message_id, at_ms FROM chat_messages
             WHERE deploy_id = $1 ORDER BY seq, outbox_id",
        )
        .bind(deploy_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(PostedMessage {
                    outbox_id: r.try_get("outbox_id")?,
                    deploy_id: r.try_get("deploy_id")?,
                    platform: r.try_get("platform")?,
                    seq: r.try_get("seq")?,
                    thread: r.try_get("thread_ref")?,
                    message: r.try_get("message_id")?,
                    at_ms: r.try_get("at_ms")?,
                })
            })
            .collect()
    }

    /// Remembers where `platform`'s web links start, as the platform answered.
    pub async fn set_site(&self, platform: &str, url: &str, at_ms: i64) -> Result<(), StoreError> {
        self.write(
            "INSERT INTO chat_sites (platform, url, at_ms) VALUES ($1, $2, $3)
             ON CONFLICT (platform) DO UPDATE SET url = excluded.url, at_ms = excluded.at_ms",
            vec![
                Arg::Text(platform.to_string()),
                Arg::Text(url.to_string()),
                Arg::Int(at_ms),
            ],
        )
        .await?;
        Ok(())
    }

    /// Where `platform`'s web links start, as it last answered; `None` when never asked.
    pub async fn site(&self, platform: &str) -> Result<Option<String>, StoreError> {
        let r = sqlx::query("SELECT url FROM chat_sites WHERE platform = $1")
            .bind(platform)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match r {
            Some(r) => Some(r.try_get("url")?),
            None => None,
        })
    }
}
