//! The GitHub webhook bodies canarybot reads (`ping`, `deployment`, `deployment_status`), as serde
//! structs of their own: only the fields canarybot uses, each optional where GitHub may leave it
//! out or send `null`. Every other event is only checked to be JSON.

use crate::http::ApiError;
use crate::limits::id_part;
use serde::Deserialize;
use serde::de::IgnoredAny;

/// A webhook body, read as its `X-GitHub-Event` header says.
#[derive(Debug, Clone)]
pub enum GithubEvent {
    Ping(Ping),
    Deployment(DeploymentEvent),
    DeploymentStatus(DeploymentStatusEvent),
    /// `deployment_protection_rule`: a workflow asks whether it may deploy to an environment.
    ProtectionRule(ProtectionRuleEvent),
    /// An event canarybot does not read, by its name.
    Other(String),
}

/// `ping`: sent when the webhook is created.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Ping {
    #[serde(default)]
    pub zen: Option<String>,
}

/// `deployment`: a deployment was created.
#[derive(Debug, Clone, Deserialize)]
pub struct DeploymentEvent {
    pub deployment: Deployment,
    #[serde(default)]
    pub repository: Option<Repository>,
}

/// `deployment_status`: a deployment's status changed.
#[derive(Debug, Clone, Deserialize)]
pub struct DeploymentStatusEvent {
    pub deployment_status: DeploymentStatus,
    pub deployment: Deployment,
    #[serde(default)]
    pub repository: Option<Repository>,
}

/// `deployment_protection_rule` (action `requested`): the GitHub App answers it at
/// `deployment_callback_url`.
#[derive(Debug, Clone, Deserialize)]
pub struct ProtectionRuleEvent {
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub sha: Option<String>,
    #[serde(default, rename = "ref")]
    pub git_ref: Option<String>,
    #[serde(default)]
    pub deployment_callback_url: Option<String>,
    #[serde(default)]
    pub deployment: Option<ProtectedDeployment>,
    #[serde(default)]
    pub repository: Option<Repository>,
    #[serde(default)]
    pub installation: Option<Installation>,
    #[serde(default)]
    pub sender: Option<Account>,
}

