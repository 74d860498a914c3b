//! The proxy service run in-process against a real store file (rows written with SQL, as
//! admin would) and a local HTTPS upstream with its own test CA. Covers the request path end
//! to end without the CLI or admin: answers, injection, header rules, refresh, streaming.

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use av_proxy::{NetworkMode, ProxyConfig};
use av_store::crypto::MasterKey;
use av_store::Store;
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, Server, ShutdownSignal, ShutdownSignalWatch};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const AGENT_TOKEN: &str = "av_agt_agenttoken";
const SCOPED_TOKEN: &str = "av_sess_scoped";
const USER_TOKEN: &str = "av_sess_user";
const EXPIRED_TOKEN: &str = "av_sess_expired";
const SECRET: &str = "sk-sentinel-8f2c1e";

struct Certs {
    ca_pem: String,
    leaf: CertificateDer<'static>,
    key: Vec<u8>,
}

fn certs(org: &str) -> Certs {
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("{org} CA"));
    ca.distinguished_name = dn;
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".into()]).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "localhost");
    leaf.distinguished_name = dn;
    let leaf = leaf.signed_by(&leaf_key, &issuer).unwrap();
    Certs {
        ca_pem: ca_cert.pem(),
        leaf: leaf.der().clone(),
        key: leaf_key.serialize_der(),
    }
}

/// An HTTPS upstream: `/sse` streams two events 800 ms apart, `/cookie` sets a cookie,
/// everything else echoes the request as JSON. One request per connection.
fn upstream(rt: &tokio::runtime::Runtime, certs: &Certs) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![certs.leaf.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certs.key.clone())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&buf).into_owned();
                let mut lines = text.split("\r\n");
                let first = lines.next().unwrap_or_default().to_owned();
                let target = first.split(' ').nth(1).unwrap_or_default().to_owned();
                let mut headers = serde_json::Map::new();
                for line in lines.take_while(|l| !l.is_empty()) {
                    if let Some((k, v)) = line.split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), json!(v.trim()));
                    }
                }
                if target == "/sse" {
                    let _ = tls
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\ndata: one\n\n")
                        .await;
                    let _ = tls.flush().await;
                    tokio::time::sleep(Duration::from_millis(800)).await;
                    let _ = tls.write_all(b"data: two\n\n").await;
                    let _ = tls.shutdown().await;
                    return;
                }
                let body = json!({"target": target, "headers": headers}).to_string();
                let cookie = if target == "/cookie" {
                    "set-cookie: s=1\r\nx-upstream: yes\r\n"
                } else {
                    ""
                };
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{cookie}connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(resp.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

struct Stop(Arc<tokio::sync::Notify>);

#[async_trait::async_trait]
impl ShutdownSignalWatch for Stop {
    async fn recv(&self) -> ShutdownSignal {
        self.0.notified().await;
        ShutdownSignal::FastShutdown
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_proxy(
    store: Store,
    key: Arc<MasterKey>,
    ca_file: PathBuf,
) -> (String, Arc<tokio::sync::Notify>) {
    let port = free_port();
    let cfg = ProxyConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], port)),
        network_mode: NetworkMode::Private,
        upstream_ca_file: Some(ca_file),
        connect_timeout: Duration::from_secs(2),
        ..ProxyConfig::default()
    };
    let conf = ServerConf {
        threads: 1,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(0),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let services = av_proxy::services(&server.configuration, store, key, cfg).unwrap();
    server.add_services(services);
    let stop = Arc::new(tokio::sync::Notify::new());
    let signal = Stop(stop.clone());
    std::thread::spawn(move || {
        server.run(RunArgs {
            shutdown_signal: Box::new(signal),
        })
    });
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "proxy did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (base, stop)
}

fn sql(store: &Store, statements: &str) {
    store
        .read(|c| c.execute_batch(statements).map_err(av_store::Error::from))
        .unwrap();
}

fn hash(raw: &str) -> String {
    av_store::token::hash(raw)
}

