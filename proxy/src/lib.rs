//! The proxy half of Agent Vault: a Pingora service for `/proxy/<host>/<path>`.
//!
//! It never touches SQLite on the request path; it answers from an in-memory view of the
//! store that is refreshed when admin writes change it.

mod config;

pub use config::{NetworkMode, ProxyConfig};
