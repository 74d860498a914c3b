//! SSE latency through `agent-vault`, for DESIGN's target "Streaming: first SSE event
//! forwarded within 5 ms of the upstream sending it". Throughput runs (wrk) cannot see this:
//! it needs the instant each event leaves the upstream and the instant it reaches the client
//! on one clock. So this binary is both: it serves chunked `text/event-stream` responses over
//! HTTPS (`data: <seq>\n\n`, one chunk per event, flushed, `SSE_GAP_MS` apart, recording the
//! instant before each write) and, in the same process, reads them event by event through the
//! proxy and directly, one stream at a time. Latency = arrival − upstream write; the direct
//! run is the floor (TLS and loopback), the difference is what the proxy adds.
//!
//! Environment: `SSE_CERT`, `SSE_KEY` (PEM cert and key for `localhost`, e.g. the load kit's
//! `$RUN_DIR/server.crt`/`server.key`; PKCS#8, SEC1 or PKCS#1 keys), `SSE_CA` (PEM CA that
//! signed it, `$RUN_DIR/ca.crt`, for the direct client), `SSE_PROXY` (`127.0.0.1:6188`, plain
//! HTTP, trusting `SSE_CA` for `localhost` upstreams), `SSE_TOKEN` (bearer token for the
//! proxy, whose vault has a service for host `localhost`), `SSE_STREAMS` (50), `SSE_EVENTS`
//! (20 per stream), `SSE_GAP_MS` (10, before each event). Prints a markdown table.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// When the upstream started writing each event, by (stream id, seq).
type Sent = Arc<Mutex<HashMap<(u32, u32), Instant>>>;

/// Per event seq, the instant the client's read that completed it returned.
type Arrivals = Vec<(u32, Instant)>;

const RESPONSE_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
    cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n";

fn var(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("{key} is required"))
}

fn num(key: &str, default: u32) -> u32 {
    std::env::var(key).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{key} must be a number"))
    })
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn acceptor(cert: &str, key: &str) -> TlsAcceptor {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|c| c.collect::<Result<Vec<_>, _>>())
        .expect("SSE_CERT: PEM certificates");
    let key = PrivateKeyDer::from_pem_file(key).expect("SSE_KEY: PEM private key");
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .expect("server TLS config");
    TlsAcceptor::from(Arc::new(config))
}

fn connector(ca: &str) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("SSE_CA: PEM file") {
        roots
            .add(cert.expect("SSE_CA: PEM certificate"))
            .expect("SSE_CA: CA certificate");
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("client TLS config")
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// Reads up to the end of a head (`\r\n\r\n`); returns the head and any bytes after it, or
/// `None` on a clean end of stream before any byte.
async fn read_head(io: &mut (impl AsyncRead + Unpin)) -> io::Result<Option<(String, Vec<u8>)>> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok(Some((String::from_utf8_lossy(&buf).into_owned(), rest)));
        }
        match io.read(&mut tmp).await? {
            0 if buf.is_empty() => return Ok(None),
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => buf.extend_from_slice(&tmp[..n]),
        }
    }
}

/// The upstream side of one keep-alive connection: a stream of events per `GET /sse/<id>`.
async fn serve_conn(
    mut io: impl AsyncRead + AsyncWrite + Unpin,
    sent: Sent,
    events: u32,
    gap: Duration,
) -> io::Result<()> {
    while let Some((head, _)) = read_head(&mut io).await? {
        let id = head
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.strip_prefix("/sse/"))
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| io::Error::other(format!("unexpected request: {head:?}")))?;
        io.write_all(RESPONSE_HEAD).await?;
        io.flush().await?;
        for seq in 0..events {
            tokio::time::sleep(gap).await;
            let event = format!("data: {seq}\n\n");
            let chunk = format!("{:x}\r\n{event}\r\n", event.len());
            sent.lock()
                .expect("sent table")
                .insert((id, seq), Instant::now());
            io.write_all(chunk.as_bytes()).await?;
            io.flush().await?;
        }
        io.write_all(b"0\r\n\r\n").await?;
        io.flush().await?;
    }
    Ok(())
}

async fn serve(listener: TcpListener, tls: TlsAcceptor, sent: Sent, events: u32, gap: Duration) {
    while let Ok((tcp, _)) = listener.accept().await {
        let (tls, sent) = (tls.clone(), sent.clone());
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            if let Ok(io) = tls.accept(tcp).await {
                let _ = serve_conn(io, sent, events, gap).await;
            }
        });
    }
}

/// Moves complete chunks from `raw` into `body`; true once the last (empty) chunk is seen.
fn dechunk(raw: &mut Vec<u8>, body: &mut Vec<u8>) -> io::Result<bool> {
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let line = String::from_utf8_lossy(&raw[..eol]);
        let hex = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(hex, 16)
            .map_err(|_| io::Error::other(format!("bad chunk size line {line:?}")))?;
        if size == 0 {
            return Ok(true);
        }
        if raw.len() < eol + 2 + size + 2 {
            break;
        }
        body.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw.drain(..eol + 2 + size + 2);
    }
    Ok(false)
}

