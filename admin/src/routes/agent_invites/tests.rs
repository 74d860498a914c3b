//! Router-level tests of the invite flow (the e2e suite covers it through the real binary).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

use av_store::crypto::MasterKey;
use av_store::Store;

use crate::state::{AdminConfig, AppState};

struct App {
    _dir: tempfile::TempDir,
    state: AppState,
    owner: String,
}

fn app() -> App {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let owner = store
        .write(|tx| {
            tx.execute(
                "INSERT INTO users (id, email, role, is_active, created_at, updated_at)
                 VALUES ('u1', 'o@example.com', 'owner', 1, datetime('now'), datetime('now'))",
                [],
            )?;
            crate::authz::upsert_grant(
                tx,
                ("u1", "user"),
                av_store::DEFAULT_VAULT_ID,
                av_store::roles::VaultRole::Admin,
            )?;
            crate::caller::create_session(tx, Some("u1"), None, None, Some(3600))
                .map_err(av_store::Error::from)
        })
        .expect("owner")
        .0;
    let config = AdminConfig {
        base_url: "http://admin.test".into(),
        proxy_base_url: "http://proxy.test".into(),
        dev_mode: false,
        trusted_proxies: vec![],
    };
    let state =
        AppState::new(store, Arc::new(MasterKey::from_bytes([7; 32])), config).expect("state");
    App {
        _dir: dir,
        state,
        owner,
    }
}

async fn call(
    app: &App,
    method: &str,
    uri: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, Value, String) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let body = body.map(|b| Body::from(b.to_string())).unwrap_or_default();
    let res = crate::router(app.state.clone())
        .oneshot(req.body(body).expect("request"))
        .await
        .expect("response");
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .expect("body");
    let text = String::from_utf8_lossy(&bytes).to_string();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}

#[tokio::test]
async fn invite_redeem_discover() {
    let app = app();
    let owner = app.owner.clone();
    let (s, v, _) = call(
        &app,
        "POST",
        "/v1/agents/invites",
        Some(&owner),
        &[],
        Some(json!({"name": "my-agent", "vaults": [{"vault_name": "default"}]})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let tok = v["token"].as_str().expect("token").to_string();
    assert!(tok.starts_with("av_inv_"));
    assert_eq!(v["invite_link"], format!("http://admin.test/invite/{tok}"));
    assert_eq!(
        v["vaults"],
        json!([{"vault_name": "default", "vault_role": "proxy"}])
    );

    // Same name again: conflict.
    let (s, v, _) = call(
        &app,
        "POST",
        "/v1/agents/invites",
        Some(&owner),
        &[],
        Some(json!({"name": "my-agent"})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");

    // GET never redeems.
    let url = format!("/invite/{tok}");
    let (s, _, text) = call(&app, "GET", &url, None, &[], None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(text.contains("POST http://admin.test/invite/"), "{text}");
    let (s, v, _) = call(
        &app,
        "GET",
        &url,
        None,
        &[("accept", "application/json")],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["agent_name"], "my-agent");

    let (s, v, _) = call(&app, "POST", &url, None, &[], Some(json!({}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let agent = v["av_agent_token"]
        .as_str()
        .expect("agent token")
        .to_string();
    assert!(agent.starts_with("av_agt_"));
    assert_eq!(v["proxy_url"], "http://proxy.test/proxy");
    assert!(v["instructions"]
        .as_str()
        .is_some_and(|t| t.contains("http://admin.test/discover")));

    let (s, v, _) = call(&app, "POST", &url, None, &[], None).await;
    assert_eq!(s, StatusCode::GONE);
    assert_eq!(v["error"], "invite_redeemed");

    let (s, v, _) = call(&app, "GET", "/discover", Some(&agent), &[], None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v, _) = call(
        &app,
        "GET",
        "/discover",
        Some(&agent),
        &[("x-vault", "default")],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({"vault": "default", "proxy_url": "http://proxy.test/proxy", "services": [], "available_credentials": []})
    );
    let (s, _, _) = call(
        &app,
        "GET",
        "/discover",
        Some(&agent),
        &[("x-vault", "nope")],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = call(
        &app,
        "GET",
        "/discover",
        Some(&owner),
        &[("x-vault", "default")],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Scoped session minted by the agent (proxy grant → proxy session).
    let (s, v, _) = call(
        &app,
        "POST",
        "/v1/sessions",
        Some(&agent),
        &[],
        Some(json!({"vault": "default"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let scoped = v["token"].as_str().expect("scoped").to_string();
    let (s, _, _) = call(
        &app,
        "POST",
        "/v1/sessions",
        Some(&agent),
        &[],
        Some(json!({"vault": "default", "vault_role": "member"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v, _) = call(
        &app,
        "GET",
        "/discover",
        Some(&scoped),
        &[("x-vault", "nope")],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["vault"], "default");
}
