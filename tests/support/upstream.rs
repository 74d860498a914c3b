//! An HTTPS upstream on 127.0.0.1 for proxy tests, with a certificate from a test CA made at
//! test time (the CA PEM is what harness servers trust via `AGENT_VAULT_UPSTREAM_CA_FILE`).
//!
//! Any path echoes what arrived as JSON: `method`, `path` (raw target with query), `query`,
//! `headers` (lowercase name -> value, repeated headers joined with ", "), `header_list`
//! (`[[name, value], ...]` in order), `body_len`, `body_sha256`, `body` (lossy UTF-8, first
//! 64 KiB). Special paths:
//! - `/sse?n=5&ms=200`: `n` server-sent events, `ms` apart (chunked).
//! - `/large?bytes=N[&chunked=1]`: N bytes of [`large_body`].
//! - `/redirect[?to=URL]`: 302 to `to` (default `/echo`).
//! - `/slow?ms=N`: waits N ms before the headers, then echoes.
//! - `/status/N`: answers status N with the echo body.
//! - `/set-cookie`: echoes with `Set-Cookie: upstream_session=secret; Path=/`.
//! - `/hop-by-hop`: echoes with hop-by-hop fields (`Connection` naming `X-Upstream-Hop`,
//!   `X-Upstream-Hop`, `Keep-Alive`, `Upgrade`, `Trailer`) and an end-to-end `X-Upstream-Kept`.
//! - `/ws`: a WebSocket echo (text, binary, ping -> pong, close).
//!
//! Every echoed request is also recorded ([`Upstream::requests`]).
//!
//! [`Upstream::start_eager_websocket`] starts a variant that answers every connection with a
//! WebSocket `101` (for [`ws::SAMPLE_KEY`]) in its first TLS flight (TLS 1.3 half-RTT data),
//! so the answer is in the proxy's socket before the proxy has even sent the request; then it
//! records the request and echoes frames. No upstream can answer sooner.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::TcpListener;

use super::ws;

struct TestCa {
    pem_path: PathBuf,
    leaf_der: CertificateDer<'static>,
    leaf_key: Vec<u8>,
}

fn test_ca() -> &'static TestCa {
    static CA: OnceLock<TestCa> = OnceLock::new();
    CA.get_or_init(|| {
        use rcgen::{
            BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
            KeyUsagePurpose,
        };
        let ca_key = KeyPair::generate().expect("ca key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "Agent Vault Test CA");
        dn.push(DnType::OrganizationName, "Agent Vault tests");
        ca_params.distinguished_name = dn;
        let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
        let issuer = Issuer::new(ca_params, ca_key);

        let leaf_key = KeyPair::generate().expect("leaf key");
        let mut leaf_params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("leaf params");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "localhost");
        dn.push(DnType::OrganizationName, "Agent Vault test upstream");
        leaf_params.distinguished_name = dn;
        let leaf = leaf_params
            .signed_by(&leaf_key, &issuer)
            .expect("leaf cert");

        let pem_path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("agent-vault-test-ca-{}.pem", std::process::id()));
        std::fs::write(&pem_path, ca_cert.pem()).expect("write test CA");
        TestCa {
            pem_path,
            leaf_der: leaf.der().clone(),
            leaf_key: leaf_key.serialize_der(),
        }
    })
}

/// Path of the test CA's PEM file (created on first use, once per test process).
pub fn test_ca_pem_path() -> PathBuf {
    test_ca().pem_path.clone()
}

/// A TLS server configuration with the test CA's `localhost` / `127.0.0.1` certificate.
pub fn tls_server_config() -> rustls::ServerConfig {
    let ca = test_ca();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![ca.leaf_der.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ca.leaf_key.clone())),
        )
        .expect("tls config")
}

/// The deterministic content of `/large?bytes=n`.
pub fn large_body(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// A running HTTPS upstream; stops when dropped.
pub struct Upstream {
    /// The bound address (127.0.0.1).
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Value>>>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Upstream {
    /// Starts a new upstream on an ephemeral port.
    pub fn start() -> Upstream {
        Upstream::start_mode(false)
    }

    /// Starts an upstream whose `101` is on the wire before the handshake request is read.
    pub fn start_eager_websocket() -> Upstream {
        Upstream::start_mode(true)
    }

    fn start_mode(eager_websocket: bool) -> Upstream {
        let mut config = tls_server_config();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.send_half_rtt_data = eager_websocket;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = rt
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind upstream");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        rt.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let accepted = acceptor.accept_with(tcp, |conn| {
                        if eager_websocket {
                            // Queued now, sent right after the server's Finished.
                            let answer = ws::accept_answer(ws::SAMPLE_KEY);
                            let _ =
                                std::io::Write::write_all(&mut conn.writer(), answer.as_bytes());
                        }
                    });
                    if let Ok(tls) = accepted.await {
                        let _ = if eager_websocket {
                            serve_eager_websocket(tls, recorded).await
                        } else {
                            serve(tls, recorded).await
                        };
                    }
                });
            }
        });
        Upstream {
            addr,
            requests,
            rt: Some(rt),
        }
    }

    /// `localhost:PORT`, the host to put after `/proxy/`.
    pub fn host(&self) -> String {
        format!("localhost:{}", self.addr.port())
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `https://localhost:PORT` (for calling it directly).
    pub fn url(&self) -> String {
        format!("https://{}", self.host())
    }

    /// Echoes of every request received so far, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

type Io = std::io::Result<()>;

struct Head {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
    fn query(&self) -> &str {
        self.target.split_once('?').map(|(_, q)| q).unwrap_or("")
    }
    fn param(&self, name: &str) -> Option<&str> {
        self.query().split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == name).then_some(v)
        })
    }
}

