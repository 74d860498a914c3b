//! Agents: the seed document ("Agents") walked top to bottom with the real CLI and a simulated
//! agent that holds only what the printed prompt gives it; then invites, rotation, vault-level
//! access and hostile input.

use std::process::{Command, Output};

use serde_json::{json, Value};

use crate::support::{Http, Login, Server};

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run agent-vault")
}

/// Runs the CLI and expects success; returns stdout.
fn ok(s: &Server, args: &[&str]) -> String {
    let o = run(s.cli().args(args));
    assert!(
        o.status.success(),
        "agent-vault {args:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Runs the CLI and expects failure; returns stderr.
fn fails(s: &Server, args: &[&str]) -> String {
    let o = run(s.cli().args(args));
    assert!(
        !o.status.success(),
        "agent-vault {args:?} should fail: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn setup() -> (Server, Login) {
    let s = Server::start();
    let login = s.register_owner();
    s.login_cli(&login);
    (s, login)
}

/// The invite URL in a printed prompt (the `POST <url>` line).
fn prompt_url(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("POST "))
        .unwrap_or_else(|| panic!("no POST line in: {out}"))
        .trim()
        .to_string()
}

/// What a simulated agent does with a prompt: read the URL, look at it, redeem it.
fn redeem(http: &Http, out: &str) -> Value {
    let url = prompt_url(out);
    let r = http.get(&url).send();
    assert_eq!(r.status, 200, "GET {url}: {}", r.text);
    assert!(r.text.contains(&format!("POST {url}")), "{}", r.text);
    let r = http.post(&url, json!({})).send();
    assert_eq!(r.status, 200, "POST {url}: {}", r.text);
    assert!(r.s("av_agent_token").starts_with("av_agt_"), "{}", r.text);
    r.json
}

fn discover(s: &Server, token: &str, vault: Option<&str>) -> (u16, Value) {
    let mut req = s.http().get(&s.url("/discover")).bearer(token);
    if let Some(v) = vault {
        req = req.header("X-Vault", v);
    }
    let r = req.send();
    (r.status, r.json)
}

fn agents(s: &Server, login: &Login) -> Vec<Value> {
    let r = s
        .http()
        .get(&s.url("/v1/agents"))
        .bearer(&login.token)
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["agents"].as_array().cloned().unwrap_or_default()
}

fn agent<'a>(list: &'a [Value], name: &str) -> Option<&'a Value> {
    list.iter().find(|a| a["name"] == name)
}

