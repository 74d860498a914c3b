//! User invites (reference §4.21, DESIGN §6 fixes 2 and 5): an actor invites an email with an
//! instance role and vault pre-assignments; the invitee accepts through the API or the small
//! HTML page at `/invite/av_uinv_…` (new accounts set a password there, existing accounts just
//! get the grants). Invites live 48 h.
//!
//! Only the token's hash is stored, plus its last characters (`token_suffix`) so lists can name
//! an invite and revoke/reinvite accept either the full token or 8+ trailing characters.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Deserialize;
use serde_json::{json, Value};

use av_store::roles::{InstanceRole, VaultRole};
use av_store::{time, token};

use crate::authz::{self, upsert_grant};
use crate::body::RawBody;
use crate::caller::{Actor, Caller};
use crate::error::{ApiError, ApiResult};
use crate::html::{esc, form_field, page};
use crate::routes::accounts::ClientIp;
use crate::state::AppState;
use crate::users::{self, MIN_PASSWORD_LEN};

/// Invite lifetime (48 h).
const INVITE_TTL_SECONDS: i64 = 48 * 60 * 60;
/// Most pending user invites in the instance.
const MAX_PENDING: i64 = 50;
/// Characters of the token kept in `token_suffix`.
const STORED_SUFFIX: usize = 16;
/// Characters of the token shown in lists, and the shortest suffix accepted.
const SHOWN_SUFFIX: usize = 8;

/// Routes of this area.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/users/invites", post(create).get(list))
        .route("/v1/users/invites/{token}", delete(revoke))
        .route("/v1/users/invites/{token}/reinvite", post(reinvite))
        .route("/v1/users/invites/{token}/details", get(details))
        .route("/v1/users/invites/{token}/accept", post(accept))
}

/// A stored invite.
struct Invite {
    id: i64,
    email: String,
    role: String,
    status: String,
    created_by: String,
    expires_at: String,
}

impl Invite {
    /// The status with expiry applied (pending invites past their time are expired).
    fn effective_status(&self) -> &str {
        if self.status == "pending" && self.expires_at <= time::now() {
            "expired"
        } else {
            &self.status
        }
    }
}

const INVITE_COLS: &str = "id, email, role, status, created_by, expires_at";

fn invite_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Invite> {
    Ok(Invite {
        id: r.get(0)?,
        email: r.get(1)?,
        role: r.get(2)?,
        status: r.get(3)?,
        created_by: r.get(4)?,
        expires_at: r.get(5)?,
    })
}

/// Finds an invite by its full token.
fn by_token(conn: &Connection, raw: &str) -> rusqlite::Result<Option<Invite>> {
    conn.query_row(
        &format!("SELECT {INVITE_COLS} FROM user_invites WHERE token_hash = ?1"),
        [token::hash(raw)],
        invite_row,
    )
    .optional()
}

