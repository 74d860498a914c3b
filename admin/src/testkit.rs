//! One test kit for the router suites. They all drive the real [`crate::router`] over a
//! temporary database, so building that state, sending a request and decoding the answer
//! are written once here rather than once per suite.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

use av_store::crypto::MasterKey;
use av_store::roles::VaultRole;
use av_store::{Store, DEFAULT_VAULT_ID};

use crate::caller::create_session;
use crate::state::{AdminConfig, AppState};

/// Password of the [`Kit`] owner.
pub const PASSWORD: &str = "correct horse battery";

/// A state over a temporary database (kept alive by the returned guard), served at
/// `http://admin.test` with its proxy at `http://proxy.test`.
pub fn state() -> (AppState, tempfile::TempDir) {
    state_at("http://admin.test", "http://proxy.test")
}

/// Like [`state`], served at the given external addresses.
pub fn state_at(base_url: &str, proxy_base_url: &str) -> (AppState, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let config = AdminConfig {
        base_url: base_url.into(),
        proxy_base_url: proxy_base_url.into(),
        dev_mode: false,
        trusted_proxies: Vec::new(),
        smtp: None,
    };
    let state = AppState::new(store, Arc::new(MasterKey::from_bytes([7; 32])), config).unwrap();
    (state, dir)
}

/// A state whose first owner, `owner@example.com` with [`PASSWORD`], has a session.
pub struct Kit {
    pub state: AppState,
    /// The owner's session token.
    pub owner: String,
    _dir: tempfile::TempDir,
}

impl Kit {
    /// A kit on [`state`].
    pub fn new() -> Kit {
        let (state, dir) = state();
        Kit::on(state, dir)
    }

    /// A kit on [`state_at`].
    pub fn at(base_url: &str, proxy_base_url: &str) -> Kit {
        let (state, dir) = state_at(base_url, proxy_base_url);
        Kit::on(state, dir)
    }

    fn on(state: AppState, dir: tempfile::TempDir) -> Kit {
        let owner = state
            .store
            .write(|tx| {
                let id = crate::users::create_first_owner(tx, "owner@example.com", PASSWORD)?;
                create_session(tx, Some(&id), None, None, Some(3600)).map_err(av_store::Error::from)
            })
            .unwrap()
            .0;
        state.mark_initialized();
        Kit {
            state,
            owner,
            _dir: dir,
        }
    }

    /// A scoped session on `default` with `role`.
    pub fn scoped(&self, role: VaultRole) -> String {
        let conn = self.state.store.conn().unwrap();
        create_session(&conn, None, None, Some((DEFAULT_VAULT_ID, role)), None)
            .unwrap()
            .0
    }
}

/// Registers `email` over the API (the first becomes owner; later ones are verified
/// directly) and logs in; returns the login token.
pub async fn user(state: &AppState, email: &str) -> String {
    let pw = "correct-horse";
    let body = serde_json::json!({ "email": email, "password": pw });
    let r = call(state, "POST", "/v1/auth/register", None, Some(body.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    if r.json["requires_verification"] == true {
        let code = state
            .store
            .read(|c| {
                crate::users::issue_code(c, crate::users::CodeKind::Verification, email)
                    .map_err(av_store::Error::from)
            })
            .unwrap()
            .unwrap();
        let v = serde_json::json!({ "email": email, "code": code });
        let r = call(state, "POST", "/v1/auth/verify", None, Some(v)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    let r = call(state, "POST", "/v1/auth/login", None, Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json["token"].as_str().unwrap().to_string()
}

/// A request body: `Some(json)` is sent as JSON, `None` as nothing, a `&str` as it stands
/// (malformed input, forms).
pub enum Payload {
    Empty,
    Json(Value),
    Text(String),
}

impl From<Option<Value>> for Payload {
    fn from(v: Option<Value>) -> Payload {
        v.map_or(Payload::Empty, Payload::Json)
    }
}

impl From<&str> for Payload {
    fn from(s: &str) -> Payload {
        Payload::Text(s.to_string())
    }
}

/// Builds a request: `Authorization: Bearer <token>`, `Content-Type: application/json` for
/// a JSON body, then `headers` (which replace either).
pub fn request(
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: impl Into<Payload>,
) -> Request<Body> {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let body = match body.into() {
        Payload::Empty => Body::empty(),
        Payload::Json(v) => {
            req = req.header("content-type", "application/json");
            Body::from(v.to_string())
        }
        Payload::Text(s) => Body::from(s),
    };
    let mut req = req.body(body).unwrap();
    for (k, v) in headers {
        let name: axum::http::HeaderName = k.parse().unwrap();
        req.headers_mut()
            .insert(name, HeaderValue::from_str(v).unwrap());
    }
    req
}

/// What the router answered.
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    /// The body as JSON, `Null` when it is not JSON.
    pub json: Value,
}

impl Resp {
    /// Status code, `Set-Cookie` and JSON, as the account-level suites compare them.
    pub fn code_cookie_json(self) -> (u16, Option<String>, Value) {
        let cookie = self
            .headers
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_string());
        (self.status.as_u16(), cookie, self.json)
    }

    /// Status and JSON.
    pub fn status_json(self) -> (StatusCode, Value) {
        (self.status, self.json)
    }
}

/// Sends `req` through a router over `state`.
pub async fn send(state: &AppState, req: Request<Body>) -> Resp {
    let res = crate::router(state.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&bytes).to_string();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        text,
        json,
    }
}

/// Sends a request without extra headers (see [`request`]).
pub async fn call(
    state: &AppState,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: impl Into<Payload>,
) -> Resp {
    send(state, request(method, path, token, &[], body)).await
}
