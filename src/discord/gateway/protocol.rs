//! The Gateway's protocol without the socket: reading a frame into what it means, the session
//! (id, resume address, last sequence number) it updates, the frames canarybot sends, and what a
//! close code means. Pure, so it is tested without a connection.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::time::Duration;

/// The Gateway API version canarybot speaks (as its REST calls do: `/api/v10`).
pub const VERSION: u8 = 10;

/// Intents canarybot asks for: none. INTERACTION_CREATE is sent whatever the intents, and
/// asking for none means no privileged intent (GUILD_MEMBERS, GUILD_PRESENCES,
/// MESSAGE_CONTENT) has to be switched on in the developer portal.
pub const INTENTS: u64 = 0;

/// The privileged intents' bits, which canarybot never asks for.
pub const PRIVILEGED_INTENTS: u64 = (1 << 1) | (1 << 8) | (1 << 15);

pub mod op {
    pub const DISPATCH: u8 = 0;
    pub const HEARTBEAT: u8 = 1;
    pub const IDENTIFY: u8 = 2;
    pub const RESUME: u8 = 6;
    pub const RECONNECT: u8 = 7;
    pub const INVALID_SESSION: u8 = 9;
    pub const HELLO: u8 = 10;
    pub const HEARTBEAT_ACK: u8 = 11;
}

/// A frame as the Gateway sends it.
#[derive(Debug, Deserialize)]
struct Frame {
    op: u8,
    #[serde(default)]
    d: Option<Box<RawValue>>,
    #[serde(default)]
    s: Option<u64>,
    #[serde(default)]
    t: Option<String>,
}

/// What a frame from the Gateway means.
#[derive(Debug)]
pub enum Event {
    /// op 10: heartbeat every `interval`, then identify or resume.
    Hello { interval: Duration },
    /// READY: the session is started (kept in [`Session`]).
    Ready,
    /// RESUMED: the missed dispatches follow.
    Resumed,
    /// INTERACTION_CREATE: the interaction, as the HTTP endpoint would receive it.
    Interaction(Box<RawValue>),
    /// Any other dispatch (with no intents, few): counted in the sequence, otherwise ignored.
    OtherDispatch(String),
    /// op 1 from the server: send a heartbeat now.
    HeartbeatAsked,
    /// op 11
    HeartbeatAck,
    /// op 7: reconnect and resume.
    Reconnect,
    /// op 9: `resumable` (d = true) says whether to resume or identify anew.
    InvalidSession { resumable: bool },
    /// An op canarybot does not know: ignored.
    Unknown(u8),
}

/// The session to resume: what READY said and the last sequence number seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    /// READY's `session_id`; `None` before READY and after a session ends.
    pub id: Option<String>,
    /// READY's `resume_gateway_url`: where to resume (not the first URL).
    pub resume_url: Option<String>,
    /// The last dispatch's `s`: sent in heartbeats and RESUME.
    pub seq: Option<u64>,
}

#[derive(Deserialize)]
struct Hello {
    heartbeat_interval: u64,
}

#[derive(Deserialize)]
struct Ready {
    session_id: String,
    resume_gateway_url: String,
}

impl Session {
    /// Whether there is a session to resume.
    pub fn resumable(&self) -> bool {
        self.id.is_some()
    }

    /// Forgets the session: the next connection identifies anew.
    pub fn end(&mut self) {
        *self = Session::default();
    }

    /// Reads a text frame, keeping what it says about the session; the error names what is
    /// wrong with the frame.
    pub fn read(&mut self, text: &str) -> Result<Event, String> {
        let frame: Frame =
            serde_json::from_str(text).map_err(|e| format!("malformed gateway frame: {e}"))?;
        let d = frame.d.as_deref().map_or("null", RawValue::get);
        Ok(match frame.op {
            op::DISPATCH => {
                if let Some(s) = frame.s {
                    self.seq = Some(s);
                }
                match frame.t.as_deref().unwrap_or_default() {
                    "READY" => {
                        let ready: Ready =
                            serde_json::from_str(d).map_err(|e| format!("malformed READY: {e}"))?;
                        self.id = Some(ready.session_id);
                        self.resume_url = Some(ready.resume_gateway_url);
                        Event::Ready
                    }
                    "RESUMED" => Event::Resumed,
                    "INTERACTION_CREATE" => Event::Interaction(
                        frame
                            .d
                            .ok_or("INTERACTION_CREATE without the interaction (`d`)")?,
                    ),
                    other => Event::OtherDispatch(other.to_string()),
                }
            }
            op::HELLO => {
                let hello: Hello =
                    serde_json::from_str(d).map_err(|e| format!("malformed HELLO: {e}"))?;
                if hello.heartbeat_interval == 0 {
                    return Err("HELLO with a heartbeat_interval of 0".into());
                }
                Event::Hello {
                    interval: Duration::from_millis(hello.heartbeat_interval),
                }
            }
            op::HEARTBEAT => Event::HeartbeatAsked,
            op::HEARTBEAT_ACK => Event::HeartbeatAck,
            op::RECONNECT => Event::Reconnect,
            op::INVALID_SESSION => {
                let resumable = serde_json::from_str::<bool>(d).unwrap_or(false);
                if !resumable {
                    self.end();
                }
                Event::InvalidSession { resumable }
            }
            other => Event::Unknown(other),
        })
    }

