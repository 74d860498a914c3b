//! Credentials end to end: the API (`/v1/credentials`) and `agent-vault vault credential`.
//! Values are random sentinels that must show up only where a value is asked for (reveal /
//! `get`), never in other answers or the server log.

use std::process::Output;

use serde_json::{json, Value};

use crate::support::{Login, Options, Server};

/// A value nobody else would produce, to search for in logs and answers.
pub fn sentinel(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("sntl-{tag}-{nanos:x}-{}", std::process::id())
}

/// Runs the CLI; returns the output.
pub fn cli(server: &Server, args: &[&str]) -> Output {
    server.cli().args(args).output().expect("run agent-vault")
}

/// stdout of a CLI run that must succeed.
pub fn cli_ok(server: &Server, args: &[&str]) -> String {
    let out = cli(server, args);
    assert!(
        out.status.success(),
        "agent-vault {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stderr of a CLI run that must fail.
pub fn cli_err(server: &Server, args: &[&str]) -> String {
    let out = cli(server, args);
    assert!(
        !out.status.success(),
        "agent-vault {args:?} should fail:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A scoped session on `vault` with `role`, minted by `by` (`POST /v1/sessions`).
pub fn scoped_session(server: &Server, by: &Login, vault: &str, role: &str) -> String {
    let r = server
        .http()
        .post(
            &server.url("/v1/sessions"),
            json!({ "vault": vault, "vault_role": role }),
        )
        .bearer(&by.token)
        .send();
    assert_eq!(r.status, 200, "POST /v1/sessions: {}", r.text);
    r.s("token").to_string()
}

#[test]
fn api_set_list_reveal_delete_without_leaking_values() {
    // Most verbose logging: values must stay out of the log at every level.
    let server = Server::start_with(Options {
        env: vec![("AGENT_VAULT_LOG".into(), "trace".into())],
        ..Options::default()
    });
    let owner = server.register_owner();
    let http = server.http();
    let url = server.url("/v1/credentials");
    let (a, b) = (sentinel("a"), sentinel("b"));
    let mut answers: Vec<String> = Vec::new();

    let r = http
        .post(
            &url,
            json!({ "vault": "default", "credentials": { "STRIPE_KEY": a, "GITHUB_TOKEN": b } }),
        )
        .bearer(&owner.token)
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json, json!({ "set": ["GITHUB_TOKEN", "STRIPE_KEY"] }));
    answers.push(r.text);

    let r = http.get(&url).bearer(&owner.token).send();
    assert_eq!(r.json, json!({ "keys": ["GITHUB_TOKEN", "STRIPE_KEY"] }));
    answers.push(r.text);
    // `key=` without reveal is ignored.
    let r = http
        .get(&format!("{url}?vault=default&key=STRIPE_KEY"))
        .bearer(&owner.token)
        .send();
    assert_eq!(r.json, json!({ "keys": ["GITHUB_TOKEN", "STRIPE_KEY"] }));
    answers.push(r.text);

    let r = http
        .get(&format!("{url}?reveal=true"))
        .bearer(&owner.token)
        .send();
    assert_eq!(
        r.json,
        json!({ "keys": ["GITHUB_TOKEN", "STRIPE_KEY"], "credentials": [
            { "key": "GITHUB_TOKEN", "value": b }, { "key": "STRIPE_KEY", "value": a } ] })
    );
    let r = http
        .get(&format!("{url}?vault=default&reveal=true&key=STRIPE_KEY"))
        .bearer(&owner.token)
        .send();
    assert_eq!(
        r.json,
        json!({ "keys": ["STRIPE_KEY"], "credentials": [{ "key": "STRIPE_KEY", "value": a }] })
    );
    let r = http
        .get(&format!("{url}?reveal=true&key=MISSING"))
        .bearer(&owner.token)
        .send();
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json,
        json!({ "error": "Credential \"MISSING\" not found" })
    );

    // Upsert: a new value replaces the old one; empty values are allowed.
    let a2 = sentinel("a2");
    let r = http
        .post(
            &url,
            json!({ "credentials": { "STRIPE_KEY": a2, "EMPTY": "" } }),
        )
        .bearer(&owner.token)
        .send();
    assert_eq!(r.json, json!({ "set": ["EMPTY", "STRIPE_KEY"] }));
    answers.push(r.text);
    let r = http
        .get(&format!("{url}?reveal=true&key=STRIPE_KEY"))
        .bearer(&owner.token)
        .send();
    assert_eq!(r.json["credentials"][0]["value"], json!(a2));

    // A missing key in a delete changes nothing.
    let r = http
        .delete(&url)
        .json(json!({ "keys": ["STRIPE_KEY", "NOPE"] }))
        .bearer(&owner.token)
        .send();
    assert_eq!(r.status, 404);
    assert_eq!(r.json, json!({ "error": "Credential \"NOPE\" not found" }));
    answers.push(r.text);
    let r = http
        .delete(&url)
        .json(json!({ "vault": "default", "keys": ["STRIPE_KEY", "EMPTY"] }))
        .bearer(&owner.token)
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json, json!({ "deleted": ["STRIPE_KEY", "EMPTY"] }));
    answers.push(r.text);
    let r = http.get(&url).bearer(&owner.token).send();
    assert_eq!(r.json, json!({ "keys": ["GITHUB_TOKEN"] }));

    for text in &answers {
        for s in [&a, &b, &a2] {
            assert!(!text.contains(s.as_str()), "value leaked in {text}");
        }
    }
    let log = server.log();
    for s in [&a, &b, &a2] {
        assert!(!log.contains(s.as_str()), "value leaked in the server log");
    }
}

#[test]
fn api_input_errors() {
    let server = Server::start();
    let owner = server.register_owner();
    let http = server.http();
    let url = server.url("/v1/credentials");
    let bad_key = |k: &str| {
        format!("Invalid credential key {k:?}: must be SCREAMING_SNAKE_CASE (e.g. STRIPE_KEY)")
    };
    let cases: Vec<(&str, Value, u16, String)> = vec![
        ("POST", json!("x"), 400, "Invalid request body".into()),
        ("POST", json!({}), 400, "Credentials map is required".into()),
        (
            "POST",
            json!({ "credentials": {} }),
            400,
            "Credentials map is required".into(),
        ),
        (
            "POST",
            json!({ "credentials": { "OK": "1", "lower": "2" } }),
            400,
            bad_key("lower"),
        ),
        (
            "POST",
            json!({ "credentials": { "1ABC": "2" } }),
            400,
            bad_key("1ABC"),
        ),
        (
            "POST",
            json!({ "credentials": { "A-B": "2" } }),
            400,
            bad_key("A-B"),
        ),
        (
            "POST",
            json!({ "vault": "nope", "credentials": { "A": "1" } }),
            404,
            "Vault \"nope\" not found".into(),
        ),
        ("DELETE", json!("x"), 400, "Invalid request body".into()),
        (
            "DELETE",
            json!({ "keys": [] }),
            400,
            "Keys list is required".into(),
        ),
        ("DELETE", json!({ "keys": ["a"] }), 400, bad_key("a")),
        (
            "DELETE",
            json!({ "vault": "nope", "keys": ["A"] }),
            404,
            "Vault \"nope\" not found".into(),
        ),
    ];
    for (method, body, status, msg) in cases {
        let r = http
            .request(method, &url)
            .json(body.clone())
            .bearer(&owner.token)
            .send();
        assert_eq!(r.status, status, "{method} {body}: {}", r.text);
        assert_eq!(r.json, json!({ "error": msg }), "{method} {body}");
    }
    // Nothing was written by the rejected requests.
    let r = http.get(&url).bearer(&owner.token).send();
    assert_eq!(r.json, json!({ "keys": [] }));
    let r = http
        .get(&format!("{url}?vault=nope"))
        .bearer(&owner.token)
        .send();
    assert_eq!(
        (r.status, r.json),
        (404, json!({ "error": "Vault \"nope\" not found" }))
    );
    let r = http.get(&url).send();
    assert_eq!(r.status, 401);
}

#[test]
fn proxy_role_lists_keys_but_cannot_reveal_or_write() {
    let server = Server::start();
    let owner = server.register_owner();
    let http = server.http();
    let url = server.url("/v1/credentials");
    let value = sentinel("p");
    let r = http
        .post(&url, json!({ "credentials": { "API_KEY": value } }))
        .bearer(&owner.token)
        .send();
    assert_eq!(r.status, 200);

    let proxy = scoped_session(&server, &owner, "default", "proxy");
    // A scoped session needs no `vault` field: it uses its own vault.
    for u in [url.clone(), format!("{url}?vault=default")] {
        let r = http.get(&u).bearer(&proxy).send();
        assert_eq!((r.status, r.json), (200, json!({ "keys": ["API_KEY"] })));
    }
    for u in [
        format!("{url}?reveal=true"),
        format!("{url}?reveal=true&key=API_KEY"),
    ] {
        let r = http.get(&u).bearer(&proxy).send();
        assert_eq!(r.status, 403, "{}", r.text);
        assert_eq!(r.json, json!({ "error": "Member role required" }));
        assert!(!r.text.contains(&value));
    }
    let r = http
        .post(&url, json!({ "credentials": { "API_KEY": "x" } }))
        .bearer(&proxy)
        .send();
    assert_eq!(
        (r.status, r.json),
        (403, json!({ "error": "Member role required" }))
    );
    let r = http
        .delete(&url)
        .json(json!({ "keys": ["API_KEY"] }))
        .bearer(&proxy)
        .send();
    assert_eq!(r.status, 403);

    // Another vault is out of reach for a session scoped to `default`.
    let r = http
        .post(&server.url("/v1/vaults"), json!({ "name": "other" }))
        .bearer(&owner.token)
        .send();
    assert!(r.status == 200 || r.status == 201, "{}", r.text);
    let r = http
        .get(&format!("{url}?vault=other"))
        .bearer(&proxy)
        .send();
    assert_eq!(
        (r.status, r.json),
        (
            403,
            json!({ "error": "Session not authorized for this vault" })
        )
    );

    // A member session reveals.
    let member = scoped_session(&server, &owner, "default", "member");
    let r = http
        .get(&format!("{url}?reveal=true&key=API_KEY"))
        .bearer(&member)
        .send();
    assert_eq!(r.json["credentials"][0]["value"], json!(value));
    assert!(!server.log().contains(&value));
}

#[test]
fn cli_set_get_list_delete() {
    let server = Server::start();
    let owner = server.register_owner();
    server.login_cli(&owner);
    let value = sentinel("cli");
    let pair = format!("DB_URL=postgres://u:p@h/db?x={value}");

    let out = cli_ok(&server, &["vault", "credential", "set", &pair, "TOKEN=t0k"]);
    assert_eq!(
        out,
        "✓ Set credential \"DB_URL\" in vault \"default\"\n✓ Set credential \"TOKEN\" in vault \"default\"\n"
    );
    // `get` prints the bare value (split at the first `=`), no trailing newline.
    let out = cli_ok(&server, &["vault", "creds", "get", "DB_URL"]);
    assert_eq!(out, format!("postgres://u:p@h/db?x={value}"));

    let out = cli_ok(&server, &["vault", "credential", "list"]);
    assert!(
        out.contains("KEY") && out.contains("DB_URL") && out.contains("TOKEN"),
        "{out}"
    );
    assert!(!out.contains(&value) && !out.contains("VALUE"), "{out}");
    let out = cli_ok(&server, &["vault", "credential", "list", "--reveal"]);
    assert!(
        out.contains("VALUE") && out.contains(&value) && out.contains("t0k"),
        "{out}"
    );

    let err = cli_err(&server, &["vault", "credential", "set", "=oops"]);
    assert!(
        err.contains("invalid format \"=oops\", expected KEY=VALUE"),
        "{err}"
    );
    let err = cli_err(&server, &["vault", "credential", "set", "lower=x"]);
    assert!(err.contains("Invalid credential key \"lower\""), "{err}");
    let err = cli_err(&server, &["vault", "credential", "get", "MISSING"]);
    assert!(err.contains("Credential \"MISSING\" not found"), "{err}");
    let err = cli_err(&server, &["vault", "credential", "list", "--vault", "nope"]);
    assert!(err.contains("Vault \"nope\" not found"), "{err}");

    let out = cli_ok(
        &server,
        &["vault", "credential", "delete", "DB_URL", "TOKEN"],
    );
    assert_eq!(
        out,
        "✓ Deleted credential \"DB_URL\" from vault \"default\"\n✓ Deleted credential \"TOKEN\" from vault \"default\"\n"
    );
    let out = cli_ok(&server, &["vault", "credential", "list"]);
    assert_eq!(out, "No credentials found in vault \"default\".\n");
    assert!(!server.log().contains(&value));
}

/// An agent token with `role` on `vault`, through an invite and its redemption.
pub fn agent_token(server: &Server, by: &Login, name: &str, vault: &str, role: &str) -> String {
    let http = server.http();
    let r = http
        .post(
            &server.url("/v1/agents/invites"),
            json!({ "name": name, "vaults": [{ "vault_name": vault, "vault_role": role }] }),
        )
        .bearer(&by.token)
        .send();
    assert_eq!(r.status, 201, "invite: {}", r.text);
    let invite = r.s("token").to_string();
    let r = http
        .post(&server.url(&format!("/invite/{invite}")), json!({}))
        .send();
    assert_eq!(r.status, 200, "redeem: {}", r.text);
    r.s("av_agent_token").to_string()
}

#[test]
fn agent_tokens_pick_the_vault_with_x_vault() {
    let server = Server::start();
    let owner = server.register_owner();
    let http = server.http();
    let url = server.url("/v1/credentials");
    let r = http
        .post(&server.url("/v1/vaults"), json!({ "name": "team" }))
        .bearer(&owner.token)
        .send();
    assert!(r.status == 200 || r.status == 201, "{}", r.text);
    let member = agent_token(&server, &owner, "ci-bot", "team", "member");
    let proxy = agent_token(&server, &owner, "run-bot", "team", "proxy");

    let r = http
        .post(&url, json!({ "credentials": { "TEAM_KEY": "v1" } }))
        .header("X-Vault", "team")
        .bearer(&member)
        .send();
    assert_eq!((r.status, r.json), (200, json!({ "set": ["TEAM_KEY"] })));
    let r = http
        .get(&format!("{url}?reveal=true"))
        .header("X-Vault", "team")
        .bearer(&member)
        .send();
    assert_eq!(r.json["credentials"][0]["value"], "v1");
    // The `vault` query still works, and wins over the header.
    let r = http
        .get(&format!("{url}?vault=team"))
        .header("X-Vault", "default")
        .bearer(&member)
        .send();
    assert_eq!((r.status, r.json), (200, json!({ "keys": ["TEAM_KEY"] })));
    // Without either, the vault is `default`, where the agent has no grant.
    let r = http.get(&url).bearer(&member).send();
    assert_eq!(
        (r.status, r.json),
        (403, json!({ "error": "No access to this vault" }))
    );
    let r = http
        .get(&url)
        .header("X-Vault", "default")
        .bearer(&member)
        .send();
    assert_eq!(
        (r.status, r.json),
        (
            403,
            json!({ "error": "Agent does not have access to vault: default" })
        )
    );
    let r = http
        .get(&url)
        .header("X-Vault", "nope")
        .bearer(&member)
        .send();
    assert_eq!(
        (r.status, r.json),
        (404, json!({ "error": "Vault not found: nope" }))
    );

    // A proxy-role agent lists keys but never sees values.
    let r = http
        .get(&url)
        .header("X-Vault", "team")
        .bearer(&proxy)
        .send();
    assert_eq!((r.status, r.json), (200, json!({ "keys": ["TEAM_KEY"] })));
    let r = http
        .get(&format!("{url}?reveal=true&key=TEAM_KEY"))
        .header("X-Vault", "team")
        .bearer(&proxy)
        .send();
    assert_eq!(
        (r.status, r.json),
        (403, json!({ "error": "Member role required" }))
    );
}
