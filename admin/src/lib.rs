//! The admin half of Agent Vault: an axum service for accounts, vaults, agents, credentials,
//! services, proposals and the pages humans approve them on.
//!
//! [`router`] builds the whole service from an [`AppState`], so tests can drive it without
//! sockets and the CLI can serve it next to the proxy.

pub mod authz;
pub mod body;
pub mod caller;
pub mod error;
pub mod html;
pub mod limiter;
pub mod mail;
mod middleware;
mod router;
pub mod routes;
pub mod state;
#[cfg(test)]
mod testkit;
pub mod users;

pub use router::router;
pub use state::{AdminConfig, AppState};