    /// op 1 with the last sequence number (null before the first dispatch).
    pub fn heartbeat(&self) -> String {
        json!({"op": op::HEARTBEAT, "d": self.seq}).to_string()
    }

    /// What to send after HELLO: RESUME when there is a session, else IDENTIFY.
    pub fn greeting(&self, token: &str) -> String {
        match &self.id {
            Some(id) => resume(token, id, self.seq),
            None => identify(token),
        }
    }

    /// Where to resume: the session's `resume_gateway_url`, when there is a session.
    pub fn resume_at(&self) -> Option<String> {
        self.id.as_ref()?;
        self.resume_url.as_deref().map(with_query)
    }
}

/// `{url}/?v=10&encoding=json`: JSON, no compression.
pub fn with_query(url: &str) -> String {
    let base = url.split('?').next().unwrap_or(url).trim_end_matches('/');
    format!("{base}/?v={VERSION}&encoding=json")
}

/// op 2
pub fn identify(token: &str) -> String {
    json!({
        "op": op::IDENTIFY,
        "d": {
            "token": token,
            "intents": INTENTS,
            "properties": {
                "os": std::env::consts::OS,
                "browser": "canarybot",
                "device": "canarybot",
            },
        },
    })
    .to_string()
}

/// op 6
pub fn resume(token: &str, session_id: &str, seq: Option<u64>) -> String {
    json!({
        "op": op::RESUME,
        "d": {"token": token, "session_id": session_id, "seq": seq},
    })
    .to_string()
}

/// What a close code from the Gateway means for the next connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterClose {
    /// Reconnect and resume the session, if there is one.
    Resume,
    /// Reconnect and identify anew: the session cannot be resumed.
    Identify,
    /// Stop: reconnecting cannot help until the configuration changes.
    Stop,
}

/// Discord's close codes: 4004 (authentication failed) and 4010–4014 (invalid shard, sharding
/// required, invalid API version, invalid or disallowed intents) are fatal; 4007 (invalid seq)
/// and 4009 (session timed out) end the session; anything else is worth a resume.
pub fn after_close(code: u16) -> AfterClose {
    match code {
        4004 | 4010..=4014 => AfterClose::Stop,
        4007 | 4009 => AfterClose::Identify,
        _ => AfterClose::Resume,
    }
}

/// What a fatal close code means, for the log.
pub fn fatal_reason(code: u16) -> &'static str {
    match code {
        4004 => "authentication failed: check [discord] bot_token",
        4010 => "invalid shard",
        4011 => "sharding required (the bot is in too many servers for one connection)",
        4012 => "invalid API version",
        4013 => "invalid intents",
        4014 => "disallowed intents",
        _ => "refused",
    }
}

/// The `id` and `token` of an interaction: where its callback goes.
#[derive(Debug, Deserialize, PartialEq, Eq)]
pub struct CallbackAddress {
    pub id: String,
    pub token: String,
}

impl CallbackAddress {
    pub fn of(interaction: &RawValue) -> Result<CallbackAddress, String> {
        serde_json::from_str(interaction.get())
            .map_err(|e| format!("INTERACTION_CREATE without an id and token: {e}"))
    }
}

/// The first heartbeat waits `interval × jitter` (0..1), so many clients reconnecting at once do
/// not beat in step.
pub fn first_beat(interval: Duration, jitter: f64) -> Duration {
    interval.mul_f64(jitter.clamp(0.0, 1.0))
}

/// What INVALID_SESSION (d = false) waits before identifying anew: 1–5 s, as Discord asks.
pub fn identify_again_after(jitter: f64) -> Duration {
    Duration::from_millis(1000 + (4000.0 * jitter.clamp(0.0, 1.0)) as u64)
}

