//! What every HTTP surface shares — the server's own routes and each adapter's (chat platforms,
//! deploy sources, metric sources): the state handlers see, the counters `/metrics` reads, the
//! error shape, and how a surface names its paths. The server composes the routes
//! (`crate::server::router`); adapters depend on this module, never on the server.

use crate::Clock;
use crate::config::Config;
use crate::engine::{Engine, EngineError};
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Largest request body accepted by default (`server.max_body`).
pub const BODY_LIMIT: usize = crate::limits::DEFAULT_MAX_BODY;

/// Paths a surface serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathMatch {
    Exact(&'static str),
    /// Every path under this one (`/slack/` serves `/slack/commands`, …).
    Prefix(&'static str),
}

impl PathMatch {
    pub fn matches(self, path: &str) -> bool {
        match self {
            PathMatch::Exact(p) => path == p,
            PathMatch::Prefix(p) => path.starts_with(p),
        }
    }
}

/// One inbound surface as `/metrics` labels it, and the paths it serves. The chat platforms, deploy
/// sources and metric sources bring theirs from `crate::registry`; the server's own are
/// `crate::server::OWN_SURFACES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Surface {
    pub label: &'static str,
    pub paths: &'static [PathMatch],
}

/// The label of requests no surface claims.
pub const OTHER_SURFACE: &str = "other";

/// The limits a request can be refused by, as `/metrics` labels them (the `[server]` keys).
pub const LIMITS: [&str; 5] = [
    "max_body",
    "max_header_bytes",
    "max_uri",
    "body_timeout",
    "request_timeout",
];

pub struct Counters {
    pub auth_failures: AtomicU64,
    pub webhooks_accepted: AtomicU64,
    pub redeliveries: AtomicU64,
    /// Alertmanager alerts that matched no active canary.
    pub alerts_unmatched: Arc<AtomicU64>,
    /// The labels of `refused`, in order: the surfaces given to [`Counters::new`], then `other`.
    surfaces: Vec<Surface>,
    /// 401 answers, per entry of `surfaces`.
    refused: Vec<AtomicU64>,
    /// Requests refused by a limit, per entry of [`LIMITS`].
    pub limited: [AtomicU64; LIMITS.len()],
    /// The connections canarybot holds open to receive from a platform (Slack Socket Mode, the
    /// Discord Gateway), in the order they were registered.
    links: std::sync::Mutex<Vec<Arc<Link>>>,
}

/// One connection canarybot holds open to receive what a platform sends (Slack's Socket Mode, the
/// Discord Gateway) instead of being reached over HTTP: its state, as `/metrics` shows it. The
/// adapter that holds the connection updates it; nothing else does.
#[derive(Debug)]
pub struct Link {
    /// The platform (`slack`), as in the outbox target `chat:slack`.
    pub platform: &'static str,
    /// How it is held (`socket-mode`, `gateway`).
    pub transport: &'static str,
    up: std::sync::atomic::AtomicBool,
    connects: AtomicU64,
    failures: AtomicU64,
    disconnects: AtomicU64,
    received: AtomicU64,
}

/// What `/metrics` reads of a [`Link`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkFigures {
    pub platform: &'static str,
    pub transport: &'static str,
    /// Connected and ready to receive (Slack's `hello`, Discord's READY or RESUMED).
    pub up: bool,
    /// Connections that became ready, the first included.
    pub connects: u64,
    /// Connection attempts that failed before becoming ready.
    pub failures: u64,
    /// Ready connections that ended (closed by either side, a `disconnect`, a RECONNECT).
    pub disconnects: u64,
    /// Envelopes or dispatches received and handed to the handlers.
    pub received: u64,
}

impl Link {
    /// The connection is ready to receive.
    pub fn connected(&self) {
        self.up.store(true, Ordering::Relaxed);
        self.connects.fetch_add(1, Ordering::Relaxed);
    }
    /// A ready connection ended; the holder reconnects.
    pub fn disconnected(&self) {
        if self.up.swap(false, Ordering::Relaxed) {
            self.disconnects.fetch_add(1, Ordering::Relaxed);
        }
    }
    /// An attempt to connect failed before the connection became ready.
    pub fn failed(&self) {
        self.up.store(false, Ordering::Relaxed);
        self.failures.fetch_add(1, Ordering::Relaxed);
    }
    /// Something arrived and was handed to the handlers.
    pub fn received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }
    pub fn figures(&self) -> LinkFigures {
        LinkFigures {
            platform: self.platform,
            transport: self.transport,
            up: self.up.load(Ordering::Relaxed),
            connects: self.connects.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            disconnects: self.disconnects.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
        }
    }
}

