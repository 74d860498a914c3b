//! Choosing and describing the upstream connection: resolution with a small cache, the
//! network guard on every resolved address, and the Pingora peer (TLS with SNI and
//! verification, extra CA roots, ALPN, timeouts).
//!
//! Pingora's `HttpPeer::new` would resolve with blocking `to_socket_addrs()` (and panic on
//! failure), so we resolve ourselves on the async resolver and hand it the address we checked:
//! the address dialed is the address judged (DNS rebinding protection).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use pingora::protocols::ALPN;
use pingora::tls::{load_native_certs, CertificateDer, RootCertStore};
use pingora::upstreams::peer::HttpPeer;
use pingora::utils::tls::{parse_x509, WrappedX509};

use crate::config::{NetworkMode, ProxyConfig};
use crate::guard;
use crate::route::Target;
use crate::view::FastMap;

/// How long a resolution is reused.
const DNS_TTL: Duration = Duration::from_secs(30);
/// Host names cached at most (cleared when full).
const DNS_CACHE_MAX: usize = 4096;

/// One cached resolution of a host on a port.
struct Resolved {
    port: u16,
    addr: SocketAddr,
    at: Instant,
}

/// Why no address can be dialed.
#[derive(Debug, PartialEq, Eq)]
pub enum DialError {
    /// The name did not resolve.
    Unresolved,
    /// A resolved address is refused by the network guard.
    Blocked,
}

/// Per-process upstream settings and the resolution cache.
pub struct Upstreams {
    mode: NetworkMode,
    connect_timeout: Duration,
    read_timeout: Duration,
    write_timeout: Duration,
    ca: Option<Arc<[WrappedX509]>>,
    /// By host name (looked up without allocating), then port.
    cache: RwLock<FastMap<String, Vec<Resolved>>>,
}

impl Upstreams {
    /// Builds the settings; loads the extra CA file (plus the system roots) if configured.
    pub fn new(cfg: &ProxyConfig) -> Result<Upstreams, String> {
        let ca = match &cfg.upstream_ca_file {
            Some(path) => Some(roots_with(path)?),
            None => None,
        };
        Ok(Upstreams {
            mode: cfg.network_mode,
            connect_timeout: cfg.connect_timeout,
            // Pingora has one read timeout for the header wait and body reads alike: the stricter wins.
            read_timeout: cfg.idle_timeout.min(cfg.response_header_timeout),
            write_timeout: cfg.idle_timeout,
            ca,
            cache: RwLock::new(FastMap::default()),
        })
    }

    /// The guarded address to dial for `host:port`.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, DialError> {
        if let Some(addr) = self.cached(host, port) {
            return Ok(addr);
        }
        let addrs: Vec<SocketAddr> = if let Ok(ip) = host.parse::<IpAddr>() {
            vec![SocketAddr::new(ip, port)]
        } else if is_localhost(host) {
            vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)]
        } else {
            tokio::net::lookup_host((host, port))
                .await
                .map_err(|_| DialError::Unresolved)?
                .collect()
        };
        let first = *addrs.first().ok_or(DialError::Unresolved)?;
        if addrs.iter().any(|a| guard::blocked(a.ip(), self.mode)) {
            return Err(DialError::Blocked);
        }
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= DNS_CACHE_MAX {
            cache.clear();
        }
        let entries = cache.entry(host.to_owned()).or_default();
        entries.retain(|r| r.port != port);
        entries.push(Resolved {
            port,
            addr: first,
            at: Instant::now(),
        });
        Ok(first)
    }

    /// A fresh cached address for `host:port`.
    fn cached(&self, host: &str, port: u16) -> Option<SocketAddr> {
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        cache
            .get(host)?
            .iter()
            .find(|r| r.port == port && r.at.elapsed() < DNS_TTL)
            .map(|r| r.addr)
    }

    /// The Pingora peer for a checked address. `upgrade` forces HTTP/1.1 (WebSocket).
    pub fn peer(&self, addr: SocketAddr, target: &Target, upgrade: bool) -> HttpPeer {
        let mut peer = HttpPeer::new(addr, true, target.host.clone());
        let o = &mut peer.options;
        o.connection_timeout = Some(self.connect_timeout);
        o.total_connection_timeout = Some(self.connect_timeout);
        o.read_timeout = Some(self.read_timeout);
        o.write_timeout = Some(self.write_timeout);
        o.verify_cert = true;
        o.verify_hostname = true;
        o.alpn = if upgrade { ALPN::H1 } else { ALPN::H2H1 };
        o.ca = self.ca.clone();
        peer
    }
}

/// RFC 6761: `localhost` and `*.localhost` are loopback, without asking the resolver.
fn is_localhost(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || host.len().checked_sub(".localhost".len()).is_some_and(|i| {
            host.is_char_boundary(i) && host[i..].eq_ignore_ascii_case(".localhost")
        })
}

/// The system roots plus the PEM certificates of `path`, as a per-peer CA list (a per-peer
/// list replaces the connector's roots, so the system ones are included).
fn roots_with(path: &Path) -> Result<Arc<[WrappedX509]>, String> {
    let pem = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read upstream CA file {}: {e}", path.display()))?;
    let extra = pem_certificates(&pem);
    if extra.is_empty() {
        return Err(format!(
            "upstream CA file {} holds no PEM certificate",
            path.display()
        ));
    }
    let mut out = Vec::new();
    let mut check = RootCertStore::empty();
    let native = load_native_certs().unwrap_or_default();
    for der in extra
        .into_iter()
        .chain(native.into_iter().map(|c| c.to_vec()))
    {
        // Keep only what rustls accepts as a trust anchor: one bad root would otherwise fail
        // every handshake that uses this list.
        if check.add(CertificateDer::from(der.clone())).is_err() {
            continue;
        }
        if let Ok(cert) = std::panic::catch_unwind(|| WrappedX509::new(der, parse_x509)) {
            out.push(cert);
        }
    }
    Ok(out.into())
}

/// DER bodies of the `CERTIFICATE` blocks of a PEM text.
fn pem_certificates(pem: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut block: Option<String> = None;
    for line in pem.lines().map(str::trim) {
        match line {
            "-----BEGIN CERTIFICATE-----" => block = Some(String::new()),
            "-----END CERTIFICATE-----" => {
                if let Some(b64) = block.take() {
                    if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64) {
                        out.push(der);
                    }
                }
            }
            _ => {
                if let Some(b) = block.as_mut() {
                    b.push_str(line);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_names() {
        for h in [
            "localhost",
            "LOCALHOST",
            "api.localhost",
            "a.b.localhost",
            "localhost.",
        ] {
            assert!(is_localhost(h), "{h}");
        }
        for h in ["localhost.com", "xlocalhost", "example.com", "ö"] {
            assert!(!is_localhost(h), "{h}");
        }
    }

    #[tokio::test]
    async fn guard_applies_to_resolved_addresses() {
        let cfg = ProxyConfig::default();
        let up = Upstreams::new(&cfg).unwrap();
        assert_eq!(up.resolve("localhost", 1).await, Err(DialError::Blocked));
        assert_eq!(
            up.resolve("169.254.169.254", 80).await,
            Err(DialError::Blocked)
        );
        let cfg = ProxyConfig {
            network_mode: NetworkMode::Private,
            ..ProxyConfig::default()
        };
        let up = Upstreams::new(&cfg).unwrap();
        assert_eq!(
            up.resolve("api.localhost", 8443).await,
            Ok(SocketAddr::from(([127, 0, 0, 1], 8443)))
        );
        assert_eq!(
            up.resolve("169.254.169.254", 80).await,
            Err(DialError::Blocked)
        );
    }
}