fn seed(store: &Store, key: &MasterKey) {
    let sealed = key.seal(SECRET.as_bytes()).unwrap();
    store
        .read(|c| {
            c.execute(
                "INSERT INTO credentials (id, vault_id, key, ciphertext, nonce, created_at, updated_at)
                 VALUES ('c1', ?1, 'API_TOKEN', ?2, ?3, 'now', 'now')",
                rusqlite::params![av_store::DEFAULT_VAULT_ID, sealed.ciphertext, sealed.nonce],
            )
            .map_err(av_store::Error::from)
        })
        .unwrap();
    let services = json!([
        {"host": "localhost", "description": null,
         "auth": {"type": "bearer", "token": "API_TOKEN"}},
        {"host": "*.localhost", "description": null,
         "auth": {"type": "api-key", "key": "MISSING_KEY"}}
    ]);
    sql(
        store,
        &format!(
            "UPDATE broker_configs SET services_json = '{services}' WHERE vault_id = '{v}';
             INSERT INTO vaults (id, name, created_at, updated_at) VALUES ('v2', 'other', 'now', 'now');
             INSERT INTO agents (id, name, created_by, created_at, updated_at)
                 VALUES ('a1', 'bot', 'u1', 'now', 'now');
             INSERT INTO vault_grants (actor_id, actor_type, vault_id, role, created_at)
                 VALUES ('a1', 'agent', '{v}', 'proxy', 'now');
             INSERT INTO sessions (id, created_at, agent_id) VALUES ('{agent}', 'now', 'a1');
             INSERT INTO sessions (id, created_at, vault_id, vault_role, expires_at)
                 VALUES ('{scoped}', 'now', '{v}', 'proxy', '2999-01-01 00:00:00');
             INSERT INTO sessions (id, created_at, vault_id, vault_role, expires_at)
                 VALUES ('{expired}', 'now', '{v}', 'proxy', '2000-01-01 00:00:00');",
            v = av_store::DEFAULT_VAULT_ID,
            agent = hash(AGENT_TOKEN),
            scoped = hash(SCOPED_TOKEN),
            expired = hash(EXPIRED_TOKEN),
        ),
    );
}

fn client() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(20)))
            .build(),
    )
}

