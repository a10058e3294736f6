//! Alertmanager webhooks (version 4).
