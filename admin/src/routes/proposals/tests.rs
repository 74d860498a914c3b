//! In-process tests of the proposal API and the approval page against a real (temporary)
//! database: validation messages, the pending limit, review permissions, the one-transaction
//! apply with its merge, concurrent approvals, lazy expiry and the page's login and form token.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

use av_store::roles::{InstanceRole, VaultRole};
use av_store::{time, DEFAULT_VAULT_ID};

use crate::authz::upsert_grant;
use crate::caller::create_session;
use crate::testkit::{request, send, Kit, Resp, PASSWORD};

fn env() -> Kit {
    Kit::at("http://vault.test:8321", "http://vault.test:8322")
}

/// An agent with a role in `default`; returns its token.
fn agent(e: &Kit, name: &str, role: VaultRole) -> String {
    let conn = e.state.store.conn().unwrap();
    let id = av_store::new_id();
    conn.execute(
        "INSERT INTO agents (id, name, status, role, created_by, created_at, updated_at)
         VALUES (?1, ?2, 'active', ?3, 'test', ?4, ?4)",
        rusqlite::params![id, name, InstanceRole::Member.as_str(), time::now()],
    )
    .unwrap();
    upsert_grant(&conn, (&id, "agent"), DEFAULT_VAULT_ID, role).unwrap();
    create_session(&conn, None, Some(&id), None, None)
        .unwrap()
        .0
}

/// A JSON request; proposal routes also get the `X-Vault` header agents send.
fn req(method: &str, uri: &str, token: Option<&str>, body: Option<&Value>) -> Request<Body> {
    let vault: &[(&str, &str)] = if uri.starts_with("/v1/proposals") {
        &[("x-vault", "default")]
    } else {
        &[]
    };
    request(method, uri, token, vault, body.cloned())
}

fn stripe() -> Value {
    json!({
        "services": [{"action": "set", "host": "api.stripe.com", "description": "Stripe",
                      "auth": {"type": "bearer", "token": "STRIPE_KEY"}}],
        "credentials": [{"action": "set", "key": "STRIPE_KEY", "description": "Secret key",
                         "obtain": "https://dashboard.stripe.com/apikeys"}],
        "message": "need stripe", "user_message": "Please allow Stripe"
    })
}

async fn create(e: &Kit, token: &str, body: &Value) -> Resp {
    send(
        &e.state,
        req("POST", "/v1/proposals", Some(token), Some(body)),
    )
    .await
}

