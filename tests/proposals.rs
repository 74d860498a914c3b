//! Proposals end to end: an agent asks for a host it cannot reach yet, a person approves it
//! (API or CLI), and the proxy starts injecting the credential; every validation rule and
//! limit answers with its documented status and message; reviews need a member or admin;
//! services merge by host; concurrent approvals have exactly one winner; stale proposals expire.

use std::io::Write;
use std::process::{Output, Stdio};

use serde_json::{json, Value};

use crate::support::{Login, Options, Server, Upstream};

/// A server that accepts local host names in proposals (the test upstream is `localhost`).
pub(crate) fn dev_server() -> Server {
    Server::start_with(Options {
        env: vec![("AGENT_VAULT_DEV_MODE".into(), "true".into())],
        ..Options::default()
    })
}

/// Creates an agent with `role` in vault `default` (invite + redemption); returns its token.
pub(crate) fn agent_token(server: &Server, owner: &Login, name: &str, role: &str) -> String {
    let http = server.http();
    let r = http
        .post(
            &server.url("/v1/agents/invites"),
            json!({"name": name, "vaults": [{"vault_name": "default", "vault_role": role}]}),
        )
        .bearer(&owner.token)
        .send();
    assert_eq!(r.status, 201, "invite: {}", r.text);
    let r = http
        .post(&server.url(&format!("/invite/{}", r.s("token"))), json!({}))
        .send();
    assert_eq!(r.status, 200, "redeem: {}", r.text);
    r.s("av_agent_token").to_string()
}

/// `POST /v1/proposals` as an agent in vault `default`.
pub(crate) fn propose(server: &Server, agent: &str, body: Value) -> crate::support::Resp {
    server
        .http()
        .post(&server.url("/v1/proposals"), body)
        .bearer(agent)
        .header("X-Vault", "default")
        .send()
}

/// A proposal for the test upstream (`localhost`) with one credential slot.
pub(crate) fn upstream_proposal() -> Value {
    json!({
        "services": [{"action": "set", "host": "localhost", "description": "Echo API",
                      "auth": {"type": "bearer", "token": "ECHO_TOKEN"}}],
        "credentials": [{"action": "set", "key": "ECHO_TOKEN", "description": "Echo API token",
                         "obtain": "https://echo.example.com/settings/tokens",
                         "obtain_instructions": "Create a read-only token."}],
        "message": "I need the echo API to finish the task",
        "user_message": "May I call the Echo API on your behalf?"
    })
}

/// The raw approval token inside an `approval_url`.
pub(crate) fn approval_token(url: &str) -> String {
    url.split("token=")
        .nth(1)
        .expect("token in url")
        .to_string()
}

fn run(mut cmd: std::process::Command, stdin: Option<&str>) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("agent-vault runs");
    if let Some(mut s) = child.stdin.take() {
        if let Some(text) = stdin {
            s.write_all(text.as_bytes()).expect("stdin");
        }
    }
    child.wait_with_output().expect("agent-vault finishes")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// `GET /proxy/<upstream>/hello` as the agent in `default`, retried for a few seconds until it answers
