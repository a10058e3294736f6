//! Fakes of the PagerDuty Events API v2 and of Opsgenie's Alert API on loopback. Each records
//! every request (method, path as sent, query, headers, JSON body, and what it answered) and
//! answers like the real API: it checks the documented shape first (PagerDuty's events as in
//! `tests/fixtures/pagerduty/`, Opsgenie's `GenieKey` header and alert fields) and refuses what
//! the real one would refuse. A test may script the next answers (a 429, a 400).

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// The test routing key: 32 characters, as PagerDuty's are.
pub const PD_ROUTING_KEY: &str = "pdsecretR0UTINGkey0123456789abcd";
pub const OPSGENIE_KEY: &str = "ogsecret-0123-4567-89ab-cdef01234567";

#[derive(Debug, Clone)]
pub struct PagerRequest {
    pub method: String,
    /// The path as sent, percent-encoding kept.
    pub path: String,
    pub query: Option<String>,
    /// Lower-case names.
    pub headers: BTreeMap<String, String>,
    pub body: Value,
    /// The status the fake answered.
    pub status: u16,
}

/// An answer a test scripts: its status, body, and `Retry-After` (seconds).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Api {
    PagerDuty,
    Opsgenie,
}

#[derive(Clone)]
pub struct FakePager {
    pub api_url: String,
    api: Api,
    requests: Arc<Mutex<Vec<PagerRequest>>>,
    script: Arc<Mutex<VecDeque<Answer>>>,
}

impl FakePager {
    pub async fn pagerduty() -> FakePager {
        FakePager::start(Api::PagerDuty).await
    }

    pub async fn opsgenie() -> FakePager {
        FakePager::start(Api::Opsgenie).await
    }

    async fn start(api: Api) -> FakePager {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake pager");
        let fake = FakePager {
            api_url: format!("http://{}", listener.local_addr().expect("addr")),
            api,
            requests: Arc::default(),
            script: Arc::default(),
        };
        let state = fake.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let fake = state.clone();
                async move { fake.answer(method, uri, headers, body) }
            },
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    /// The next requests get these answers, in order, whatever they hold; then the fake answers
    /// as the real API would again.
    pub fn script(&self, answers: Vec<Answer>) {
        self.script.lock().expect("script").extend(answers);
    }

    pub fn requests(&self) -> Vec<PagerRequest> {
        self.requests.lock().expect("requests").clone()
    }

