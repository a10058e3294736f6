//! The GitHub App's private key (`[github] private_key` or `private_key_path`), read and parsed when
//! the configuration loads, so a bad key is a config error rather than a failure at the first
//! deployment protection rule. GitHub hands out PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`); PKCS#8
//! (`BEGIN PRIVATE KEY`) is accepted too.

use super::GithubConfig;
use base64::Engine;
use ring::signature::RsaKeyPair;
use std::fmt;
use std::sync::Arc;

/// The App's RSA key pair, shared by every JWT signed with it. Debug-prints as `<redacted>`.
#[derive(Clone)]
pub struct AppKey(Arc<RsaKeyPair>);

impl AppKey {
    pub fn key_pair(&self) -> &RsaKeyPair {
        &self.0
    }
}

impl fmt::Debug for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(crate::redact::REDACTED)
    }
}

/// The App's id and key when `[github] app_id` is set; `None` without an App; otherwise the one
/// problem, as `github.<key>: what is wrong`.
pub fn app_key(g: &GithubConfig) -> Result<Option<(u64, AppKey)>, String> {
    let source = match (&g.private_key, &g.private_key_path) {
        (Some(_), Some(_)) => {
            return Err("github.private_key: set either private_key (the PEM text) or private_key_path (a file holding it), not both".into());
        }
        (Some(pem), None) => Some(("github.private_key", pem.clone())),
        (None, Some(path)) => {
            let pem = std::fs::read_to_string(path)
                .map_err(|e| format!("github.private_key_path: cannot read `{path}`: {e}"))?;
            Some(("github.private_key_path", pem))
        }
        (None, None) => None,
    };
    let (app_id, (key, pem)) = match (g.app_id, source) {
        (None, None) => return Ok(None),
        (None, Some((key, _))) => {
            return Err(format!(
                "github.app_id: needed with {key} (the App's id, on its settings page)"
            ));
        }
        (Some(_), None) => {
            return Err("github.private_key: the App's private key is needed with github.app_id (private_key = \"${GITHUB_APP_PRIVATE_KEY}\", or private_key_path)".into());
        }
        (Some(0), Some(_)) => return Err("github.app_id: 0 is not a GitHub App id".into()),
        (Some(id), Some(source)) => (id, source),
    };
    let pair = parse_pem(&pem).map_err(|problem| format!("{key}: {problem}"))?;
    Ok(Some((app_id, AppKey(Arc::new(pair)))))
}

/// An RSA private key from PEM text, PKCS#1 or PKCS#8. The problem never quotes the key.
fn parse_pem(text: &str) -> Result<RsaKeyPair, String> {
    // A key pasted into an environment variable often arrives with `\n` written out.
    let text = if !text.contains('\n') && text.contains("\\n") {
        text.replace("\\n", "\n")
    } else {
        text.to_string()
    };
    if text.contains("ENCRYPTED") {
        return Err("the key is encrypted; give it unencrypted (as GitHub hands it out)".into());
    }
    let (label, body) = pem_body(&text).ok_or(
        "not a PEM private key (expected -----BEGIN RSA PRIVATE KEY----- as GitHub hands it out, or -----BEGIN PRIVATE KEY-----)",
    )?;
    let der = base64::engine::general_purpose::STANDARD
        .decode(&body)
        .map_err(|_| "the PEM's base64 does not decode".to_string())?;
    let parsed = match label {
        "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der),
        "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&der),
        other => {
            return Err(format!(
                "a PEM `{other}`, not an RSA private key (BEGIN RSA PRIVATE KEY or BEGIN PRIVATE KEY)"
            ));
        }
    };
    parsed.map_err(|e| format!("not a usable RSA private key ({e})"))
}