/// `want` (the proxy picks up database changes within about a second).
pub(crate) fn proxied(
    server: &Server,
    up: &Upstream,
    agent: &str,
    want: u16,
) -> crate::support::Resp {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let r = server
            .http()
            .get(&server.proxy_url(&format!("{}/hello", up.host())))
            .bearer(agent)
            .header("X-Vault", "default")
            .send();
        if r.status == want || std::time::Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn proposal_approved_with_cli_makes_the_proxy_inject() {
    let server = dev_server();
    let up = Upstream::start();
    let owner = server.register_owner();
    let agent = agent_token(&server, &owner, "echo-agent", "proxy");

    let before = proxied(&server, &up, &agent, 403);
    assert_eq!(before.status, 403, "{}", before.text);
    assert_eq!(
        before.json["proposal_hint"]["endpoint"],
        "POST /v1/proposals"
    );

    let r = propose(&server, &agent, upstream_proposal());
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["id"], 1);
    assert_eq!(r.json["status"], "pending");
    assert_eq!(r.json["vault"], "default");
    let url = r.s("approval_url").to_string();
    assert!(
        url.starts_with(&format!("{}/approve/1?token=av_appr_", server.admin)),
        "{url}"
    );
    assert_eq!(
        r.s("message"),
        format!("Proposal created. Approve here: {url}")
    );
    assert_eq!(
        proxied(&server, &up, &agent, 403).status,
        403,
        "pending changes nothing"
    );

    server.login_cli(&owner);
    let out = run(
        {
            let mut c = server.cli();
            c.args(["vault", "proposal", "list"]);
            c
        },
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("pending") && text.contains("I need the echo API"),
        "{text}"
    );

    let out = run(
        {
            let mut c = server.cli();
            c.args(["vault", "proposal", "show", "1"]);
            c
        },
        None,
    );
    let text = stdout(&out);
    assert!(text.contains("+ localhost (bearer)"), "{text}");
    assert!(
        text.contains("ECHO_TOKEN") && text.contains("https://echo.example.com/settings/tokens"),
        "{text}"
    );

    // Without a value and without a terminal, approval refuses and changes nothing.
    let out = run(
        {
            let mut c = server.cli();
            c.args(["vault", "proposal", "approve", "1", "--yes"]);
            c
        },
        None,
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("ECHO_TOKEN"), "{}", stderr(&out));

    let out = run(
        {
            let mut c = server.cli();
            c.args([
                "vault",
                "proposal",
                "approve",
                "1",
                "ECHO_TOKEN=tok-from-cli",
                "--yes",
            ]);
            c
        },
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("✓ Proposal #1 approved and applied to vault \"default\"."),
        "{}",
        stdout(&out)
    );

    let after = proxied(&server, &up, &agent, 200);
    assert_eq!(after.status, 200, "{}", after.text);
    assert_eq!(
        after.json["headers"]["authorization"],
        "Bearer tok-from-cli"
    );

    let r = server
        .http()
        .get(&server.url("/v1/proposals/1"))
        .bearer(&agent)
        .header("X-Vault", "default")
        .send();
    assert_eq!(r.json["status"], "applied");
    assert!(r.s("reviewed_at").ends_with('Z'), "{}", r.text);

    let out = run(
        {
            let mut c = server.cli();
            c.args(["vault", "proposal", "approve", "1", "ECHO_TOKEN=x", "--yes"]);
            c
        },
        None,
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already applied"), "{}", stderr(&out));
}

#[test]
fn agent_supplied_values_are_sealed_and_can_be_accepted() {
    let server = dev_server();
    let up = Upstream::start();
    let owner = server.register_owner();
    let agent = agent_token(&server, &owner, "echo-agent", "proxy");
    let mut body = upstream_proposal();
    body["credentials"][0]["value"] = json!("agent-secret-value");
    let r = propose(&server, &agent, body);
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(!r.text.contains("agent-secret-value"));

    let r = server
        .http()
        .get(&server.url("/v1/proposals/1"))
        .bearer(&agent)
        .header("X-Vault", "default")
        .send();
    assert_eq!(r.json["credentials"][0]["has_value"], true);
    assert!(!r.text.contains("agent-secret-value"));
    let r = server
        .http()
        .get(&server.url("/v1/admin/proposals/1?vault=default"))
        .bearer(&owner.token)
        .send();
    assert!(!r.text.contains("agent-secret-value"));
    assert_eq!(
        r.s("user_message"),
        "May I call the Echo API on your behalf?"
    );

    server.login_cli(&owner);
    let out = run(
        {
            let mut c = server.cli();
            c.args(["vault", "proposal", "show", "1"]);
            c
        },
        None,
    );
    assert!(
        stdout(&out).contains("[agent-provided]"),
        "{}",
        stdout(&out)
    );
    let out = run(
        {
            let mut c = server.cli();
            c.args(["vault", "proposal", "approve", "1", "--yes"]);
            c
        },
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let r = proxied(&server, &up, &agent, 200);
    assert_eq!(
        r.json["headers"]["authorization"],
        "Bearer agent-secret-value"
    );
}

#[test]
fn only_members_and_admins_review() {
    let server = dev_server();
    let owner = server.register_owner();
    let proxy_agent = agent_token(&server, &owner, "proxy-agent", "proxy");
    let member_agent = agent_token(&server, &owner, "member-agent", "member");
    let http = server.http();
    assert_eq!(
        propose(&server, &proxy_agent, upstream_proposal()).status,
        201
    );
    assert_eq!(
        propose(&server, &proxy_agent, upstream_proposal()).status,
        201
    );

    let approve = |token: &str, id: u32| {
        http.post(
            &server.url(&format!("/v1/admin/proposals/{id}/approve")),
            json!({"vault": "default", "credentials": {"ECHO_TOKEN": "v"}}),
        )
        .bearer(token)
        .send()
    };
    let r = approve(&proxy_agent, 1);
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.json["error"], "Member role required");
    let r = http
        .post(
            &server.url("/v1/admin/proposals/1/reject"),
            json!({"vault": "default", "reason": "self-service"}),
        )
        .bearer(&proxy_agent)
        .send();
    assert_eq!(r.status, 403);

    // A proxy-role scoped session cannot approve either.
    let r = http
        .post(
            &server.url("/v1/sessions"),
            json!({"vault": "default", "vault_role": "proxy"}),
        )
        .bearer(&owner.token)
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    let scoped = r.s("token").to_string();
    let r = approve(&scoped, 1);
    assert_eq!(r.status, 403, "{}", r.text);
    // ...but it can poll the proposal through its own vault (no X-Vault needed).
    let r = http
        .get(&server.url("/v1/proposals/1"))
        .bearer(&scoped)
        .send();
    assert_eq!(r.json["status"], "pending", "{}", r.text);

    // A user login session cannot use the agent endpoints.
    let r = http
        .get(&server.url("/v1/proposals/1"))
        .bearer(&owner.token)
        .send();
    assert_eq!(r.status, 403);
    assert_eq!(r.json["error"], "Session requires vault scope");

    let r = approve(&member_agent, 1);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json, json!({"id": 1, "status": "applied"}));
    let r = approve(&owner.token, 1);
    assert_eq!(r.status, 409);
    assert_eq!(r.json["error"], "Proposal 1 is already applied");

    let r = http
        .post(
            &server.url("/v1/admin/proposals/2/reject"),
            json!({"vault": "default", "reason": "not this week"}),
        )
        .bearer(&owner.token)
        .send();
    assert_eq!(r.json, json!({"id": 2, "status": "rejected"}));
    let r = http
        .get(&server.url("/v1/proposals/2"))
        .bearer(&proxy_agent)
        .header("X-Vault", "default")
        .send();
    assert_eq!(r.json["status"], "rejected");
    assert_eq!(r.json["review_note"], "not this week");

    // Proxy-role callers only see pending proposals in the admin views.
    let r = http
        .get(&server.url("/v1/admin/proposals?vault=default"))
        .bearer(&proxy_agent)
        .send();
    assert_eq!(r.json["proposals"], json!([]), "{}", r.text);
    let r = http
        .get(&server.url("/v1/admin/proposals/2?vault=default"))
        .bearer(&proxy_agent)
        .send();
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json["error"],
        "Proxy-role agents can only view pending proposals"
    );
}

