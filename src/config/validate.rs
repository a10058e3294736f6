//! Every problem with a configuration, as `key.path: what is wrong`, one function per section.

use super::platforms::Platforms;
use super::*;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

impl Config {
    /// Every problem as `key.path: what is wrong`, with these chat platforms.
    pub fn problems(&self, chat: Platforms) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(server_problems(&self.server));
        out.extend(database_problems(&self.database));
        out.extend(delivery_problems(&self.delivery));
        out.extend(webhooks_problems(&self.webhooks));
        for platform in chat.0 {
            out.extend(platform.section_problems(self));
        }
        if let Some(github) = &self.github {
            out.extend(github_problems(github));
        }
        if let Some(flagger) = &self.flagger {
            out.extend(flagger_problems(flagger));
        }
        if let Some(alertmanager) = &self.alertmanager {
            out.extend(alertmanager_problems(alertmanager));
        }
        if let Some(prometheus) = &self.prometheus {
            out.extend(prometheus_problems(prometheus));
        }
        if let Some(pagerduty) = &self.pagerduty {
            out.extend(pagerduty_problems(pagerduty));
        }
        if let Some(opsgenie) = &self.opsgenie {
            out.extend(opsgenie_problems(opsgenie));
        }
        out.extend(people_problems(&self.people, chat));
        let service_names: Vec<String> = self.services.iter().map(|s| s.name.clone()).collect();
        out.extend(self.freeze.problems(&service_names, chat));
        let mut names = HashSet::new();
        for (i, s) in self.services.iter().enumerate() {
            out.extend(self.service_problems(chat, i, s, &mut names));
        }
        out
    }

    /// Warnings that do not stop the server.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.server.api_tokens.is_empty() {
            let loopback = self
                .server
                .listen
                .parse::<SocketAddr>()
                .map(|a| a.ip().is_loopback())
                .unwrap_or(false);
            if !loopback {
                out.push(format!(
                    "server.api_tokens: empty while listening on {}: the timeline API and votes API are open to anyone who can reach it",
                    self.server.listen
                ));
            }
        }
        if self.services.is_empty() {
            out.push(
                "service: no services configured; every deploy webhook will be refused".into(),
            );
        }
        if self.pagers().is_empty() {
            for s in &self.services {
                if s.escalation
                    .as_ref()
                    .is_some_and(|e| e.page_after.is_some())
                {
                    out.push(format!(
                        "service[{}].escalation.page_after: no [pagerduty] or [opsgenie] section, so nobody is paged; configure one, or write page_after = \"off\"",
                        s.name
                    ));
                }
            }
        }
        out
    }

    /// Problems with one `[[service]]`; `names` collects the names seen so far.
    fn service_problems(
        &self,
        chat: Platforms,
        i: usize,
        s: &ServiceConfig,
        names: &mut HashSet<String>,
    ) -> Vec<String> {
        let mut out = Vec::new();
        let key = if s.name.is_empty() {
            format!("service[{i}]")
        } else {
            format!("service[{}]", s.name)
        };
        if s.name.trim().is_empty() {
            out.push(format!("{key}.name: must not be empty"));
        } else if s.name.chars().count() > crate::limits::SERVICE {
            out.push(format!(
                "{key}.name: longer than {} characters",
                crate::limits::SERVICE
            ));
        } else if !names.insert(s.name.clone()) {
            out.push(format!("{key}.name: `{}` is configured twice", s.name));
        }
        if let Some(c) = s.name.chars().find(|c| crate::limits::is_unprintable(*c)) {
            out.push(format!(
                "{key}.name: contains U+{:04X}, a control or invisible format character; use printable characters",
                c as u32
            ));
        }
        if s.deciders.is_empty() {
            out.push(format!(
                "{key}.deciders: name at least one person or group who may decide"
            ));
        }
        for (j, d) in s.deciders.iter().enumerate() {
            if let Err(e) = chat
                .parse_decider(d)
                .and_then(|()| chat.platform_id_problem(d))
            {
                out.push(format!("{key}.deciders[{j}]: {e}"));
            }
        }
        if let Some(g) = &s.gate {
            out.extend(super::gate::gate_problems(&format!("{key}.gate"), g));
        }
        if s.canary_window.is_zero() {
            out.push(format!("{key}.canary_window: must be > 0; write e.g. 15m"));
        }
        if s.rollback_quorum == 0 {
            out.push(format!("{key}.rollback_quorum: must be >= 1"));
        }
        if s.promote_quorum == 0 {
            out.push(format!("{key}.promote_quorum: must be >= 1"));
        }
        if s.check_interval.is_zero() {
            out.push(format!("{key}.check_interval: must be > 0"));
        }
        if s.verify_checks == 0 {
            out.push(format!("{key}.verify_checks: must be >= 1"));
        }
        if s.criteria.is_empty() {
            out.push(format!("{key}.criteria: at least one criterion is needed"));
        }
        out.extend(self.channel_problems(chat, &key, s));
        out.extend(criteria_problems(&key, &s.criteria));
        for (j, c) in s.criteria.iter().enumerate() {
            if c.query.is_some() && self.prometheus.is_none() {
                out.push(format!(
                    "{key}.criteria[{j}].query: set, but there is no [prometheus] section"
                ));
            }
            if c.errors.is_some() && self.prometheus.is_none() {
                out.push(format!(
                    "{key}.criteria[{j}].errors: set, but there is no [prometheus] section"
                ));
            }
            if c.requests.is_some()
                && c.query.is_none()
                && c.judge == crate::domain::criteria::Judge::Threshold
            {
                out.push(format!(
                    "{key}.criteria[{j}].requests: set, but the criterion has no query (pushed samples carry canary_requests instead)"
                ));
            }
        }
        if let Some(e) = &s.escalation {
            out.extend(escalation_problems(&key, e));
        }
        out.extend(self.watch_problems(&key, s));
        out.extend(self.deploy_source_problems(s));
        for (field, executor) in [
            ("rollback", &s.rollback),
            ("drill_executor", &s.drill_executor),
        ] {
            if let Some(r) = executor {
                out.extend(self.executor_problems(&format!("{key}.{field}"), s, r));
            }
        }
        out
    }

    /// `[service.watch]` and the criteria's `watch_query`: a watch needs a watched criterion and
    /// Prometheus to ask; durations above zero, the interval shorter than the watch.
    fn watch_problems(&self, key: &str, s: &ServiceConfig) -> Vec<String> {
        let mut out = Vec::new();
        for (j, c) in s.criteria.iter().enumerate() {
            if c.watch_query.is_some() && self.prometheus.is_none() {
                out.push(format!(
                    "{key}.criteria[{j}].watch_query: set, but there is no [prometheus] section"
                ));
            }
        }
        let Some(w) = &s.watch else {
            return out;
        };
        if w.after_promotion.as_secs() == 0 {
            out.push(format!(
                "{key}.watch.after_promotion: must be at least 1s; write e.g. 48h"
            ));
        }
        if w.interval.as_secs() == 0 {
            out.push(format!(
                "{key}.watch.interval: must be at least 1s; write e.g. 5m"
            ));
        } else if w.interval > w.after_promotion {
            out.push(format!(
                "{key}.watch.interval: {} is longer than after_promotion ({}): no check would run",
                humantime::format_duration(w.interval),
                humantime::format_duration(w.after_promotion)
            ));
        }
        if !s.criteria.iter().any(|c| c.watch_query.is_some()) {
            out.push(format!(
                "{key}.watch: service {} has [service.watch] but no criterion with a watch_query: give at least one criterion a watch_query (the whole service's signal, without {{{{track}}}})",
                s.name
            ));
        }
        out
    }

    /// A service's channel on each chat platform (`slack_channel`, …).
    fn channel_problems(&self, chat: Platforms, key: &str, s: &ServiceConfig) -> Vec<String> {
        chat.0
            .iter()
            .flat_map(|p| p.channel_problems(self, key, s))
            .collect()
    }

    /// A service's `github` and `flagger`: the deploy sources that name it.
    fn deploy_source_problems(&self, s: &ServiceConfig) -> Vec<String> {
        // Keyed by the name alone (never the index), as they always were.
        let key = format!("service[{}]", s.name);
        let mut out = Vec::new();
        if let Some(g) = &s.github {
            if self.github.is_none() {
                out.push(format!(
                    "{key}.github: set, but there is no [github] section"
                ));
            }
            if g.repo.split('/').filter(|p| !p.is_empty()).count() != 2 {
                out.push(format!("{key}.github.repo: `{}` is not owner/name", g.repo));
            }
        }
        if s.flagger.is_some() && self.flagger.is_none() {
            out.push(format!(
                "{key}.flagger: set, but there is no [flagger] section"
            ));
        }
        out
    }

    /// One executor table (`{key}` is e.g. `service[checkout].rollback`).
    fn executor_problems(&self, key: &str, s: &ServiceConfig, r: &RollbackConfig) -> Vec<String> {
        let mut out = Vec::new();
        match r {
            RollbackConfig::Webhook(w) => {
                if w.url.trim().is_empty() {
                    out.push(format!("{key}.url: required for kind = \"webhook\""));
                } else if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
                    out.push(format!(
                        "{key}.url: `{}` must start with http:// or https://",
                        w.url
                    ));
                }
                if w.secret.is_none() && self.webhooks.secrets.is_empty() {
                    out.push(format!(
                        "{key}.secret: no secret and no [webhooks] secrets to sign with"
                    ));
                }
                out.extend(timeout_problems(key, w.timeout));
                out.extend(retry_problems(key, w.retries, w.backoff));
            }
            RollbackConfig::GithubWorkflow(g) => {
                for (name, v) in [
                    ("repo", &g.repo),
                    ("workflow", &g.workflow),
                    ("ref", &g.git_ref),
                    ("token", &g.token),
                ] {
                    if v.trim().is_empty() {
                        out.push(format!(
                            "{key}.{name}: required for kind = \"github-workflow\""
                        ));
                    }
                }
                for (input, value) in &g.inputs {
                    if let Err(e) = crate::template::check(value, crate::template::WORKFLOW_INPUT) {
                        out.push(format!("{key}.inputs.{input}: {e}"));
                    }
                }
                out.extend(timeout_problems(key, g.timeout));
                out.extend(retry_problems(key, g.retries, g.backoff));
            }
            RollbackConfig::Flagger(_) => {
                if s.flagger.is_none() {
                    out.push(format!(
                        "{key}.kind: \"flagger\" needs the service's flagger = {{ name, namespace }}"
                    ));
                }
            }
            RollbackConfig::Command(c) => {
                if c.argv
                    .first()
                    .is_none_or(|program| program.trim().is_empty())
                {
                    out.push(format!(
                        "{key}.argv: name the program and its arguments, e.g. [\"kubectl\", \"argo\", \"rollouts\", \"abort\", \"checkout\"]"
                    ));
                }
                out.extend(timeout_problems(key, c.timeout));
            }
        }
        out
    }
}

