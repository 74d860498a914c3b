//! The server's typed configuration: the YAML file (`conf/agent-vault.yaml` documents every
//! key), environment variables and command-line flags, resolved with the precedence
//! flag > environment > file > default into the settings the proxy and the admin service take.
//!
//! Every section rejects unknown keys, and every error names the offending key (as a dotted
//! path such as `proxy.connect_timeout_seconds`, or the environment variable), so a typo stops
//! startup instead of being silently ignored.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use av_admin::limiter::Cidr;
use av_admin::mail::SmtpConfig;
use av_admin::AdminConfig;
use av_proxy::{NetworkMode, ProxyConfig};
use pingora::server::configuration::ServerConf;
use serde::Deserialize;

/// Environment variable naming the config file.
pub const CONFIG_ENV: &str = "AGENT_VAULT_CONFIG";
/// Environment variable naming the data directory.
pub const DATA_DIR_ENV: &str = "AGENT_VAULT_DATA_DIR";

/// The whole file. Missing sections and keys (or `null`) take their defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// `server:` — listeners, base URLs, data directory, shutdown.
    pub server: ServerSection,
    /// `proxy:` — the proxy port, upstream timeouts, body caps, network guard, upstream CA.
    pub proxy: ProxySection,
    /// `log:` — filter and format.
    pub log: LogSection,
    /// `pingora:` — passed through to Pingora's own server configuration.
    pub pingora: PingoraSection,
}

/// `server:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Listen address of both services.
    pub host: Option<String>,
    /// Admin port.
    pub port: Option<u16>,
    /// External admin base URL (`AGENT_VAULT_ADDR`).
    pub base_url: Option<String>,
    /// Data directory (`AGENT_VAULT_DATA_DIR`).
    pub data_dir: Option<String>,
    /// Lift the internal-hostname blocklist for proposals (`AGENT_VAULT_DEV_MODE`).
    pub dev_mode: Option<bool>,
    /// Networks whose `X-Forwarded-For` is trusted (`AGENT_VAULT_TRUSTED_PROXIES`).
    pub trusted_proxies: Option<Vec<String>>,
    /// Longest wait for in-flight requests after SIGINT/SIGTERM.
    pub shutdown_grace_seconds: Option<u64>,
}

/// `proxy:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxySection {
    /// Proxy port.
    pub port: Option<u16>,
    /// External proxy base URL (`AGENT_VAULT_PROXY_ADDR`).
    pub base_url: Option<String>,
    /// Upstream TCP + TLS connect timeout.
    pub connect_timeout_seconds: Option<u64>,
    /// Wait for upstream response headers.
    pub response_header_timeout_seconds: Option<u64>,
    /// Idle read/write timeout while bodies stream.
    pub idle_timeout_seconds: Option<u64>,
    /// Largest request body accepted (unlimited when absent).
    pub max_request_body_bytes: Option<u64>,
    /// Largest response body passed on (unlimited when absent).
    pub max_response_body_bytes: Option<u64>,
    /// `public` or `private` (`AGENT_VAULT_NETWORK_MODE`).
    pub network_mode: Option<NetworkModeName>,
    /// Extra PEM roots for upstream TLS (`AGENT_VAULT_UPSTREAM_CA_FILE`).
    pub upstream_ca_file: Option<String>,
}

/// Network guard mode as written in the file.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NetworkModeName {
    /// Block private ranges too.
    Public,
    /// Block only metadata endpoints.
    Private,
}

/// `log:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// A `tracing` filter such as `info` or `av_proxy=debug,info` (`AGENT_VAULT_LOG`).
    pub level: Option<String>,
    /// `text` or `json` (`AGENT_VAULT_LOG_FORMAT`).
    pub format: Option<LogFormat>,
}

