//! Route modules, one per area of the API. Each exposes `routes()`; the router puts them
//! behind the initialization gate unless noted.

pub mod accounts;
pub mod agent_invites;
pub mod agents;
pub mod approve_page;
pub mod credentials;
pub mod discover;
pub mod health;
pub mod home;
pub mod oauth;
pub mod proposals;
pub mod services;
pub mod sessions;
pub mod settings;
pub mod skills;
pub mod user_invites;
pub mod users;
pub mod vault_agents;
pub mod vault_users;
pub mod vaults;
