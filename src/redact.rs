//! Keeping secrets out of logs and `Debug` output: a stand-in for a secret value, and redaction
//! of credentials in URLs and query strings.

use std::fmt;

/// What `Debug` shows in place of a secret.
pub const REDACTED: &str = "<redacted>";

/// Debug-prints as `<redacted>`.
pub struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// One `<redacted>` per secret: shows how many there are, never what they are.
pub fn list(secrets: &[String]) -> Vec<Redacted> {
    secrets.iter().map(|_| Redacted).collect()
}

/// `Some(<redacted>)` or `None`.
pub fn opt(secret: &Option<String>) -> Option<Redacted> {
    secret.as_ref().map(|_| Redacted)
}

/// Map keys shown, values redacted (`env` of a command executor, extra Prometheus headers).
pub fn values(
    map: &std::collections::BTreeMap<String, String>,
) -> std::collections::BTreeMap<&str, Redacted> {
    map.keys().map(|k| (k.as_str(), Redacted)).collect()
}

/// Whether a query parameter of this name carries a credential (`token`, `access_token`,
/// `api_key`, `password`, `sig`, …).
pub fn is_secret_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(n.as_str(), "key" | "sig" | "code" | "auth")
        || [
            "token",
            "secret",
            "password",
            "passwd",
            "signature",
            "apikey",
            "api_key",
        ]
        .iter()
        .any(|s| n.contains(s))
}

/// A query string with the values of credential parameters replaced by `<redacted>`; the other
/// parameters are left exactly as they were.
pub fn query(q: &str) -> String {
    q.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if is_secret_param(&percent_decode(k)) => format!("{k}={REDACTED}"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A request target (`/path?query`) with credentials in the query redacted.
pub fn uri(target: &str) -> String {
    match target.split_once('?') {
        Some((path, q)) => format!("{path}?{}", query(q)),
        None => target.to_string(),
    }
}

/// A URL with the password of its user info and the credentials in its query redacted:
/// `postgres://app:s3cret@db/x` → `postgres://app:<redacted>@db/x`.
pub fn url(u: &str) -> String {
    let (scheme, rest) = match u.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), u),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:{REDACTED}@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_string(),
    };
    format!("{scheme}{authority}{}", uri(tail))
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_credentials_are_redacted_and_the_rest_kept() {
        assert_eq!(
            query("service=checkout&token=abc123&limit=5"),
            "service=checkout&token=<redacted>&limit=5"
        );
        assert_eq!(
            uri("/api/deploys?access_token=x&API_KEY=y&t%6Fken=z"),
            "/api/deploys?access_token=<redacted>&API_KEY=<redacted>&t%6Fken=<redacted>"
        );
        assert_eq!(uri("/healthz"), "/healthz");
        assert_eq!(uri("/x?flag"), "/x?flag");
    }

    #[test]
    fn url_passwords_are_redacted() {
        assert_eq!(
            url("postgres://app:s3cret@db.internal:5432/canarybot?sslmode=require"),
            "postgres://app:<redacted>@db.internal:5432/canarybot?sslmode=require"
        );
        assert_eq!(
            url("postgres://db/x?user=app&password=s3cret"),
            "postgres://db/x?user=app&password=<redacted>"
        );
        assert_eq!(url("sqlite://canarybot.db"), "sqlite://canarybot.db");
        assert_eq!(
            url("https://deploy.example/hook?token=abc"),
            "https://deploy.example/hook?token=<redacted>"
        );
        assert_eq!(url("http://user@h/p"), "http://user@h/p");
    }

    #[test]
    fn redacted_lists_keep_the_count() {
        let v = vec!["a".to_string(), "b".to_string()];
        assert_eq!(format!("{:?}", list(&v)), "[<redacted>, <redacted>]");
        assert_eq!(format!("{:?}", opt(&None)), "None");
    }
}
