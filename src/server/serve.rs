//! Serving HTTP with limits against slow and oversized requests: hyper's HTTP/1 server with a
//! header read timeout and a header size cap, and a guard in front of every handler that checks
//! the request target and header size, reads the body within `server.body_timeout` and
//! `server.max_body`, and gives the handler `server.request_timeout`.

use crate::config::ServerConfig;
use crate::http::{ApiError, Counters, LIMITS};
use crate::limits::{MAX_HEADERS, MAX_URI_BYTES, human_bytes};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The limits the guard applies, from `[server]`.
#[derive(Clone)]
pub struct Guard {
    pub max_body: usize,
    pub max_header_bytes: usize,
    pub body_timeout: Duration,
    pub request_timeout: Duration,
    pub counters: Arc<Counters>,
}

impl Guard {
    pub fn new(server: &ServerConfig, counters: Arc<Counters>) -> Self {
        Guard {
            max_body: server.max_body,
            max_header_bytes: server.max_header_bytes,
            body_timeout: server.body_timeout,
            request_timeout: server.request_timeout,
            counters,
        }
    }

    fn refuse(&self, limit: &str, status: StatusCode, message: String) -> Response {
        if let Some(i) = LIMITS.iter().position(|l| *l == limit) {
            self.counters.limited[i].fetch_add(1, Ordering::Relaxed);
        }
        tracing::warn!(limit, status = status.as_u16(), "{message}");
        ApiError::new(status, message).into_response()
    }
}

/// Size of the request line and headers as sent (`Name: value\r\n` per header).
fn head_bytes(req: &Request) -> usize {
    let target = req.uri().path_and_query().map_or(1, |p| p.as_str().len());
    let line = req.method().as_str().len() + 1 + target + " HTTP/1.1\r\n".len();
    line + req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + 2 + v.len() + 2)
        .sum::<usize>()
        + 2
}

/// In front of every handler: target and header size, body size and read time, handler time.
/// Counts 401 answers by surface for `/metrics`.
pub async fn guard(State(g): State<Guard>, req: Request, next: Next) -> Response {
    let surface = g.counters.surface_of(req.uri().path());
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_URI_BYTES {
        return g.refuse(
            "max_uri",
            StatusCode::URI_TOO_LONG,
            format!(
                "request target is {target} bytes; the limit is {}",
                human_bytes(MAX_URI_BYTES)
            ),
        );
    }
    let head = head_bytes(&req);
    if head > g.max_header_bytes || req.headers().len() > MAX_HEADERS {
        return g.refuse(
            "max_header_bytes",
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "request headers are {head} bytes in {} lines; the limit is {} (server.max_header_bytes) and {MAX_HEADERS} lines",
                req.headers().len(),
                human_bytes(g.max_header_bytes)
            ),
        );
    }
    let too_large = |size: Option<u64>| {
        let said = size.map_or(String::new(), |n| format!(" is {n} bytes;"));
        g.refuse(
            "max_body",
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "request body{said} over the limit of {} (server.max_body)",
                human_bytes(g.max_body)
            ),
        )
    };
    // Refused from its Content-Length before a byte of it is read.
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > g.max_body as u64) {
        return too_large(declared);
    }
    let (parts, body) = req.into_parts();
    let read = tokio::time::timeout(g.body_timeout, Limited::new(body, g.max_body).collect());
    let bytes = match read.await {
        Err(_) => {
            return g.refuse(
                "body_timeout",
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "request body not received within {} (server.body_timeout)",
                    humantime::format_duration(g.body_timeout)
                ),
            );
        }
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => return too_large(None),
        Ok(Err(e)) => {
            return ApiError::bad_request(format!("cannot read the request body: {e}"))
                .into_response();
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    let req = Request::from_parts(parts, Body::from(bytes));
    match tokio::time::timeout(g.request_timeout, next.run(req)).await {
        Err(_) => g.refuse(
            "request_timeout",
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the request took longer than {} (server.request_timeout); it may or may not have taken effect",
                humantime::format_duration(g.request_timeout)
            ),
        ),
        Ok(resp) => {
            if resp.status() == StatusCode::UNAUTHORIZED {
                g.counters.refused_on(surface);
            }
            resp
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting, lets in-flight
/// requests finish (each is bounded by the body and request timeouts), closes idle connections,
/// and returns. HTTP/1.1 only. A client that has not sent a whole request head within
/// `server.header_timeout` (slowloris), or keeps an idle connection that long, is disconnected;
/// a request head over twice `server.max_header_bytes` is answered 431 by hyper itself (smaller
/// excesses get the guard's JSON 431).
pub async fn serve<F>(listener: TcpListener, app: Router, shutdown: F, server: &ServerConfig)
where
    F: Future<Output = ()> + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(server.header_timeout)
        // hyper's own cap (a bare 431) is a backstop well above the guard's (a JSON 431).
        .max_header_size((server.max_header_bytes * 2).max(8 * 1024))
        .max_headers(MAX_HEADERS * 2)
        .keep_alive(true);

    // Closed (all receivers dropped) when shutdown begins.
    let (signal_tx, signal_rx) = watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(signal_rx);
    });
    // Every connection task holds a receiver; the sender sees it closed when all have ended.
    let (close_tx, close_rx) = watch::channel(());

    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    if !matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionRefused
                            | std::io::ErrorKind::ConnectionAborted
                            | std::io::ErrorKind::ConnectionReset
                    ) {
                        // Out of file descriptors, most likely: wait for some to be freed.
                        tracing::error!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    continue;
                }
            },
            _ = signal_tx.closed() => break,
        };
        let _ = stream.set_nodelay(true);
        let conn =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let signal_tx = signal_tx.clone();
        let close_rx = close_rx.clone();
        tokio::spawn(async move {
            let mut conn = std::pin::pin!(conn);
            let mut signal = std::pin::pin!(signal_tx.closed());
            let mut draining = false;
            loop {
                tokio::select! {
                    served = conn.as_mut() => {
                        if let Err(e) = served {
                            tracing::debug!(error = %e, "connection ended");
                        }
                        break;
                    }
                    _ = &mut signal, if !draining => {
                        draining = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(close_rx);
        });
    }
    drop(close_rx);
    drop(listener);
    close_tx.closed().await;
}
