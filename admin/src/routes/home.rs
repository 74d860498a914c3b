//! The page at `/`, where the server's startup message sends people. Before the first owner
//! exists it creates that owner (what `POST /v1/auth/register` does for the first account);
//! afterwards it says how to log in with the CLI and where agents send requests.
//!
//! The form is refused when the browser says it was sent from another site (`Sec-Fetch-Site`
//! or `Origin`), so no other page can claim a fresh instance.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{HOST, ORIGIN, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::caller;
use crate::error::ApiError;
use crate::html::{esc, form_field, page};
use crate::routes::accounts::{check_registration, create_first_owner, login_session, ClientIp};
use crate::state::AppState;
use crate::users::{self, MIN_PASSWORD_LEN};

/// `GET /` and the owner form's `POST /`; open before initialization.
pub fn routes() -> Router<AppState> {
    Router::new().route("/", get(home).post(create_owner))
}

async fn home(State(state): State<AppState>) -> Response {
    if !state.is_initialized() {
        return owner_form(StatusCode::OK, "", None);
    }
    let base = esc(&state.config.base_url);
    page(
        StatusCode::OK,
        "Agent Vault",
        &format!(
            "<p>This Agent Vault server is running.</p>\n\
             <p>Log in from a terminal:</p><p><code>agent-vault auth login --address {base}</code></p>\n\
             <p>Agents send their requests through <code>{}/&lt;host&gt;/&lt;path&gt;</code>.</p>",
            esc(&state.config.proxy_url())
        ),
    )
}

fn owner_form(status: StatusCode, email: &str, error: Option<&str>) -> Response {
    let error = error
        .map(|e| format!("<p class=\"err\">{}</p>\n", esc(e)))
        .unwrap_or_default();
    page(
        status,
        "Create the owner account",
        &format!(
            "<p>This Agent Vault server has no accounts yet. The first account owns the instance \
             and administers the <code>default</code> vault.</p>\n{error}\
             <form method=\"post\" action=\"/\">\
             <label for=\"email\">Email</label>\
             <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required value=\"{}\">\
             <label for=\"password\">Password (at least {MIN_PASSWORD_LEN} characters)</label>\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" required>\
             <label for=\"confirm\">Confirm password</label>\
             <input id=\"confirm\" name=\"confirm\" type=\"password\" autocomplete=\"new-password\" required>\
             <button type=\"submit\">Create owner account</button></form>",
            esc(email)
        ),
    )
}

/// Whether the browser reports the form as sent from another site. `Sec-Fetch-Site` decides
/// when present; otherwise a real `Origin` must name this host. (Our `no-referrer` policy
/// makes browsers send `Origin: null` even from this very page, so `null` proves nothing.)
fn cross_site(headers: &HeaderMap) -> bool {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site") {
        return site != "same-origin" && site != "none";
    }
    match (header(ORIGIN.as_str()), header(HOST.as_str())) {
        (Some("null") | None, _) => false,
        (Some(origin), Some(host)) => {
            let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            !origin_host.eq_ignore_ascii_case(host)
        }
        (Some(_), None) => true,
    }
}

