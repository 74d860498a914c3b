//! Router-level tests of the invite flow (the e2e suite covers it through the real binary).

use axum::http::StatusCode;
use serde_json::json;

use crate::testkit::{call, request, send, Kit, Resp};

#[tokio::test]
async fn invite_redeem_discover() {
    let app = Kit::new();
    let owner = app.owner.clone();
    let (s, v) = call(
        &app.state,
        "POST",
        "/v1/agents/invites",
        Some(&owner),
        Some(json!({"name": "my-agent", "vaults": [{"vault_name": "default"}]})),
    )
    .await
    .status_json();
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let tok = v["token"].as_str().expect("token").to_string();
    assert!(tok.starts_with("av_inv_"));
    assert_eq!(v["invite_link"], format!("http://admin.test/invite/{tok}"));
    assert_eq!(
        v["vaults"],
        json!([{"vault_name": "default", "vault_role": "proxy"}])
    );

    // Same name again: conflict.
    let (s, v) = call(
        &app.state,
        "POST",
        "/v1/agents/invites",
        Some(&owner),
        Some(json!({"name": "my-agent"})),
    )
    .await
    .status_json();
    assert_eq!(s, StatusCode::CONFLICT, "{v}");

    // GET never redeems.
    let url = format!("/invite/{tok}");
    let Resp {
        status: s, text, ..
    } = call(&app.state, "GET", &url, None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(text.contains("POST http://admin.test/invite/"), "{text}");
    let (s, v) = send(
        &app.state,
        request("GET", &url, None, &[("accept", "application/json")], None),
    )
    .await
    .status_json();
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["agent_name"], "my-agent");

    let (s, v) = call(&app.state, "POST", &url, None, Some(json!({})))
        .await
        .status_json();
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

    let (s, v) = call(&app.state, "POST", &url, None, None)
        .await
        .status_json();
    assert_eq!(s, StatusCode::GONE);
    assert_eq!(v["error"], "invite_redeemed");

    let (s, v) = call(&app.state, "GET", "/discover", Some(&agent), None)
        .await
        .status_json();
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = send(
        &app.state,
        request(
            "GET",
            "/discover",
            Some(&agent),
            &[("x-vault", "default")],
            None,
        ),
    )
    .await
    .status_json();
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({"vault": "default", "proxy_url": "http://proxy.test/proxy", "services": [], "available_credentials": []})
    );
    let (s, _) = send(
        &app.state,
        request(
            "GET",
            "/discover",
            Some(&agent),
            &[("x-vault", "nope")],
            None,
        ),
    )
    .await
    .status_json();
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = send(
        &app.state,
        request(
            "GET",
            "/discover",
            Some(&owner),
            &[("x-vault", "default")],
            None,
        ),
    )
    .await
    .status_json();
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Scoped session minted by the agent (proxy grant → proxy session).
    let (s, v) = call(
        &app.state,
        "POST",
        "/v1/sessions",
        Some(&agent),
        Some(json!({"vault": "default"})),
    )
    .await
    .status_json();
    assert_eq!(s, StatusCode::OK, "{v}");
    let scoped = v["token"].as_str().expect("scoped").to_string();
    let (s, _) = call(
        &app.state,
        "POST",
        "/v1/sessions",
        Some(&agent),
        Some(json!({"vault": "default", "vault_role": "member"})),
    )
    .await
    .status_json();
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = send(
        &app.state,
        request(
            "GET",
            "/discover",
            Some(&scoped),
            &[("x-vault", "nope")],
            None,
        ),
    )
    .await
    .status_json();
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["vault"], "default");
}