/// Log line format.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `pingora:` — the subset of Pingora's `ServerConf` that makes sense to tune here.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PingoraSection {
    /// Worker threads of the proxy service (default: one per CPU this process may use).
    pub threads: Option<usize>,
    /// Work-stealing runtime (default `false`: one single-threaded runtime per thread).
    pub work_stealing: Option<bool>,
    /// Idle upstream connections kept for reuse.
    pub upstream_keepalive_pool_size: Option<usize>,
    /// Accept tasks per listening socket.
    pub listener_tasks_per_fd: Option<usize>,
    /// Retries of a failed upstream connection attempt.
    pub max_retries: Option<usize>,
    /// Thread pools that offload upstream connect/TLS handshakes.
    pub upstream_connect_offload_threadpools: Option<usize>,
    /// Threads per offload pool.
    pub upstream_connect_offload_thread_per_pool: Option<usize>,
    /// Largest blocking thread pool per runtime.
    pub max_blocking_threads: Option<usize>,
    /// Seconds an idle blocking thread lives.
    pub blocking_threads_ttl_seconds: Option<u64>,
}

/// Values given on the command line (they win over everything else).
#[derive(Debug, Default, Clone)]
pub struct Flags {
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--host`.
    pub host: Option<String>,
    /// `--port`.
    pub port: Option<u16>,
    /// `--proxy-port`.
    pub proxy_port: Option<u16>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
}

/// Everything the server needs, resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// Listen host as given (an IP address or `localhost`).
    pub host: String,
    /// Listen IP.
    pub ip: IpAddr,
    /// Admin port.
    pub port: u16,
    /// Proxy port.
    pub proxy_port: u16,
    /// External admin base URL, no trailing slash.
    pub admin_base_url: String,
    /// External proxy base URL, no trailing slash.
    pub proxy_base_url: String,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Dev mode for proposal host validation.
    pub dev_mode: bool,
    /// Trusted proxy networks.
    pub trusted_proxies: Vec<Cidr>,
    /// Longest drain after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Proxy timeouts, caps, guard and CA.
    pub proxy: ProxyConfig,
    /// `tracing` filter.
    pub log_filter: String,
    /// Log format.
    pub log_format: LogFormat,
    /// Pingora tuning.
    pub pingora: PingoraSection,
    /// Outgoing email, read from `AGENT_VAULT_SMTP_*` by the process that serves.
    pub smtp: Option<SmtpConfig>,
}

/// Default admin port.
pub const DEFAULT_PORT: u16 = 14321;
/// Default proxy port.
pub const DEFAULT_PROXY_PORT: u16 = 14322;
/// Default shutdown grace.
pub const DEFAULT_GRACE_SECONDS: u64 = 10;

/// Reads and validates a config file (types, unknown keys, and value rules).
pub fn load_file(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    let file: FileConfig = serde_saphyr::from_str(&text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        let key = key_at_line(&text, line as usize);
        let reason = first_line(&e.to_string());
        match key {
            Some(key) => anyhow!(
                "{}: invalid setting `{key}` (line {line}, column {column}): {reason}",
                path.display()
            ),
            None => anyhow!("{}: {reason}", path.display()),
        }
    })?;
    validate_file(&file).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    Ok(file)
}

/// The saphyr message without its source snippet and `error: line N column M:` prefix.
fn first_line(msg: &str) -> String {
    let line = msg.lines().next().unwrap_or(msg);
    let line = line.strip_prefix("error: ").unwrap_or(line);
    match line.split_once(": ") {
        Some((pos, rest)) if pos.starts_with("line ") => rest.to_string(),
        _ => line.to_string(),
    }
}

/// The dotted key path of the mapping entry on `line` (1-based) of a block-style YAML file,
/// found by walking up to the less-indented parent keys.
fn key_at_line(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let target = lines.get(line.checked_sub(1)?)?;
    let key_of = |l: &str| -> Option<(usize, String)> {
        let indent = l.len() - l.trim_start().len();
        let body = l.trim_start().trim_start_matches("- ");
        if body.starts_with('#') {
            return None;
        }
        let (k, _) = body.split_once(':')?;
        let k = k.trim().trim_matches(['"', '\'']);
        (!k.is_empty() && !k.contains(' ')).then(|| (indent, k.to_string()))
    };
    let (mut indent, first) = key_of(target)?;
    let mut path = vec![first];
    for l in lines[..line - 1].iter().rev() {
        if indent == 0 {
            break;
        }
        if l.trim().is_empty() {
            continue;
        }
        if let Some((i, k)) = key_of(l) {
            if i < indent {
                path.push(k);
                indent = i;
            }
        }
    }
    path.reverse();
    Some(path.join("."))
}

fn validate_file(f: &FileConfig) -> Result<()> {
    if let Some(h) = &f.server.host {
        parse_host(h).map_err(|e| anyhow!("invalid setting `server.host`: {e}"))?;
    }
    for (key, port) in [("server.port", f.server.port), ("proxy.port", f.proxy.port)] {
        if port == Some(0) {
            bail!("invalid setting `{key}`: must be between 1 and 65535");
        }
    }
    for (key, url) in [
        ("server.base_url", &f.server.base_url),
        ("proxy.base_url", &f.proxy.base_url),
    ] {
        if let Some(u) = url {
            check_url(u).map_err(|e| anyhow!("invalid setting `{key}`: {e}"))?;
        }
    }
    if let Some(list) = &f.server.trusted_proxies {
        for entry in list {
            Cidr::parse(entry).ok_or_else(|| {
                anyhow!("invalid setting `server.trusted_proxies`: `{entry}` is not a CIDR or IP address")
            })?;
        }
    }
    for (key, v) in [
        (
            "server.shutdown_grace_seconds",
            f.server.shutdown_grace_seconds,
        ),
        (
            "proxy.connect_timeout_seconds",
            f.proxy.connect_timeout_seconds,
        ),
        (
            "proxy.response_header_timeout_seconds",
            f.proxy.response_header_timeout_seconds,
        ),
        ("proxy.idle_timeout_seconds", f.proxy.idle_timeout_seconds),
    ] {
        if v == Some(0) {
            bail!("invalid setting `{key}`: must be at least 1");
        }
    }
    if let Some(level) = &f.log.level {
        check_filter(level).map_err(|e| anyhow!("invalid setting `log.level`: {e}"))?;
    }
    for (key, v) in [
        ("pingora.threads", f.pingora.threads),
        (
            "pingora.listener_tasks_per_fd",
            f.pingora.listener_tasks_per_fd,
        ),
    ] {
        if v == Some(0) {
            bail!("invalid setting `{key}`: must be at least 1");
        }
    }
    Ok(())
}

fn parse_host(h: &str) -> Result<IpAddr> {
    if h.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    h.parse::<IpAddr>()
        .map_err(|_| anyhow!("`{h}` is not an IP address (or `localhost`)"))
}

fn check_url(u: &str) -> Result<()> {
    if !is_http_url(u) {
        bail!("`{u}` must start with http:// or https://");
    }
    Ok(())
}

/// An `http://` or `https://` URL with something after the scheme.
pub fn is_http_url(u: &str) -> bool {
    u.strip_prefix("http://")
        .or_else(|| u.strip_prefix("https://"))
        .is_some_and(|rest| !rest.is_empty())
}

fn check_filter(f: &str) -> Result<()> {
    tracing_subscriber::EnvFilter::builder()
        .parse(f)
        .map(|_| ())
        .map_err(|e| anyhow!("`{f}` is not a valid log filter ({e})"))
}

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.trim().is_empty())
}