#[test]
fn every_validation_rule_and_limit() {
    let server = Server::start();
    let owner = server.register_owner();
    let agent = agent_token(&server, &owner, "eager-agent", "proxy");
    let http = server.http();

    let r = http
        .post(&server.url("/v1/proposals"), upstream_proposal())
        .bearer(&agent)
        .send();
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json["error"],
        "Agent tokens require X-Vault header to specify which vault to use"
    );
    let r = http
        .post(&server.url("/v1/proposals"), upstream_proposal())
        .bearer(&agent)
        .header("X-Vault", "nope")
        .send();
    assert_eq!(
        (r.status, r.json["error"].clone()),
        (404, json!("Vault not found: nope"))
    );
    let r = http.post(&server.url("/v1/proposals"), json!({})).send();
    assert_eq!(r.status, 401);
    let r = http
        .request("POST", &server.url("/v1/proposals"))
        .body("{\"services\": [")
        .bearer(&agent)
        .header("X-Vault", "default")
        .send();
    assert_eq!(
        (r.status, r.json["error"].clone()),
        (400, json!("Invalid request body"))
    );

    let bearer = |host: &str| json!({"action": "set", "host": host, "auth": {"type": "bearer", "token": "K"}});
    let slot = |key: &str| json!({"action": "set", "key": key});
    let cases: Vec<(Value, String)> = vec![
        (json!({}), "at least one service or credential is required".into()),
        (json!({"services": [], "credentials": []}), "at least one service or credential is required".into()),
        (
            json!({"services": (0..11).map(|i| json!({"action": "delete", "host": format!("h{i}.example.com")})).collect::<Vec<_>>()}),
            "too many services (max 10)".into(),
        ),
        (
            json!({"credentials": (0..11).map(|i| slot(&format!("K{i}"))).collect::<Vec<_>>()}),
            "too many credential slots (max 10)".into(),
        ),
        (json!({"services": [{"action": "upsert", "host": "a.example.com"}]}),
            "service 0: invalid action \"upsert\" (must be \"set\" or \"delete\")".into()),
        (json!({"services": [{"action": "delete"}]}), "service 0: host is required".into()),
        (json!({"services": [{"action": "delete", "host": "   "}]}), "service 0: host is empty".into()),
        (json!({"services": [{"action": "delete", "host": "a.example.com"}, bearer("user@evil.com")], "credentials": [slot("K")]}),
            "service 1: host \"user@evil.com\" contains invalid character '@'".into()),
        (json!({"services": [bearer("10.1.2.3")], "credentials": [slot("K")]}),
            "service 0: host \"10.1.2.3\" must be a hostname, not an IP address".into()),
        (json!({"services": [bearer("*")], "credentials": [slot("K")]}),
            "service 0: host \"*\": bare wildcard is not allowed".into()),
        (json!({"services": [bearer("*example.com")], "credentials": [slot("K")]}),
            "service 0: host \"*example.com\": wildcard must be in the form *.example.com".into()),
        (json!({"services": [bearer("*.com")], "credentials": [slot("K")]}),
            "service 0: host \"*.com\": wildcard must have at least two domain levels (e.g. *.example.com)".into()),
        (json!({"services": [bearer("localhost")], "credentials": [slot("K")]}),
            "service 0: host \"localhost\" is a local/internal name and is not allowed (set AGENT_VAULT_DEV_MODE=true to override)".into()),
        (json!({"services": [bearer("api.example.com:8443")], "credentials": [slot("K")]}),
            "service 0: host \"api.example.com:8443\" is not a valid hostname".into()),
        (json!({"services": [{"action": "set", "host": "a.example.com", "description": "d".repeat(501), "auth": {"type": "bearer", "token": "K"}}], "credentials": [slot("K")]}),
            "service 0: description too long (max 500 characters)".into()),
        (json!({"services": [{"action": "set", "host": "a.example.com"}]}),
            "service 0: auth is required for set action".into()),
        (json!({"services": [{"action": "set", "host": "a.example.com", "auth": {"type": "oauth"}}]}),
            "service 0: auth: unsupported type \"oauth\" (supported: bearer, basic, api-key, custom)".into()),
        (json!({"services": [{"action": "set", "host": "a.example.com", "auth": {"type": "bearer"}}]}),
            "service 0: auth: \"token\" is required for bearer auth".into()),
        (json!({"credentials": [{"action": "add", "key": "K"}]}),
            "credential slot: invalid action \"add\" (must be \"set\" or \"delete\")".into()),
        (json!({"credentials": [{"action": "set"}]}), "credential slot key is required".into()),
        (json!({"credentials": [slot("stripe_key")]}),
            "credential slot key \"stripe_key\" must be UPPER_SNAKE_CASE (e.g. STRIPE_KEY, GITHUB_TOKEN)".into()),
        (json!({"credentials": [slot("K"), slot("K")]}), "duplicate credential slot key \"K\"".into()),
        (json!({"credentials": [{"action": "set", "key": "K", "description": "d".repeat(501)}]}),
            "credential slot \"K\": description too long (max 500 characters)".into()),
        (json!({"credentials": [{"action": "set", "key": "K", "obtain": format!("https://example.com/{}", "a".repeat(490))}]}),
            "credential slot \"K\": obtain too long (max 500 characters)".into()),
        (json!({"credentials": [{"action": "set", "key": "K", "obtain_instructions": "i".repeat(1001)}]}),
            "credential slot \"K\": obtain_instructions too long (max 1000 characters)".into()),
        (json!({"credentials": [{"action": "set", "key": "K", "obtain": "javascript:alert(1)"}]}),
            "credential slot \"K\": obtain must be a valid https:// or http:// URL".into()),
        (json!({"services": [bearer("a.example.com")], "credentials": [slot("K"), slot("UNUSED")]}),
            "credential slot \"UNUSED\" is not referenced by any service auth config".into()),
        (json!({"credentials": [slot("K")], "message": "m".repeat(2001)}),
            "message too long (max 2000 characters)".into()),
        (json!({"credentials": [slot("K")], "user_message": "é".repeat(5001)}),
            "user_message too long (max 5000 characters)".into()),
        (json!({"services": [bearer("a.example.com")]}),
            "credential \"K\" referenced in service for \"a.example.com\" is not provided in this proposal and does not exist in the vault".into()),
        (json!({"services": [bearer("a.example.com")], "credentials": [{"action": "delete", "key": "K"}]}),
            "credential \"K\" referenced in service for \"a.example.com\" is not provided in this proposal and does not exist in the vault".into()),
    ];
    for (body, msg) in &cases {
        let r = propose(&server, &agent, body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(r.s("error"), msg, "{body}");
    }

    // Accepted edge cases: the exact limits, credential-only proposals with unreferenced
    // slots, delete slots, wildcards with two levels.
    let ok = [
        json!({"credentials": [slot("A"), {"action": "delete", "key": "OLD"}],
               "message": "m".repeat(2000), "user_message": "é".repeat(5000)}),
        json!({"services": [bearer("*.example.com"), {"action": "delete", "host": "gone.example.com"}],
               "credentials": [slot("K")]}),
        json!({"services": (0..10).map(|i| json!({"action": "delete", "host": format!("h{i}.example.com")})).collect::<Vec<_>>(),
               "credentials": (0..10).map(|i| json!({"action": "delete", "key": format!("K{i}")})).collect::<Vec<_>>()}),
    ];
    for body in &ok {
        let r = propose(&server, &agent, body.clone());
        assert_eq!(r.status, 201, "{body}: {}", r.text);
    }

    // 20 pending per vault; the 21st gets 429; deciding one frees a place.
    for _ in ok.len()..20 {
        assert_eq!(propose(&server, &agent, ok[0].clone()).status, 201);
    }
    let r = propose(&server, &agent, ok[0].clone());
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(r.json["error"], "Too many pending proposals (max 20)");
    let r = http
        .post(
            &server.url("/v1/admin/proposals/1/reject"),
            json!({"reason": "too many"}),
        )
        .bearer(&owner.token)
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    let r = propose(&server, &agent, ok[0].clone());
    assert_eq!((r.status, r.json["id"].clone()), (201, json!(21)));

    // Reads: bad ids and missing proposals.
    let get = |path: &str| {
        http.get(&server.url(path))
            .bearer(&agent)
            .header("X-Vault", "default")
            .send()
    };
    let r = get("/v1/proposals/abc");
    assert_eq!(
        (r.status, r.json["error"].clone()),
        (400, json!("Invalid proposal id"))
    );
    let r = get("/v1/proposals/99");
    assert_eq!(
        (r.status, r.json["error"].clone()),
        (404, json!("Proposal 99 not found"))
    );
    let r = get("/v1/proposals?status=rejected");
    assert_eq!(
        r.json["proposals"].as_array().map(Vec::len),
        Some(1),
        "{}",
        r.text
    );
    let r = get("/v1/proposals");
    assert_eq!(r.json["proposals"][0]["id"], 21);
    assert!(r.json["proposals"][0]["created_at"]
        .as_str()
        .unwrap()
        .ends_with('Z'));

    // Review-side errors.
    let post = |path: &str, body: Value| {
        http.post(&server.url(path), body)
            .bearer(&owner.token)
            .send()
    };
    let r = post("/v1/admin/proposals/x/approve", json!({}));
    assert_eq!(
        (r.status, r.json["error"].clone()),
        (400, json!("Invalid proposal id"))
    );
    let r = http
        .request("POST", &server.url("/v1/admin/proposals/2/approve"))
        .body("nope")
        .bearer(&owner.token)
        .send();
    assert_eq!(
        (r.status, r.json["error"].clone()),
        (400, json!("Invalid request body"))
    );
    let r = post("/v1/admin/proposals/2/approve", json!({"vault": "nope"}));
    assert_eq!(
        (r.status, r.json["error"].clone()),
        (404, json!("Vault \"nope\" not found"))
    );
    let r = post("/v1/admin/proposals/99/approve", json!({}));
    assert_eq!(
        (r.status, r.json["error"].clone()),
        (404, json!("Proposal 99 not found"))
    );
    let r = post("/v1/admin/proposals/4/approve", json!({}));
    assert_eq!(
        (r.status, r.json["error"].clone()),
        (400, json!("Missing value for credential \"A\""))
    );
    let r = post(
        "/v1/admin/proposals/4/approve",
        json!({"credentials": {"A": ""}}),
    );
    assert_eq!(
        (r.status, r.json["error"].clone()),
        (400, json!("Credential \"A\" cannot be empty"))
    );
    let r = post("/v1/admin/proposals/1/reject", json!({}));
    assert_eq!(
        (r.status, r.json["error"].clone()),
        (409, json!("Proposal 1 is already rejected"))
    );
    let r = http
        .get(&server.url("/v1/admin/proposals/99?vault=default"))
        .bearer(&owner.token)
        .send();
    assert_eq!(
        r.json["error"],
        "Proposal #99 not found in vault \"default\""
    );
}

