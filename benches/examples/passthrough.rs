//! A bare Pingora pass-through, the framework's ceiling for the load benchmarks: it routes
//! `/proxy/<host:port>/<path>` to `https://<host:port>/<path>` over verified, pooled TLS with
//! no authentication, no vault and no injection, so the gap between it and `agent-vault`
//! is exactly what Agent Vault adds per request. It shares `agent-vault`'s framework settings
//! (mimalloc, no downstream modules; `benches/load/run.sh` gives both the same runtime mode).
//!
//! Environment: `PROBE_CONF` (Pingora server YAML, e.g. with `ca_file`), `PROBE_LISTEN`
//! (`127.0.0.1:6288`), `PROBE_UPSTREAM` (the one address it dials, e.g. `127.0.0.1:8443`).

use std::net::SocketAddr;

use async_trait::async_trait;
use pingora::http::RequestHeader;
use pingora::modules::http::HttpModules;
use pingora::proxy::{http_proxy_service, ProxyHttp, Session};
use pingora::server::configuration::ServerConf;
use pingora::server::Server;
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};

/// The same allocator as `agent-vault`, so the comparison measures the request path only.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct PassThrough {
    upstream: SocketAddr,
}

/// The target host and the rest of the path, from `/proxy/<host>/<rest>`.
fn split(raw: &[u8]) -> Option<(String, Vec<u8>)> {
    let rest = raw.strip_prefix(b"/proxy/")?;
    let end = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
    let host = std::str::from_utf8(&rest[..end]).ok()?.to_owned();
    let path = if end == rest.len() {
        b"/".to_vec()
    } else {
        rest[end..].to_vec()
    };
    Some((host, path))
}

#[async_trait]
impl ProxyHttp for PassThrough {
    type CTX = Option<(String, Vec<u8>)>;

    /// No downstream modules, as in `agent-vault`.
    fn init_downstream_modules(&self, _modules: &mut HttpModules) {}

    fn new_ctx(&self) -> Self::CTX {
        None
    }

    async fn upstream_peer(
        &self,
        session: &mut Session,
        ctx: &mut Self::CTX,
    ) -> Result<Box<HttpPeer>> {
        let (host, path) = split(session.req_header().raw_path())
            .ok_or_else(|| Error::explain(ErrorType::HTTPStatus(404), "not /proxy/"))?;
        let sni = host.split(':').next().unwrap_or_default().to_owned();
        *ctx = Some((host, path));
        Ok(Box::new(HttpPeer::new(self.upstream, true, sni)))
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        up: &mut RequestHeader,
        ctx: &mut Self::CTX,
    ) -> Result<()> {
        if let Some((host, path)) = ctx.as_ref() {
            up.set_raw_path(path)?;
            up.insert_header("host", host.as_str())?;
        }
        Ok(())
    }
}

fn main() {
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is required"));
    let conf = ServerConf::from_yaml(&std::fs::read_to_string(var("PROBE_CONF")).expect("conf"))
        .expect("server conf");
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let upstream = var("PROBE_UPSTREAM").parse().expect("PROBE_UPSTREAM");
    let mut proxy = http_proxy_service(&server.configuration, PassThrough { upstream });
    proxy.add_tcp(&var("PROBE_LISTEN"));
    server.add_service(proxy);
    server.run_forever();
}