fn expand_home(p: &str) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => home().join(rest),
        None if p == "~" => home(),
        None => PathBuf::from(p),
    }
}

fn home() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| ".".into()))
}

/// The data directory without reading a config file: `--data-dir` > `AGENT_VAULT_DATA_DIR`
/// > `server.data_dir` of `file` > `~/.agent-vault`.
pub fn data_dir(flag: Option<&Path>, file: Option<&FileConfig>) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| env(DATA_DIR_ENV).map(|p| expand_home(&p)))
        .or_else(|| file.and_then(|f| f.server.data_dir.as_deref().map(expand_home)))
        .unwrap_or_else(|| home().join(".agent-vault"))
}

/// The config file to read: `--config` > `AGENT_VAULT_CONFIG`.
pub fn config_path(flag: Option<&Path>) -> Option<PathBuf> {
    flag.map(Path::to_path_buf)
        .or_else(|| env(CONFIG_ENV).map(|p| expand_home(&p)))
}

fn trim_url(u: &str) -> String {
    u.trim_end_matches('/').to_string()
}

/// A URL host: IPv6 literals in brackets, unspecified addresses replaced by loopback.
fn url_host(ip: IpAddr, host: &str) -> String {
    match ip {
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(_) => host.to_string(),
    }
}

impl Settings {
    /// Resolves flag > environment > file > default.
    pub fn resolve(flags: &Flags) -> Result<Settings> {
        let config_file = config_path(flags.config.as_deref());
        let file = match &config_file {
            Some(p) => load_file(p)?,
            None => FileConfig::default(),
        };
        let host = flags
            .host
            .clone()
            .or_else(|| file.server.host.clone())
            .unwrap_or_else(|| "127.0.0.1".to_string());
        let ip = parse_host(&host).map_err(|e| anyhow!("invalid --host: {e}"))?;
        let port = flags.port.or(file.server.port).unwrap_or(DEFAULT_PORT);
        let proxy_port = flags
            .proxy_port
            .or(file.proxy.port)
            .unwrap_or(DEFAULT_PROXY_PORT);
        let uhost = url_host(ip, &host);
        let admin_base_url = match env("AGENT_VAULT_ADDR") {
            Some(u) => {
                check_url(&u).map_err(|e| anyhow!("invalid AGENT_VAULT_ADDR: {e}"))?;
                trim_url(&u)
            }
            None => file
                .server
                .base_url
                .as_deref()
                .map(trim_url)
                .unwrap_or_else(|| format!("http://{uhost}:{port}")),
        };
        let proxy_base_url = match env("AGENT_VAULT_PROXY_ADDR") {
            Some(u) => {
                check_url(&u).map_err(|e| anyhow!("invalid AGENT_VAULT_PROXY_ADDR: {e}"))?;
                trim_url(&u)
            }
            None => file
                .proxy
                .base_url
                .as_deref()
                .map(trim_url)
                .unwrap_or_else(|| format!("http://{uhost}:{proxy_port}")),
        };
        let dev_mode = match env("AGENT_VAULT_DEV_MODE") {
            Some(v) => v.trim().eq_ignore_ascii_case("true"),
            None => file.server.dev_mode.unwrap_or(false),
        };
        let trusted_proxies = match env("AGENT_VAULT_TRUSTED_PROXIES") {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    Cidr::parse(s).ok_or_else(|| {
                        anyhow!("invalid AGENT_VAULT_TRUSTED_PROXIES: `{s}` is not a CIDR or IP address")
                    })
                })
                .collect::<Result<Vec<_>>>()?,
            None => file
                .server
                .trusted_proxies
                .iter()
                .flatten()
                .filter_map(|s| Cidr::parse(s))
                .collect(),
        };
        let network_mode = match env("AGENT_VAULT_NETWORK_MODE") {
            Some(v) if v.trim().eq_ignore_ascii_case("private") => NetworkMode::Private,
            Some(_) => NetworkMode::Public,
            None => match file.proxy.network_mode {
                Some(NetworkModeName::Private) => NetworkMode::Private,
                _ => NetworkMode::Public,
            },
        };
        let upstream_ca_file = env("AGENT_VAULT_UPSTREAM_CA_FILE")
            .map(|p| (p, "AGENT_VAULT_UPSTREAM_CA_FILE"))
            .or_else(|| {
                file.proxy
                    .upstream_ca_file
                    .clone()
                    .map(|p| (p, "proxy.upstream_ca_file"))
            })
            .map(|(p, key)| {
                let path = expand_home(&p);
                std::fs::metadata(&path)
                    .map(|_| path.clone())
                    .map_err(|e| anyhow!("invalid setting `{key}`: {}: {e}", path.display()))
            })
            .transpose()?;
        let log_filter = match env("AGENT_VAULT_LOG") {
            Some(f) => {
                check_filter(&f).map_err(|e| anyhow!("invalid AGENT_VAULT_LOG: {e}"))?;
                f
            }
            None => file.log.level.clone().unwrap_or_else(|| "info".to_string()),
        };
        let log_format = match env("AGENT_VAULT_LOG_FORMAT") {
            Some(f) if f.trim().eq_ignore_ascii_case("json") => LogFormat::Json,
            Some(f) if f.trim().eq_ignore_ascii_case("text") => LogFormat::Text,
            Some(f) => bail!("invalid AGENT_VAULT_LOG_FORMAT: `{f}` (expected text or json)"),
            None => file.log.format.unwrap_or_default(),
        };
        let secs = |v: Option<u64>, d: u64| Duration::from_secs(v.unwrap_or(d));
        let proxy = ProxyConfig {
            listen: SocketAddr::new(ip, proxy_port),
            base_url: proxy_base_url.clone(),
            admin_url: admin_base_url.clone(),
            connect_timeout: secs(file.proxy.connect_timeout_seconds, 10),
            response_header_timeout: secs(file.proxy.response_header_timeout_seconds, 300),
            idle_timeout: secs(file.proxy.idle_timeout_seconds, 300),
            max_request_body: file.proxy.max_request_body_bytes,
            max_response_body: file.proxy.max_response_body_bytes,
            network_mode,
            upstream_ca_file,
        };
        Ok(Settings {
            data_dir: data_dir(flags.data_dir.as_deref(), Some(&file)),
            config_file,
            host,
            ip,
            port,
            proxy_port,
            admin_base_url,
            proxy_base_url,
            dev_mode,
            trusted_proxies,
            shutdown_grace: secs(file.server.shutdown_grace_seconds, DEFAULT_GRACE_SECONDS),
            proxy,
            log_filter,
            log_format,
            pingora: file.pingora,
            smtp: None,
        })
    }

    /// Admin listen address.
    pub fn admin_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }

    /// An address a local client can reach the admin service at (loopback for `0.0.0.0`).
    pub fn admin_local_addr(&self) -> SocketAddr {
        SocketAddr::new(local(self.ip), self.port)
    }

    /// An address a local client can reach the proxy at.
    pub fn proxy_local_addr(&self) -> SocketAddr {
        SocketAddr::new(local(self.ip), self.proxy_port)
    }

    /// Settings of the admin service.
    pub fn admin_config(&self) -> AdminConfig {
        AdminConfig {
            base_url: self.admin_base_url.clone(),
            proxy_base_url: self.proxy_base_url.clone(),
            dev_mode: self.dev_mode,
            trusted_proxies: self.trusted_proxies.clone(),
            smtp: self.smtp.clone(),
        }
    }

    /// Pingora's server configuration: defaults, the `pingora:` section, and the shutdown
    /// timing (Pingora's own 300 s grace would keep a stopping server alive for minutes).
    pub fn server_conf(&self) -> ServerConf {
        let p = &self.pingora;
        let mut c = ServerConf {
            // Pingora waits the grace period, then gives runtimes one more second.
            grace_period_seconds: Some(self.shutdown_grace.as_secs().saturating_sub(1)),
            graceful_shutdown_timeout_seconds: Some(1),
            pid_file: self.data_dir.join("pingora.pid").display().to_string(),
            upgrade_sock: self.data_dir.join("upgrade.sock").display().to_string(),
            // Like nginx's `worker_processes auto`: every CPU the process may run on.
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            // One single-threaded runtime per thread, connections spread across them: no
            // cross-thread wake-ups on the request path (+7% to +20% requests per CPU in the
            // load benchmarks, `benches/README.md`).
            work_stealing: false,
            ..ServerConf::default()
        };
        if let Some(v) = p.threads {
            c.threads = v;
        }
        if let Some(v) = p.work_stealing {
            c.work_stealing = v;
        }
        if let Some(v) = p.upstream_keepalive_pool_size {
            c.upstream_keepalive_pool_size = v;
        }
        if let Some(v) = p.listener_tasks_per_fd {
            c.listener_tasks_per_fd = v;
        }
        if let Some(v) = p.max_retries {
            c.max_retries = v;
        }
        c.upstream_connect_offload_threadpools = p.upstream_connect_offload_threadpools;
        c.upstream_connect_offload_thread_per_pool = p.upstream_connect_offload_thread_per_pool;
        c.max_blocking_threads = p.max_blocking_threads;
        c.blocking_threads_ttl_seconds = p.blocking_threads_ttl_seconds;
        c
    }
}

