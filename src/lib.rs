//! canarybot: deploys decided from chat, against criteria agreed before the deploy.

pub mod domain;
