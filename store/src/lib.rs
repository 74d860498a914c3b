//! The one SQLite store that the proxy and the admin service share.
//!
//! Everything both halves must agree on lives here so they never need each other: the schema
//! and its migrations, the domain rules (names, roles, hosts, auth configs), the crypto that
//! protects credentials, and the token format. Queries specific to one half live with it.

pub mod catalog;
pub mod crypto;
pub mod db;
pub mod email;
pub mod error;
pub mod hostmatch;
pub mod names;
pub mod proposal;
pub mod roles;
pub mod services;
pub mod time;
pub mod token;

pub use db::Store;
pub use error::{Error, Result};

/// The id of the seeded `default` vault, which can be neither renamed nor deleted.
pub const DEFAULT_VAULT_ID: &str = "00000000-0000-0000-0000-000000000000";
/// The name of the seeded vault.
pub const DEFAULT_VAULT_NAME: &str = "default";

/// A fresh random UUIDv4, the id format of users, agents, vaults and credentials.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
