//! Foundation: the server process model, master password, files, config, shutdown, and the
//! admin basics (health, init gate, JSON errors, wrong port).

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{large_body, Http, Options, Server, Upstream};

const MASTER: &str = "harness-master-password";

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run agent-vault")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn health_on_admin_and_json_answers_on_proxy() {
    let s = Server::start();
    let http = s.http();
    let r = http.get(&s.url("/health")).send();
    assert_eq!(r.status, 200);
    assert_eq!(r.json, json!({"status": "ok"}));
    for (h, v) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
    ] {
        assert_eq!(r.header(h), Some(v), "{h}");
    }
    assert!(r.header("content-security-policy").is_some());
    let r = http.get(&s.url("/v1/status")).send();
    assert_eq!(r.status, 200);
    assert_eq!(r.json["initialized"], false);
    assert_eq!(r.json["needs_first_user"], true);

    // Before the first owner exists the proxy refuses too.
    let r = http.get(&s.proxy_url("example.com/v1/x")).send();
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.json["error"], "not_initialized");
    s.register_owner();
    // The proxy notices the new owner within a second: then 401 without a token, JSON 404
    // outside /proxy/.
    let deadline = Instant::now() + Duration::from_secs(3);
    let r = loop {
        let r = http.get(&s.proxy_url("example.com/v1/x")).send();
        if r.status != 503 || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.json["error"].is_string(), "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let r = http.get(&format!("{}/nothing-here", s.proxy)).send();
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(r.json["error"].is_string(), "{}", r.text);
    assert!(
        s.log().contains(&format!(
            "Agent Vault server listening on http://127.0.0.1:{}",
            s.port
        )),
        "{}",
        s.log()
    );
}

#[test]
fn proxy_path_on_admin_port_is_421_wrong_port() {
    let s = Server::start();
    for path in ["/proxy/api.github.com/user", "/proxy"] {
        let r = s.http().get(&s.url(path)).bearer("av_agt_x").send();
        assert_eq!(r.status, 421, "{path}: {}", r.text);
        assert_eq!(r.json["error"], "wrong_port");
        assert_eq!(
            r.json["message"],
            format!("The proxy listens at {}/proxy", s.proxy)
        );
    }
}

#[test]
fn bad_input_gets_json_errors() {
    let s = Server::start();
    let http = s.http();
    // Unknown route.
    let r = http.get(&s.url("/no/such/route")).send();
    assert_eq!(r.status, 404);
    assert_eq!(r.json["error"], "not_found", "{}", r.text);
    // Wrong method.
    let r = http.post(&s.url("/health"), json!({})).send();
    assert_eq!(r.status, 405);
    assert_eq!(r.json["error"], "method_not_allowed", "{}", r.text);
    assert!(r.header("allow").is_some_and(|a| a.contains("GET")));
    // Malformed JSON.
    let r = http
        .request("POST", &s.url("/v1/auth/register"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send();
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.json["error"].is_string(), "{}", r.text);
    // Over 1 MiB.
    let big = format!(
        "{{\"email\":\"a@b.co\",\"password\":\"{}\"}}",
        "x".repeat(1_100_000)
    );
    let r = http
        .request("POST", &s.url("/v1/auth/register"))
        .header("content-type", "application/json")
        .body(big)
        .send();
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.json["error"].is_string(), "{}", r.text);
    // Non-UTF-8 garbage and a body on GET never crash the server.
    let r = http
        .request("POST", &s.url("/v1/auth/register"))
        .body(vec![0xff, 0xfe, 0x00, 0x80])
        .send();
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(s.http().get(&s.url("/health")).send().status, 200);
}

