//! The approval page behind an approval link, `/approve/<id>?token=av_appr_…`: server-rendered
//! HTML (no build step, no scripts) a person can read and answer on a phone.
//!
//! The link's token only lets its holder *see* the request. Deciding needs a login session of
//! a vault member or admin: the page signs people in inline (`POST /approve/<id>/login` sets
//! the `SameSite=Strict` `av_session` cookie and redirects back). The decision form posts to
//! `/approve/<id>` and carries a form token derived from the raw session token and the
//! proposal, so a cross-site form cannot decide even if a browser sent the cookie. Framing is
//! refused by the global security headers. Secret values are only ever read from the form,
//! never written into a page.

mod html;

use std::collections::HashMap;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use rusqlite::Connection;
use serde_json::Value;

use av_store::token;

use crate::authz::{self, Vault};
use crate::caller::{self, CallerKind};
use crate::error::ApiError;
use crate::routes::accounts::ClientIp;
use crate::routes::proposals::db::{self, Proposal};
use crate::routes::proposals::{approve_as, cookie_session, reject_as};
use crate::state::AppState;
use crate::users;
use html::{Review, Viewer};

/// Reason recorded when someone presses Deny without writing one.
const DEFAULT_DENY_REASON: &str = "Rejected via browser approval page";

/// Routes of this area.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/approve/{id}", get(show).post(decide))
        .route("/approve/{id}/login", post(login))
}

type Fields = Vec<(String, String)>;

fn field<'a>(form: &'a Fields, name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// An HTML answer that is never cached (the URL carries the approval token).
fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Html(body),
    )
        .into_response()
}

fn invalid_link() -> Response {
    html(
        StatusCode::NOT_FOUND,
        html::notice(
            "Invalid approval link",
            "This approval link is not valid. Check that you copied the whole link, or ask the agent for a new one.",
            "error",
        ),
    )
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "approval page failed");
    html(
        StatusCode::INTERNAL_SERVER_ERROR,
        html::notice(
            "Something went wrong",
            "The request could not be processed. Please try again.",
            "error",
        ),
    )
}

/// A pending proposal the link points at, or the page that explains why there is none.
struct Target {
    proposal: Proposal,
    vault: Vault,
    token: String,
}

fn target(conn: &Connection, raw_id: &str, token: Option<&str>) -> Result<Target, Box<Response>> {
    let (Ok(id), Some(token)) = (raw_id.parse::<i64>(), token.filter(|t| !t.is_empty())) else {
        return Err(Box::new(invalid_link()));
    };
    let p = match db::by_approval_token(conn, token) {
        Ok(Some(p)) if p.id == id => p,
        Ok(_) => return Err(Box::new(invalid_link())),
        Err(e) => return Err(Box::new(internal(e))),
    };
    if p.status != "pending" {
        return Err(Box::new(decided(&p.status)));
    }
    if p.approval_link_expired() {
        return Err(Box::new(html(
            StatusCode::GONE,
            html::notice(
                "This approval link has expired",
                "Approval links work for 24 hours. The request is still pending: review it with \
                 `agent-vault vault proposal review`, or ask the agent for a new link.",
                "error",
            ),
        )));
    }
    let vault = match authz::find_vault_by_id(conn, &p.vault_id) {
        Ok(Some(v)) => v,
        Ok(None) => return Err(Box::new(invalid_link())),
        Err(e) => return Err(Box::new(internal(e))),
    };
    Ok(Target {
        proposal: p,
        vault,
        token: token.to_string(),
    })
}

fn decided(status: &str) -> Response {
    let title = match status {
        "applied" => "Already approved",
        "rejected" => "Already denied",
        "expired" => "This request has expired",
        _ => "Already decided",
    };
    html(
        StatusCode::OK,
        html::notice(
            title,
            &format!("This request has already been {status}. There is nothing left to do."),
            "",
        ),
    )
}