impl Counters {
    /// Counters for these surfaces (each label once), plus `other`.
    pub fn new(surfaces: impl IntoIterator<Item = Surface>) -> Self {
        let mut list: Vec<Surface> = Vec::new();
        for s in surfaces {
            if !list.iter().any(|l| l.label == s.label) {
                list.push(s);
            }
        }
        list.push(Surface {
            label: OTHER_SURFACE,
            paths: &[],
        });
        Counters {
            auth_failures: AtomicU64::new(0),
            webhooks_accepted: AtomicU64::new(0),
            redeliveries: AtomicU64::new(0),
            alerts_unmatched: Arc::new(AtomicU64::new(0)),
            refused: list.iter().map(|_| AtomicU64::new(0)).collect(),
            surfaces: list,
            limited: Default::default(),
            links: Default::default(),
        }
    }

    /// Registers a connection held open to `platform` over `transport`; its holder updates it.
    pub fn link(&self, platform: &'static str, transport: &'static str) -> Arc<Link> {
        let link = Arc::new(Link {
            platform,
            transport,
            up: Default::default(),
            connects: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
            received: AtomicU64::new(0),
        });
        if let Ok(mut links) = self.links.lock() {
            links.push(link.clone());
        }
        link
    }

    /// The state of every connection held open, in the order registered.
    pub fn links(&self) -> Vec<LinkFigures> {
        self.links
            .lock()
            .map(|l| l.iter().map(|l| l.figures()).collect())
            .unwrap_or_default()
    }

    /// The surface a request path belongs to, as `/metrics` labels it.
    pub fn surface_of(&self, path: &str) -> &'static str {
        self.surfaces
            .iter()
            .find(|s| s.paths.iter().any(|p| p.matches(path)))
            .map_or(OTHER_SURFACE, |s| s.label)
    }

    /// Counts a 401 answer on `surface`.
    pub fn refused_on(&self, surface: &str) {
        if let Some(i) = self.surfaces.iter().position(|s| s.label == surface) {
            self.refused[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// 401 answers so far, per surface label.
    pub fn refused(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.surfaces
            .iter()
            .zip(&self.refused)
            .map(|(s, n)| (s.label, n.load(Ordering::Relaxed)))
    }
}

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub engine: Arc<Engine>,
    pub counters: Arc<Counters>,
    /// The outbox targets of the chat platforms this configuration delivers to (`chat:slack`):
    /// `/metrics` shows them at 0 before their first message.
    pub chat_targets: Arc<[String]>,
}

/// What an inbound surface's routes are built from, once the engine exists.
#[derive(Clone)]
pub struct Inbound {
    pub engine: Arc<Engine>,
    pub config: Arc<Config>,
    pub counters: Arc<Counters>,
    pub clock: Clock,
    /// A metric source's history (`/canary baseline`), when one is configured.
    pub history: Option<Arc<dyn History>>,
}

/// What normal looks like for a service, from a metric source's history: what the chat desk asks
/// for `/canary baseline` (it cannot name the metric sources, which sit above it). Implemented by
/// `crate::metrics::history`, handed in by the app when `[prometheus]` is configured.
#[async_trait::async_trait]
pub trait History: Send + Sync {
    /// Each of `service`'s criteria with a query, read for its baseline track in `environment`
    /// over the hour ending at `at_ms`'s time of day on each of the last `days` days. `Err` names
    /// what could not be read (the source down, a refused query: which criterion, which day).
    async fn normals(
        &self,
        service: &str,
        environment: &str,
        days: u32,
        at_ms: i64,
    ) -> Result<crate::domain::normal::Normals, String>;
}

/// An error answer: status plus a message that names what is wrong.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({ "error": self.message }))).into_response()
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match &e {
            EngineError::UnknownDeploy(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            EngineError::BadInput(_) => ApiError::bad_request(e.to_string()),
            EngineError::Busy(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            // Answered as a redelivery by the delivery wrappers.
            EngineError::Duplicate(_) => ApiError::new(StatusCode::ALREADY_REPORTED, e.to_string()),
            EngineError::Store(_) => {
                tracing::error!(error = %e, "store error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal store error; see the server log",
                )
            }
        }
    }
}

/// A signed webhook surface that feeds the engine.
pub struct HookSource {
    pub name: &'static str,
    /// Its routes, as `/metrics` labels them.
    pub surface: Surface,
    /// Whether the configuration turns it on.
    pub configured: fn(&Config) -> bool,
    /// Its routes, once the engine exists.
    pub routes: fn(&Inbound) -> Router<AppState>,
}

/// The first answer to a delivery, replayed with `x-canarybot-redelivery: true`. A delivery that
/// was acted on but whose answer was never recorded (a crash in between) gets 202.
pub fn redelivery_response(status: u16, body: String) -> Response {
    let (status, body) = if status == 0 || body.is_empty() {
        (
            StatusCode::ACCEPTED,
            json!({"redelivery": true, "note": "this delivery was already processed"}).to_string(),
        )
    } else {
        (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body)
    };
    (
        status,
        [
            ("content-type", "application/json"),
            ("x-canarybot-redelivery", "true"),
        ],
        body,
    )
        .into_response()
}
