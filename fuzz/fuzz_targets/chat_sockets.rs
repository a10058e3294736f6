//! What arrives over the connections canarybot holds open (issue 20), each input given to both:
//! - Slack Socket Mode: `slack::socket::envelope::read` (a text frame: hello, disconnect, an
//!   envelope), then an envelope's payload through the reader of its kind, as the socket does
//!   (`slash_command_of`, `interaction_of`, `event_of`);
//! - the Discord Gateway: `discord::gateway::protocol::Session::read` (a frame: dispatches with
//!   their sequence numbers, READY's session, HELLO, heartbeats, RECONNECT, INVALID_SESSION), then
//!   the heartbeat, IDENTIFY-or-RESUME and the callback address it would send.
#![no_main]

use canarybot::discord::gateway::protocol::{CallbackAddress, Event, Session};
use canarybot::slack::inbound::{event_of, interaction_of, slash_command_of};
use canarybot::slack::socket::envelope::{Frame, Kind, read};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(Frame::Envelope(envelope)) = read(text) {
        // An envelope always has an id to acknowledge.
        assert!(!envelope.id.trim().is_empty());
        let payload = envelope.payload.clone();
        match envelope.kind {
            Kind::SlashCommands => drop(slash_command_of(payload)),
            Kind::Interactive => drop(interaction_of(payload)),
            Kind::EventsApi => drop(event_of(payload)),
        }
    }
    let mut session = Session::default();
    let before = session.clone();
    match session.read(text) {
        Ok(Event::Interaction(raw)) => {
            let _ = CallbackAddress::of(&raw);
        }
        Ok(Event::InvalidSession { resumable: false }) => {
            // A session Discord will not resume is forgotten: the next connection identifies.
            assert!(!session.resumable());
        }
        Ok(_) => {}
        // A frame that cannot be read changes nothing but, at most, the last sequence number.
        Err(_) => assert_eq!(session.id, before.id),
    }
    let _ = session.heartbeat();
    let _ = session.greeting("token");
});