fn timeout_problems(key: &str, timeout: Duration) -> Option<String> {
    timeout
        .is_zero()
        .then(|| format!("{key}.timeout: must be > 0"))
}

/// `retries` and `backoff` of an executor that retries: within [`MAX_RETRIES`] and
/// [`MIN_BACKOFF`]..=[`MAX_BACKOFF`], so that a typo cannot make a rollback wait for days.
fn retry_problems(key: &str, retries: u32, backoff: Duration) -> Vec<String> {
    let mut out = Vec::new();
    if retries > MAX_RETRIES {
        out.push(format!(
            "{key}.retries: {retries} is outside 0 to {MAX_RETRIES}"
        ));
    }
    if !(MIN_BACKOFF..=MAX_BACKOFF).contains(&backoff) {
        out.push(format!(
            "{key}.backoff: {} is outside {} to {}",
            humantime::format_duration(backoff),
            humantime::format_duration(MIN_BACKOFF),
            humantime::format_duration(MAX_BACKOFF)
        ));
    }
    out
}

pub fn http_url_problem(key: &str, url: &str) -> Option<String> {
    (!(url.starts_with("http://") || url.starts_with("https://")))
        .then(|| format!("{key}: `{url}` must start with http:// or https://"))
}

fn token_length_problems(key: &str, tokens: &[String]) -> Vec<String> {
    tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| t.len() < 16)
        .map(|(i, t)| {
            format!(
                "{key}[{i}]: too short ({} characters); use at least 16",
                t.len()
            )
        })
        .collect()
}