/// An early answer (here a 401 before the handler reads anything) must not cost the client its
/// keep-alive connection: the body that was still in flight is read, and the next request on the
/// same socket gets its answer.
#[test]
fn early_answers_keep_the_connection_when_the_body_arrives_late() {
    use std::io::{Read, Write};
    let s = Server::start();
    s.register_owner();
    let addr = s.admin.trim_start_matches("http://");
    let mut sock = std::net::TcpStream::connect(addr).expect("connect to admin");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let body = "{\"name\":\"x\"}";
    write!(
        sock,
        "POST /v1/agents/ghost/rotate HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    write!(
        sock,
        "{body}GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = String::new();
    sock.read_to_string(&mut all).expect("read both answers");
    assert!(all.starts_with("HTTP/1.1 401"), "{all}");
    assert_eq!(all.matches("HTTP/1.1 ").count(), 2, "{all}");
    assert!(all.contains("HTTP/1.1 200"), "{all}");
}

#[test]
fn gated_routes_answer_503_until_the_first_owner_exists() {
    let s = Server::start();
    let http = s.http();
    for (method, path) in [
        ("GET", "/v1/vaults"),
        ("POST", "/v1/vaults"),
        ("GET", "/v1/auth/me"),
        ("POST", "/v1/auth/login"),
    ] {
        let r = http.request(method, &s.url(path)).json(json!({})).send();
        assert_eq!(r.status, 503, "{method} {path}: {}", r.text);
        assert_eq!(
            r.json,
            json!({
                "error": "not_initialized",
                "message": "No owner account exists. Run 'agent-vault auth register' to create the first account."
            })
        );
    }
    // The startup message sends people to the base URL: it offers to create the owner.
    let r = http.get(&s.url("/")).send();
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/html")));
    assert!(r.text.contains("Create the owner account"), "{}", r.text);
    assert!(s.log().contains(&format!("open {} to create one", s.admin)));

    let owner = s.register_owner();
    let r = http.get(&s.url("/v1/vaults")).bearer(&owner.token).send();
    assert_eq!(r.status, 200, "{}", r.text);
    let r = http.get(&s.url("/v1/vaults")).send();
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(
        http.get(&s.url("/v1/status")).send().json["initialized"],
        true
    );
    let r = http.get(&s.url("/")).send();
    assert!(
        r.text.contains("This Agent Vault server is running."),
        "{}",
        r.text
    );
}

#[test]
fn files_are_private_and_the_password_leaves_the_environment() {
    let s = Server::start();
    assert_eq!(mode(&s.data_dir), 0o700);
    assert_eq!(mode(&s.data_file("agent-vault.db")), 0o600);
    assert_eq!(mode(&s.data_file("agent-vault.pid")), 0o600);
    let pid = std::fs::read_to_string(s.data_file("agent-vault.pid")).unwrap();
    assert_eq!(pid.trim(), s.pid().to_string());
    let environ = std::fs::read(format!("/proc/{}/environ", s.pid())).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    assert!(
        !environ.contains(MASTER),
        "master password still in environ"
    );
    assert!(!environ.contains("AGENT_VAULT_MASTER_PASSWORD"));
    assert!(environ.contains("AGENT_VAULT_NETWORK_MODE=private"));
}

#[test]
fn restart_with_the_wrong_master_password_fails_clearly() {
    let mut s = Server::start();
    let owner = s.register_owner();
    assert!(s.stop().success());
    let out = run(s
        .command()
        .env("AGENT_VAULT_MASTER_PASSWORD", "not-the-password"));
    assert!(!out.status.success());
    assert!(text(&out).contains("wrong password"), "{}", text(&out));
    // --password-stdin with the wrong password fails the same way.
    let mut cmd = s.command();
    cmd.env_remove("AGENT_VAULT_MASTER_PASSWORD")
        .arg("--password-stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "wrong").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("wrong password"), "{}", text(&out));
    // The right password still works and the data survived.
    s.restart();
    let r = s
        .http()
        .get(&s.url("/v1/vaults"))
        .bearer(&owner.token)
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
}

#[test]
fn no_password_source_without_a_terminal_is_an_error() {
    let mut s = Server::start();
    assert!(s.stop().success());
    let out = run(s.command().env_remove("AGENT_VAULT_MASTER_PASSWORD"));
    assert!(!out.status.success());
    assert!(
        text(&out).contains("AGENT_VAULT_MASTER_PASSWORD"),
        "{}",
        text(&out)
    );
}

#[test]
fn sigterm_shuts_down_cleanly_and_quickly() {
    let mut s = Server::start();
    assert_eq!(s.http().get(&s.url("/health")).send().status, 200);
    let started = Instant::now();
    let status = s.stop();
    assert!(status.success(), "{status}\n{}", s.log());
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(
        s.log().contains("server shut down gracefully"),
        "{}",
        s.log()
    );
    assert!(!s.data_file("agent-vault.pid").exists());
}

#[test]
fn sigterm_lets_an_in_flight_admin_request_finish() {
    let mut s = Server::start();
    let admin = s.url("/v1/auth/register");
    // Registration hashes a password (slow on purpose); send one and stop meanwhile.
    let t = std::thread::spawn(move || {
        Http::new()
            .post(
                &admin,
                json!({"email": "owner@example.com", "password": "owner-password-1"}),
            )
            .send()
    });
    std::thread::sleep(Duration::from_millis(30));
    let status = s.stop();
    let r = t.join().unwrap();
    assert!(status.success());
    assert!(
        r.status == 200 || r.status == 201,
        "{} {}",
        r.status,
        r.text
    );
}

#[test]
fn detach_then_stop() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let (port, proxy_port) = (free_port(), free_port());
    let cli = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_agent-vault"));
        c.env("HOME", home.path())
            .env("NO_COLOR", "1")
            .env("AGENT_VAULT_DATA_DIR", &data)
            .env_remove("AGENT_VAULT_ADDR")
            .env_remove("AGENT_VAULT_MASTER_PASSWORD");
        c
    };
    let out = run(cli().args(["server", "stop"]));
    assert!(!out.status.success());
    assert!(
        text(&out).contains("no server appears to be running (PID file not found)"),
        "{}",
        text(&out)
    );
    let start = || {
        run(cli()
            .env("AGENT_VAULT_MASTER_PASSWORD", MASTER)
            .args(["server", "-d", "--port"])
            .arg(port.to_string())
            .arg("--proxy-port")
            .arg(proxy_port.to_string()))
    };
    let out = start();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("Server started in background (PID"),
        "{}",
        text(&out)
    );
    let log = data.join("server.log");
    assert_eq!(mode(&log), 0o600);
    let pid: i32 = std::fs::read_to_string(data.join("agent-vault.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let r = Http::new()
        .get(&format!("http://127.0.0.1:{port}/health"))
        .send();
    assert_eq!(r.status, 200);
    // The detached child never saw the password in its environment.
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(!String::from_utf8_lossy(&environ).contains(MASTER));

    let out = start();
    assert!(!out.status.success());
    assert!(
        text(&out).contains(&format!("server is already running (PID {pid})")),
        "{}",
        text(&out)
    );

    let out = run(cli().args(["server", "stop"]));
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains(&format!("Stopping server (PID {pid})...")),
        "{t}"
    );
    assert!(t.contains("Server stopped."), "{t}");
    assert!(!data.join("agent-vault.pid").exists());
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("Agent Vault server listening on"),
        "{logged}"
    );
    assert!(!logged.contains(MASTER));

    // A stale pid file is reported and removed.
    std::fs::write(data.join("agent-vault.pid"), "999999\n").unwrap();
    let out = run(cli().args(["server", "stop"]));
    assert!(!out.status.success());
    assert!(
        text(&out).contains("server process 999999 is not running (stale PID file removed)"),
        "{}",
        text(&out)
    );
    assert!(!data.join("agent-vault.pid").exists());
}