#[test]
fn seed_document_walkthrough() {
    let (s, login) = setup();
    let http = s.http();
    ok(&s, &["vault", "create", "payments"]);
    ok(&s, &["vault", "create", "my-vault"]);
    ok(&s, &["vault", "create", "other"]);

    // "Wrapping with vault run".
    let out = ok(
        &s,
        &[
            "vault",
            "run",
            "--vault",
            "my-vault",
            "--",
            "sh",
            "-c",
            "echo $AGENT_VAULT_VAULT $AGENT_VAULT_SESSION_TOKEN",
        ],
    );
    let (v, tok) = out.trim().split_once(' ').expect("two words");
    assert_eq!(v, "my-vault");
    assert_eq!(discover(&s, tok, None).1["vault"], "my-vault");

    // "Inviting an agent": the prompt has the URL; the agent redeems it.
    let out = ok(
        &s,
        &[
            "agent",
            "invite",
            "my-agent",
            "--vault",
            "default:proxy",
            "--vault",
            "payments:member",
            "--role",
            "owner",
        ],
    );
    assert!(
        out.starts_with("Agent invite created for \"my-agent\" (expires in 15m)."),
        "{out}"
    );
    assert!(
        out.contains("Paste the following into your agent:"),
        "{out}"
    );
    assert!(out.contains("Content-Type: application/json"), "{out}");
    assert!(out.contains("expires in 15m"), "{out}");
    assert!(prompt_url(&out).starts_with(&format!("{}/invite/av_inv_", s.admin)));

    // Before redemption the agent shows as pending.
    let list = agents(&s, &login);
    assert_eq!(
        agent(&list, "my-agent").expect("pending")["status"],
        "pending"
    );
    let out_list = ok(&s, &["agent", "invite", "list", "--status", "pending"]);
    assert!(out_list.contains("my-agent"), "{out_list}");

    let redeemed = redeem(&http, &out);
    assert_eq!(redeemed["agent_name"], "my-agent");
    assert_eq!(redeemed["av_addr"], s.admin);
    assert_eq!(redeemed["proxy_url"], format!("{}/proxy", s.proxy));
    assert_eq!(
        redeemed["vaults"],
        json!([
            {"vault_name": "default", "vault_role": "proxy"},
            {"vault_name": "payments", "vault_role": "member"}
        ])
    );
    let instructions = redeemed["instructions"].as_str().expect("instructions");
    assert!(instructions.contains(&format!("GET {}/discover", s.admin)));
    assert!(instructions.contains(&format!("{}/proxy/<target_host>", s.proxy)));
    assert!(instructions.contains("X-Vault"));
    assert!(instructions.contains("/v1/proposals"));
    let agent_tok = redeemed["av_agent_token"]
        .as_str()
        .expect("token")
        .to_string();

    // "The X-Vault header".
    for v in ["default", "payments"] {
        let (st, body) = discover(&s, &agent_tok, Some(v));
        assert_eq!(st, 200, "{v}: {body}");
        assert_eq!(body["vault"], v);
    }
    let (st, body) = discover(&s, &agent_tok, Some("other"));
    assert_eq!(st, 403, "{body}");
    assert_eq!(body["error"], "Agent does not have access to vault: other");
    let (st, body) = discover(&s, &agent_tok, None);
    assert_eq!(st, 400);
    assert_eq!(
        body["error"],
        "Agent tokens require X-Vault header to specify which vault to use"
    );
    let (st, _) = discover(&s, &agent_tok, Some("nope"));
    assert_eq!(st, 404);

    // "Adding vaults after creation".
    let out = ok(
        &s,
        &[
            "vault", "agent", "add", "my-agent", "--vault", "my-vault", "--role", "proxy",
        ],
    );
    assert!(
        out.contains("Agent \"my-agent\" added to vault \"my-vault\""),
        "{out}"
    );
    assert_eq!(discover(&s, &agent_tok, Some("my-vault")).0, 200);
    let err = fails(
        &s,
        &[
            "vault", "agent", "add", "my-agent", "--vault", "payments", "--role", "member",
        ],
    );
    assert!(err.contains("already has access"), "{err}");

    // "Instance-level commands".
    let out = ok(&s, &["agent", "list"]);
    assert!(out.contains("my-agent") && out.contains("active"), "{out}");
    assert!(out.contains("payments:member"), "{out}");
    let out = ok(&s, &["agent", "info", "my-agent"]);
    assert!(out.contains("Role:           owner"), "{out}");
    assert!(out.contains("Active tokens:  1"), "{out}");
    assert!(out.contains("payments (member)"), "{out}");
    let out = ok(&s, &["agent", "set-role", "my-agent", "--role", "member"]);
    assert!(out.contains("owner to member"), "{out}");
    assert_eq!(
        agent(&agents(&s, &login), "my-agent").expect("agent")["role"],
        "member"
    );
    ok(&s, &["agent", "set-role", "my-agent", "--role", "owner"]);

    // "Vault-level commands".
    let out = ok(&s, &["vault", "agent", "list", "--vault", "my-vault"]);
    assert!(out.contains("my-agent") && out.contains("proxy"), "{out}");
    let out = ok(
        &s,
        &["vault", "agent", "set-role", "my-agent", "--role", "member"],
    );
    assert!(out.contains("\"default\""), "{out}");
    let r = http
        .get(&s.url("/v1/vaults/default/agents"))
        .bearer(&login.token)
        .send();
    assert_eq!(r.json["agents"][0]["vault_role"], "member", "{}", r.text);
    ok(&s, &["vault", "agent", "remove", "my-agent"]);
    assert_eq!(discover(&s, &agent_tok, Some("default")).0, 403);
    let out = ok(&s, &["vault", "agent", "list"]);
    assert!(out.contains("No agents in vault \"default\"."), "{out}");
    ok(
        &s,
        &["vault", "agent", "add", "my-agent", "--role", "proxy"],
    );
    assert_eq!(discover(&s, &agent_tok, Some("default")).0, 200);

    // Rename keeps vault access and the token.
    ok(&s, &["agent", "rename", "my-agent", "new-name"]);
    assert_eq!(discover(&s, &agent_tok, Some("payments")).0, 200);
    let list = agents(&s, &login);
    assert!(agent(&list, "my-agent").is_none());
    assert_eq!(
        agent(&list, "new-name").expect("renamed")["vaults"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );

    // "Rotating an agent token": old token works until redemption, then stops.
    let out = ok(&s, &["agent", "rotate", "new-name"]);
    assert!(
        out.contains("Paste the following into the agent's chat:"),
        "{out}"
    );
    assert_eq!(discover(&s, &agent_tok, Some("payments")).0, 200);
    let rotated = redeem(&http, &out);
    assert_eq!(rotated["agent_name"], "new-name");
    let new_tok = rotated["av_agent_token"]
        .as_str()
        .expect("token")
        .to_string();
    assert_ne!(new_tok, agent_tok);
    assert_eq!(discover(&s, &agent_tok, Some("payments")).0, 401);
    assert_eq!(discover(&s, &new_tok, Some("payments")).0, 200);
    let info = http
        .get(&s.url("/v1/agents/new-name"))
        .bearer(&login.token)
        .send();
    assert_eq!(info.json["active_tokens"], 1, "{}", info.text);
    assert!(info.json.get("token_expires_at").is_none());

    // "Managing invites": revoke by the suffix shown in the list.
    let out = ok(&s, &["agent", "invite", "second-agent"]);
    let url = prompt_url(&out);
    let r = http
        .get(&s.url("/v1/agents/invites?status=pending"))
        .bearer(&login.token)
        .send();
    let inv = r.json["invites"]
        .as_array()
        .and_then(|l| l.iter().find(|i| i["agent_name"] == "second-agent"))
        .cloned()
        .expect("pending invite");
    assert!(inv.get("token").is_none());
    let suffix = inv["token_suffix"].as_str().expect("suffix").to_string();
    assert_eq!(suffix.len(), 8);
    assert!(url.ends_with(&suffix));
    let out = ok(&s, &["agent", "invite", "revoke", &suffix]);
    assert!(out.contains("Invite revoked."), "{out}");
    let r = http.post(&url, json!({})).send();
    assert_eq!(r.status, 410);
    assert_eq!(r.json["error"], "invite_revoked");
    let out = ok(&s, &["agent", "invite", "list", "--status", "pending"]);
    assert!(!out.contains("second-agent"), "{out}");

    // "Delete an agent and all its sessions".
    let out = ok(&s, &["agent", "delete", "new-name"]);
    assert!(out.contains("Agent \"new-name\" deleted."), "{out}");
    assert_eq!(discover(&s, &new_tok, Some("payments")).0, 401);
    let list = agents(&s, &login);
    assert_eq!(agent(&list, "new-name").expect("kept")["status"], "revoked");
    let err = fails(&s, &["agent", "delete", "new-name"]);
    assert!(err.contains("Agent is already revoked"), "{err}");
    // Names of revoked agents stay reserved.
    let err = fails(&s, &["agent", "invite", "new-name"]);
    assert!(
        err.contains("An agent named \"new-name\" already exists"),
        "{err}"
    );
}

#[test]
fn invites_api_contract() {
    let (s, login) = setup();
    let http = s.http();
    let url = s.url("/v1/agents/invites");
    let post = |body: Value| http.post(&url, body).bearer(&login.token).send();

    let r = http
        .post(&url, json!({"name": "x"}))
        .body("{not json")
        .bearer(&login.token)
        .send();
    assert_eq!((r.status, r.s("error")), (400, "Invalid request body"));
    let bad = [
        (json!({}), 400, "Agent name is required"),
        (
            json!({"name": "No_Good"}),
            400,
            "Agent name must be 3-64 characters, lowercase alphanumeric and hyphens only",
        ),
        (
            json!({"name": "ab"}),
            400,
            "Agent name must be 3-64 characters, lowercase alphanumeric and hyphens only",
        ),
        (
            json!({"name": "bot", "vaults": [{"vault_name": "default", "vault_role": "root"}]}),
            400,
            "Invalid vault role \"root\" for vault \"default\"",
        ),
        (
            json!({"name": "bot", "vaults": [{"vault_name": "nope"}]}),
            404,
            "Vault \"nope\" not found",
        ),
        (
            json!({"name": "bot", "role": "admin"}),
            400,
            "Role must be one of: owner, member",
        ),
    ];
    for (body, status, msg) in bad {
        let r = post(body.clone());
        assert_eq!((r.status, r.s("error")), (status, msg), "{body}");
    }
    // Nothing was created by the failures.
    let r = http.get(&url).bearer(&login.token).send();
    assert_eq!(r.json, json!({"invites": []}));

    // Default TTL 15 minutes, max 7 days.
    let r = post(json!({"name": "bot"}));
    assert_eq!(r.status, 201, "{}", r.text);
    let tok = r.s("token").to_string();
    assert_eq!(r.json["vaults"], json!([]));
    assert_eq!(r.s("invite_link"), format!("{}/invite/{tok}", s.admin));
    let r2 = post(json!({"name": "bot"}));
    assert_eq!(
        (r2.status, r2.s("error")),
        (409, "A pending invite for agent \"bot\" already exists")
    );

    // GET explains (JSON on request) and never redeems.
    let link = s.url(&format!("/invite/{tok}"));
    let r = http.get(&link).header("Accept", "application/json").send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["agent_name"], "bot");
    assert_eq!(r.json["redeem"]["method"], "POST");
    let r = http.get(&link).send();
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/plain")));

    // Concurrent redemptions: exactly one wins.
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let http = http.clone();
            let link = link.clone();
            std::thread::spawn(move || http.post(&link, json!({})).send())
        })
        .collect();
    let results: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    assert_eq!(results.iter().filter(|r| r.status == 200).count(), 1);
    for r in results.iter().filter(|r| r.status != 200) {
        assert_eq!(
            (r.status, r.s("error")),
            (410, "invite_redeemed"),
            "{}",
            r.text
        );
    }
    let r = http.get(&link).send();
    assert_eq!(r.status, 410);
    assert_eq!(
        r.json["message"],
        "This invite has already been used — ask for a new one"
    );
    let r = http.post(&s.url("/invite/av_inv_nope"), json!({})).send();
    assert_eq!((r.status, r.s("error")), (404, "invite_not_found"));

    // The list shows the redemption, never the token.
    let r = http
        .get(&format!("{url}?status=redeemed"))
        .bearer(&login.token)
        .send();
    let item = &r.json["invites"][0];
    assert_eq!(item["agent_name"], "bot");
    assert!(item["redeemed_at"].is_string());
    assert_eq!(item["token_expires_at"], "");
    assert!(!r.text.contains(&tok));

    // Revoke by id; revoking twice conflicts; short suffixes are refused.
    let r = post(json!({"name": "bot-two", "ttl_seconds": 9999999, "session_ttl_seconds": 10}));
    assert_eq!(r.status, 201);
    let r = http
        .get(&format!("{url}?status=pending"))
        .bearer(&login.token)
        .send();
    let id = r.json["invites"][0]["id"].as_i64().expect("id");
    let exp = r.json["invites"][0]["expires_at"]
        .as_str()
        .expect("exp")
        .to_string();
    assert!(exp.as_str() > "2026", "{exp}");
    let r = http
        .delete(&s.url(&format!("/v1/agents/invites/by-id/{id}")))
        .bearer(&login.token)
        .send();
    assert_eq!(
        (r.status, r.json.clone()),
        (200, json!({"status": "revoked"}))
    );
    let r = http
        .delete(&s.url(&format!("/v1/agents/invites/by-id/{id}")))
        .bearer(&login.token)
        .send();
    assert_eq!((r.status, r.s("error")), (409, "Invite is already revoked"));
    let r = http
        .delete(&s.url("/v1/agents/invites/by-id/x"))
        .bearer(&login.token)
        .send();
    assert_eq!((r.status, r.s("error")), (400, "Invalid invite ID"));
    let r = http
        .delete(&s.url("/v1/agents/invites/abc"))
        .bearer(&login.token)
        .send();
    assert_eq!((r.status, r.s("error")), (404, "invite_not_found"));

    // A session TTL makes the agent token expire (clamped to at least 5 minutes).
    let r = post(json!({"name": "timed", "session_ttl_seconds": 10}));
    let r = http.post(r.s("invite_link"), json!({})).send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.s("token_expires_at").ends_with('Z'), "{}", r.text);
    let r = http
        .get(&s.url("/v1/agents/timed"))
        .bearer(&login.token)
        .send();
    assert!(r.s("token_expires_at").ends_with('Z'), "{}", r.text);
    assert_eq!(r.json["active_tokens"], 1);

    // At most 50 pending invites.
    for i in 0..50 {
        let r = post(json!({"name": format!("cap-{i}")}));
        if r.status == 429 {
            assert_eq!(
                r.s("error"),
                "Too many pending invites (50) — revoke some before creating new ones"
            );
            break;
        }
        assert_eq!(r.status, 201, "{i}: {}", r.text);
    }
    let r = post(json!({"name": "one-too-many"}));
    assert_eq!(r.status, 429, "{}", r.text);

    // Skills are served as markdown.
    for kind in ["cli", "http"] {
        let r = http.get(&s.url(&format!("/v1/skills/{kind}"))).send();
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-type"),
            Some("text/markdown; charset=utf-8")
        );
        assert!(r.text.contains(&format!("name: agent-vault-{kind}")));
    }
}