    /// Waits (up to 15 s) until the requests satisfy `check`; fails naming `what`, with what
    /// was received.
    pub async fn wait_for(&self, what: &str, check: impl Fn(&[PagerRequest]) -> bool) {
        for _ in 0..300 {
            if check(&self.requests()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the fake pager never saw {what}; requests: {:#?}",
            self.requests()
        );
    }

    fn answer(&self, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let headers: BTreeMap<String, String> = headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let scripted = self.script.lock().expect("script").pop_front();
        let answer = match scripted {
            Some(a) => a,
            None => match self.api {
                Api::PagerDuty => pagerduty_answer(&method, uri.path(), &json),
                Api::Opsgenie => opsgenie_answer(&method, &uri, &headers, &json),
            },
        };
        self.requests.lock().expect("requests").push(PagerRequest {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().map(str::to_string),
            headers,
            body: json,
            status: answer.status,
        });
        let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
        let mut response = (status, axum::Json(answer.body)).into_response();
        if let Some(secs) = answer.retry_after
            && let Ok(v) = secs.to_string().parse()
        {
            response.headers_mut().insert("retry-after", v);
        }
        response
    }
}

fn answer(status: u16, body: Value) -> Answer {
    Answer {
        status,
        body,
        retry_after: None,
    }
}

/// PagerDuty: `POST /v2/enqueue` with a 32-character routing key, a known action and a dedup
/// key; a trigger needs a payload with summary, source and a known severity. `POST
/// /v2/change/enqueue`: a routing key and a payload with summary and source.
fn pagerduty_answer(method: &Method, path: &str, e: &Value) -> Answer {
    let invalid = |why: &str| {
        answer(
            400,
            json!({"status": "invalid event", "message": "Event object is invalid", "errors": [why]}),
        )
    };
    if method != Method::POST || !["/v2/enqueue", "/v2/change/enqueue"].contains(&path) {
        return answer(404, json!({"message": "Not found"}));
    }
    if e["routing_key"].as_str().is_none_or(|k| k.len() != 32) {
        return invalid("Length of 'routing_key' is incorrect (should be 32 characters)");
    }
    if path == "/v2/change/enqueue" {
        let p = &e["payload"];
        if p["summary"]
            .as_str()
            .is_none_or(|s| s.is_empty() || s.len() > 1024)
            || p["source"].as_str().is_none_or(str::is_empty)
        {
            return invalid("'payload.summary' and 'payload.source' are required");
        }
        return answer(
            202,
            json!({"status": "success", "message": "Change event processed"}),
        );
    }
    let action = e["event_action"].as_str().unwrap_or_default();
    if !["trigger", "acknowledge", "resolve"].contains(&action) {
        return invalid("'event_action' is invalid");
    }
    let Some(dedup_key) = e["dedup_key"].as_str() else {
        return invalid("'dedup_key' is missing");
    };
    if action == "trigger" {
        let p = &e["payload"];
        if p["summary"]
            .as_str()
            .is_none_or(|s| s.is_empty() || s.len() > 1024)
        {
            return invalid("'payload.summary' is missing or too long");
        }
        if p["source"].as_str().is_none_or(str::is_empty) {
            return invalid("'payload.source' is missing");
        }
        if !["critical", "error", "warning", "info"].contains(&p["severity"].as_str().unwrap_or(""))
        {
            return invalid("'payload.severity' is invalid");
        }
        if !e["links"].is_null()
            && !e["links"]
                .as_array()
                .is_some_and(|l| l.iter().all(|l| l["href"].is_string()))
        {
            return invalid("'links' must be an array of {href, text}");
        }
    }
    answer(
        202,
        json!({"status": "success", "message": "Event processed", "dedup_key": dedup_key}),
    )
}

/// Opsgenie: `GenieKey` authentication; `POST /v2/alerts` with a message of at most 130
/// characters; `POST /v2/alerts/{alias}/close?identifierType=alias`.
fn opsgenie_answer(
    method: &Method,
    uri: &Uri,
    headers: &BTreeMap<String, String>,
    a: &Value,
) -> Answer {
    let accepted = answer(
        202,
        json!({"result": "Request will be processed", "took": 0.01, "requestId": "43a29c5c-3dbf-4fa4-9c26-f4f71023e120"}),
    );
    if headers.get("authorization").map(String::as_str)
        != Some(format!("GenieKey {OPSGENIE_KEY}").as_str())
    {
        return answer(
            401,
            json!({"message": "Could not authenticate", "took": 0.0}),
        );
    }
    let path = uri.path();
    if method == Method::POST && path == "/v2/alerts" {
        let message = a["message"].as_str().unwrap_or_default();
        if message.is_empty() || message.chars().count() > 130 {
            return answer(
                422,
                json!({"message": "Request body is not processable. Please check the errors.", "errors": {"message": "Message can not be empty or longer than 130 characters"}}),
            );
        }
        if !["P1", "P2", "P3", "P4", "P5"].contains(&a["priority"].as_str().unwrap_or("P3")) {
            return answer(422, json!({"message": "Priority is invalid"}));
        }
        return accepted;
    }
    if method == Method::POST
        && path.starts_with("/v2/alerts/")
        && path.ends_with("/close")
        && uri.query() == Some("identifierType=alias")
    {
        return accepted;
    }
    answer(404, json!({"message": "Not found"}))
}