#[test]
fn config_check_validates_files() {
    let dir = tempfile::tempdir().unwrap();
    let cli = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_agent-vault"));
        c.env("NO_COLOR", "1").env("HOME", dir.path());
        c
    };
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/agent-vault.yaml");
    let out = run(cli().arg("config").arg("check").arg(&shipped));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("valid"), "{}", text(&out));

    for (yaml, key) in [
        ("server:\n  port: 14321\n  prot: 1\n", "server.prot"),
        (
            "proxy:\n  connect_timeout_seconds: soon\n",
            "proxy.connect_timeout_seconds",
        ),
        ("proxy:\n  network_mode: open\n", "proxy.network_mode"),
        ("pingora:\n  threads: 0\n", "pingora.threads"),
        ("unknown_section: {}\n", "unknown_section"),
    ] {
        let f = dir.path().join("bad.yaml");
        std::fs::write(&f, yaml).unwrap();
        let out = run(cli().arg("config").arg("check").arg(&f));
        assert!(!out.status.success(), "{yaml}");
        assert!(text(&out).contains(key), "{yaml}: {}", text(&out));
    }
    let out = run(cli().args(["config", "check", "/does/not/exist.yaml"]));
    assert!(!out.status.success());
}

#[test]
fn server_refuses_to_start_with_a_bad_config_and_honours_a_good_one() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "server:\n  hots: 0.0.0.0\n").unwrap();
    let mut s = Server::start();
    s.stop();
    let out = run(s.command().arg("--config").arg(&bad));
    assert!(!out.status.success());
    assert!(text(&out).contains("server.hots"), "{}", text(&out));

    // File values apply, flags and environment win over them.
    let good = dir.path().join("good.yaml");
    std::fs::write(
        &good,
        "server:\n  port: 1\n  base_url: https://vault.example.com/\nlog:\n  format: json\n",
    )
    .unwrap();
    let s = Server::start_with(Options {
        env: vec![("AGENT_VAULT_CONFIG".into(), good.display().to_string())],
        ..Default::default()
    });
    let r = s.http().get(&s.url("/proxy/x")).send();
    assert_eq!(r.status, 421);
    assert!(
        s.log().contains("listening on https://vault.example.com"),
        "{}",
        s.log()
    );
    let json_lines = s
        .log()
        .lines()
        .filter(|l| serde_json::from_str::<Value>(l).is_ok())
        .count();
    assert!(json_lines > 0, "{}", s.log());
}