/// Finds an invite by full token, or by 8–16 trailing characters among pending invites.
fn by_token_or_suffix(conn: &Connection, given: &str) -> ApiResult<Option<Invite>> {
    if given.starts_with(token::USER_INVITE) {
        return Ok(by_token(conn, given)?);
    }
    if !(SHOWN_SUFFIX..=STORED_SUFFIX).contains(&given.len()) {
        return Ok(None);
    }
    let mut stmt = conn.prepare(&format!(
        "SELECT {INVITE_COLS} FROM user_invites WHERE status = 'pending'
           AND substr(token_suffix, -?2) = ?1"
    ))?;
    let found = stmt
        .query_map(params![given, given.len() as i64], invite_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    match found.len() {
        0 | 1 => Ok(found.into_iter().next()),
        _ => Err(ApiError::conflict(
            "More than one invite ends with these characters; give more of the token",
        )),
    }
}

/// Pre-assigned vaults as `(vault id, name, role)`.
fn invite_vaults(
    conn: &Connection,
    invite_id: i64,
) -> rusqlite::Result<Vec<(String, String, String)>> {
    let mut stmt = conn.prepare(
        "SELECT v.id, v.name, iv.vault_role FROM user_invite_vaults iv
         JOIN vaults v ON v.id = iv.vault_id WHERE iv.user_invite_id = ?1 ORDER BY v.name",
    )?;
    let rows = stmt.query_map([invite_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.collect()
}

fn vaults_json(v: &[(String, String, String)]) -> Value {
    json!(v
        .iter()
        .map(|(_, n, r)| json!({ "vault_name": n, "vault_role": r }))
        .collect::<Vec<_>>())
}

/// Whether `actor` may revoke or reinvite: an owner, the creator, or an admin of one of the
/// pre-assigned vaults.
fn may_manage(conn: &Connection, actor: &Actor, inv: &Invite) -> rusqlite::Result<bool> {
    if actor.is_owner() || actor.id == inv.created_by {
        return Ok(true);
    }
    for (vid, _, _) in invite_vaults(conn, inv.id)? {
        if authz::grant_role(conn, &actor.id, &vid)? == Some(VaultRole::Admin) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Inserts an invite with its pre-assignments; returns the raw token and the stored expiry.
fn insert_invite(
    conn: &Connection,
    email: &str,
    role: &str,
    vaults: &[(String, String, String)],
    created_by: &str,
) -> rusqlite::Result<(String, String)> {
    let minted = token::mint(token::USER_INVITE);
    let expires = time::in_seconds(INVITE_TTL_SECONDS);
    conn.execute(
        "INSERT INTO user_invites (token_hash, token_suffix, email, role, status, created_by,
                                   created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7)",
        params![
            minted.hash,
            token::suffix(&minted.raw, STORED_SUFFIX),
            email,
            role,
            created_by,
            time::now(),
            expires
        ],
    )?;
    let id = conn.last_insert_rowid();
    for (vid, _, vrole) in vaults {
        conn.execute(
            "INSERT INTO user_invite_vaults (user_invite_id, vault_id, vault_role)
             VALUES (?1, ?2, ?3)",
            params![id, vid, vrole],
        )?;
    }
    Ok((minted.raw, expires))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct VaultReq {
    vault_name: String,
    vault_role: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CreateReq {
    email: String,
    role: String,
    vaults: Vec<VaultReq>,
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: RawBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let actor = caller.actor()?;
    let req: CreateReq = body
        .json()
        .map_err(|_| ApiError::bad_request("Invalid request body"))?;
    let email = users::validate_email(&req.email)?;
    let role = match req.role.trim() {
        "" => InstanceRole::Member,
        r => r
            .parse()
            .map_err(|_| ApiError::bad_request("Role must be one of: owner, member"))?,
    };
    if role == InstanceRole::Owner && !actor.is_owner() {
        return Err(ApiError::forbidden(
            "Only owners can create owner-role user invites",
        ));
    }
    let (raw, expires, vaults) = state.store.write(|tx| {
        if users::find_user(tx, &email)?.is_some() {
            return Err(ApiError::conflict(format!(
                "User {email:?} already has an account. Use vault user management to add them to a vault."
            )));
        }
        let pending: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM user_invites
                            WHERE email = ?1 AND status = 'pending' AND expires_at > ?2)",
            params![email, time::now()],
            |r| r.get(0),
        )?;
        if pending {
            return Err(ApiError::conflict(format!(
                "A pending invite already exists for {email:?}"
            )));
        }
        users::check_email_domain(tx, &email)?;
        let count: i64 = tx.query_row(
            "SELECT COUNT(*) FROM user_invites WHERE status = 'pending'",
            [],
            |r| r.get(0),
        )?;
        if count >= MAX_PENDING {
            return Err(ApiError::too_many("Too many pending invites"));
        }
        let mut vaults: Vec<(String, String, String)> = Vec::new();
        for v in &req.vaults {
            let vrole = match v.vault_role.trim() {
                "" | "member" => "member",
                "admin" => "admin",
                other => {
                    return Err(ApiError::bad_request(format!(
                        "Vault role must be 'admin' or 'member', got {other:?}"
                    )))
                }
            };
            let vault = authz::vault_or_404(tx, v.vault_name.trim())?;
            if !actor.is_owner()
                && authz::grant_role(tx, &actor.id, &vault.id)? != Some(VaultRole::Admin)
            {
                return Err(ApiError::forbidden(format!(
                    "You must be an admin of vault {:?} to pre-assign it",
                    vault.name
                )));
            }
            if !vaults.iter().any(|(id, _, _)| *id == vault.id) {
                vaults.push((vault.id, vault.name, vrole.to_string()));
            }
        }
        let (raw, expires) = insert_invite(tx, &email, role.as_str(), &vaults, &actor.id)?;
        Ok((raw, expires, vaults))
    })?;
    let invite = (email.as_str(), raw.as_str(), time::rfc3339(&expires));
    let details = json!({ "role": role, "vaults": vaults_json(&vaults) });
    Ok(issued(&state, &actor.label, invite, &vaults, details).await)
}

/// The `201` answer for an invite just created or renewed: `body` (what only creation shows)
/// completed after emailing the invite when SMTP is configured.
async fn issued(
    state: &AppState,
    inviter: &str,
    (email, raw, expires_at): (&str, &str, String),
    vaults: &[(String, String, String)],
    mut body: Value,
) -> (StatusCode, Json<Value>) {
    body["email"] = json!(email);
    body["email_sent"] = json!(false);
    body["expires_at"] = json!(expires_at);
    body["token_suffix"] = json!(token::suffix(raw, SHOWN_SUFFIX));
    let link = format!("{}/invite/{raw}", state.config.base_url);
    let names: Vec<&str> = vaults.iter().map(|(_, n, _)| n.as_str()).collect();
    let sent = email_invite(state, email, inviter, &names, &link).await;
    sent_or_link(&mut body, sent, link);
    (StatusCode::CREATED, Json(body))
}

/// Emails an invite when SMTP is configured: `None` without SMTP, else how the sending went.
async fn email_invite(
    state: &AppState,
    to: &str,
    inviter: &str,
    vaults: &[&str],
    link: &str,
) -> Option<Result<(), String>> {
    let smtp = state.config.smtp.as_ref()?;
    let vaults = if vaults.is_empty() {
        "No vaults pre-assigned".to_string()
    } else {
        vaults.iter().map(|v| esc(v)).collect::<Vec<_>>().join(", ")
    };
    let html = format!(
        "<p>{} invited you to Agent Vault.</p>\n<p>Vaults: {vaults}</p>\n\
         <p><a href=\"{link}\">Accept the invite</a></p>\n<p>{link}</p>\n\
         <p>The invite expires in 48 hours.</p>",
        esc(inviter),
        link = esc(link),
    );
    Some(
        smtp.send_html(
            &[to.to_string()],
            "You've been invited to Agent Vault",
            &html,
        )
        .await,
    )
}

/// Completes an invite answer: `email_sent: true` when the email went out (the link then
/// stays out of the answer); otherwise the link, and on a failed send the reference's shape
/// with `email_error`.
fn sent_or_link(body: &mut Value, sent: Option<Result<(), String>>, link: String) {
    match sent {
        Some(Ok(())) => body["email_sent"] = json!(true),
        None => body["invite_link"] = json!(link),
        Some(Err(e)) => {
            tracing::warn!("could not email a user invite: {e}");
            let keep = ["email", "expires_at", "token_suffix"];
            if let Some(map) = body.as_object_mut() {
                map.retain(|k, _| keep.contains(&k.as_str()));
            }
            body["invite_link"] = json!(link);
            body["email_sent"] = json!(false);
            body["email_error"] = json!(format!("failed to send email: {e}"));
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ListQuery {
    status: String,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let actor = caller.actor()?;
    let invites = state.store.read(|c| {
        let mut stmt = c.prepare(
            "SELECT i.id, i.email, i.role, i.status, i.created_by, i.expires_at, i.created_at,
                    i.token_suffix, COALESCE(u.email, a.name, '')
             FROM user_invites i
             LEFT JOIN users u ON u.id = i.created_by
             LEFT JOIN agents a ON a.id = i.created_by
             ORDER BY i.created_at DESC, i.id DESC",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    invite_row(r)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, String>(8)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut out = Vec::new();
        for (inv, created_at, suffix, creator) in rows {
            if !may_manage(c, &actor, &inv)? {
                continue;
            }
            let status = inv.effective_status();
            if !q.status.is_empty() && q.status != status {
                continue;
            }
            out.push(json!({
                "email": inv.email,
                "role": inv.role,
                "token_suffix": token::suffix(&suffix, SHOWN_SUFFIX),
                "status": status,
                "created_by": creator,
                "vaults": vaults_json(&invite_vaults(c, inv.id)?),
                "expires_at": time::rfc3339(&inv.expires_at),
                "created_at": time::rfc3339(&created_at),
            }));
        }
        Ok::<_, ApiError>(out)
    })?;
    Ok(Json(json!({ "invites": invites })))
}

async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(given): Path<String>,
) -> ApiResult<Json<Value>> {
    let actor = caller.actor()?;
    state.store.write(|tx| {
        let inv = by_token_or_suffix(tx, &given)?
            .filter(|i| i.status == "pending")
            .ok_or_else(|| ApiError::not_found("Invite not found or not pending"))?;
        if !may_manage(tx, &actor, &inv)? {
            return Err(ApiError::forbidden(
                "You don't have permission to revoke this invite",
            ));
        }
        tx.execute(
            "UPDATE user_invites SET status = 'revoked' WHERE id = ?1",
            [inv.id],
        )?;
        Ok(())
    })?;
    Ok(Json(json!({ "message": "Invite revoked" })))
}

async fn reinvite(
    State(state): State<AppState>,
    caller: Caller,
    Path(given): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let actor = caller.actor()?;
    let (email, raw, expires, vaults) = state.store.write(|tx| {
        let inv = by_token_or_suffix(tx, &given)?
            .ok_or_else(|| ApiError::not_found("Invite not found"))?;
        if inv.status != "pending" {
            return Err(ApiError::conflict("Invite is not pending"));
        }
        if !may_manage(tx, &actor, &inv)? {
            return Err(ApiError::forbidden("You don't have permission to reinvite"));
        }
        tx.execute(
            "UPDATE user_invites SET status = 'revoked' WHERE id = ?1",
            [inv.id],
        )?;
        let vaults = invite_vaults(tx, inv.id)?;
        let (raw, expires) = insert_invite(tx, &inv.email, &inv.role, &vaults, &actor.id)?;
        Ok((inv.email, raw, expires, vaults))
    })?;
    let invite = (email.as_str(), raw.as_str(), time::rfc3339(&expires));
    Ok(issued(&state, &actor.label, invite, &vaults, json!({})).await)
}

/// The soft-error title and message for an invite that can no longer be accepted.
fn closed_reason(status: &str) -> Option<(&'static str, &'static str, &'static str)> {
    match status {
        "accepted" => Some((
            "Already Accepted",
            "This invite has already been accepted. Log in with your email and password.",
            "This invite has already been accepted",
        )),
        "revoked" => Some((
            "Invite Revoked",
            "This invite was revoked. Ask the person who invited you for a new invite.",
            "This invite was revoked",
        )),
        "expired" => Some((
            "Invite Expired",
            "This invite has expired. Ask the person who invited you for a new invite.",
            "This invite has expired",
        )),
        _ => None,
    }
}

async fn details(State(state): State<AppState>, Path(raw): Path<String>) -> ApiResult<Json<Value>> {
    let body = state.store.read(|c| {
        let inv = by_token(c, &raw)?.ok_or_else(|| ApiError::not_found("Invite not found"))?;
        if let Some((title, message, _)) = closed_reason(inv.effective_status()) {
            return Ok(json!({ "error": true, "error_title": title, "error_message": message }));
        }
        let needs_account = users::find_user(c, &inv.email)?.is_none();
        Ok::<_, ApiError>(json!({
            "email": inv.email,
            "role": inv.role,
            "vaults": vaults_json(&invite_vaults(c, inv.id)?),
            "needs_account": needs_account,
        }))
    })?;
    Ok(Json(body))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AcceptReq {
    password: String,
}

async fn accept(
    State(state): State<AppState>,
    ip: ClientIp,
    Path(raw): Path<String>,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    if !state.limits.accept_ip.allow(&ip.0) {
        return Err(ApiError::too_many(
            "Too many requests. Please try again later.",
        ));
    }
    let req: AcceptReq = body.json_or_default().unwrap_or_default();
    let (email, message) = accept_invite(&state, &raw, req.password.clone()).await?;
    Ok(Json(json!({ "email": email, "message": message })))
}

/// Accepts an invite: creates the account (with `password`) when the email has none, then
/// grants the pre-assigned vaults. Returns the email and the reference's message.
async fn accept_invite(
    state: &AppState,
    raw: &str,
    password: String,
) -> ApiResult<(String, String)> {
    let (inv, needs_account) = state.store.read(|c| {
        let inv = by_token(c, raw)?.ok_or_else(|| ApiError::not_found("Invite not found"))?;
        if let Some((_, _, gone)) = closed_reason(inv.effective_status()) {
            return Err(ApiError::gone(gone));
        }
        let needs_account = users::find_user(c, &inv.email)?.is_none();
        if needs_account {
            users::check_email_domain(c, &inv.email)?;
        }
        Ok((inv, needs_account))
    })?;
    let hash = if needs_account {
        if password.len() < MIN_PASSWORD_LEN {
            return Err(ApiError::bad_request(
                "Password must be at least 8 characters",
            ));
        }
        Some(users::hash_blocking(password).await?)
    } else {
        None
    };
    let role: InstanceRole = inv.role.parse().unwrap_or(InstanceRole::Member);
    let (created, granted) = state.store.write(|tx| {
        let claimed = tx.execute(
            "UPDATE user_invites SET status = 'accepted', accepted_at = ?2
             WHERE id = ?1 AND status = 'pending'",
            params![inv.id, time::now()],
        )?;
        if claimed == 0 {
            return Err(ApiError::gone("This invite has already been accepted"));
        }
        let (user_id, created) = match users::find_user(tx, &inv.email)? {
            Some(u) => (u.id, false),
            None => {
                let Some(hash) = &hash else {
                    return Err(ApiError::bad_request(
                        "Password must be at least 8 characters",
                    ));
                };
                (users::create_user(tx, &inv.email, hash, role, true)?, true)
            }
        };
        let vaults = invite_vaults(tx, inv.id)?;
        for (vid, _, vrole) in &vaults {
            // An existing grant is kept as it is: accepting an invite never lowers a role.
            if authz::grant_role(tx, &user_id, vid)?.is_none() {
                let vrole = vrole.parse().unwrap_or(VaultRole::Member);
                upsert_grant(tx, (&user_id, "user"), vid, vrole)?;
            }
        }
        Ok((created, !vaults.is_empty()))
    })?;
    let mut message = if created {
        "Account created.".to_string()
    } else {
        "Invite accepted.".to_string()
    };
    if granted {
        message.push_str(" Vault access granted.");
    }
    Ok((inv.email, message))
}

// ---- The HTML acceptance page (dispatched from `/invite/{token}` by the invite route). ----

/// A complete page; no scripts, so the app's CSP holds.
fn closed_page(status: &str) -> Option<Response> {
    closed_reason(status).map(|(title, message, _)| {
        page(StatusCode::GONE, title, &format!("<p>{}</p>", esc(message)))
    })
}

fn form_page(state: &AppState, raw: &str, error: Option<&str>) -> ApiResult<Response> {
    let found = state.store.read(|c| {
        let Some(inv) = by_token(c, raw)? else {
            return Ok::<_, ApiError>(None);
        };
        let vaults = invite_vaults(c, inv.id)?;
        let needs_account = users::find_user(c, &inv.email)?.is_none();
        Ok(Some((inv, vaults, needs_account)))
    })?;
    let Some((inv, vaults, needs_account)) = found else {
        return Ok(page(
            StatusCode::NOT_FOUND,
            "Invite not found",
            "<p>This invite link is not valid. Check that you copied the whole link, or ask for a new invite.</p>",
        ));
    };
    if let Some(closed) = closed_page(inv.effective_status()) {
        return Ok(closed);
    }
    let mut html = format!(
        "<p>You have been invited to Agent Vault as <strong>{}</strong> ({}).</p>",
        esc(&inv.email),
        esc(&inv.role)
    );
    if vaults.is_empty() {
        html.push_str("<p>No vaults pre-assigned.</p>");
    } else {
        html.push_str("<p>Vault access:</p><ul>");
        for (_, name, role) in &vaults {
            html.push_str(&format!("<li>{} ({})</li>", esc(name), esc(role)));
        }
        html.push_str("</ul>");
    }
    if let Some(e) = error {
        html.push_str(&format!("<p class=\"err\" role=\"alert\">{}</p>", esc(e)));
    }
    html.push_str(&format!(
        "<form method=\"post\" action=\"/invite/{}\">",
        esc(raw)
    ));
    if needs_account {
        html.push_str(
            "<label for=\"password\">Choose a password (at least 8 characters)</label>\
<input id=\"password\" name=\"password\" type=\"password\" minlength=\"8\" required autocomplete=\"new-password\">\
<label for=\"confirm\">Confirm password</label>\
<input id=\"confirm\" name=\"confirm\" type=\"password\" minlength=\"8\" required autocomplete=\"new-password\">\
<button type=\"submit\">Create account</button>",
        );
    } else {
        html.push_str("<button type=\"submit\">Accept invite</button>");
    }
    html.push_str("</form>");
    Ok(page(StatusCode::OK, "Accept your invite", &html))
}

/// `GET /invite/av_uinv_…`: the acceptance form, or a clear page for accepted, revoked,
/// expired and unknown invites.
pub async fn invite_page(state: AppState, token: String) -> Response {
    form_page(&state, &token, None).unwrap_or_else(IntoResponse::into_response)
}

/// Decodes one field of an `application/x-www-form-urlencoded` body.
/// `POST /invite/av_uinv_…` (urlencoded form): accepts the invite and shows the outcome.
pub async fn invite_page_submit(state: AppState, token: String, form: Bytes) -> Response {
    let password = form_field(&form, "password").unwrap_or_default();
    if let Some(confirm) = form_field(&form, "confirm") {
        if confirm != password {
            return form_page(&state, &token, Some("The passwords do not match."))
                .unwrap_or_else(IntoResponse::into_response);
        }
    }
    match accept_invite(&state, &token, password).await {
        Ok((email, message)) => page(
            StatusCode::OK,
            "You're in",
            &format!(
                "<p>{}</p><p>Log in as <strong>{}</strong> with:</p>\
<p><code>agent-vault auth login --email {} --address {}</code></p>",
                esc(&message),
                esc(&email),
                esc(&email),
                esc(&state.config.base_url)
            ),
        ),
        Err(ApiError::Plain(s, msg))
            if s == StatusCode::BAD_REQUEST || s == StatusCode::FORBIDDEN =>
        {
            form_page(&state, &token, Some(&msg)).unwrap_or_else(IntoResponse::into_response)
        }
        Err(ApiError::Plain(s, msg)) if s == StatusCode::GONE || s == StatusCode::NOT_FOUND => {
            page(s, "Invite unavailable", &format!("<p>{}</p>", esc(&msg)))
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}

#[cfg(test)]
mod api_tests {
    use crate::testkit::{call, state, user};
    use serde_json::{json, Value};

    #[tokio::test]
    async fn invites_settings_and_acceptance() {
        let (st, _d) = state();
        let owner = user(&st, "owner@x.io").await;
        let alice = user(&st, "alice@x.io").await;
        let bob = user(&st, "bob@x.io").await;
        let err = |b: &Value| b["error"].as_str().unwrap_or("").to_string();
        call(
            &st,
            "POST",
            "/v1/vaults",
            Some(&alice),
            Some(json!({ "name": "team" })),
        )
        .await
        .code_cookie_json();

        let inv = |e: &str, role: &str, v: Value| json!({ "email": e, "role": role, "vaults": v });
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/users/invites",
            Some(&alice),
            Some(inv("n@x.io", "owner", json!([]))),
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (403, "Only owners can create owner-role user invites".into())
        );
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/users/invites",
            Some(&alice),
            Some(inv("n@x.io", "boss", json!([]))),
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (400, "Role must be one of: owner, member".into())
        );
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/users/invites",
            Some(&bob),
            Some(inv("n@x.io", "", json!([{"vault_name":"team"}]))),
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (
                403,
                "You must be an admin of vault \"team\" to pre-assign it".into()
            )
        );
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/users/invites",
            Some(&alice),
            Some(inv(
                "n@x.io",
                "",
                json!([{"vault_name":"team","vault_role":"proxy"}]),
            )),
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (
                400,
                "Vault role must be 'admin' or 'member', got \"proxy\"".into()
            )
        );
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/users/invites",
            Some(&alice),
            Some(inv("n@x.io", "", json!([{"vault_name":"nope"}]))),
        )
        .await
        .code_cookie_json();
        assert_eq!((s, err(&b)), (404, "Vault \"nope\" not found".into()));
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/users/invites",
            Some(&alice),
            Some(inv("bob@x.io", "", json!([]))),
        )
        .await
        .code_cookie_json();
        assert_eq!(s, 409, "{b}");
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/users/invites",
            Some(&alice),
            Some(inv(
                "n@x.io",
                "",
                json!([{"vault_name":"team","vault_role":"admin"}]),
            )),
        )
        .await
        .code_cookie_json();
        assert_eq!(s, 201, "{b}");
        let link = b["invite_link"].as_str().unwrap().to_string();
        let raw = link.rsplit('/').next().unwrap().to_string();
        assert!(raw.starts_with("av_uinv_"));
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/users/invites",
            Some(&alice),
            Some(inv("n@x.io", "", json!([]))),
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (409, "A pending invite already exists for \"n@x.io\"".into())
        );

        // Lists never carry the token; Bob (neither creator nor vault admin) sees nothing.
        let (_, _, b) = call(&st, "GET", "/v1/users/invites", Some(&alice), None)
            .await
            .code_cookie_json();
        let listed = &b["invites"][0];
        assert_eq!(listed["token_suffix"].as_str(), Some(&raw[raw.len() - 8..]));
        assert!(!b.to_string().contains(&raw));
        assert_eq!(listed["created_by"], "alice@x.io");
        let (_, _, b) = call(&st, "GET", "/v1/users/invites", Some(&bob), None)
            .await
            .code_cookie_json();
        assert_eq!(b, json!({ "invites": [] }));
        let (_, _, b) = call(&st, "GET", "/v1/vaults/team/users", Some(&alice), None)
            .await
            .code_cookie_json();
        assert_eq!(
            b["users"][1],
            json!({ "email": "n@x.io", "role": "admin", "status": "pending" })
        );
        let (s, _, b) = call(
            &st,
            "DELETE",
            &format!("/v1/users/invites/{}", &raw[raw.len() - 8..]),
            Some(&bob),
            None,
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (
                403,
                "You don't have permission to revoke this invite".into()
            )
        );

        // Details, then acceptance of a new account.
        let (_, _, b) = call(
            &st,
            "GET",
            &format!("/v1/users/invites/{raw}/details"),
            None,
            None,
        )
        .await
        .code_cookie_json();
        assert_eq!(b["needs_account"], true);
        let accept = format!("/v1/users/invites/{raw}/accept");
        let (s, _, b) = call(
            &st,
            "POST",
            &accept,
            None,
            Some(json!({ "password": "short" })),
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (400, "Password must be at least 8 characters".into())
        );
        let (s, cookie, b) = call(
            &st,
            "POST",
            &accept,
            None,
            Some(json!({ "password": "long-enough" })),
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, b),
            (
                200,
                json!({ "email": "n@x.io", "message": "Account created. Vault access granted." })
            )
        );
        assert!(cookie.is_none());
        let (s, _, b) = call(
            &st,
            "POST",
            &accept,
            None,
            Some(json!({ "password": "long-enough" })),
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (410, "This invite has already been accepted".into())
        );
        let (_, _, b) = call(
            &st,
            "GET",
            &format!("/v1/users/invites/{raw}/details"),
            None,
            None,
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (b["error"].clone(), b["error_title"].as_str()),
            (json!(true), Some("Already Accepted"))
        );
        let login = json!({ "email": "n@x.io", "password": "long-enough" });
        let (s, _, b) = call(&st, "POST", "/v1/auth/login", None, Some(login))
            .await
            .code_cookie_json();
        assert_eq!(s, 200);
        let n = b["token"].as_str().unwrap().to_string();
        let (_, _, b) = call(&st, "GET", "/v1/vaults/team/context", Some(&n), None)
            .await
            .code_cookie_json();
        assert_eq!(b["vault_role"], "admin");

        // Revoke by suffix and reinvite.
        let (_, _, b) = call(
            &st,
            "POST",
            "/v1/users/invites",
            Some(&owner),
            Some(inv("m@x.io", "", json!([]))),
        )
        .await
        .code_cookie_json();
        let raw2 = b["invite_link"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        let (s, _, b) = call(
            &st,
            "POST",
            &format!("/v1/users/invites/{}/reinvite", &raw2[raw2.len() - 10..]),
            Some(&owner),
            None,
        )
        .await
        .code_cookie_json();
        assert_eq!(s, 201, "{b}");
        let raw3 = b["invite_link"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        let (s, _, b) = call(
            &st,
            "POST",
            &format!("/v1/users/invites/{raw2}/accept"),
            None,
            Some(json!({ "password": "long-enough" })),
        )
        .await
        .code_cookie_json();
        assert_eq!((s, err(&b)), (410, "This invite was revoked".into()));
        let (s, _, b) = call(
            &st,
            "DELETE",
            &format!("/v1/users/invites/{}", &raw3[raw3.len() - 7..]),
            Some(&owner),
            None,
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (404, "Invite not found or not pending".into())
        );
        let (s, _, b) = call(
            &st,
            "DELETE",
            &format!("/v1/users/invites/{}", &raw3[raw3.len() - 8..]),
            Some(&owner),
            None,
        )
        .await
        .code_cookie_json();
        assert_eq!((s, b), (200, json!({ "message": "Invite revoked" })));

        // Settings: owners only; domain restriction and invite-only.
        let (s, _, b) = call(&st, "GET", "/v1/admin/settings", Some(&alice), None)
            .await
            .code_cookie_json();
        assert_eq!((s, err(&b)), (403, "Owner role required".into()));
        let (s, _, b) = call(
            &st,
            "PUT",
            "/v1/admin/settings",
            Some(&owner),
            Some(json!({ "allowed_email_domains": ["bad domain"] })),
        )
        .await
        .code_cookie_json();
        assert_eq!((s, err(&b)), (400, "Invalid domain: \"bad domain\"".into()));
        let (s, _, b) = call(
            &st,
            "PUT",
            "/v1/admin/settings",
            Some(&owner),
            Some(json!({ "allowed_email_domains": [" X.io ", "x.io", ""], "invite_only": true })),
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, b),
            (
                200,
                json!({ "allowed_email_domains": ["x.io"], "invite_only": true, "smtp_configured": false })
            )
        );
        let reg = json!({ "email": "z@x.io", "password": "long-enough" });
        let (s, _, b) = call(&st, "POST", "/v1/auth/register", None, Some(reg))
            .await
            .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (
                403,
                "This instance is invite-only; accounts can only be created through an invite"
                    .into()
            )
        );
        let reg = json!({ "email": "z@y.io", "password": "long-enough" });
        let (s, _, b) = call(&st, "POST", "/v1/auth/register", None, Some(reg))
            .await
            .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (
                403,
                "signups are restricted to @x.io email addresses".into()
            )
        );
        let (s, _, b) = call(
            &st,
            "POST",
            "/v1/users/invites",
            Some(&owner),
            Some(inv("z@y.io", "", json!([]))),
        )
        .await
        .code_cookie_json();
        assert_eq!(
            (s, err(&b)),
            (
                403,
                "signups are restricted to @x.io email addresses".into()
            )
        );
        let (_, _, b) = call(&st, "GET", "/v1/status", None, None)
            .await
            .code_cookie_json();
        assert_eq!(b["invite_only"], true);
    }

    #[tokio::test]
    async fn html_invite_page() {
        let (st, _d) = state();
        let owner = user(&st, "owner@x.io").await;
        let (_, _, b) = call(
            &st,
            "POST",
            "/v1/users/invites",
            Some(&owner),
            Some(json!({ "email": "p@x.io" })),
        )
        .await
        .code_cookie_json();
        let raw = b["invite_link"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        let text = |r: axum::response::Response| async move {
            let s = r.status().as_u16();
            let b = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
            (s, String::from_utf8(b.to_vec()).unwrap())
        };
        let (s, html) = text(super::invite_page(st.clone(), raw.clone()).await).await;
        assert_eq!(s, 200);
        assert!(html.contains("name=\"password\"") && !html.contains("<script"));
        let (s, html) = text(super::invite_page(st.clone(), "av_uinv_nope".into()).await).await;
        assert_eq!(s, 404);
        assert!(html.contains("Invite not found"));
        let form = axum::body::Bytes::from_static(b"password=long-enough&confirm=other");
        let (s, html) = text(super::invite_page_submit(st.clone(), raw.clone(), form).await).await;
        assert_eq!(s, 200);
        assert!(html.contains("do not match"));
        let form = axum::body::Bytes::from_static(b"password=long-enough&confirm=long-enough");
        let (s, html) = text(super::invite_page_submit(st.clone(), raw.clone(), form).await).await;
        assert_eq!(s, 200);
        assert!(html.contains("Account created."), "{html}");
        let (s, html) = text(super::invite_page(st.clone(), raw.clone()).await).await;
        assert_eq!(s, 410);
        assert!(html.contains("Already Accepted"));
    }
}
