//! Chat: the port every platform adapter implements, and the outbox worker that delivers chat
//! effects in order per thread, so a slow or failing platform never blocks a decision.

pub mod ballot;
pub mod console;
pub mod desk;
pub mod outbox;
pub mod platform;

use crate::present::chat::ChatMessage;
use crate::present::chat::RootView;
use async_trait::async_trait;

/// What the desk asks for `/canary baseline`; defined beside `Inbound`, which carries it.
pub use crate::http::History;
pub use platform::{ChatPlatform, Connection};

/// Which deploy a message is about; adapters map the service to their channel.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadTarget {
    pub deploy_id: String,
    pub service: String,
}

/// Which outbox item a message is: its `key` is stable across tries, so a platform can
/// de-duplicate (Slack message metadata, Discord `nonce`), and `retry` says an earlier try may
/// have reached the platform (a crash or a timeout after sending) so look before posting again.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub key: String,
    pub retry: bool,
    /// When the item was written (UTC ms): an earlier try cannot be older.
    pub since_ms: i64,
}

impl Attempt {
    /// A first try of `key` (tests, the console).
    pub fn first(key: impl Into<String>) -> Attempt {
        Attempt {
            key: key.into(),
            retry: false,
            since_ms: 0,
        }
    }
}

/// A canary thread a root opened: the thread's reference, and the root message's id in it (the
/// message the deploy's start is linked to).
#[derive(Debug, Clone, PartialEq)]
pub struct Opened {
    pub thread: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// Try again later; for all this says, the platform may have acted (a timeout, a dropped
    /// connection), so the next try looks for what this one posted.
    #[error("{message}")]
    Transient {
        message: String,
        retry_after_ms: Option<u64>,
    },
    /// The platform answered that it did not act (a 429, a 5xx answer): try again later, and
    /// without looking for what this try posted, since nothing was.
    #[error("{message}")]
    Refused {
        message: String,
        retry_after_ms: Option<u64>,
    },
    /// Retrying will not help (bad token, unknown channel).
    #[error("{0}")]
    Permanent(String),
    /// The platform refuses this kind of message to canarybot as installed: files without
    /// Slack's `files:write` scope or Discord's *Attach Files* permission. `need` names what the
    /// installation lacks; the outbox posts the text instead.
    #[error("{message} (needs {need})")]
    NotAllowed { message: String, need: String },
}

/// An image to post in a thread: a chart, rendered by `present::chart_png`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatImage {
    pub png: Vec<u8>,
    /// The file's name (`chart-<item key>.png`): carries the outbox item's key, so a retry can
    /// find what an earlier try uploaded.
    pub filename: String,
    pub title: String,
    /// The numbers in words, for those who cannot see the image.
    pub alt_text: String,
}

/// One chat platform. Implementations live in their own modules and know nothing of each other.
#[async_trait]
pub trait ChatPort: Send + Sync {
    /// Short platform name used for outbox targets and identities: `console`, `slack`, `discord`.
    fn platform(&self) -> &str;

    /// Opens the canary thread; returns its reference and the root's message id, or `None` when
    /// this platform has no channel for the service (then the deploy gets no thread here). On a
    /// retry, a root that an earlier try posted is found and returned instead of posting a second
    /// one.
    async fn post_root(
        &self,
        target: &ThreadTarget,
        root: &RootView,
        attempt: &Attempt,
    ) -> Result<Option<Opened>, ChatError>;

    async fn update_root(
        &self,
        target: &ThreadTarget,
        thread: &str,
        root: &RootView,
    ) -> Result<(), ChatError>;

    /// Posts in the thread; on a retry, not again if an earlier try's message is there. Returns
    /// the id of the message in the thread (the one posted, or the earlier try's that was found),
    /// when the platform has ids.
    async fn reply(
        &self,
        target: &ThreadTarget,
        thread: &str,
        message: &ChatMessage,
        attempt: &Attempt,
    ) -> Result<Option<String>, ChatError>;

    /// Posts `image` in the thread, once per outbox item (on a retry, not again if an earlier
    /// try's image is there); returns its message id when the platform has ids. A platform that
    /// cannot post files answers `NotAllowed`, and the outbox posts the text instead.
    async fn post_image(
        &self,
        _target: &ThreadTarget,
        _thread: &str,
        _image: &ChatImage,
        _attempt: &Attempt,
    ) -> Result<Option<String>, ChatError> {
        Err(ChatError::NotAllowed {
            message: format!("{} does not post files", self.platform()),
            need: "file support".to_string(),
        })
    }

    /// A private notice to one person. `to` is a platform identity (`slack:U01ALICE`); adapters
    /// ignore identities of other platforms.
    async fn notice(
        &self,
        target: &ThreadTarget,
        thread: Option<&str>,
        to: &str,
        text: &str,
    ) -> Result<(), ChatError>;

    /// A direct message to one person, outside the thread (Slack: `chat.postMessage` to the
    /// user id; Discord: the DM channel). `to` is a decider identity: adapters deliver their own
    /// people's and skip the rest — groups are mentioned in the thread, never messaged one by
    /// one. A platform without direct messages skips them all.
    async fn direct(
        &self,
        _target: &ThreadTarget,
        _to: &str,
        _message: &ChatMessage,
        _attempt: &Attempt,
    ) -> Result<(), ChatError> {
        Ok(())
    }

    /// Where the platform's web links start when the configuration does not say and the platform
    /// must be asked (Slack's `auth.test` url). Asked once per process by the outbox worker;
    /// `None` (links off) when there is nothing to ask or the asking failed.
    async fn discover_site(&self) -> Option<String> {
        None
    }
}
