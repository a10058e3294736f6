//! The console adapter: prints the canary thread readably. Used by `demo`, and by `serve` when no
//! chat platform is configured.

use super::{Attempt, ChatError, ChatImage, ChatPort, Opened, ThreadTarget};
use crate::chat::ChatPlatform;
use crate::chat::platform::{any_id, no_problems};
use crate::domain::Choice;
use crate::present::chat::{ChatMessage, RootView};
use async_trait::async_trait;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// The console needs no configuration and has no inbound routes: it stands in when no other
/// platform is configured, and its people are whoever types.
pub static PLATFORM: ChatPlatform = ChatPlatform {
    name: "console",
    person_prefix: "console",
    group_prefix: None,
    check_person_id: any_id,
    check_group_id: any_id,
    config_section: None,
    parse_section: None,
    configured: |_| false,
    section_problems: no_problems,
    channel_problems: |_, _, _| Vec::new(),
    connect: |_| Ok(None),
    stand_in: Some(|| Arc::new(ConsoleChat::stdout())),
    surface: None,
    thread_link: |_, _| None,
    message_link: |_, _, _, _| None,
    transport: |_| "standard output".into(),
};

pub struct ConsoleChat {
    out: Mutex<Box<dyn Write + Send>>,
}

impl ConsoleChat {
    pub fn stdout() -> Self {
        ConsoleChat::new(Box::new(std::io::stdout()))
    }

    pub fn new(out: Box<dyn Write + Send>) -> Self {
        ConsoleChat {
            out: Mutex::new(out),
        }
    }

    /// Text from outside is data on a terminal too: control characters (an escape sequence
    /// could rewrite the screen) are dropped; line breaks stay.
    fn print(&self, text: &str) {
        let text: String = text
            .chars()
            .filter(|c| !c.is_control() || *c == '\n')
            .collect();
        if let Ok(mut out) = self.out.lock() {
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    }
}

fn buttons(buttons: &[Choice]) -> String {
    if buttons.is_empty() {
        return String::new();
    }
    let labels: Vec<&str> = buttons
        .iter()
        .map(|b| match b {
            Choice::Rollback => "[ Roll back ]",
            Choice::Promote => "[ Proceed ]",
        })
        .collect();
    format!("│  {}\n", labels.join(" "))
}

fn indent(text: &str, first: &str, rest: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        out.push_str(if i == 0 { first } else { rest });
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[async_trait]
impl ChatPort for ConsoleChat {
    fn platform(&self) -> &str {
        PLATFORM.name
    }

    async fn post_root(
        &self,
        target: &ThreadTarget,
        root: &RootView,
        _attempt: &Attempt,
    ) -> Result<Option<Opened>, ChatError> {
        let body = indent(&root.text(), "│ ", "│ ");
        self.print(&format!(
            "\n┌─ 🧵 canary thread {} ─\n{body}{}",
            target.deploy_id,
            buttons(&root.buttons)
        ));
        Ok(Some(Opened {
            thread: target.deploy_id.clone(),
            message: "root".into(),
        }))
    }

    async fn update_root(
        &self,
        _target: &ThreadTarget,
        thread: &str,
        root: &RootView,
    ) -> Result<(), ChatError> {
        let live: Vec<String> = root
            .criteria
            .iter()
            .map(|c| format!("{} {}", c.name, c.status()))
            .collect();
        self.print(&format!(
            "├─ 📌 root of {thread} updated: {} · {}\n",
            root.status_line(),
            live.join(" · ")
        ));
        Ok(())
    }

    async fn reply(
        &self,
        _target: &ThreadTarget,
        _thread: &str,
        message: &ChatMessage,
        _attempt: &Attempt,
    ) -> Result<Option<String>, ChatError> {
        let lead = if message.loud {
            "├─❗ "
        } else {
            "├─ "
        };
        let body = indent(&message.text, lead, "│   ");
        let confirm = if message.confirm_rollback {
            "│  [ Confirm rollback ]\n"
        } else {
            ""
        };
        self.print(&format!("{body}{}{confirm}", buttons(&message.buttons)));
        Ok(None) // a terminal has no message ids to link to
    }

    /// A terminal shows no image: a line names the chart.
    async fn post_image(
        &self,
        _target: &ThreadTarget,
        _thread: &str,
        image: &ChatImage,
        _attempt: &Attempt,
    ) -> Result<Option<String>, ChatError> {
        self.print(&format!("├─ [chart: {}]\n", image.title));
        Ok(None)
    }

    async fn notice(
        &self,
        _target: &ThreadTarget,
        _thread: Option<&str>,
        to: &str,
        text: &str,
    ) -> Result<(), ChatError> {
        self.print(&format!("├─ 🔒 only {to} sees: {text}\n"));
        Ok(())
    }
}
