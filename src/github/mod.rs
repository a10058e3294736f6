//! GitHub: deployment webhooks announce deploys (`POST /hooks/github`). Nothing here knows chat.

pub mod hooks;
pub mod payload;
