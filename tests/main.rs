//! End-to-end tests: each starts the real `agent-vault` binary on ephemeral ports with its own
//! data directory and HOME, and talks to it over real sockets (HTTP clients, the CLI, an
//! HTTPS upstream with a test CA, and a headless browser for pages).

mod support;

mod accounts;
mod agents;
mod browser;
mod credentials;
mod foundation;
mod mail;
mod proposals;
mod proxy;
mod services;
mod sessions;
mod vaults;