/// `[server]`: address, public URL, API tokens, size and time limits.
fn server_problems(server: &ServerConfig) -> Vec<String> {
    use crate::limits::*;
    let mut out = Vec::new();
    if server.listen.parse::<SocketAddr>().is_err() {
        out.push(format!(
            "server.listen: `{}` is not an address such as 127.0.0.1:8080",
            server.listen
        ));
    }
    if let Some(u) = &server.public_url {
        out.extend(http_url_problem("server.public_url", u));
    }
    out.extend(token_length_problems(
        "server.api_tokens",
        &server.api_tokens,
    ));
    if !(MIN_MAX_BODY..=MAX_MAX_BODY).contains(&server.max_body) {
        out.push(format!(
            "server.max_body: {} bytes is outside {} to {}",
            server.max_body,
            human_bytes(MIN_MAX_BODY),
            human_bytes(MAX_MAX_BODY)
        ));
    }
    if !(MIN_MAX_HEADER_BYTES..=MAX_MAX_HEADER_BYTES).contains(&server.max_header_bytes) {
        out.push(format!(
            "server.max_header_bytes: {} bytes is outside {} to {}",
            server.max_header_bytes,
            human_bytes(MIN_MAX_HEADER_BYTES),
            human_bytes(MAX_MAX_HEADER_BYTES)
        ));
    }
    for (key, d) in [
        ("header_timeout", server.header_timeout),
        ("body_timeout", server.body_timeout),
        ("request_timeout", server.request_timeout),
    ] {
        if d.is_zero() {
            out.push(format!("server.{key}: must be > 0"));
        }
    }
    out
}