/// The deployment waiting for the review.
#[derive(Debug, Clone, Deserialize)]
pub struct ProtectedDeployment {
    pub id: u64,
    #[serde(flatten)]
    pub deployment: Deployment,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Installation {
    pub id: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Deployment {
    #[serde(default)]
    pub sha: Option<String>,
    #[serde(default, rename = "ref")]
    pub git_ref: Option<String>,
    /// `deploy` for a deployment, `rollback` for one that undoes another.
    #[serde(default)]
    pub task: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub creator: Option<Account>,
    #[serde(default)]
    pub payload: DeploymentPayload,
}

/// The `payload` a deployment was created with: free-form JSON, whatever the creator put there
/// (an object, or a string when it was created with one). Only an object's string `undoes`
/// means something to canarybot.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DeploymentPayload {
    Object(serde_json::Map<String, serde_json::Value>),
    Other(IgnoredAny),
}

impl Default for DeploymentPayload {
    fn default() -> Self {
        DeploymentPayload::Other(IgnoredAny)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeploymentStatus {
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub creator: Option<Account>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Account {
    #[serde(default)]
    pub login: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Repository {
    #[serde(default)]
    pub full_name: String,
    #[serde(default)]
    pub html_url: Option<String>,
}

impl Deployment {
    /// `ref@sha7`: what GitHub deployed, readable and unique enough. Characters that cannot stand
    /// in a deploy id (`release/2.4`'s slash) become `-`.
    pub fn version(&self) -> String {
        let sha = self.sha.as_deref().unwrap_or_default();
        // Seven characters, not bytes: a byte index could fall inside a character (found by fuzzing).
        let short = sha.char_indices().nth(7).map_or(sha, |(i, _)| &sha[..i]);
        let version = match self.git_ref.as_deref() {
            Some(r) if !r.is_empty() && r != sha => format!("{r}@{short}"),
            _ => short.to_string(),
        };
        id_part(&version)
    }

    /// The deploy this deployment undoes, when its payload names it (`payload.undoes`).
    pub fn undoes(&self) -> Option<&str> {
        match &self.payload {
            DeploymentPayload::Object(fields) => fields.get("undoes")?.as_str(),
            DeploymentPayload::Other(_) => None,
        }
    }

    /// Whether it undoes another deployment (`task: rollback`, or `payload.undoes`).
    pub fn is_rollback(&self) -> bool {
        self.task.as_deref() == Some("rollback") || self.undoes().is_some()
    }

    pub fn creator_login(&self) -> Option<&str> {
        self.creator.as_ref()?.login.as_deref()
    }
}

impl DeploymentStatus {
    pub fn creator_login(&self) -> Option<&str> {
        self.creator.as_ref()?.login.as_deref()
    }
}

/// Reads a webhook body as the event `event` (the `X-GitHub-Event` header); the error is the
/// answer to give. A body of an event canarybot does not read need only be JSON.
pub fn parse_payload(event: &str, body: &[u8]) -> Result<GithubEvent, ApiError> {
    fn read<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("malformed GitHub payload: {e}")))
    }
    Ok(match event {
        "ping" => GithubEvent::Ping(read(body)?),
        "deployment" => GithubEvent::Deployment(read(body)?),
        "deployment_status" => GithubEvent::DeploymentStatus(read(body)?),
        "deployment_protection_rule" => GithubEvent::ProtectionRule(read(body)?),
        other => {
            read::<IgnoredAny>(body)?;
            GithubEvent::Other(other.to_string())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(v: serde_json::Value) -> Deployment {
        serde_json::from_value(v).expect("a deployment")
    }

    #[test]
    fn version_is_ref_at_short_sha() {
        let d = deployment(
            json!({"sha": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e", "ref": "release/2.4"}),
        );
        assert_eq!(d.version(), "release-2.4@f95f852");
        let d = deployment(
            json!({"sha": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e", "ref": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"}),
        );
        assert_eq!(d.version(), "f95f852");
        assert_eq!(deployment(json!({"sha": "abc"})).version(), "abc");
    }

    /// Fuzzing (`github_webhook` target): a sha with a multi-byte character across its seventh
    /// byte made the short sha slice panic.
    #[test]
    fn short_sha_of_a_non_ascii_sha() {
        let body = "{\"deployment\": {\"sha\": \"01234\u{202f}56788abcdef\", \"ref\": \"release/2.failur_elimi.githubuse1  z_namesollba  ck\", \"payloaavatar_urd\":  \"acme/checkout\"}}";
        let GithubEvent::Deployment(e) =
            parse_payload("deployment", body.as_bytes()).expect("JSON")
        else {
            panic!("a deployment");
        };
        assert_eq!(
            e.deployment.version(),
            "release-2.failur_elimi.githubuse1--z_namesollba--ck@01234-5"
        );
        assert_eq!(deployment(json!({"sha": "ééééééééé"})).version(), "ééééééé");
    }

    /// A rollback is `task: rollback` or a payload naming what it undoes; a payload that is a
    /// string, or an `undoes` that is not one, is no rollback (as before the payload was typed).
    #[test]
    fn rollbacks_and_payload_shapes() {
        assert!(deployment(json!({"task": "rollback"})).is_rollback());
        let d =
            deployment(json!({"task": "deploy", "payload": {"undoes": "checkout:production:1"}}));
        assert_eq!(
            (d.is_rollback(), d.undoes()),
            (true, Some("checkout:production:1"))
        );
        for payload in [
            json!("{\"undoes\": \"x\"}"),
            json!({"undoes": 7}),
            json!(["x"]),
            json!(null),
            json!({}),
        ] {
            let d = deployment(json!({"task": "deploy", "payload": payload}));
            assert!(!d.is_rollback(), "{payload}");
        }
    }

    /// Each event is read by its header; what is wrong with a body is named; events canarybot
    /// does not read need only be JSON.
    #[test]
    fn events_by_header() {
        assert!(matches!(
            parse_payload("ping", br#"{"zen": "Design for failure.", "hook_id": 1}"#),
            Ok(GithubEvent::Ping(Ping { zen: Some(_) }))
        ));
        let e = parse_payload("deployment", br#"{"repository": {}}"#).expect_err("no deployment");
        assert_eq!(e.status, 400);
        assert_eq!(
            e.message,
            "malformed GitHub payload: missing field `deployment` at line 1 column 18"
        );
        let e = parse_payload(
            "deployment_status",
            br#"{"deployment": {}, "deployment_status": {"state": 1}}"#,
        )
        .expect_err("a number for a state");
        assert!(
            e.message.contains("invalid type: integer `1`"),
            "{}",
            e.message
        );
        assert!(matches!(
            parse_payload("push", br#"{"ref": 1}"#),
            Ok(GithubEvent::Other(name)) if name == "push"
        ));
        assert!(parse_payload("push", b"not json").is_err());
    }
}