/// The label and the base64 text (whitespace removed) of the first PEM block.
fn pem_body(text: &str) -> Option<(&str, String)> {
    let start = text.find("-----BEGIN ")?;
    let rest = &text[start + "-----BEGIN ".len()..];
    let (label, rest) = rest.split_once("-----")?;
    let end = rest.find(&format!("-----END {label}-----"))?;
    let body = rest[..end].chars().filter(|c| !c.is_whitespace()).collect();
    Some((label, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/github/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn load(extra: &str) -> Result<crate::config::Config, String> {
        let text = format!(
            "[webhooks]\nsecrets = [\"a-deploy-secret-0123\"]\n[github]\nwebhook_secrets = [\"a-github-secret-0123\"]\n{extra}\n[[service]]\nname = \"checkout\"\ndeciders = [\"slack:U01ALICE\"]\n[[service.criteria]]\nname = \"errors\"\nmax = 5\n"
        );
        let env = |name: &str| match name {
            "GITHUB_APP_PRIVATE_KEY" => Some(fixture("test-only-app-key.pem")),
            "PKCS8_KEY" => Some(fixture("test-only-app-key.pkcs8.pem")),
            "ESCAPED_KEY" => Some(fixture("test-only-app-key.pem").replace('\n', "\\n")),
            _ => None,
        };
        crate::registry::config_from_toml(&text, &env).map_err(|e| e.to_string())
    }

    fn key_of(extra: &str) -> Option<(u64, AppKey)> {
        let c = load(extra).unwrap_or_else(|e| panic!("valid: {e}"));
        app_key(c.github.as_ref().expect("[github]")).expect("a key")
    }

    #[test]
    fn an_app_loads_from_pem_text_a_file_pkcs8_or_escaped_newlines() {
        let path = format!(
            "{}/tests/fixtures/github/test-only-app-key.pem",
            env!("CARGO_MANIFEST_DIR")
        );
        for extra in [
            "app_id = 123456\nprivate_key = \"${GITHUB_APP_PRIVATE_KEY}\"".to_string(),
            format!("app_id = 123456\nprivate_key_path = \"{path}\""),
            "app_id = 123456\nprivate_key = \"${PKCS8_KEY}\"".to_string(),
            "app_id = 123456\nprivate_key = \"${ESCAPED_KEY}\"".to_string(),
        ] {
            let (id, key) = key_of(&extra).unwrap_or_else(|| panic!("an app: {extra}"));
            assert_eq!(id, 123456);
            assert_eq!(key.key_pair().public().modulus_len(), 256, "{extra}");
        }
        // Without app_id there is no App, and webhooks alone still load.
        assert!(key_of("").is_none());
        let c = load("").expect("valid");
        assert_eq!(
            c.github.expect("[github]").api_url,
            "https://api.github.com"
        );
    }

    #[test]
    fn the_key_options_are_exactly_one_with_an_app_id() {
        let err = load("app_id = 123456").unwrap_err();
        assert!(
            err.contains("github.private_key: the App's private key is needed with github.app_id"),
            "{err}"
        );
        let err = load("app_id = 123456\nprivate_key = \"${GITHUB_APP_PRIVATE_KEY}\"\nprivate_key_path = \"/k.pem\"").unwrap_err();
        assert!(err.contains("github.private_key: set either"), "{err}");
        let err = load("private_key = \"${GITHUB_APP_PRIVATE_KEY}\"").unwrap_err();
        assert!(
            err.contains("github.app_id: needed with github.private_key"),
            "{err}"
        );
        let err = load("app_id = 1\nprivate_key_path = \"/nonexistent/key.pem\"").unwrap_err();
        assert!(
            err.contains("github.private_key_path: cannot read `/nonexistent/key.pem`"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_pem_is_a_config_error_naming_the_key_and_not_quoting_it() {
        let cut = fixture("test-only-app-key.pem").replace("MII", "");
        for (pem, says) in [
            ("just some text".to_string(), "not a PEM private key"),
            (
                fixture("test-only-app-key.pub.pem"),
                "a PEM `PUBLIC KEY`, not an RSA private key",
            ),
            (cut.clone(), "github.private_key: "),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----".into(),
                "not a usable RSA private key",
            ),
        ] {
            let extra = format!("app_id = 7\nprivate_key = '''{pem}'''");
            let err = load(&extra).unwrap_err();
            assert!(err.contains("github.private_key: "), "{err}");
            assert!(err.contains(says), "{says}: {err}");
            assert!(!err.contains("MII"), "the key leaked: {err}");
        }
        let err = load("app_id = 7\napi_url = \"ftp://github.example\"").unwrap_err();
        assert!(
            err.contains(
                "github.api_url: `ftp://github.example` must start with http:// or https://"
            ),
            "{err}"
        );
    }

    #[test]
    fn debug_shows_the_app_but_never_its_key() {
        let c =
            load("app_id = 123456\nprivate_key = \"${GITHUB_APP_PRIVATE_KEY}\"").expect("valid");
        let github = c.github.expect("[github]");
        let debug = format!("{github:?} {:?}", app_key(&github));
        assert!(debug.contains("app_id: Some(123456)"), "{debug}");
        assert!(debug.contains("private_key: Some(<redacted>)"), "{debug}");
        assert!(!debug.contains("PRIVATE KEY"), "{debug}");
        assert!(!debug.contains("a-github-secret"), "{debug}");
    }
}