#[test]
fn member_permissions_and_pending_pre_assignments() {
    let (s, owner) = setup();
    let http = s.http();
    ok(&s, &["vault", "create", "team"]);
    // A member of the instance who is a vault member of "team".
    let member = {
        let r = http
            .post(&s.url("/v1/users/invites"), json!({"email": "m@example.com", "vaults": [{"vault_name": "team", "vault_role": "member"}]}))
            .bearer(&owner.token)
            .send();
        assert_eq!(r.status, 201, "{}", r.text);
        let tok = r
            .s("invite_link")
            .rsplit('/')
            .next()
            .expect("token")
            .to_string();
        let r = http
            .post(
                &s.url(&format!("/v1/users/invites/{tok}/accept")),
                json!({"password": "member-password-1"}),
            )
            .send();
        assert!(r.status == 200 || r.status == 201, "{}", r.text);
        s.login("m@example.com", "member-password-1")
    };
    let inv = |body: Value| {
        http.post(&s.url("/v1/agents/invites"), body)
            .bearer(&member.token)
            .send()
    };
    let r = inv(json!({"name": "helper", "role": "owner"}));
    assert_eq!(
        (r.status, r.s("error")),
        (403, "Only owners can create owner-role agent invites")
    );
    let r =
        inv(json!({"name": "helper", "vaults": [{"vault_name": "team", "vault_role": "admin"}]}));
    assert_eq!(r.status, 403, "{}", r.text);
    let r = inv(json!({"name": "helper", "vaults": [{"vault_name": "default"}]}));
    assert_eq!(r.status, 403, "{}", r.text);
    let r =
        inv(json!({"name": "helper", "vaults": [{"vault_name": "team", "vault_role": "proxy"}]}));
    assert_eq!(r.status, 201, "{}", r.text);
    let link = r.s("invite_link").to_string();

    // Pre-assign the pending agent elsewhere (owner is admin of default).
    let r = http
        .post(
            &s.url("/v1/vaults/default/agents"),
            json!({"name": "helper", "role": "member"}),
        )
        .bearer(&owner.token)
        .send();
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.s("message").contains("pending invite acceptance"));
    let r = http
        .get(&s.url("/v1/vaults/default/agents"))
        .bearer(&owner.token)
        .send();
    assert_eq!(
        r.json["agents"],
        json!([{"name": "helper", "agent_id": "", "vault_role": "member", "status": "pending"}])
    );
    let r = http
        .post(
            &s.url("/v1/vaults/default/agents/helper/role"),
            json!({"role": "admin"}),
        )
        .bearer(&owner.token)
        .send();
    assert_eq!(r.status, 200, "{}", r.text);

    // Member sees the pending agent (it shares "team"), redeems, and the grants apply.
    let r = http.get(&s.url("/v1/agents")).bearer(&member.token).send();
    assert_eq!(r.json["agents"][0]["name"], "helper", "{}", r.text);
    let r = http.post(&link, json!({})).send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["vaults"],
        json!([{"vault_name": "default", "vault_role": "admin"}, {"vault_name": "team", "vault_role": "proxy"}])
    );
    assert!(r.s("instructions").contains("Admin capabilities"));

    // Vault members add agents with role proxy only; admins manage roles.
    ok(&s, &["vault", "create", "side"]);
    let add = |vault: &str, role: &str| {
        http.post(
            &s.url(&format!("/v1/vaults/{vault}/agents")),
            json!({"name": "helper", "role": role}),
        )
        .bearer(&member.token)
        .send()
    };
    let r = add("team", "member");
    assert_eq!(r.status, 403, "{}", r.text);
    let r = add("side", "proxy");
    assert_eq!(r.status, 403, "{}", r.text);
    let r = http
        .post(
            &s.url("/v1/vaults/team/agents/helper/role"),
            json!({"role": "member"}),
        )
        .bearer(&member.token)
        .send();
    assert_eq!(r.status, 403, "{}", r.text);

    // Instance role changes are owner-only; the member did not create... it did create helper,
    // so it may rename it, but not change its role.
    let r = http
        .post(&s.url("/v1/agents/helper/role"), json!({"role": "owner"}))
        .bearer(&member.token)
        .send();
    assert_eq!((r.status, r.s("error")), (403, "Owner role required"));
    let r = http
        .post(
            &s.url("/v1/agents/helper/rename"),
            json!({"name": "helper-two"}),
        )
        .bearer(&member.token)
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["message"],
        "agent renamed from \"helper\" to \"helper-two\""
    );
}

