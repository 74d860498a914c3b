//! Scoped sessions: `POST /v1/sessions` and the CLI that wraps a process with one
//! (`vault run`), prints one (`vault token`) or asks what it may use (`vault discover`).

use std::process::{Command, Output};

use serde_json::{json, Value};

use crate::support::{Login, Server};

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run agent-vault")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Runs the CLI and expects success; returns stdout.
fn ok(s: &Server, args: &[&str]) -> String {
    let o = run(s.cli().args(args));
    assert!(
        o.status.success(),
        "agent-vault {args:?} failed: {}{}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// Runs the CLI and expects failure; returns stderr.
fn fails(s: &Server, args: &[&str]) -> String {
    let o = run(s.cli().args(args));
    assert!(
        !o.status.success(),
        "agent-vault {args:?} should fail: {}",
        stdout(&o)
    );
    stderr(&o)
}

fn setup() -> (Server, Login) {
    let s = Server::start();
    let login = s.register_owner();
    s.login_cli(&login);
    (s, login)
}

#[test]
fn vault_run_gives_the_child_a_working_scoped_session() {
    let (s, _login) = setup();
    ok(&s, &["vault", "create", "payments"]);
    let out = ok(
        &s,
        &[
            "vault",
            "run",
            "--",
            "sh",
            "-c",
            "printf '%s\\n' \"$AGENT_VAULT_ADDR\" \"$AGENT_VAULT_SESSION_TOKEN\" \"$AGENT_VAULT_TOKEN\" \"$AGENT_VAULT_VAULT\" \"$AGENT_VAULT_PROXY_URL\"",
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert_eq!(lines[0], s.admin);
    assert!(lines[1].starts_with("av_sess_"), "{out}");
    assert_eq!(lines[1], lines[2]);
    assert_eq!(lines[3], "default");
    assert_eq!(lines[4], format!("{}/proxy", s.proxy));

    // The child's token works at once, for its own vault only, X-Vault ignored.
    let http = s.http();
    let r = http
        .get(&s.url("/discover"))
        .bearer(lines[1])
        .header("X-Vault", "payments")
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["vault"], "default");
    assert_eq!(r.json["proxy_url"], format!("{}/proxy", s.proxy));

    // --vault picks the vault; the exit code is the command's.
    let out = ok(
        &s,
        &[
            "vault",
            "run",
            "--vault",
            "payments",
            "--",
            "sh",
            "-c",
            "echo $AGENT_VAULT_VAULT",
        ],
    );
    assert_eq!(out.trim(), "payments");
    let o = run(s.cli().args(["vault", "run", "--", "sh", "-c", "exit 7"]));
    assert_eq!(o.status.code(), Some(7));

    // vault token prints a bare token; --role is capped by the caller's role.
    let tok = ok(&s, &["vault", "token", "--role", "member", "--ttl", "1h"]);
    assert!(
        tok.starts_with("av_sess_") && !tok.ends_with('\n'),
        "{tok:?}"
    );
    let r = http.get(&s.url("/discover")).bearer(&tok).send();
    assert_eq!(r.status, 200);

    // vault discover inside a wrapped process.
    let out = ok(
        &s,
        &[
            "vault",
            "run",
            "--",
            env!("CARGO_BIN_EXE_agent-vault"),
            "vault",
            "discover",
            "--json",
        ],
    );
    let v: Value = serde_json::from_str(&out).expect("discover json");
    assert_eq!(v["vault"], "default");
    assert_eq!(v["services"], json!([]));
    assert_eq!(v["available_credentials"], json!([]));
    let out = ok(
        &s,
        &[
            "vault",
            "run",
            "--",
            env!("CARGO_BIN_EXE_agent-vault"),
            "vault",
            "discover",
        ],
    );
    assert!(out.contains("Vault: default"), "{out}");
    assert!(out.contains("No services configured."), "{out}");
}

#[test]
fn vault_run_errors_are_clear() {
    let (s, _login) = setup();
    let err = fails(&s, &["vault", "run"]);
    assert!(err.contains("no command given"), "{err}");
    let err = fails(&s, &["vault", "run", "--", "no-such-command-xyz"]);
    assert!(
        err.contains("command not found: no-such-command-xyz"),
        "{err}"
    );
    let err = fails(&s, &["vault", "run", "--vault", "nope", "--", "true"]);
    assert!(err.contains("failed to create scoped session"), "{err}");
    assert!(err.contains("Vault \"nope\" not found"), "{err}");
    let err = fails(&s, &["vault", "run", "--role", "owner", "--", "true"]);
    assert!(err.contains("role must be"), "{err}");

    // Without a login.
    std::fs::remove_file(s.home.join(".agent-vault/session.json")).expect("remove session");
    let err = fails(&s, &["vault", "run", "--", "true"]);
    assert!(err.contains("not logged in"), "{err}");
    let err = fails(&s, &["vault", "token"]);
    assert!(err.contains("not logged in"), "{err}");
}

#[test]
fn post_sessions_validates_and_caps_roles() {
    let (s, login) = setup();
    let http = s.http();
    let url = s.url("/v1/sessions");
    let post = |tok: &str, body: Value| http.post(&url, body).bearer(tok).send();

    let cases = [
        (json!({}), 400, "Vault is required"),
        (
            json!({"vault": "default", "vault_role": "root"}),
            400,
            "vault_role must be one of: proxy, member, admin",
        ),
        (
            json!({"vault": "default", "ttl_seconds": 299}),
            400,
            "ttl_seconds must be between 300 and 604800",
        ),
        (
            json!({"vault": "default", "ttl_seconds": 604801}),
            400,
            "ttl_seconds must be between 300 and 604800",
        ),
        (json!({"vault": "nope"}), 404, "Vault \"nope\" not found"),
    ];
    for (body, status, msg) in cases {
        let r = post(&login.token, body.clone());
        assert_eq!(r.status, status, "{body}: {}", r.text);
        assert_eq!(r.json["error"], msg, "{body}");
    }
    let r = http.post(&url, json!({"vault": "default"})).send();
    assert_eq!(r.status, 401);

    // Owner is admin of default: may mint up to admin.
    let r = post(
        &login.token,
        json!({"vault": "default", "vault_role": "admin", "ttl_seconds": 300}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    for k in ["token", "expires_at", "av_addr", "proxy_url"] {
        assert!(r.json[k].is_string(), "{k}: {}", r.text);
    }
    assert_eq!(r.json["av_addr"], s.admin);
    assert_eq!(r.json["proxy_url"], format!("{}/proxy", s.proxy));
    assert!(r.s("expires_at").ends_with('Z'));
    let admin_scoped = r.s("token").to_string();

    // A scoped admin session can mint a member one; a proxy one cannot mint at all.
    let r = post(
        &admin_scoped,
        json!({"vault": "default", "vault_role": "member"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = post(&admin_scoped, json!({"vault": "default"}));
    let proxy_scoped = r.s("token").to_string();
    let r = post(&proxy_scoped, json!({"vault": "default"}));
    assert_eq!(r.status, 403);
    assert_eq!(r.json["error"], "Member role required");

    // Scoped sessions stay in their vault and see no instance-level listings.
    ok(&s, &["vault", "create", "payments"]);
    let r = post(&admin_scoped, json!({"vault": "payments"}));
    assert_eq!(r.status, 403);
    assert_eq!(r.json["error"], "Session not authorized for this vault");
    for path in ["/v1/agents", "/v1/agents/invites"] {
        let r = http.get(&s.url(path)).bearer(&admin_scoped).send();
        assert_eq!(r.status, 403, "{path}: {}", r.text);
    }

    // A user login session cannot call /discover.
    let r = http
        .get(&s.url("/discover"))
        .bearer(&login.token)
        .header("X-Vault", "default")
        .send();
    assert_eq!(r.status, 403);
    assert_eq!(r.json["error"], "Session requires vault scope");
}