/// URL, request headers, expected status and `error` field.
type Case = (String, Vec<(&'static str, String)>, u16, Value);

struct Answer {
    status: u16,
    headers: ureq::http::HeaderMap,
    json: Value,
}

fn call(url: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = ureq::http::Request::builder().method("GET").uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut res = client().run(req.body(()).unwrap()).unwrap();
    let text = res.body_mut().read_to_string().unwrap();
    Answer {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        json: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

/// Polls until `check` holds (the view refreshes within about 100-200 ms).
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{what} not within 1 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn proxy_request_path_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let key = Arc::new(MasterKey::from_bytes([3; 32]));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let trusted = certs("trusted");
    let good = upstream(&rt, &trusted);
    let bad = upstream(&rt, &certs("untrusted"));
    let ca = write_file(dir.path(), "ca.pem", &trusted.ca_pem);
    let (base, stop) = start_proxy(store.clone(), key.clone(), ca);
    let up = format!("{base}/proxy/localhost:{}", good.port());
    let bearer = format!("Bearer {AGENT_TOKEN}");
    let agent = [("authorization", bearer.as_str()), ("x-vault", "default")];

    // Not initialized until a user exists; then refreshed from the change log.
    let a = call(&format!("{up}/x"), &agent);
    assert_eq!(a.status, 503);
    assert_eq!(a.json["error"], "not_initialized");
    assert_eq!(a.headers["x-frame-options"], "DENY");
    sql(
        &store,
        &format!(
            "INSERT INTO users (id, email, role, is_active, created_at, updated_at)
                 VALUES ('u1', 'o@example.com', 'owner', 1, 'now', 'now');
             INSERT INTO sessions (id, created_at, user_id) VALUES ('{}', 'now', 'u1');",
            hash(USER_TOKEN)
        ),
    );
    seed(&store, &key);
    eventually("initialization", || {
        call(&format!("{up}/x"), &agent).status == 200
    });

    // Errors, in processing order.
    let cases: Vec<Case> = vec![
        (format!("{base}/v1/status"), vec![], 404, json!("not_found")),
        (format!("{base}/proxy/"), vec![], 400, json!("bad_request")),
        (
            format!("{base}/proxy/a@b/x"),
            vec![],
            400,
            json!("bad_request"),
        ),
        (
            format!("{up}/x"),
            vec![],
            401,
            json!("Authorization required"),
        ),
        (
            format!("{up}/x"),
            vec![("authorization", "Bearer nope".into())],
            401,
            json!("Invalid or expired session"),
        ),
        (
            format!("{up}/x"),
            vec![("authorization", format!("Bearer {EXPIRED_TOKEN}"))],
            401,
            json!("Session expired"),
        ),
        (
            format!("{up}/x"),
            vec![("authorization", format!("Bearer {USER_TOKEN}"))],
            403,
            json!("Session requires vault scope"),
        ),
        (
            format!("{up}/x"),
            vec![("authorization", bearer.clone())],
            400,
            json!("Agent tokens require X-Vault header to specify which vault to use"),
        ),
        (
            format!("{up}/x"),
            vec![
                ("authorization", bearer.clone()),
                ("x-vault", "nope".into()),
            ],
            404,
            json!("Vault not found: nope"),
        ),
        (
            format!("{up}/x"),
            vec![
                ("authorization", bearer.clone()),
                ("x-vault", "other".into()),
            ],
            403,
            json!("Agent does not have access to vault: other"),
        ),
        (
            format!("{base}/proxy/example.com/x"),
            vec![
                ("authorization", bearer.clone()),
                ("x-vault", "default".into()),
            ],
            403,
            json!("forbidden"),
        ),
        (
            format!("{base}/proxy/api.localhost:{}/x", good.port()),
            vec![
                ("authorization", bearer.clone()),
                ("x-vault", "default".into()),
            ],
            502,
            json!("credential_not_found"),
        ),
        (
            format!("{base}/proxy/localhost:{}/x", bad.port()),
            vec![
                ("authorization", bearer.clone()),
                ("x-vault", "default".into()),
            ],
            502,
            json!("upstream_error"),
        ),
        (
            format!("{base}/proxy/localhost:{}/x", free_port()),
            vec![
                ("authorization", bearer.clone()),
                ("x-vault", "default".into()),
            ],
            502,
            json!("upstream_error"),
        ),
    ];
    for (url, headers, status, error) in cases {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let a = call(&url, &h);
        assert_eq!(
            (a.status, &a.json["error"]),
            (status, &error),
            "{url} {h:?}"
        );
        assert!(!a.json.to_string().contains(SECRET));
    }
    let a = call(&format!("{base}/proxy/example.com:8443/x"), &agent);
    assert_eq!(
        a.json,
        json!({"error":"forbidden",
            "message":"No broker service matching host \"example.com:8443\" in vault \"default\"",
            "proposal_hint":{"host":"example.com:8443","endpoint":"POST /v1/proposals",
                "supported_auth_types":["bearer","basic","api-key","custom"]}})
    );

    // Injection and header rules, path byte-exact.
    let a = call(
        &format!("{up}/v1/a%2Fb/c?q=%2F&x=1"),
        &[
            ("authorization", bearer.as_str()),
            ("x-vault", "default"),
            ("anthropic-version", "2023-06-01"),
            ("proxy-authorization", "Basic abc"),
            ("connection", "x-private"),
            ("x-private", "drop me"),
        ],
    );
    assert_eq!(a.status, 200, "{}", a.json);
    let h = &a.json["headers"];
    assert_eq!(a.json["target"], "/v1/a%2Fb/c?q=%2F&x=1");
    assert_eq!(h["authorization"], format!("Bearer {SECRET}"));
    assert_eq!(h["anthropic-version"], "2023-06-01");
    assert_eq!(h["host"], format!("localhost:{}", good.port()));
    for gone in ["x-vault", "proxy-authorization", "x-private"] {
        assert!(h.get(gone).is_none(), "{gone} forwarded");
    }
    let a = call(
        &format!("{up}/cookie"),
        &[("authorization", &format!("Bearer {SCOPED_TOKEN}"))],
    );
    assert_eq!(a.status, 200);
    assert!(a.headers.get("set-cookie").is_none());
    assert_eq!(a.headers["x-upstream"], "yes");

    // SSE: the first event arrives long before the stream ends.
    let started = Instant::now();
    let req = ureq::http::Request::builder()
        .uri(format!("{up}/sse"))
        .header("authorization", bearer.as_str())
        .header("x-vault", "default")
        .body(())
        .unwrap();
    let mut res = client().run(req).unwrap();
    let mut reader = res.body_mut().as_reader();
    let mut first = [0u8; 11];
    reader.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"data: one\n\n");
    let first_at = started.elapsed();
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "data: two\n\n");
    assert!(
        first_at + Duration::from_millis(500) < started.elapsed(),
        "first event after {first_at:?}"
    );

    // A token minted a moment ago works on its very first use (the miss triggers a catch-up).
    sql(
        &store,
        &format!(
            "INSERT INTO sessions (id, created_at, vault_id, vault_role) VALUES ('{}', 'now', '{}', 'proxy');",
            hash("av_sess_fresh"),
            av_store::DEFAULT_VAULT_ID
        ),
    );
    let a = call(
        &format!("{up}/x"),
        &[("authorization", "Bearer av_sess_fresh")],
    );
    assert_eq!(a.status, 200, "{}", a.json);

    // Revocation and credential changes are enforced within 1 s.
    sql(
        &store,
        "UPDATE agents SET status = 'revoked' WHERE id = 'a1';",
    );
    eventually("revocation", || {
        call(&format!("{up}/x"), &agent).status == 401
    });
    let scoped = format!("Bearer {SCOPED_TOKEN}");
    let sealed = key.seal(b"rotated-value").unwrap();
    store
        .read(|c| {
            c.execute(
                "UPDATE credentials SET ciphertext = ?1, nonce = ?2 WHERE id = 'c1'",
                rusqlite::params![sealed.ciphertext, sealed.nonce],
            )
            .map_err(av_store::Error::from)
        })
        .unwrap();
    eventually("credential change", || {
        call(&format!("{up}/x"), &[("authorization", &scoped)]).json["headers"]["authorization"]
            == "Bearer rotated-value"
    });
    sql(
        &store,
        &format!("DELETE FROM sessions WHERE id = '{}';", hash(SCOPED_TOKEN)),
    );
    eventually("session deletion", || {
        call(&format!("{up}/x"), &[("authorization", &scoped)]).status == 401
    });

    stop.notify_waiters();
}