async fn create_owner(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    form: Bytes,
) -> Response {
    let already = || {
        page(
            StatusCode::CONFLICT,
            "Already set up",
            "<p>This instance already has an owner. Log in with <code>agent-vault auth login</code>.</p>",
        )
    };
    if state.is_initialized() {
        return already();
    }
    if cross_site(&headers) {
        return page(
            StatusCode::FORBIDDEN,
            "Refused",
            "<p>The form was sent from another site. Open this server's address directly.</p>",
        );
    }
    let field = |name| form_field(&form, name).unwrap_or_default();
    let (raw_email, password) = (field("email"), field("password"));
    if field("confirm") != password {
        let msg = "The passwords do not match.";
        return owner_form(StatusCode::BAD_REQUEST, &raw_email, Some(msg));
    }
    let email = match check_registration(&state, &ip, &raw_email, &password) {
        Ok(email) => email,
        Err(ApiError::Plain(status, msg)) => return owner_form(status, &raw_email, Some(&msg)),
        Err(e) => return e.into_response(),
    };
    let hash = match users::hash_blocking(password).await {
        Ok(h) => h,
        Err(e) => return e.into_response(),
    };
    let created = state
        .store
        .write(|tx| create_first_owner(tx, &email, &hash).map_err(ApiError::from));
    let id = match created {
        Ok(Some(id)) => id,
        Ok(None) => return already(),
        Err(e) => return e.into_response(),
    };
    state.mark_initialized();
    let (raw, _) = match login_session(&state, &id) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let mut res = page(
        StatusCode::CREATED,
        "Owner account created",
        &format!(
            "<p>{} now owns this Agent Vault instance.</p>\n\
             <p>Log in from a terminal:</p><p><code>agent-vault auth login --address {} --email {}</code></p>",
            esc(&email),
            esc(&state.config.base_url),
            esc(&email)
        ),
    );
    if let Ok(v) = caller::session_cookie(&state, &raw).parse() {
        res.headers_mut().insert(SET_COOKIE, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use serde_json::json;

    use crate::testkit::{call, request, send, state};

    const FORM: &str = "application/x-www-form-urlencoded";

    async fn submit(st: &crate::state::AppState, form: &str, origin: &str) -> crate::testkit::Resp {
        let headers = [
            ("content-type", FORM),
            ("host", "admin.test"),
            ("origin", origin),
        ];
        send(st, request("POST", "/", None, &headers, form)).await
    }

    #[tokio::test]
    async fn creates_the_first_owner_then_points_to_the_cli() {
        let (st, _d) = state();
        let r = call(&st, "GET", "/", None, None).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            r.text.contains("<form method=\"post\" action=\"/\""),
            "{}",
            r.text
        );
        assert!(!r.text.contains("<script"));

        let same = "http://admin.test";
        for (form, want) in [
            (
                "email=nope&password=long-enough-1&confirm=long-enough-1",
                "invalid email format",
            ),
            (
                "email=o%40example.com&password=short&confirm=short",
                "at least 8 characters",
            ),
            (
                "email=o%40example.com&password=long-enough-1&confirm=other-one-1",
                "do not match",
            ),
        ] {
            let r = submit(&st, form, same).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{form}");
            assert!(r.text.contains(want), "{form}: {}", r.text);
        }
        // Another site cannot claim the instance.
        let good = "email=o%40example.com&password=long-enough-1&confirm=long-enough-1";
        let r = submit(&st, good, "http://evil.test").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let headers = [
            ("content-type", FORM),
            ("origin", "null"),
            ("sec-fetch-site", "cross-site"),
        ];
        let r = send(&st, request("POST", "/", None, &headers, good)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(!st.is_initialized());

        // What a browser sends from this page under `Referrer-Policy: no-referrer`.
        let headers = [
            ("content-type", FORM),
            ("origin", "null"),
            ("sec-fetch-site", "same-origin"),
        ];
        let r = send(&st, request("POST", "/", None, &headers, good)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert!(r
            .text
            .contains("agent-vault auth login --address http://admin.test --email o@example.com"));
        let cookie = r.headers["set-cookie"].to_str().unwrap();
        assert!(cookie.starts_with("av_session="), "{cookie}");
        assert!(st.is_initialized());

        let login = json!({"email": "o@example.com", "password": "long-enough-1"});
        let r = call(&st, "POST", "/v1/auth/login", None, Some(login)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let token = r.json["token"].as_str().unwrap().to_string();
        let r = call(&st, "GET", "/v1/auth/me", Some(&token), None).await;
        assert_eq!(r.json["role"], "owner", "{}", r.text);

        let r = call(&st, "GET", "/", None, None).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r
            .text
            .contains("agent-vault auth login --address http://admin.test"));
        assert!(!r.text.contains("<form"));
        let r = submit(&st, good, same).await;
        assert_eq!(r.status, StatusCode::CONFLICT);
    }
}