#[test]
fn hostile_input_changes_nothing() {
    let (s, login) = setup();
    let http = s.http();
    let before = agents(&s, &login);
    for args in [
        vec!["agent", "invite", "Bad_Name"],
        vec!["agent", "invite", "ab"],
        vec!["agent", "invite", "good-name", "--role", "admin"],
        vec!["agent", "invite", "good-name", "--vault", ":proxy"],
        vec!["agent", "invite", "good-name", "--vault", "default:owner"],
        vec!["agent", "invite", "good-name", "--vault", "a:b:c"],
        vec!["agent", "invite", "good-name", "--vault", "nope:proxy"],
        vec!["agent", "invite", "good-name", "--invite-ttl", "forever"],
        vec!["agent", "invite", "good-name", "--invite-ttl", "8d"],
        vec!["agent", "set-role", "ghost", "--role", "wizard"],
        vec!["agent", "set-role", "ghost", "--role", "owner"],
        vec!["agent", "delete", "ghost"],
        vec!["agent", "rotate", "ghost"],
        vec!["agent", "rename", "ghost", "ghost-two"],
        vec!["agent", "info", "ghost"],
        vec!["agent", "invite", "revoke", "abc"],
        vec!["agent", "invite", "revoke", "zzzzzzzzzzzz"],
        vec!["vault", "agent", "add", "ghost"],
        vec!["vault", "agent", "add", "ghost", "--role", "root"],
        vec!["vault", "agent", "set-role", "ghost", "--role", "admin"],
        vec!["vault", "agent", "remove", "ghost"],
        vec!["vault", "agent", "list", "--vault", "nope"],
    ] {
        let err = fails(&s, &args);
        assert!(err.starts_with("Error: "), "{args:?}: {err}");
    }
    let err = fails(&s, &["agent", "info", "ghost"]);
    assert!(err.contains("Agent not found"), "{err}");
    let err = fails(
        &s,
        &["agent", "invite", "good-name", "--vault", "nope:proxy"],
    );
    assert!(err.contains("Vault \"nope\" not found"), "{err}");
    assert_eq!(agents(&s, &login), before);
    let r = http
        .get(&s.url("/v1/agents/invites"))
        .bearer(&login.token)
        .send();
    assert_eq!(r.json, json!({"invites": []}));

    // Token-only output, then an expired-by-revocation and a replayed invite.
    let tok = ok(&s, &["agent", "invite", "quick", "--token-only"]);
    assert!(tok.starts_with("av_inv_") && !tok.contains('\n'), "{tok:?}");
    let r = http
        .post(&s.url(&format!("/invite/{tok}")), json!({}))
        .send();
    assert_eq!(r.status, 200);
    let agent_tok = r.s("av_agent_token").to_string();
    let r = http
        .post(&s.url(&format!("/invite/{tok}")), json!({}))
        .send();
    assert_eq!((r.status, r.s("error")), (410, "invite_redeemed"));

    // A rotation invite for an agent deleted in the meantime.
    let r = http
        .post(&s.url("/v1/agents/quick/rotate"), json!({}))
        .bearer(&login.token)
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["expires_in"], "15m");
    let rot = r.s("invite_url").to_string();
    assert!(r.s("prompt").contains(&format!("POST {rot}")));
    ok(&s, &["agent", "delete", "quick"]);
    assert_eq!(discover(&s, &agent_tok, Some("default")).0, 401);
    let r = http.post(&rot, json!({})).send();
    assert_eq!(r.status, 410, "{}", r.text);
    let r = http
        .post(&s.url("/v1/agents/quick/rotate"), json!({}))
        .bearer(&login.token)
        .send();
    assert_eq!(
        (r.status, r.s("error")),
        (409, "Agent is revoked — cannot rotate")
    );

    // Last-owner protection counts users and agents.
    let r = http
        .post(
            &s.url("/v1/agents/invites"),
            json!({"name": "boss", "role": "owner"}),
        )
        .bearer(&login.token)
        .send();
    let r = http.post(r.s("invite_link"), json!({})).send();
    assert_eq!(r.status, 200);
    let r = http
        .post(&s.url("/v1/agents/boss/role"), json!({"role": "member"}))
        .bearer(&login.token)
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json,
        json!({"agent": "boss", "old_role": "owner", "new_role": "member"})
    );
    let r = http
        .post(&s.url("/v1/agents/boss/role"), json!({}))
        .bearer(&login.token)
        .send();
    assert_eq!(
        (r.status, r.s("error")),
        (
            400,
            "Request body must include {\"role\": \"owner|member\"}"
        )
    );
}
