//! One module per top-level command.

pub mod account;
pub mod agent;
pub mod auth;
pub mod catalog;
pub mod config;
pub mod owner;
pub mod server;
pub mod user;
pub mod vault;