/// `[database]`
fn database_problems(database: &DatabaseConfig) -> Vec<String> {
    let url = &database.url;
    if url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://")
    {
        Vec::new()
    } else {
        vec![format!(
            "database.url: `{url}` must start with sqlite:// or postgres://"
        )]
    }
}

/// `[delivery]`
fn delivery_problems(d: &DeliveryConfig) -> Vec<String> {
    let mut out = Vec::new();
    if d.lease < Duration::from_secs(1) {
        out.push("delivery.lease: must be at least 1s".to_string());
    }
    if d.max_backoff < Duration::from_secs(1) {
        out.push("delivery.max_backoff: must be at least 1s".to_string());
    }
    if d.dedup_window < Duration::from_secs(60) {
        out.push(
            "delivery.dedup_window: must be at least 1m (redeliveries come minutes apart)"
                .to_string(),
        );
    }
    out
}

/// `[webhooks]`
fn webhooks_problems(webhooks: &WebhooksConfig) -> Vec<String> {
    let mut out = token_length_problems("webhooks.secrets", &webhooks.secrets);
    if webhooks.secrets.is_empty() {
        out.push(
            "webhooks.secrets: at least one secret is needed to accept signed webhooks".into(),
        );
    }
    out
}

/// `[github]`
fn github_problems(g: &GithubConfig) -> Vec<String> {
    let mut out = Vec::new();
    // The App's protection-rule events arrive on /hooks/github too, signed with these.
    if g.webhook_secrets.iter().all(|s| s.trim().is_empty()) {
        out.push("github.webhook_secrets: at least one secret is needed".into());
    }
    out.extend(http_url_problem("github.api_url", &g.api_url));
    if let Err(problem) = super::github_key::app_key(g) {
        out.push(problem);
    }
    out
}

