//! Shared end-to-end harness: the real `agent-vault` binary on ephemeral ports
//! ([`Server`]), a small blocking HTTP client ([`Http`], [`Resp`]) and an HTTPS upstream with a
//! test CA that echoes what it receives ([`Upstream`]).
//!
//! Every test module uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code, unused_imports)]

mod http;
mod server;
pub mod smtp;
mod upstream;
pub mod webdriver;
pub mod ws;

pub use http::{Http, Req, Resp};
pub use server::{Login, Options, Server};
pub use upstream::{large_body, test_ca_pem_path, Upstream};
