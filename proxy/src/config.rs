//! Settings of the proxy service, filled in by the CLI from flags, environment and the config
//! file (see `conf/agent-vault.yaml`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Which upstream addresses the network guard lets the proxy dial.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// Block private, loopback, link-local and metadata ranges (the default).
    #[default]
    Public,
    /// Block only cloud metadata endpoints.
    Private,
}

/// Proxy settings.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// Where the proxy listens (default 127.0.0.1:14322).
    pub listen: SocketAddr,
    /// External base URL of the proxy, e.g. `http://127.0.0.1:14322` (links use `<base>/proxy`).
    pub base_url: String,
    /// External base URL of the admin service (for hints in error bodies).
    pub admin_url: String,
    /// TCP + TLS connect timeout to upstreams (default 10 s).
    pub connect_timeout: Duration,
    /// Wait for upstream response headers (default 300 s).
    pub response_header_timeout: Duration,
    /// Idle read/write timeout on either side while a body streams (default 300 s).
    pub idle_timeout: Duration,
    /// Largest request body accepted (`None` = unlimited, the default); larger answers 413.
    pub max_request_body: Option<u64>,
    /// Largest response body passed on (`None` = unlimited, the default); larger aborts with an error.
    pub max_response_body: Option<u64>,
    /// Network guard mode.
    pub network_mode: NetworkMode,
    /// Extra PEM roots trusted for upstream TLS, in addition to the system roots.
    pub upstream_ca_file: Option<PathBuf>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 14322)),
            base_url: "http://127.0.0.1:14322".into(),
            admin_url: "http://127.0.0.1:14321".into(),
            connect_timeout: Duration::from_secs(10),
            response_header_timeout: Duration::from_secs(300),
            idle_timeout: Duration::from_secs(300),
            max_request_body: None,
            max_response_body: None,
            network_mode: NetworkMode::Public,
            upstream_ca_file: None,
        }
    }
}