/// Sends one request and reads the event stream, noting when each event arrives.
async fn fetch(
    mut io: impl AsyncRead + AsyncWrite + Unpin,
    request: String,
) -> io::Result<Arrivals> {
    io.write_all(request.as_bytes()).await?;
    let (head, mut raw) = read_head(&mut io)
        .await?
        .ok_or(io::ErrorKind::UnexpectedEof)?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    if !head.starts_with("HTTP/1.1 200") || !chunked {
        return Err(io::Error::other(format!(
            "want a chunked 200, got: {head:?}"
        )));
    }
    let (mut body, mut arrivals, mut tmp) = (Vec::new(), Vec::new(), [0u8; 4096]);
    let mut now = Instant::now();
    loop {
        let done = dechunk(&mut raw, &mut body)?;
        while let Some(end) = body.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = body.drain(..end + 2).collect();
            let seq = String::from_utf8_lossy(&event)
                .trim()
                .strip_prefix("data: ")
                .and_then(|s| s.parse().ok());
            arrivals.push((seq.ok_or_else(|| io::Error::other("bad event"))?, now));
        }
        if done {
            return Ok(arrivals);
        }
        let n = io.read(&mut tmp).await?;
        now = Instant::now();
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        raw.extend_from_slice(&tmp[..n]);
    }
}

/// First-event and all-event latencies of one run.
#[derive(Default)]
struct Latencies {
    first: Vec<Duration>,
    all: Vec<Duration>,
}

impl Latencies {
    fn add(
        &mut self,
        id: u32,
        arrivals: &[(u32, Instant)],
        sent: &Sent,
        events: u32,
    ) -> io::Result<()> {
        if arrivals.len() != events as usize {
            return Err(io::Error::other(format!(
                "stream {id}: {} of {events} events",
                arrivals.len()
            )));
        }
        let sent = sent.lock().expect("sent table");
        for &(seq, at) in arrivals {
            let start = sent
                .get(&(id, seq))
                .ok_or_else(|| io::Error::other("event never sent"))?;
            let latency = at.saturating_duration_since(*start);
            if seq == 0 {
                self.first.push(latency);
            }
            self.all.push(latency);
        }
        Ok(())
    }
}

/// Nearest-rank percentile in milliseconds.
fn pct(values: &[Duration], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort();
    let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len().max(1));
    v.get(rank - 1).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
}

/// One stream through the proxy: plain HTTP, `/proxy/localhost:<port>/sse/<id>`.
async fn via_proxy(proxy: &str, token: &str, port: u16, id: u32) -> io::Result<Arrivals> {
    let tcp = TcpStream::connect(proxy).await?;
    tcp.set_nodelay(true)?;
    let path = format!("/proxy/localhost:{port}/sse/{id}");
    let auth = format!("Authorization: Bearer {token}\r\n");
    fetch(tcp, request(&path, proxy, &auth)).await
}

/// The same stream straight from the upstream, over TLS verified against `SSE_CA`.
async fn direct(tls: &TlsConnector, port: u16, id: u32) -> io::Result<Arrivals> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    tcp.set_nodelay(true)?;
    let sni = ServerName::try_from("localhost").map_err(io::Error::other)?;
    let io = tls.connect(sni, tcp).await?;
    let host = format!("localhost:{port}");
    fetch(io, request(&format!("/sse/{id}"), &host, "")).await
}

fn request(path: &str, host: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Accept: text/event-stream\r\n\r\n")
}

#[tokio::main]
async fn main() {
    let (proxy, token) = (var("SSE_PROXY"), var("SSE_TOKEN"));
    let (streams, events) = (num("SSE_STREAMS", 50), num("SSE_EVENTS", 20));
    let gap = Duration::from_millis(num("SSE_GAP_MS", 10).into());
    let tls = acceptor(&var("SSE_CERT"), &var("SSE_KEY"));
    let connector = connector(&var("SSE_CA"));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the upstream");
    let port = listener.local_addr().expect("upstream address").port();
    let sent = Sent::default();
    tokio::spawn(serve(listener, tls, sent.clone(), events, gap));

    let (mut straight, mut proxied) = (Latencies::default(), Latencies::default());
    for i in 0..streams {
        let (a, b) = (2 * i, 2 * i + 1);
        let arrivals = via_proxy(&proxy, &token, port, a)
            .await
            .expect("stream through SSE_PROXY");
        proxied
            .add(a, &arrivals, &sent, events)
            .expect("events through the proxy");
        let arrivals = direct(&connector, port, b)
            .await
            .expect("stream from the upstream");
        straight
            .add(b, &arrivals, &sent, events)
            .expect("events from the upstream");
    }
    report(&straight, &proxied, streams, events, gap);
}

/// First-event p50, p99, max and all-event p50, p99, in ms.
fn stats(l: &Latencies) -> [f64; 5] {
    let (f, a) = (&l.first, &l.all);
    [
        pct(f, 0.5),
        pct(f, 0.99),
        pct(f, 1.0),
        pct(a, 0.5),
        pct(a, 0.99),
    ]
}

fn report(direct: &Latencies, proxied: &Latencies, streams: u32, events: u32, gap: Duration) {
    let (d, p) = (stats(direct), stats(proxied));
    let gap = gap.as_millis();
    println!(
        "SSE, upstream write to client read: {streams} streams x {events} events, {gap} ms apart\n"
    );
    println!("| path | first p50 ms | first p99 ms | first max ms | all p50 ms | all p99 ms |");
    println!("|---|---|---|---|---|---|");
    for (name, v) in [("direct", d), ("through agent-vault", p)] {
        let cells: Vec<String> = v.iter().map(|x| format!("{x:.3}")).collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
    let added = [p[0] - d[0], p[1] - d[1], p[3] - d[3], p[4] - d[4]];
    let [f50, f99, a50, a99] = added;
    println!("| added by the proxy | {f50:.3} | {f99:.3} | - | {a50:.3} | {a99:.3} |\n");
    let verdict = if p[1] <= 5.0 { "met" } else { "missed" };
    print!("target: first event within 5 ms of the upstream sending it: {verdict} ");
    println!("(p99 first-event through the proxy = {:.3} ms)", p[1]);
}