#[test]
fn approval_merges_services_by_host() {
    let server = Server::start();
    let owner = server.register_owner();
    let agent = agent_token(&server, &owner, "merge-agent", "proxy");
    let approve = |id: u32, creds: Value| {
        let r = server
            .http()
            .post(
                &server.url(&format!("/v1/admin/proposals/{id}/approve")),
                json!({"vault": "default", "credentials": creds}),
            )
            .bearer(&owner.token)
            .send();
        assert_eq!(r.status, 200, "{}", r.text);
    };
    let svc = |host: &str, key: &str, desc: &str| {
        json!({"action": "set", "host": host, "description": desc,
               "auth": {"type": "bearer", "token": key}})
    };
    let r = propose(
        &server,
        &agent,
        json!({"services": [svc("a.example.com", "A_KEY", "first"), svc("b.example.com", "B_KEY", "second"),
                            svc("c.example.com", "A_KEY", "third")],
               "credentials": [{"action": "set", "key": "A_KEY"}, {"action": "set", "key": "B_KEY"},
                               {"action": "set", "key": "OLD_KEY"}]}),
    );
    // OLD_KEY is not referenced by a service: refused while services are present.
    assert_eq!(r.status, 400);
    let r = propose(
        &server,
        &agent,
        json!({"services": [svc("a.example.com", "A_KEY", "first"), svc("b.example.com", "B_KEY", "second"),
                            svc("c.example.com", "A_KEY", "third")],
               "credentials": [{"action": "set", "key": "A_KEY"}, {"action": "set", "key": "B_KEY"}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    approve(1, json!({"A_KEY": "a", "B_KEY": "b"}));

    // set replaces b in place (A_KEY exists in the vault now, so no slot is needed), delete
    // removes c, an unknown delete is ignored, an empty description becomes null, a new host
    // is appended, and the B_KEY credential is deleted.
    let r = propose(
        &server,
        &agent,
        json!({"services": [svc("b.example.com", "A_KEY", ""), {"action": "delete", "host": "c.example.com"},
                            {"action": "delete", "host": "never.example.com"}, svc("d.example.com", "D_KEY", "fourth")],
               "credentials": [{"action": "set", "key": "D_KEY"}, {"action": "delete", "key": "B_KEY"}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    approve(2, json!({"D_KEY": "d"}));

    let r = server
        .http()
        .get(&server.url("/v1/vaults/default/services"))
        .bearer(&owner.token)
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["services"],
        json!([
            {"host": "a.example.com", "description": "first", "auth": {"type": "bearer", "token": "A_KEY"}},
            {"host": "b.example.com", "description": null, "auth": {"type": "bearer", "token": "A_KEY"}},
            {"host": "d.example.com", "description": "fourth", "auth": {"type": "bearer", "token": "D_KEY"}}
        ])
    );
    let r = server
        .http()
        .get(&server.url("/v1/credentials?vault=default"))
        .bearer(&owner.token)
        .send();
    assert_eq!(r.json["keys"], json!(["A_KEY", "D_KEY"]), "{}", r.text);
}

#[test]
fn concurrent_approvals_have_exactly_one_winner() {
    let server = dev_server();
    let owner = server.register_owner();
    let agent = agent_token(&server, &owner, "race-agent", "proxy");
    assert_eq!(propose(&server, &agent, upstream_proposal()).status, 201);
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let server = &server;
                let token = owner.token.clone();
                s.spawn(move || {
                    server
                        .http()
                        .post(
                            &server.url("/v1/admin/proposals/1/approve"),
                            json!({"credentials": {"ECHO_TOKEN": format!("v{i}")}}),
                        )
                        .bearer(&token)
                        .send()
                        .status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        5,
        "{statuses:?}"
    );
}

#[test]
fn stale_proposals_expire_whenever_read() {
    let server = dev_server();
    let owner = server.register_owner();
    let agent = agent_token(&server, &owner, "slow-agent", "proxy");
    let r = propose(&server, &agent, upstream_proposal());
    let token = approval_token(r.s("approval_url"));
    let store = av_store::Store::open(&server.data_dir).expect("open the server's database");
    store
        .read(|c| {
            c.execute(
                "UPDATE proposals SET created_at = ?1",
                [av_store::time::in_seconds(-8 * 86_400)],
            )
            .map_err(av_store::Error::from)
        })
        .unwrap();
    let r = server
        .http()
        .get(&server.url("/v1/proposals/1"))
        .bearer(&agent)
        .header("X-Vault", "default")
        .send();
    assert_eq!(r.json["status"], "expired", "{}", r.text);
    let r = server
        .http()
        .post(
            &server.url("/v1/admin/proposals/1/approve"),
            json!({"credentials": {"ECHO_TOKEN": "x"}}),
        )
        .bearer(&owner.token)
        .send();
    assert_eq!(
        (r.status, r.json["error"].clone()),
        (409, json!("Proposal 1 is already expired"))
    );
    let r = server
        .http()
        .get(&server.url(&format!("/v1/proposals/approve-details?token={token}&id=1")))
        .send();
    assert_eq!(
        r.json,
        json!({"error": true, "error_title": "Expired",
               "error_message": "This request has already been expired."})
    );

    // An approval link older than 24 h is refused even while the proposal is pending.
    let r = propose(&server, &agent, upstream_proposal());
    let token = approval_token(r.s("approval_url"));
    store
        .read(|c| {
            c.execute(
                "UPDATE proposals SET approval_token_expires_at = ?1 WHERE id = 2",
                [av_store::time::in_seconds(-60)],
            )
            .map_err(av_store::Error::from)
        })
        .unwrap();
    let r = server
        .http()
        .get(&server.url(&format!("/v1/proposals/approve-details?token={token}&id=2")))
        .send();
    assert_eq!(
        (r.status, r.json["error"].clone()),
        (410, json!("Approval link has expired"))
    );
    let page = server
        .http()
        .get(&server.url(&format!("/approve/2?token={token}")))
        .send();
    assert_eq!(page.status, 410);
    assert!(page.text.contains("This approval link has expired"));
}

#[test]
fn cli_create_reject_and_json_modes() {
    let server = dev_server();
    let owner = server.register_owner();
    let agent = agent_token(&server, &owner, "cli-agent", "proxy");
    let agent_cli = || {
        let mut c = server.cli();
        c.env("AGENT_VAULT_SESSION_TOKEN", &agent)
            .env("AGENT_VAULT_ADDR", &server.admin)
            .args(["vault", "proposal", "create"]);
        c
    };

    let out = run(
        {
            let mut c = agent_cli();
            c.args([
                "--host",
                "localhost",
                "--description",
                "Echo",
                "--credential",
                "ECHO_TOKEN=The echo token",
                "-m",
                "flags",
                "--user-message",
                "Please approve",
            ]);
            c
        },
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("✓ Proposal #1 created in vault \"default\"."),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "Approve at: {}/approve/1?token=av_appr_",
            server.admin
        )),
        "{text}"
    );

    let file = server.home.join("proposal.json");
    std::fs::write(&file, upstream_proposal().to_string()).unwrap();
    let out = run(
        {
            let mut c = agent_cli();
            c.arg("-f").arg(&file).args(["-m", "overridden", "--json"]);
            c
        },
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    assert_eq!(v["id"], 2);

    let out = run(
        {
            let mut c = agent_cli();
            c.args(["-f", "-"]);
            c
        },
        Some(&json!({"credentials": [{"action": "set", "key": "FROM_STDIN"}]}).to_string()),
    );
    assert!(
        stdout(&out).contains("Proposal #3"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );

    let out = run(
        {
            let mut c = agent_cli();
            c.args(["--credential", "bad_key"]);
            c
        },
        None,
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("must be UPPER_SNAKE_CASE"),
        "{}",
        stderr(&out)
    );
    let out = run(
        {
            let mut c = agent_cli();
            c.args(["-f", "x.json", "--host", "a.example.com"]);
            c
        },
        None,
    );
    assert!(!out.status.success());

    let r = server
        .http()
        .get(&server.url("/v1/admin/proposals/2?vault=default"))
        .bearer(&owner.token)
        .send();
    assert_eq!(r.s("message"), "overridden");
    let r = server
        .http()
        .get(&server.url("/v1/admin/proposals/1?vault=default"))
        .bearer(&owner.token)
        .send();
    assert_eq!(r.s("user_message"), "Please approve");
    let services: Value = serde_json::from_str(r.s("services_json")).unwrap();
    assert_eq!(
        services,
        json!([{"action": "set", "host": "localhost", "description": "Echo",
                "auth": {"type": "bearer", "token": "ECHO_TOKEN"}}])
    );

    server.login_cli(&owner);
    let out = run(
        {
            let mut c = server.cli();
            c.args([
                "vault",
                "proposal",
                "reject",
                "2",
                "--reason",
                "use the staging key",
            ]);
            c
        },
        None,
    );
    assert!(
        stdout(&out).contains("✓ Proposal #2 rejected."),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let out = run(
        {
            let mut c = server.cli();
            c.args(["vault", "proposal", "list", "--status", "rejected"]);
            c
        },
        None,
    );
    let text = stdout(&out);
    assert!(
        text.contains("rejected") && !text.contains("pending"),
        "{text}"
    );
    let out = run(
        {
            let mut c = server.cli();
            c.args(["vault", "proposal", "review"]);
            c
        },
        None,
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("interactive terminal"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn cli_review_walks_pending_proposals_on_a_terminal() {
    let server = dev_server();
    let up = Upstream::start();
    let owner = server.register_owner();
    let agent = agent_token(&server, &owner, "review-agent", "proxy");
    let mut with_value = upstream_proposal();
    with_value["credentials"][0]["value"] = json!("value-from-agent");
    for body in [with_value, upstream_proposal(), upstream_proposal()] {
        assert_eq!(propose(&server, &agent, body).status, 201);
    }
    server.login_cli(&owner);
    // `script` gives the CLI a real terminal; the answers are typed into it in order:
    // #1 approve (accepting the agent's value), #2 reject with a reason, #3 skip.
    let out = server.on_terminal("vault proposal review", "a\ny\nr\nwrong vault\ns\n");
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.contains("Approved: #1"), "{text}");
    assert!(text.contains("Rejected: #2"), "{text}");
    assert!(text.contains("Skipped:  #3"), "{text}");
    let r = proxied(&server, &up, &agent, 200);
    assert_eq!(
        r.json["headers"]["authorization"],
        "Bearer value-from-agent"
    );
    let r = server
        .http()
        .get(&server.url("/v1/admin/proposals/2?vault=default"))
        .bearer(&owner.token)
        .send();
    assert_eq!(
        (r.s("status"), r.s("review_note")),
        ("rejected", "wrong vault")
    );
}

#[test]
fn cli_approve_prompts_for_missing_values() {
    let server = dev_server();
    let up = Upstream::start();
    let owner = server.register_owner();
    let agent = agent_token(&server, &owner, "prompt-agent", "proxy");
    assert_eq!(propose(&server, &agent, upstream_proposal()).status, 201);
    server.login_cli(&owner);
    let out = server.on_terminal("vault proposal approve 1", "y\ntyped-at-the-prompt\n");
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.contains("Value for ECHO_TOKEN"), "{text}");
    let r = proxied(&server, &up, &agent, 200);
    assert_eq!(
        r.json["headers"]["authorization"],
        "Bearer typed-at-the-prompt"
    );
}