/// The decision form's token: bound to the raw session token (never stored anywhere) and to
/// the proposal.
fn form_token(raw_session: &str, t: &Target) -> String {
    token::hash(&format!(
        "approve-form\n{raw_session}\n{}\n{}",
        t.vault.id, t.proposal.id
    ))
}

fn viewer(conn: &Connection, headers: &HeaderMap, t: &Target) -> Viewer {
    match cookie_session(conn, headers) {
        None => Viewer::Anonymous,
        Some((c, raw)) => {
            let email = match &c.kind {
                CallerKind::User { email, .. } => email.clone(),
                _ => String::new(),
            };
            if authz::proposal_review(conn, &c, &t.vault).is_ok() {
                Viewer::Reviewer {
                    email,
                    csrf: form_token(&raw, t),
                }
            } else {
                Viewer::NoPermission(email)
            }
        }
    }
}

fn review_page(
    conn: &Connection,
    t: &Target,
    viewer: Viewer,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let agent = match db::agent_name(conn, &t.proposal) {
        Ok(a) => a,
        Err(e) => return internal(e),
    };
    let services = t.proposal.services();
    let credentials = t.proposal.credentials();
    let created = format!(
        "{} UTC",
        t.proposal
            .created_at
            .get(..16)
            .unwrap_or(&t.proposal.created_at)
    );
    let body = html::review(&Review {
        id: t.proposal.id,
        vault: &t.vault.name,
        agent: &agent,
        user_message: &t.proposal.user_message,
        message: &t.proposal.message,
        services: &services,
        credentials: &credentials,
        token: &t.token,
        created_at: &created,
        viewer,
        error,
    });
    html(status, body)
}

async fn show(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let conn = match state.store.conn() {
        Ok(c) => c,
        Err(e) => return internal(e),
    };
    let t = match target(&conn, &raw_id, q.get("token").map(String::as_str)) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let v = viewer(&conn, &headers, &t);
    review_page(&conn, &t, v, StatusCode::OK, None)
}

async fn login(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    ClientIp(ip): ClientIp,
    form: Result<Form<Fields>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return invalid_link();
    };
    let t = {
        let conn = match state.store.conn() {
            Ok(c) => c,
            Err(e) => return internal(e),
        };
        match target(&conn, &raw_id, field(&form, "token")) {
            Ok(t) => t,
            Err(r) => return *r,
        }
    };
    let email = field(&form, "email").unwrap_or("").trim().to_string();
    let password = field(&form, "password").unwrap_or("");
    let refuse = |status: StatusCode, msg: &str| match state.store.conn() {
        Ok(conn) => review_page(&conn, &t, Viewer::Anonymous, status, Some(msg)),
        Err(e) => internal(e),
    };
    if !state.limits.login_ip.allow(&ip) || !state.limits.login_email.allow(&email) {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-in attempts. Wait a few minutes and try again.",
        );
    }
    let user = match state
        .store
        .read(|c| users::find_user(c, &email).map_err(ApiError::from))
    {
        Ok(u) => u,
        Err(e) => return internal(format!("{e:?}")),
    };
    let (user_id, stored) = match user {
        Some(u) if u.active => (u.id, u.password),
        _ => (String::new(), None),
    };
    let known = stored.is_some();
    if !users::verify_blocking(password.to_string(), stored).await || !known {
        return refuse(StatusCode::UNAUTHORIZED, "Invalid email or password.");
    }
    let raw = match state.store.read(|c| {
        caller::create_session(
            c,
            Some(&user_id),
            None,
            None,
            Some(users::LOGIN_TTL_SECONDS),
        )
        .map_err(ApiError::from)
    }) {
        Ok((raw, _)) => raw,
        Err(e) => return internal(format!("{e:?}")),
    };
    let location = format!("/approve/{}?token={}", t.proposal.id, t.token);
    let mut res = (StatusCode::SEE_OTHER, [(header::CACHE_CONTROL, "no-store")]).into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&location) {
        h.insert(header::LOCATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&caller::session_cookie(&state, &raw)) {
        h.insert(header::SET_COOKIE, v);
    }
    res
}