/// `[flagger]`
fn flagger_problems(f: &FlaggerConfig) -> Vec<String> {
    if f.tokens.iter().all(|t| t.len() < 16) {
        vec!["flagger.tokens: at least one token of 16 or more characters is needed".into()]
    } else {
        Vec::new()
    }
}

/// `[alertmanager]`
fn alertmanager_problems(a: &AlertmanagerConfig) -> Vec<String> {
    let mut out = Vec::new();
    if a.tokens.is_empty() {
        out.push("alertmanager.tokens: at least one token is needed; alerts are never accepted unauthenticated".into());
    }
    out.extend(token_length_problems("alertmanager.tokens", &a.tokens));
    out
}

/// `[prometheus]`
fn prometheus_problems(p: &PrometheusConfig) -> Vec<String> {
    let mut out = Vec::new();
    out.extend(http_url_problem("prometheus.url", &p.url));
    if p.timeout.is_zero() {
        out.push("prometheus.timeout: must be > 0".into());
    }
    out
}

/// `[pagerduty]`: a routing key, an http(s) API URL.
fn pagerduty_problems(p: &PagerDutyConfig) -> Vec<String> {
    let mut out = Vec::new();
    if p.routing_key.trim().is_empty() {
        out.push("pagerduty.routing_key: must not be empty; the Events API v2 integration key of the service to page (e.g. \"${PD_ROUTING_KEY}\")".into());
    }
    out.extend(http_url_problem("pagerduty.api_url", &p.api_url));
    out
}

/// `[opsgenie]`: an API key, an http(s) API URL.
fn opsgenie_problems(o: &OpsgenieConfig) -> Vec<String> {
    let mut out = Vec::new();
    if o.api_key.trim().is_empty() {
        out.push("opsgenie.api_key: must not be empty; the key of an Opsgenie API integration (e.g. \"${OPSGENIE_KEY}\")".into());
    }
    out.extend(http_url_problem("opsgenie.api_url", &o.api_url));
    out
}

/// `[service.escalation]`: each step after the one before it, none at zero.
fn escalation_problems(key: &str, e: &EscalationConfig) -> Vec<String> {
    let mut out = Vec::new();
    let steps = [
        ("remind_after", e.remind_after),
        ("page_after", e.page_after),
        ("decide_after", e.decide_after),
    ];
    for (name, step) in steps {
        if step.is_some_and(|d| d.is_zero()) {
            out.push(format!(
                "{key}.escalation.{name}: must be > 0; write e.g. 5m, or \"off\""
            ));
        }
    }
    let set: Vec<(&str, Duration)> = steps
        .iter()
        .filter_map(|(n, d)| d.map(|d| (*n, d)))
        .collect();
    for pair in set.windows(2) {
        let ((a, da), (b, db)) = (pair[0], pair[1]);
        if db <= da {
            out.push(format!(
                "{key}.escalation.{b}: {} comes before {a} ({}); the steps run in the order remind, page, decide",
                humantime::format_duration(db),
                humantime::format_duration(da)
            ));
        }
    }
    out
}

