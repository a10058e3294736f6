//! Flagger: its event webhook puts the canary's phases in the timeline, and its gates ask
//! canarybot whether to promote or roll back. Nothing here knows chat or other deploy systems.

//! Its executor kind, the gate, is `rollback::flagger`.

pub mod hooks;