#[test]
fn dev_mode_creates_a_logged_in_owner() {
    let home = tempfile::tempdir().unwrap();
    let (port, proxy_port) = (free_port(), free_port());
    let log = home.path().join("dev.log");
    let f = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_agent-vault"))
        .env("HOME", home.path())
        .env("NO_COLOR", "1")
        .env_remove("AGENT_VAULT_MASTER_PASSWORD")
        .env_remove("AGENT_VAULT_ADDR")
        .env_remove("AGENT_VAULT_DATA_DIR")
        .args(["server", "--dev", "--port"])
        .arg(port.to_string())
        .arg("--proxy-port")
        .arg(proxy_port.to_string())
        .stdin(Stdio::null())
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .spawn()
        .unwrap();
    let http = Http::with_timeout(Duration::from_secs(2));
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while http
        .get(&format!("{base}/health"))
        .try_send()
        .map(|r| r.status)
        .unwrap_or(0)
        != 200
    {
        assert!(
            Instant::now() < deadline,
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let printed = std::fs::read_to_string(&log).unwrap();
    assert!(printed.contains("Master password:"), "{printed}");
    assert!(printed.contains("Owner password:"), "{printed}");
    let session: Value = serde_json::from_str(
        &std::fs::read_to_string(home.path().join(".agent-vault/session.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(session["address"], base);
    let token = session["token"].as_str().unwrap();
    let r = http.get(&format!("{base}/v1/vaults")).bearer(token).send();
    assert_eq!(r.status, 200, "{}", r.text);
    let data_dir = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("Data directory:"))
        .map(|d| d.trim().to_string())
        .unwrap();
    assert!(Path::new(&data_dir).exists());
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    assert!(child.wait().unwrap().success());
    assert!(!Path::new(&data_dir).exists(), "dev data dir left behind");
}

#[test]
fn version_is_printed() {
    let out = run(Command::new(env!("CARGO_BIN_EXE_agent-vault")).arg("version"));
    assert!(out.status.success());
    let printed = text(&out);
    assert!(
        printed.starts_with(&format!("agent-vault {}\n", env!("CARGO_PKG_VERSION"))),
        "{printed}"
    );
    for field in ["commit:", "built:", "compiler:", "os/arch:"] {
        assert!(printed.contains(field), "{field} in {printed}");
    }
    let out = run(Command::new(env!("CARGO_BIN_EXE_agent-vault")).arg("--version"));
    assert!(out.status.success());
    assert_eq!(text(&out), printed);
}

#[test]
fn upstream_echoes_and_streams() {
    let up = Upstream::start();
    let http = Http::trusting_test_ca();
    let r = http
        .post(&format!("{}/a/b?x=1&y=%20", up.url()), json!({"k": "v"}))
        .header("x-test", "1")
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["method"], "POST");
    assert_eq!(r.json["path"], "/a/b?x=1&y=%20");
    assert_eq!(r.json["query"], "x=1&y=%20");
    assert_eq!(r.json["headers"]["x-test"], "1");
    assert_eq!(r.json["body_len"], 9);
    assert_eq!(r.json["body"], r#"{"k":"v"}"#);
    assert_eq!(up.requests().len(), 1);

    let r = http.get(&format!("{}/large?bytes=300000", up.url())).send();
    assert_eq!(r.bytes, large_body(300_000));
    let r = http
        .get(&format!("{}/large?bytes=1000&chunked=1", up.url()))
        .send();
    assert_eq!(r.bytes, large_body(1000));
    let r = http.get(&format!("{}/redirect", up.url())).send();
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("/echo"));
    let r = http.get(&format!("{}/status/418", up.url())).send();
    assert_eq!(r.status, 418);
    let r = http.get(&format!("{}/set-cookie", up.url())).send();
    assert!(r.header("set-cookie").is_some());
    let r = http.get(&format!("{}/sse?n=3&ms=10", up.url())).send();
    assert_eq!(r.text.matches("data: ").count(), 3, "{}", r.text);
    let r = http.get(&format!("{}/slow?ms=50", up.url())).send();
    assert_eq!(r.status, 200);
}

#[test]
fn upstream_websocket_echo() {
    use std::sync::Arc;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    let up = Upstream::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pem = std::fs::read(crate::support::test_ca_pem_path()).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(&pem) {
            roots.add(cert.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(up.addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = connector.connect(name, tcp).await.unwrap();
        let mut s = BufReader::new(tls);
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        s.get_mut()
            .write_all(
                format!(
                    "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n",
                    up.host()
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        let mut head = String::new();
        loop {
            let mut line = String::new();
            s.read_line(&mut line).await.unwrap();
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains(&crate::support::ws::accept_key(key).to_ascii_lowercase()),
            "{head}"
        );
        let mask = Some([1, 2, 3, 4]);
        crate::support::ws::write_frame(&mut s, 0x1, b"hello", mask)
            .await
            .unwrap();
        let (op, payload) = crate::support::ws::read_frame(&mut s).await.unwrap().unwrap();
        assert_eq!((op, payload.as_slice()), (0x1, &b"hello"[..]));
        crate::support::ws::write_frame(&mut s, 0x9, b"p", mask)
            .await
            .unwrap();
        let (op, _) = crate::support::ws::read_frame(&mut s).await.unwrap().unwrap();
        assert_eq!(op, 0xA);
        crate::support::ws::write_frame(&mut s, 0x8, b"", mask)
            .await
            .unwrap();
        let (op, _) = crate::support::ws::read_frame(&mut s).await.unwrap().unwrap();
        assert_eq!(op, 0x8);
    });
}

#[test]
fn sigterm_lets_an_in_flight_proxied_request_finish() {
    let mut s = Server::start_with(Options {
        env: vec![("AGENT_VAULT_DEV_MODE".into(), "true".into())],
        ..Default::default()
    });
    let owner = s.register_owner();
    let up = Upstream::start();
    let http = s.http();
    let r = http
        .post(
            &s.url("/v1/credentials"),
            json!({"vault": "default", "credentials": {"TOKEN": "t0ken"}}),
        )
        .bearer(&owner.token)
        .send();
    assert!(r.status == 200 || r.status == 201, "{}", r.text);
    let r = http
        .put(
            &s.url("/v1/vaults/default/services"),
            json!({"services": [{"host": "localhost", "auth": {"type": "bearer", "token": "TOKEN"}}]}),
        )
        .bearer(&owner.token)
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    let r = http
        .post(&s.url("/v1/sessions"), json!({"vault": "default"}))
        .bearer(&owner.token)
        .send();
    let token = r.s("token").to_string();
    assert!(!token.is_empty(), "{}", r.text);
    let url = s.proxy_url(&format!("{}/slow?ms=1500", up.host()));
    // Wait until the proxy's view has the service.
    let deadline = Instant::now() + Duration::from_secs(3);
    while http
        .get(&s.proxy_url(&format!("{}/ok", up.host())))
        .bearer(&token)
        .send()
        .status
        != 200
    {
        assert!(Instant::now() < deadline, "proxy never served the upstream");
        std::thread::sleep(Duration::from_millis(50));
    }
    let t = std::thread::spawn(move || Http::new().get(&url).bearer(&token).send());
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let status = s.stop();
    let r = t.join().unwrap();
    assert!(status.success(), "{}", s.log());
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["headers"]["authorization"], "Bearer t0ken");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(8),
        "stopped after {took:?}"
    );
}

#[test]
fn admin_only_and_proxy_only_run_one_half() {
    let s = Server::start_with(Options {
        args: vec!["--admin-only".into()],
        ..Default::default()
    });
    assert_eq!(s.http().get(&s.url("/health")).send().status, 200);
    assert!(std::net::TcpStream::connect(("127.0.0.1", s.proxy_port)).is_err());
    assert!(!s.log().contains("(proxy: agents use"), "{}", s.log());

    let s = Server::start_with(Options {
        args: vec!["--proxy-only".into()],
        ..Default::default()
    });
    assert!(std::net::TcpStream::connect(("127.0.0.1", s.port)).is_err());
    let r = s.http().get(&s.proxy_url("example.com/x")).send();
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.json["error"], "not_initialized");
}
