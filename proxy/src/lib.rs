//! The proxy half of Agent Vault: a Pingora service for `/proxy/<host>/<path>`.
//!
//! It never touches SQLite on the request path; it answers from an in-memory view of the
//! store ([`view`]) that a background task ([`watch`]) refreshes when admin writes change it.
//! `view`, `services` and `inject` are public for the criterion benchmarks in `benches/`.

mod config;
mod guard;
pub mod inject;
mod phases;
mod plan;
mod reply;
mod route;
pub mod services;
mod upstream;
pub mod view;
mod watch;

use std::sync::Arc;

use av_store::crypto::MasterKey;
use av_store::Store;
use pingora::server::configuration::ServerConf;
use pingora::services::background::background_service;
use pingora::services::ServiceWithDependents;

pub use config::{NetworkMode, ProxyConfig};

/// The proxy could not be set up.
#[derive(Debug)]
pub struct SetupError(String);

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SetupError {}

/// The services to add to the Pingora server: the proxy listening on `cfg.listen`, and the
/// background task that keeps its view of the store fresh. Loads the view before returning, so
/// the first request is answered from memory.
pub fn services(
    conf: &Arc<ServerConf>,
    store: Store,
    key: Arc<MasterKey>,
    cfg: ProxyConfig,
) -> Result<Vec<Box<dyn ServiceWithDependents>>, SetupError> {
    let view = Arc::new(view::View::default());
    let mut conn = store
        .dedicated_conn()
        .map_err(|e| SetupError(format!("proxy: cannot open the database: {e}")))?;
    let cursor = watch::load_all(&mut conn, &view)
        .map_err(|e| SetupError(format!("proxy: cannot load the store: {e}")))?;
    drop(conn);
    let upstreams = upstream::Upstreams::new(&cfg).map_err(SetupError)?;
    let listen = cfg.listen.to_string();
    let proxy = phases::AgentVault {
        view: view.clone(),
        key,
        cfg,
        upstreams,
    };
    let mut service =
        pingora::proxy::http_proxy_service_with_name(conf, proxy, "agent-vault proxy");
    service.add_tcp(&listen);
    let refresher = background_service(
        "proxy view",
        watch::Refresher {
            store,
            view,
            cursor,
        },
    );
    Ok(vec![Box::new(service), Box::new(refresher)])
}