fn local(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v) if v.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v) if v.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_file_is_valid_and_documents_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/agent-vault.yaml");
        let f = load_file(&path).unwrap();
        assert_eq!(f.server.host.as_deref(), Some("127.0.0.1"));
        assert_eq!(f.server.port, Some(DEFAULT_PORT));
        assert_eq!(f.proxy.port, Some(DEFAULT_PROXY_PORT));
        assert_eq!(f.server.shutdown_grace_seconds, Some(DEFAULT_GRACE_SECONDS));
        let d = ProxyConfig::default();
        assert_eq!(
            f.proxy.connect_timeout_seconds,
            Some(d.connect_timeout.as_secs())
        );
        assert_eq!(
            f.proxy.response_header_timeout_seconds,
            Some(d.response_header_timeout.as_secs())
        );
        assert_eq!(f.proxy.idle_timeout_seconds, Some(d.idle_timeout.as_secs()));
        assert_eq!(f.proxy.network_mode, Some(NetworkModeName::Public));
        let p = ServerConf::default();
        assert_eq!(f.pingora.threads, None, "default: one per CPU");
        assert_eq!(f.pingora.work_stealing, Some(false));
        assert_eq!(
            f.pingora.upstream_keepalive_pool_size,
            Some(p.upstream_keepalive_pool_size)
        );
        assert_eq!(f.pingora.max_retries, Some(p.max_retries));
        assert_eq!(
            f.pingora.listener_tasks_per_fd,
            Some(p.listener_tasks_per_fd)
        );
    }

    #[test]
    fn key_paths_follow_indentation() {
        let text = "server:\n  host: x\n\n  # c\nproxy:\n  port: 1\n  network_mode: nope\n";
        assert_eq!(key_at_line(text, 2).as_deref(), Some("server.host"));
        assert_eq!(key_at_line(text, 7).as_deref(), Some("proxy.network_mode"));
        assert_eq!(key_at_line(text, 5).as_deref(), Some("proxy"));
        assert_eq!(key_at_line(text, 4), None);
        assert_eq!(key_at_line(text, 99), None);
        assert_eq!(key_at_line(text, 0), None);
    }

    #[test]
    fn errors_name_the_key() {
        let dir = std::env::temp_dir().join(format!("av-conf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases = [
            ("server:\n  bogus: 1\n", "server.bogus"),
            ("proxy:\n  port: 99999\n", "proxy.port"),
            ("proxy:\n  network_mode: nope\n", "proxy.network_mode"),
            ("pingora:\n  threads: 0\n", "pingora.threads"),
            ("server:\n  base_url: ftp://x\n", "server.base_url"),
            ("log:\n  level: \"[[\"\n", "log.level"),
            ("nope: 1\n", "nope"),
        ];
        for (i, (text, key)) in cases.iter().enumerate() {
            let p = dir.join(format!("{i}.yaml"));
            std::fs::write(&p, text).unwrap();
            let err = load_file(&p).unwrap_err().to_string();
            assert!(err.contains(key), "{text:?} -> {err}");
        }
        let p = dir.join("ok.yaml");
        std::fs::write(&p, "server:\n  port: 1234\npingora:\n  threads: 2\n").unwrap();
        let f = load_file(&p).unwrap();
        assert_eq!(f.server.port, Some(1234));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