/// A sent frame's op, for tests and logs.
pub fn op_of(frame: &str) -> Option<u64> {
    serde_json::from_str::<Value>(frame).ok()?["op"].as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(session: &mut Session, v: Value) -> Event {
        session.read(&v.to_string()).expect("frame")
    }

    #[test]
    fn hello_identify_ready_then_resume_at_the_resume_url() {
        let mut s = Session::default();
        match read(
            &mut s,
            json!({"op": 10, "d": {"heartbeat_interval": 41250}}),
        ) {
            Event::Hello { interval } => assert_eq!(interval, Duration::from_millis(41250)),
            e => panic!("{e:?}"),
        }
        let hello: Value = serde_json::from_str(&s.greeting("tok")).expect("json");
        assert_eq!(hello["op"], 2);
        assert_eq!(hello["d"]["token"], "tok");
        assert_eq!(
            hello["d"]["intents"]
                .as_u64()
                .map(|i| i & PRIVILEGED_INTENTS),
            Some(0)
        );
        assert_eq!(hello["d"]["properties"]["browser"], "canarybot");
        assert_eq!(s.resume_at(), None);
        assert_eq!(s.heartbeat(), r#"{"d":null,"op":1}"#);

        let ready = json!({"op": 0, "s": 1, "t": "READY", "d": {
            "v": 10, "session_id": "sess-1", "resume_gateway_url": "wss://resume.example/",
            "user": {"id": "1"}, "guilds": []}});
        assert!(matches!(read(&mut s, ready), Event::Ready));
        assert_eq!(s.seq, Some(1));
        let interaction = json!({"op": 0, "s": 2, "t": "INTERACTION_CREATE",
            "d": {"id": "77", "token": "t-1", "type": 3}});
        match read(&mut s, interaction) {
            Event::Interaction(d) => assert_eq!(
                CallbackAddress::of(&d),
                Ok(CallbackAddress {
                    id: "77".into(),
                    token: "t-1".into()
                })
            ),
            e => panic!("{e:?}"),
        }
        // Frames without `s` keep the last one.
        assert!(matches!(
            read(&mut s, json!({"op": 11})),
            Event::HeartbeatAck
        ));
        assert_eq!(s.heartbeat(), r#"{"d":2,"op":1}"#);
        assert!(matches!(
            read(&mut s, json!({"op": 7, "d": null})),
            Event::Reconnect
        ));
        assert_eq!(
            s.resume_at().as_deref(),
            Some("wss://resume.example/?v=10&encoding=json")
        );
        let resume: Value = serde_json::from_str(&s.greeting("tok")).expect("json");
        assert_eq!(
            resume,
            json!({"op": 6, "d": {"token": "tok", "session_id": "sess-1", "seq": 2}})
        );
    }

    #[test]
    fn invalid_session_not_resumable_ends_the_session() {
        let mut s = Session {
            id: Some("sess".into()),
            resume_url: Some("wss://r".into()),
            seq: Some(9),
        };
        assert!(matches!(
            read(&mut s, json!({"op": 9, "d": true})),
            Event::InvalidSession { resumable: true }
        ));
        assert!(s.resumable());
        assert!(matches!(
            read(&mut s, json!({"op": 9, "d": false})),
            Event::InvalidSession { resumable: false }
        ));
        assert_eq!(s, Session::default());
        assert_eq!(op_of(&s.greeting("tok")), Some(2));
        assert_eq!(s.resume_at(), None);
        assert_eq!(with_query("wss://g/"), "wss://g/?v=10&encoding=json");
    }

    #[test]
    fn bad_frames_are_named_not_panics() {
        let mut s = Session::default();
        for bad in [
            "not json",
            r#"{"d": 1}"#,
            r#"{"op": 10, "d": {}}"#,
            r#"{"op": 10, "d": {"heartbeat_interval": 0}}"#,
            r#"{"op": 0, "t": "READY", "s": 1, "d": {"v": 10}}"#,
            r#"{"op": 0, "t": "INTERACTION_CREATE", "s": 1}"#,
        ] {
            assert!(s.read(bad).is_err(), "{bad}");
        }
        assert!(matches!(s.read(r#"{"op": 42}"#), Ok(Event::Unknown(42))));
        assert!(matches!(
            s.read(r#"{"op": 0, "t": "GUILD_CREATE", "s": 5, "d": {}}"#),
            Ok(Event::OtherDispatch(t)) if t == "GUILD_CREATE"
        ));
        assert_eq!(s.seq, Some(5));
    }

    #[test]
    fn close_codes() {
        for fatal in [4004, 4010, 4011, 4012, 4013, 4014] {
            assert_eq!(after_close(fatal), AfterClose::Stop, "{fatal}");
        }
        assert_eq!(after_close(4007), AfterClose::Identify);
        assert_eq!(after_close(4009), AfterClose::Identify);
        for other in [1000, 1001, 1006, 4000, 4001, 4008] {
            assert_eq!(after_close(other), AfterClose::Resume, "{other}");
        }
    }

    #[test]
    fn waits() {
        let i = Duration::from_millis(1000);
        assert_eq!(first_beat(i, 0.25), Duration::from_millis(250));
        assert_eq!(first_beat(i, 7.0), i);
        assert_eq!(identify_again_after(0.0), Duration::from_secs(1));
        assert_eq!(identify_again_after(1.0), Duration::from_secs(5));
        assert_eq!(
            with_query("wss://gateway.discord.gg/?v=9"),
            "wss://gateway.discord.gg/?v=10&encoding=json"
        );
    }
}