async fn read_head<R: AsyncBufRead + Unpin>(r: &mut R) -> std::io::Result<Option<Head>> {
    let mut lines = Vec::new();
    let mut total = 0;
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line).await?;
        if n == 0 {
            return Ok(None);
        }
        total += n;
        if total > 64 * 1024 {
            return Err(std::io::Error::other("head too large"));
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            if lines.is_empty() {
                continue;
            }
            break;
        }
        lines.push(line);
    }
    let mut parts = lines[0].split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let headers = lines[1..]
        .iter()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(Some(Head {
        method,
        target,
        headers,
    }))
}

/// Reads the request body (content-length or chunked), hashing it as it streams.
async fn read_body<R: AsyncBufRead + Unpin>(
    r: &mut R,
    head: &Head,
) -> std::io::Result<(u64, String, Vec<u8>)> {
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    let mut sample = Vec::new();
    let mut take = |chunk: &[u8]| {
        hasher.update(chunk);
        len += chunk.len() as u64;
        if sample.len() < 64 * 1024 {
            let room = 64 * 1024 - sample.len();
            sample.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
    };
    let mut buf = vec![0u8; 64 * 1024];
    let chunked = head
        .get("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        loop {
            let mut size_line = String::new();
            r.read_line(&mut size_line).await?;
            let size_hex = size_line.trim().split(';').next().unwrap_or("0");
            let mut size = u64::from_str_radix(size_hex, 16)
                .map_err(|_| std::io::Error::other("bad chunk size"))?;
            if size == 0 {
                // trailers until an empty line
                loop {
                    let mut l = String::new();
                    if r.read_line(&mut l).await? == 0 || l.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            while size > 0 {
                let want = (size as usize).min(buf.len());
                let n = r.read(&mut buf[..want]).await?;
                if n == 0 {
                    return Err(std::io::Error::other("eof in chunk"));
                }
                take(&buf[..n]);
                size -= n as u64;
            }
            let mut crlf = String::new();
            r.read_line(&mut crlf).await?;
        }
    } else if let Some(cl) = head.get("content-length") {
        let mut left: u64 = cl.trim().parse().unwrap_or(0);
        while left > 0 {
            let want = (left as usize).min(buf.len());
            let n = r.read(&mut buf[..want]).await?;
            if n == 0 {
                return Err(std::io::Error::other("eof in body"));
            }
            take(&buf[..n]);
            left -= n as u64;
        }
    }
    Ok((len, hex::encode(hasher.finalize()), sample))
}

fn echo(head: &Head, len: u64, sha: &str, sample: &[u8]) -> Value {
    let mut headers = Map::new();
    for (k, v) in &head.headers {
        let k = k.to_ascii_lowercase();
        let joined = match headers.get(&k).and_then(Value::as_str) {
            Some(prev) => format!("{prev}, {v}"),
            None => v.clone(),
        };
        headers.insert(k, Value::String(joined));
    }
    json!({
        "method": head.method,
        "path": head.target,
        "query": head.query(),
        "headers": headers,
        "header_list": head.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
        "body_len": len,
        "body_sha256": sha,
        "body": String::from_utf8_lossy(sample),
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

async fn write_full<W: AsyncWrite + Unpin>(
    w: &mut W,
    status: u16,
    headers: &[(&str, String)],
    body: &[u8],
) -> Io {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    let no_body = status == 204 || status == 304 || (100..200).contains(&status);
    if !no_body {
        out.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    w.write_all(out.as_bytes()).await?;
    if !no_body {
        w.write_all(body).await?;
    }
    w.flush().await
}

/// The rest of an eager WebSocket connection (its `101` went out with the handshake).
async fn serve_eager_websocket<S>(stream: S, recorded: Arc<Mutex<Vec<Value>>>) -> Io
where
    S: tokio::io::AsyncRead + AsyncWrite + Unpin,
{
    let mut stream = BufReader::new(stream);
    let Some(head) = read_head(&mut stream).await? else {
        return Ok(());
    };
    let e = echo(&head, 0, &hex::encode(Sha256::digest(b"")), b"");
    recorded.lock().unwrap_or_else(|p| p.into_inner()).push(e);
    ws::echo(stream).await
}

async fn serve<S>(stream: S, recorded: Arc<Mutex<Vec<Value>>>) -> Io
where
    S: tokio::io::AsyncRead + AsyncWrite + Unpin,
{
    let mut stream = BufReader::new(stream);
    loop {
        let Some(head) = read_head(&mut stream).await? else {
            return Ok(());
        };
        if head.path() == "/ws"
            && head
                .get("upgrade")
                .is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
        {
            let e = echo(&head, 0, &hex::encode(Sha256::digest(b"")), b"");
            recorded.lock().unwrap_or_else(|p| p.into_inner()).push(e);
            return ws::serve(stream, head.get("sec-websocket-key").unwrap_or("")).await;
        }
        let (len, sha, sample) = read_body(&mut stream, &head).await?;
        let body = echo(&head, len, &sha, &sample);
        recorded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(body.clone());
        let close = head
            .get("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"));
        let json_ct = ("content-type", "application/json".to_string());
        let echo_bytes = body.to_string().into_bytes();
        let path = head.path().to_string();
        let w = stream.get_mut();
        match path.as_str() {
            "/sse" => {
                let n: usize = head.param("n").and_then(|v| v.parse().ok()).unwrap_or(5);
                let ms: u64 = head.param("ms").and_then(|v| v.parse().ok()).unwrap_or(200);
                w.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n",
                )
                .await?;
                w.flush().await?;
                for i in 0..n {
                    if i > 0 {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                    }
                    let event = format!("id: {i}\nevent: tick\ndata: {{\"n\":{i}}}\n\n");
                    w.write_all(format!("{:x}\r\n{event}\r\n", event.len()).as_bytes())
                        .await?;
                    w.flush().await?;
                }
                w.write_all(b"0\r\n\r\n").await?;
                w.flush().await?;
            }
            "/large" => {
                let n: usize = head
                    .param("bytes")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let chunked = head.param("chunked") == Some("1");
                let mut hdr =
                    String::from("HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n");
                if chunked {
                    hdr.push_str("transfer-encoding: chunked\r\n\r\n");
                } else {
                    hdr.push_str(&format!("content-length: {n}\r\n\r\n"));
                }
                w.write_all(hdr.as_bytes()).await?;
                let block: Vec<u8> = large_body(251 * 256);
                let mut sent = 0usize;
                while sent < n {
                    let take = (n - sent).min(block.len());
                    // Every block starts at a multiple of 251, so the pattern continues.
                    let piece = &block[..take];
                    if chunked {
                        w.write_all(format!("{take:x}\r\n").as_bytes()).await?;
                        w.write_all(piece).await?;
                        w.write_all(b"\r\n").await?;
                    } else {
                        w.write_all(piece).await?;
                    }
                    sent += take;
                }
                if chunked {
                    w.write_all(b"0\r\n\r\n").await?;
                }
                w.flush().await?;
            }
            "/redirect" => {
                let to = head.param("to").unwrap_or("/echo").to_string();
                write_full(w, 302, &[("location", to)], b"").await?;
            }
            "/slow" => {
                let ms: u64 = head
                    .param("ms")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1000);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                write_full(w, 200, &[json_ct], &echo_bytes).await?;
            }
            "/set-cookie" => {
                write_full(
                    w,
                    200,
                    &[
                        json_ct,
                        ("set-cookie", "upstream_session=secret; Path=/".to_string()),
                    ],
                    &echo_bytes,
                )
                .await?;
            }
            "/hop-by-hop" => {
                let fields = [
                    json_ct,
                    ("connection", "keep-alive, X-Upstream-Hop".to_string()),
                    ("x-upstream-hop", "drop".to_string()),
                    ("keep-alive", "timeout=5".to_string()),
                    ("upgrade", "h2c".to_string()),
                    ("trailer", "x-checksum".to_string()),
                    ("x-upstream-kept", "yes".to_string()),
                ];
                write_full(w, 200, &fields, &echo_bytes).await?;
            }
            p if p.starts_with("/status/") => {
                let status: u16 = p["/status/".len()..]
                    .parse()
                    .ok()
                    .filter(|s| (200..600).contains(s))
                    .unwrap_or(400);
                write_full(w, status, &[json_ct], &echo_bytes).await?;
            }
            _ => {
                write_full(w, 200, &[json_ct], &echo_bytes).await?;
            }
        }
        if close {
            let _ = w.shutdown().await;
            return Ok(());
        }
    }
}