fn services_of(e: &Kit) -> Value {
    let text: String = e
        .state
        .store
        .conn()
        .unwrap()
        .query_row(
            "SELECT services_json FROM broker_configs WHERE vault_id = ?1",
            [DEFAULT_VAULT_ID],
            |r| r.get(0),
        )
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn credential(e: &Kit, key: &str) -> Option<String> {
    let conn = e.state.store.conn().unwrap();
    let row: Option<(Vec<u8>, Vec<u8>)> = rusqlite::OptionalExtension::optional(conn.query_row(
        "SELECT ciphertext, nonce FROM credentials WHERE vault_id = ?1 AND key = ?2",
        [DEFAULT_VAULT_ID, key],
        |r| Ok((r.get(0)?, r.get(1)?)),
    ))
    .unwrap();
    row.map(|(c, n)| e.state.key.open_string(&c, &n).unwrap().to_string())
}

#[tokio::test]
async fn create_read_and_list() {
    let e = env();
    let agt = agent(&e, "writer", VaultRole::Proxy);
    let mut body = stripe();
    body["credentials"][0]["value"] = json!("sk_agent");
    let r = create(&e, &agt, &body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json["id"], 1);
    assert_eq!(r.json["status"], "pending");
    assert_eq!(r.json["vault"], "default");
    let url = r.json["approval_url"].as_str().unwrap();
    assert!(url.starts_with("http://vault.test:8321/approve/1?token=av_appr_"));
    assert_eq!(
        r.json["message"],
        format!("Proposal created. Approve here: {url}")
    );
    assert!(!r.text.contains("sk_agent"));

    let r = send(&e.state, req("GET", "/v1/proposals/1", Some(&agt), None)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["credentials"][0]["has_value"], true);
    assert!(r.json["credentials"][0].get("value").is_none());
    assert_eq!(r.json["reviewed_at"], Value::Null);
    assert!(r.json["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(r.json.get("user_message").is_none());

    let r = send(&e.state, req("GET", "/v1/proposals/x", Some(&agt), None)).await;
    assert_eq!(r.json["error"], "Invalid proposal id");
    let r = send(&e.state, req("GET", "/v1/proposals/9", Some(&agt), None)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json["error"], "Proposal 9 not found");

    create(&e, &agt, &stripe()).await;
    let r = send(&e.state, req("GET", "/v1/proposals", Some(&agt), None)).await;
    let ids: Vec<i64> = r.json["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![2, 1]);
    let r = send(
        &e.state,
        req("GET", "/v1/proposals?status=applied", Some(&agt), None),
    )
    .await;
    assert_eq!(r.json["proposals"], json!([]));

    // The agent value is stored sealed, and no token is stored at all.
    let conn = e.state.store.conn().unwrap();
    let (ct, n): (Vec<u8>, Vec<u8>) = conn
        .query_row(
            "SELECT ciphertext, nonce FROM proposal_credentials WHERE proposal_id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(&*e.state.key.open_string(&ct, &n).unwrap(), "sk_agent");
    let creator: Option<String> = conn
        .query_row(
            "SELECT created_by_agent_id FROM proposals WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(creator.is_some());
}

#[tokio::test]
async fn vault_resolution_and_validation_messages() {
    let e = env();
    let agt = agent(&e, "writer", VaultRole::Proxy);
    let mut no_vault = req("POST", "/v1/proposals", Some(&agt), Some(&stripe()));
    no_vault.headers_mut().remove("x-vault");
    let r = send(&e.state, no_vault).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json["error"],
        "Agent tokens require X-Vault header to specify which vault to use"
    );
    let r = create(&e, &e.owner, &stripe()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json["error"], "Session requires vault scope");

    let bad = request(
        "POST",
        "/v1/proposals",
        Some(&agt),
        &[("x-vault", "default")],
        "{not json",
    );
    assert_eq!(
        send(&e.state, bad).await.json["error"],
        "Invalid request body"
    );

    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "at least one service or credential is required"),
        (
            json!({"services": (0..11).map(|i| json!({"action":"delete","host":format!("h{i}.example.com")})).collect::<Vec<_>>()}),
            "too many services (max 10)",
        ),
        (
            json!({"credentials": (0..11).map(|i| json!({"action":"set","key":format!("K{i}")})).collect::<Vec<_>>()}),
            "too many credential slots (max 10)",
        ),
        (
            json!({"services":[{"action":"set","host":"10.0.0.1","auth":{"type":"bearer","token":"T"}}]}),
            "service 0: host \"10.0.0.1\" must be a hostname, not an IP address",
        ),
        (
            json!({"services":[{"action":"set","host":"api.example.com"}]}),
            "service 0: auth is required for set action",
        ),
        (
            json!({"services":[{"action":"set","host":"api.example.com","auth":{"type":"bearer","token":"T"}}],
                   "credentials":[{"action":"set","key":"T"},{"action":"set","key":"OTHER"}]}),
            "credential slot \"OTHER\" is not referenced by any service auth config",
        ),
        (
            json!({"credentials":[{"action":"set","key":"K","obtain":"ftp://x"}]}),
            "credential slot \"K\": obtain must be a valid https:// or http:// URL",
        ),
        (
            json!({"credentials":[{"action":"set","key":"K"}], "message": "m".repeat(2001)}),
            "message too long (max 2000 characters)",
        ),
        (
            json!({"credentials":[{"action":"set","key":"K"}], "user_message": "m".repeat(5001)}),
            "user_message too long (max 5000 characters)",
        ),
        (
            json!({"services":[{"action":"set","host":"api.example.com","auth":{"type":"bearer","token":"MISSING"}}]}),
            "credential \"MISSING\" referenced in service for \"api.example.com\" is not provided in this proposal and does not exist in the vault",
        ),
    ];
    for (body, msg) in cases {
        let r = create(&e, &agt, &body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(r.json["error"], msg);
    }

    // Exactly at the limits is fine; the 21st pending proposal is refused.
    let ok = json!({"credentials":[{"action":"set","key":"K"}], "message": "m".repeat(2000),
                    "user_message": "u".repeat(5000)});
    for _ in 0..20 {
        assert_eq!(create(&e, &agt, &ok).await.status, StatusCode::CREATED);
    }
    let r = create(&e, &agt, &ok).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.json["error"], "Too many pending proposals (max 20)");
}

#[tokio::test]
async fn review_permissions_and_apply() {
    let e = env();
    let proxy = agent(&e, "proxy-bot", VaultRole::Proxy);
    let member = agent(&e, "member-bot", VaultRole::Member);
    // Existing services: the proposal replaces one in place, deletes one, ignores an unknown.
    {
        let conn = e.state.store.conn().unwrap();
        let existing = json!([
            {"host":"a.example.com","description":null,"auth":{"type":"bearer","token":"OLD"}},
            {"host":"api.stripe.com","description":"old","auth":{"type":"bearer","token":"OLD"}},
            {"host":"gone.example.com","description":null,"auth":{"type":"bearer","token":"OLD"}}
        ]);
        conn.execute(
            "UPDATE broker_configs SET services_json = ?1 WHERE vault_id = ?2",
            [existing.to_string(), DEFAULT_VAULT_ID.to_string()],
        )
        .unwrap();
    }
    let mut body = stripe();
    body["services"].as_array_mut().unwrap().extend([
        json!({"action":"delete","host":"gone.example.com"}),
        json!({"action":"delete","host":"never.example.com"}),
    ]);
    body["credentials"]
        .as_array_mut()
        .unwrap()
        .push(json!({"action":"delete","key":"OLD_UNUSED"}));
    assert_eq!(create(&e, &proxy, &body).await.status, StatusCode::CREATED);

    let approve = |token: &str, body: Value| {
        req(
            "POST",
            "/v1/admin/proposals/1/approve",
            Some(token),
            Some(&body),
        )
    };
    let r = send(
        &e.state,
        approve(&proxy, json!({"credentials":{"STRIPE_KEY":"x"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json["error"], "Member role required");

    let r = send(&e.state, approve(&member, json!({}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json["error"],
        "Missing value for credential \"STRIPE_KEY\""
    );
    let r = send(
        &e.state,
        approve(&member, json!({"credentials":{"STRIPE_KEY":""}})),
    )
    .await;
    assert_eq!(r.json["error"], "Credential \"STRIPE_KEY\" cannot be empty");
    let r = send(&e.state, approve(&member, json!({"vault":"nope"}))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = send(
        &e.state,
        req(
            "POST",
            "/v1/admin/proposals/abc/approve",
            Some(&member),
            Some(&json!({})),
        ),
    )
    .await;
    assert_eq!(r.json["error"], "Invalid proposal id");
    assert_eq!(
        credential(&e, "STRIPE_KEY"),
        None,
        "failed approvals change nothing"
    );

    let r = send(
        &e.state,
        approve(
            &e.owner,
            json!({"vault":"default","credentials":{"STRIPE_KEY":"sk_live_1","EXTRA":"ignored"}}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json, json!({"id":1,"status":"applied"}));
    assert_eq!(
        services_of(&e),
        json!([
            {"host":"a.example.com","description":null,"auth":{"type":"bearer","token":"OLD"}},
            {"host":"api.stripe.com","description":"Stripe","auth":{"type":"bearer","token":"STRIPE_KEY"}}
        ])
    );
    assert_eq!(credential(&e, "STRIPE_KEY").as_deref(), Some("sk_live_1"));
    assert_eq!(credential(&e, "EXTRA"), None);

    let r = send(
        &e.state,
        approve(&e.owner, json!({"credentials":{"STRIPE_KEY":"x"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json["error"], "Proposal 1 is already applied");

    let r = send(&e.state, req("GET", "/v1/proposals/1", Some(&proxy), None)).await;
    assert_eq!(r.json["status"], "applied");
    assert!(r.json["reviewed_at"].as_str().unwrap().ends_with('Z'));

    // Admin views: a proxy-role caller only sees pending ones.
    let r = send(
        &e.state,
        req(
            "GET",
            "/v1/admin/proposals?vault=default",
            Some(&proxy),
            None,
        ),
    )
    .await;
    assert_eq!(r.json["proposals"], json!([]));
    let r = send(
        &e.state,
        req("GET", "/v1/admin/proposals/1", Some(&proxy), None),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.json["error"],
        "Proxy-role agents can only view pending proposals"
    );
    let r = send(
        &e.state,
        req(
            "GET",
            "/v1/admin/proposals?status=applied",
            Some(&e.owner),
            None,
        ),
    )
    .await;
    assert_eq!(r.json["proposals"][0]["id"], 1);
    assert!(r.json["proposals"][0]["services_json"].is_string());
    let r = send(
        &e.state,
        req("GET", "/v1/admin/proposals/7", Some(&e.owner), None),
    )
    .await;
    assert_eq!(
        r.json["error"],
        "Proposal #7 not found in vault \"default\""
    );

    // Agent value accepted; reject with a reason.
    let mut body = stripe();
    body["credentials"][0]["value"] = json!("sk_from_agent");
    create(&e, &proxy, &body).await;
    let r = send(
        &e.state,
        req(
            "POST",
            "/v1/admin/proposals/2/approve",
            Some(&member),
            Some(&json!({})),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        credential(&e, "STRIPE_KEY").as_deref(),
        Some("sk_from_agent")
    );
    let left: i64 = e
        .state
        .store
        .conn()
        .unwrap()
        .query_row("SELECT COUNT(*) FROM proposal_credentials", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(left, 0, "agent values are dropped once decided");

    create(&e, &proxy, &stripe()).await;
    let r = send(
        &e.state,
        req(
            "POST",
            "/v1/admin/proposals/3/reject",
            Some(&proxy),
            Some(&json!({"reason":"no"})),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(
        &e.state,
        req(
            "POST",
            "/v1/admin/proposals/3/reject",
            Some(&member),
            Some(&json!({"reason":"not now"})),
        ),
    )
    .await;
    assert_eq!(r.json, json!({"id":3,"status":"rejected"}));
    let r = send(
        &e.state,
        req("GET", "/v1/admin/proposals/3", Some(&e.owner), None),
    )
    .await;
    assert_eq!(r.json["review_note"], "not now");
    assert_eq!(r.json["user_message"], "Please allow Stripe");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_approvals_have_one_winner() {
    let e = env();
    let proxy = agent(&e, "proxy-bot", VaultRole::Proxy);
    for round in 1..=5 {
        assert_eq!(
            create(&e, &proxy, &stripe()).await.status,
            StatusCode::CREATED
        );
        let uri = format!("/v1/admin/proposals/{round}/approve");
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let state = e.state.clone();
                let r = req(
                    "POST",
                    &uri,
                    Some(&e.owner),
                    Some(&json!({"credentials":{"STRIPE_KEY":format!("v{i}")}})),
                );
                tokio::spawn(async move { send(&state, r).await.status })
            })
            .collect();
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        assert_eq!(
            statuses.iter().filter(|s| **s == StatusCode::OK).count(),
            1,
            "{statuses:?}"
        );
        assert_eq!(
            statuses
                .iter()
                .filter(|s| **s == StatusCode::CONFLICT)
                .count(),
            3,
            "{statuses:?}"
        );
    }
}

#[tokio::test]
async fn stale_proposals_expire_on_read() {
    let e = env();
    let proxy = agent(&e, "proxy-bot", VaultRole::Proxy);
    let url = create(&e, &proxy, &stripe()).await.json["approval_url"]
        .as_str()
        .unwrap()
        .to_string();
    let token = url.split("token=").nth(1).unwrap().to_string();
    e.state
        .store
        .conn()
        .unwrap()
        .execute(
            "UPDATE proposals SET created_at = ?1",
            [time::in_seconds(-8 * 86400)],
        )
        .unwrap();
    let r = send(&e.state, req("GET", "/v1/proposals/1", Some(&proxy), None)).await;
    assert_eq!(r.json["status"], "expired");
    let r = send(
        &e.state,
        req(
            "POST",
            "/v1/admin/proposals/1/approve",
            Some(&e.owner),
            Some(&json!({"credentials":{"STRIPE_KEY":"x"}})),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json["error"], "Proposal 1 is already expired");
    let r = send(
        &e.state,
        req(
            "GET",
            &format!("/v1/proposals/approve-details?token={token}&id=1"),
            None,
            None,
        ),
    )
    .await;
    assert_eq!(
        r.json,
        json!({"error":true,"error_title":"Expired","error_message":"This request has already been expired."})
    );
    // Expired proposals no longer count against the pending limit.
    assert_eq!(create(&e, &proxy, &stripe()).await.json["id"], 2);
}

#[tokio::test]
async fn approve_details_and_links() {
    let e = env();
    let proxy = agent(&e, "proxy-bot", VaultRole::Proxy);
    let url = create(&e, &proxy, &stripe()).await.json["approval_url"]
        .as_str()
        .unwrap()
        .to_string();
    let token = url.split("token=").nth(1).unwrap().to_string();
    let details = |q: String| {
        req(
            "GET",
            &format!("/v1/proposals/approve-details{q}"),
            None,
            None,
        )
    };
    let r = send(&e.state, details(String::new())).await;
    assert_eq!(
        (r.status, r.json["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("Missing token"))
    );
    let r = send(&e.state, details("?token=av_appr_nope&id=1".into())).await;
    assert_eq!(
        (r.status, r.json["error"].clone()),
        (
            StatusCode::NOT_FOUND,
            json!("Invalid or expired approval link")
        )
    );
    let r = send(&e.state, details(format!("?token={token}&id=2"))).await;
    assert_eq!(r.json["error"], "Proposal ID mismatch");
    let r = send(&e.state, details(format!("?token={token}&id=1"))).await;
    assert_eq!(r.json["agent_name"], "proxy-bot");
    assert_eq!(r.json["authenticated"], false);
    assert_eq!(r.json["user_message"], "Please allow Stripe");
    let mut with_cookie = details(format!("?token={token}&id=1"));
    with_cookie
        .headers_mut()
        .insert("cookie", format!("av_session={}", e.owner).parse().unwrap());
    let r = send(&e.state, with_cookie).await;
    assert_eq!(
        (
            r.json["authenticated"].clone(),
            r.json["can_approve"].clone()
        ),
        (json!(true), json!(true))
    );
    assert_eq!(r.json["user_email"], "owner@example.com");

    e.state
        .store
        .conn()
        .unwrap()
        .execute(
            "UPDATE proposals SET approval_token_expires_at = ?1",
            [time::in_seconds(-1)],
        )
        .unwrap();
    let r = send(&e.state, details(format!("?token={token}&id=1"))).await;
    assert_eq!(
        (r.status, r.json["error"].clone()),
        (StatusCode::GONE, json!("Approval link has expired"))
    );
    let page = send(
        &e.state,
        req("GET", &format!("/approve/1?token={token}"), None, None),
    )
    .await;
    assert_eq!(page.status, StatusCode::GONE);
    assert!(page.text.contains("expired"));
}

fn form(uri: &str, cookie: Option<&str>, fields: &[(&str, &str)]) -> Request<Body> {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                v.replace('%', "%25")
                    .replace('&', "%26")
                    .replace('+', "%2B")
                    .replace('=', "%3D")
                    .replace(' ', "+")
            )
        })
        .collect();
    let cookie = cookie.map(|c| format!("av_session={c}"));
    let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
    headers.extend(cookie.as_deref().map(|c| ("cookie", c)));
    request("POST", uri, None, &headers, body.join("&").as_str())
}

#[tokio::test]
async fn approval_page_login_and_decide() {
    let e = env();
    let proxy = agent(&e, "proxy-bot", VaultRole::Proxy);
    let mut body = stripe();
    body["user_message"] = json!("Allow <b>Stripe</b>?");
    let url = create(&e, &proxy, &body).await.json["approval_url"]
        .as_str()
        .unwrap()
        .to_string();
    let token = url.split("token=").nth(1).unwrap().to_string();
    let page_uri = format!("/approve/1?token={token}");

    let r = send(&e.state, req("GET", &page_uri, None, None)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(r.headers["x-frame-options"], "DENY");
    assert!(r.text.contains("proxy-bot"));
    assert!(r.text.contains("Allow &lt;b&gt;Stripe&lt;/b&gt;?"));
    assert!(r.text.contains("action=\"/approve/1/login\""));
    assert!(!r.text.contains("id=\"allow\""));
    assert!(r
        .text
        .contains("href=\"https://dashboard.stripe.com/apikeys\""));

    for bad in [
        "/approve/1?token=av_appr_x",
        "/approve/2?token=",
        "/approve/zz",
    ] {
        let r = send(&e.state, req("GET", bad, None, None)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{bad}");
        assert!(r.text.contains("Invalid approval link"));
    }

    let r = send(
        &e.state,
        form(
            "/approve/1/login",
            None,
            &[
                ("token", &token),
                ("email", "owner@example.com"),
                ("password", "wrong password"),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.text.contains("Invalid email or password."));
    let r = send(
        &e.state,
        form(
            "/approve/1/login",
            None,
            &[
                ("token", &token),
                ("email", "owner@example.com"),
                ("password", PASSWORD),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.headers["location"], page_uri.as_str());
    let cookie = r.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("SameSite=Strict") && cookie.contains("HttpOnly"));
    let session = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("av_session=")
        .to_string();

    let mut get = req("GET", &page_uri, None, None);
    get.headers_mut()
        .insert("cookie", format!("av_session={session}").parse().unwrap());
    let r = send(&e.state, get).await;
    assert!(r.text.contains("id=\"allow\""), "{}", r.text);
    let csrf = r
        .text
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();

    // A forged form (no valid form token) and a missing value are refused; nothing changes.
    let r = send(
        &e.state,
        form(
            "/approve/1",
            Some(&session),
            &[
                ("token", &token),
                ("csrf", "forged"),
                ("decision", "allow"),
                ("v_STRIPE_KEY", "sk"),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(
        &e.state,
        form(
            "/approve/1",
            Some(&session),
            &[("token", &token), ("csrf", &csrf), ("decision", "allow")],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text.contains("Enter a value for STRIPE_KEY."));
    let r = send(
        &e.state,
        form(
            "/approve/1",
            None,
            &[
                ("token", &token),
                ("csrf", &csrf),
                ("decision", "allow"),
                ("v_STRIPE_KEY", "sk"),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(credential(&e, "STRIPE_KEY"), None);

    let r = send(
        &e.state,
        form(
            "/approve/1",
            Some(&session),
            &[
                ("token", &token),
                ("csrf", &csrf),
                ("decision", "allow"),
                ("v_STRIPE_KEY", "sk_live_&=+ x"),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.text.contains("Approved"));
    assert!(!r.text.contains("sk_live"));
    assert_eq!(
        credential(&e, "STRIPE_KEY").as_deref(),
        Some("sk_live_&=+ x")
    );

    let r = send(&e.state, req("GET", &page_uri, None, None)).await;
    assert!(r.text.contains("already been applied"));

    // Deny through the page records the default reason.
    let url = create(&e, &proxy, &stripe()).await.json["approval_url"]
        .as_str()
        .unwrap()
        .to_string();
    let token2 = url.split("token=").nth(1).unwrap().to_string();
    let mut get = req("GET", &format!("/approve/2?token={token2}"), None, None);
    get.headers_mut()
        .insert("cookie", format!("av_session={session}").parse().unwrap());
    let text = send(&e.state, get).await.text;
    let csrf2 = text
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    assert_ne!(csrf, csrf2, "form tokens are bound to the proposal");
    let r = send(
        &e.state,
        form(
            "/approve/2",
            Some(&session),
            &[("token", &token2), ("csrf", &csrf2), ("decision", "deny")],
        ),
    )
    .await;
    assert!(r.text.contains("Denied"));
    let r = send(
        &e.state,
        req("GET", "/v1/admin/proposals/2", Some(&e.owner), None),
    )
    .await;
    assert_eq!(r.json["status"], "rejected");
    assert_eq!(r.json["review_note"], "Rejected via browser approval page");
}
