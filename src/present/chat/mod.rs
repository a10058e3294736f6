//! The canary thread as chat shows it: the root, the replies and the private notices, worded from
//! the domain's chat effects. Each chat adapter lays these out its own way.
//!
//! - [`root`]: the thread root and the closing summary;
//! - [`message`]: what the chat outbox delivers ([`RenderedChat`]) and the message it carries;
//! - [`said`]: the words of each reply and notice.

pub mod message;
pub mod root;
pub mod said;

pub use message::{ChartRequest, ChatMessage, NamedPerson, RenderedChat, render};
pub use root::{CriterionRow, RootView, closing_summary, root_view, status_table, table};