/// The reviewer's values for the proposal's `set` slots, from the form: a typed value wins;
/// an empty field with "use the agent's value" ticked leaves the slot to the agent's value.
fn overrides(form: &Fields, credentials: &Value) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    for slot in credentials
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        if slot.get("action").and_then(Value::as_str) != Some("set") {
            continue;
        }
        let key = slot.get("key").and_then(Value::as_str).unwrap_or("");
        let typed = field(form, &format!("v_{key}")).unwrap_or("");
        let agent_has = slot.get("has_value").and_then(Value::as_bool) == Some(true);
        if !typed.is_empty() {
            out.insert(key.to_string(), typed.to_string());
        } else if !(agent_has && field(form, &format!("a_{key}")).is_some()) {
            return Err(format!("Enter a value for {key}."));
        }
    }
    Ok(out)
}

async fn decide(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<Fields>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return invalid_link();
    };
    let conn = match state.store.conn() {
        Ok(c) => c,
        Err(e) => return internal(e),
    };
    let t = match target(&conn, &raw_id, field(&form, "token")) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let Some((caller, raw)) = cookie_session(&conn, &headers) else {
        return review_page(
            &conn,
            &t,
            Viewer::Anonymous,
            StatusCode::UNAUTHORIZED,
            Some("Your session has ended. Sign in again to decide."),
        );
    };
    let expected = form_token(&raw, &t);
    let sent = field(&form, "csrf").unwrap_or("");
    if !token::ct_eq(sent.as_bytes(), expected.as_bytes()) {
        let v = viewer(&conn, &headers, &t);
        return review_page(
            &conn,
            &t,
            v,
            StatusCode::FORBIDDEN,
            Some("This form is out of date. Please review the request and decide again."),
        );
    }
    let id = t.proposal.id;
    let result = match field(&form, "decision") {
        Some("allow") => match overrides(&form, &t.proposal.credentials()) {
            Ok(values) => approve_as(&state, &caller, &t.vault, id, &values).map(|()| true),
            Err(msg) => {
                let v = viewer(&conn, &headers, &t);
                return review_page(&conn, &t, v, StatusCode::BAD_REQUEST, Some(&msg));
            }
        },
        Some("deny") => {
            let reason = field(&form, "reason").map(str::trim).unwrap_or("");
            let reason = if reason.is_empty() {
                DEFAULT_DENY_REASON
            } else {
                reason
            };
            reject_as(&state, &caller, &t.vault, id, reason).map(|()| false)
        }
        _ => {
            let v = viewer(&conn, &headers, &t);
            return review_page(
                &conn,
                &t,
                v,
                StatusCode::BAD_REQUEST,
                Some("Choose Allow or Deny."),
            );
        }
    };
    match result {
        Ok(true) => html(
            StatusCode::OK,
            html::notice(
                "Approved",
                &format!(
                    "Request #{id} was applied to vault \"{}\". The agent can use it now.",
                    t.vault.name
                ),
                "ok",
            ),
        ),
        Ok(false) => html(
            StatusCode::OK,
            html::notice(
                "Denied",
                &format!("Request #{id} was denied. The agent will see your answer."),
                "",
            ),
        ),
        Err(ApiError::Plain(StatusCode::CONFLICT, _)) => {
            let status = db::get(&conn, &t.vault.id, id)
                .ok()
                .flatten()
                .map(|p| p.status)
                .unwrap_or_else(|| "decided".into());
            decided(&status)
        }
        Err(ApiError::Plain(s, msg)) if s.is_client_error() => {
            let v = viewer(&conn, &headers, &t);
            review_page(&conn, &t, v, s, Some(&msg))
        }
        Err(e) => internal(format!("{e:?}")),
    }
}