/// `[[people]]`: names unique, at least one identity each, no identity tied to two people.
fn people_problems(people: &[PersonConfig], chat: Platforms) -> Vec<String> {
    let mut out = Vec::new();
    let mut names = HashSet::new();
    let mut tied = HashSet::new();
    let mut deploy_names = HashSet::new();
    for (i, p) in people.iter().enumerate() {
        let key = format!("people[{i}]");
        if p.name.trim().is_empty() {
            out.push(format!("{key}.name: must not be empty"));
        } else if !names.insert(p.name.clone()) {
            out.push(format!("{key}.name: `{}` appears twice", p.name));
        }
        if p.identities().is_empty() {
            let sections = chat.sections();
            out.push(format!(
                "{key}: name at least one of {}",
                sections.join(", ")
            ));
        }
        for id in p.identities() {
            if let Err(e) = chat.platform_id_problem(&id) {
                let field = id.split(':').next().unwrap_or_default();
                out.push(format!("{key}.{field}: {e}"));
            }
            if !tied.insert(id.clone()) {
                out.push(format!("{key}: `{id}` is tied to two people"));
            }
        }
        if let Some(login) = &p.github
            && let Some(problem) = github_login_problem(login)
        {
            out.push(format!("{key}.github: {problem}"));
        }
        for (j, alias) in p.aliases.iter().enumerate() {
            if alias.trim().is_empty() {
                out.push(format!("{key}.aliases[{j}]: must not be empty"));
            } else if alias.chars().count() > crate::limits::ACTOR {
                out.push(format!(
                    "{key}.aliases[{j}]: longer than {} characters (a deploy's actor is at most that long)",
                    crate::limits::ACTOR
                ));
            } else if let Some(c) = alias.chars().find(|c| crate::limits::is_unprintable(*c)) {
                out.push(format!(
                    "{key}.aliases[{j}]: contains U+{:04X}, a control or invisible format character",
                    c as u32
                ));
            }
        }
        // A deploy's actor must name one person at most: four eyes refuses the wrong person
        // otherwise. Compared as the votes compare them, without regard to case.
        let mut mine = HashSet::new();
        for name in p.deploy_names() {
            let folded = name.to_lowercase();
            if !mine.insert(folded.clone()) {
                continue;
            }
            if !deploy_names.insert(folded) {
                out.push(format!(
                    "{key}: the deploy actor `{name}` (github or aliases) is tied to two people"
                ));
            }
        }
    }
    out
}

/// What is wrong with a GitHub login, if anything: 1 to 39 letters, digits or single hyphens,
/// not at either end.
fn github_login_problem(login: &str) -> Option<String> {
    let ok = !login.is_empty()
        && login.len() <= 39
        && login.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !login.starts_with('-')
        && !login.ends_with('-')
        && !login.contains("--");
    (!ok).then(|| {
        format!(
            "`{login}` is not a GitHub login (1 to 39 letters, digits or single hyphens, not at either end)"
        )
    })
}

/// Problems with a list of criteria, keyed `{prefix}.criteria[i].field`: each criterion's own,
/// names used twice, and placeholders its `query` or `link` template does not know.
pub fn criteria_problems(prefix: &str, criteria: &[Criterion]) -> Vec<String> {
    let mut out = Vec::new();
    let mut names = HashSet::new();
    for (i, c) in criteria.iter().enumerate() {
        for (field, problem) in c.problems() {
            out.push(format!("{prefix}.criteria[{i}].{field}: {problem}"));
        }
        if !names.insert(c.name.as_str()) {
            out.push(format!(
                "{prefix}.criteria[{i}].name: `{}` appears twice",
                c.name
            ));
        }
        for (field, template, known) in [
            ("query", &c.query, crate::template::QUERY),
            ("requests", &c.requests, crate::template::QUERY),
            ("errors", &c.errors, crate::template::QUERY),
            ("link", &c.link, crate::template::LINK),
        ] {
            if let Some(template) = template
                && let Err(e) = crate::template::check(template, known)
            {
                out.push(format!("{prefix}.criteria[{i}].{field}: {e}"));
            }
        }
        if let Some(q) = &c.watch_query {
            let per_deploy: Vec<&str> = crate::template::placeholders(q)
                .filter(|p| matches!(*p, "track" | "version"))
                .collect();
            if per_deploy.is_empty() {
                if let Err(e) = crate::template::check(q, crate::template::WATCH_QUERY) {
                    out.push(format!("{prefix}.criteria[{i}].watch_query: {e}"));
                }
            } else {
                out.push(format!(
                    "{prefix}.criteria[{i}].watch_query: {} cannot be used: after promotion the whole service runs the new version, so watch the service as a whole (this template knows {{{{service}}}}, {{{{environment}}}})",
                    per_deploy
                        .iter()
                        .map(|p| format!("`{{{{{p}}}}}`"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ));
            }
        }
    }
    out
}
