//! User rows, shared by registration, invite acceptance and the server's first-owner prompt;
//! plus what several people-facing routes share: email validation, password hashing off the
//! runtime, six-digit codes, and the instance settings that restrict signups.

use std::sync::OnceLock;

use rusqlite::{params, Connection, OptionalExtension};
use zeroize::Zeroizing;

use av_store::crypto::{self, PasswordHash};
use av_store::roles::{InstanceRole, VaultRole};
use av_store::{new_id, time, token, DEFAULT_VAULT_ID};

use crate::authz::upsert_grant;
use crate::error::ApiError;
use crate::html::esc;
use crate::mail::SmtpConfig;

/// Inserts a user with an already computed password hash; returns the new id.
pub fn create_user(
    conn: &Connection,
    email: &str,
    hash: &PasswordHash,
    role: InstanceRole,
    active: bool,
) -> rusqlite::Result<String> {
    let id = new_id();
    let now = time::now();
    conn.execute(
        "INSERT INTO users (id, email, password_hash, password_salt, role, kdf_time, kdf_memory,
                            kdf_threads, is_active, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
        params![
            id,
            email,
            hash.hash,
            hash.salt,
            role.as_str(),
            hash.params.time,
            hash.params.memory,
            hash.params.threads,
            active,
            now
        ],
    )?;
    Ok(id)
}

/// Creates the first owner: active, instance owner, admin of `default`. Hashes the password
/// (slow; call off the async runtime). Returns the user id.
pub fn create_first_owner(
    conn: &Connection,
    email: &str,
    password: &str,
) -> Result<String, av_store::Error> {
    let hash = crypto::hash_password(password)?;
    let id = create_user(conn, email, &hash, InstanceRole::Owner, true)?;
    upsert_grant(conn, (&id, "user"), DEFAULT_VAULT_ID, VaultRole::Admin)?;
    Ok(id)
}

/// Shortest accepted user password, in bytes.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Lifetime of verification and reset codes, in seconds (15 min).
pub const CODE_TTL_SECONDS: i64 = 15 * 60;
/// Most pending codes per email (verification and reset alike).
pub const MAX_PENDING_CODES: i64 = 3;
/// Lifetime of a login session, in seconds (24 h).
pub const LOGIN_TTL_SECONDS: i64 = 24 * 60 * 60;

/// A user row as the account routes need it.
pub struct UserRow {
    /// User id.
    pub id: String,
    /// Email as registered.
    pub email: String,
    /// Instance role.
    pub role: InstanceRole,
    /// Whether the email was verified (or the account otherwise activated).
    pub active: bool,
    /// The password hash, `None` for accounts without a password.
    pub password: Option<PasswordHash>,
    /// Stored creation time.
    pub created_at: String,
}

/// Looks a user up by email.
pub fn find_user(conn: &Connection, email: &str) -> rusqlite::Result<Option<UserRow>> {
    conn.query_row(
        "SELECT id, email, role, is_active, password_hash, password_salt, kdf_time, kdf_memory,
                kdf_threads, created_at
         FROM users WHERE email = ?1",
        [email],
        |r| {
            let hash: Option<Vec<u8>> = r.get(4)?;
            let salt: Option<Vec<u8>> = r.get(5)?;
            let params = crypto::KdfParams {
                time: r.get(6)?,
                memory: r.get(7)?,
                threads: r.get(8)?,
            };
            Ok(UserRow {
                id: r.get(0)?,
                email: r.get(1)?,
                role: r
                    .get::<_, String>(2)?
                    .parse()
                    .unwrap_or(InstanceRole::Member),
                active: r.get(3)?,
                password: match (hash, salt) {
                    (Some(hash), Some(salt)) => Some(PasswordHash { hash, salt, params }),
                    _ => None,
                },
                created_at: r.get(9)?,
            })
        },
    )
    .optional()
}

/// Replaces a user's password hash.
pub fn set_password(conn: &Connection, user_id: &str, hash: &PasswordHash) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE users SET password_hash = ?2, password_salt = ?3, kdf_time = ?4, kdf_memory = ?5,
                          kdf_threads = ?6, updated_at = ?7
         WHERE id = ?1",
        params![
            user_id,
            hash.hash,
            hash.salt,
            hash.params.time,
            hash.params.memory,
            hash.params.threads,
            time::now()
        ],
    )?;
    Ok(())
}

/// Deletes a user with their sessions and vault grants.
pub fn delete_user(conn: &Connection, user_id: &str) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])?;
    conn.execute("DELETE FROM vault_grants WHERE actor_id = ?1", [user_id])?;
    conn.execute("DELETE FROM users WHERE id = ?1", [user_id])?;
    Ok(())
}

/// Hashes a password off the async runtime (Argon2id is deliberately slow).
pub async fn hash_blocking(password: String) -> Result<PasswordHash, ApiError> {
    let password = Zeroizing::new(password);
    tokio::task::spawn_blocking(move || crypto::hash_password(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
}

/// Verifies a password off the async runtime. `None` verifies against a dummy hash computed
/// once, so an unknown email costs as much time as a wrong password.
pub async fn verify_blocking(password: String, stored: Option<PasswordHash>) -> bool {
    static DUMMY: OnceLock<Option<PasswordHash>> = OnceLock::new();
    let password = Zeroizing::new(password);
    tokio::task::spawn_blocking(move || match stored {
        Some(h) => crypto::verify_password(&password, &h),
        None => {
            let dummy = DUMMY.get_or_init(|| crypto::hash_password("agent-vault-dummy").ok());
            if let Some(h) = dummy {
                crypto::verify_password(&password, h);
            }
            false
        }
    })
    .await
    .unwrap_or(false)
}

/// The two kinds of emailed six-digit code.
#[derive(Clone, Copy, Debug)]
pub enum CodeKind {
    /// Email verification after registration (`email_verifications`).
    Verification,
    /// Password reset (`password_resets`).
    Reset,
}

impl CodeKind {
    fn table(self) -> &'static str {
        match self {
            CodeKind::Verification => "email_verifications",
            CodeKind::Reset => "password_resets",
        }
    }
}

/// Issues a code unless `email` already has [`MAX_PENDING_CODES`] pending ones (stale codes
/// are expired first). Returns the raw code, which only [`deliver_code`] may show.
pub fn issue_code(
    conn: &Connection,
    kind: CodeKind,
    email: &str,
) -> rusqlite::Result<Option<String>> {
    let table = kind.table();
    let now = time::now();
    conn.execute(
        &format!(
            "UPDATE {table} SET status = 'expired'
             WHERE email = ?1 AND status = 'pending' AND expires_at <= ?2"
        ),
        params![email, now],
    )?;
    let pending: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM {table} WHERE email = ?1 AND status = 'pending'"),
        [email],
        |r| r.get(0),
    )?;
    if pending >= MAX_PENDING_CODES {
        return Ok(None);
    }
    let code = token::six_digit_code();
    conn.execute(
        &format!(
            "INSERT INTO {table} (email, code_hash, status, created_at, expires_at)
             VALUES (?1, ?2, 'pending', ?3, ?4)"
        ),
        params![
            email,
            token::hash(&code),
            now,
            time::in_seconds(CODE_TTL_SECONDS)
        ],
    )?;
    Ok(Some(code))
}

/// Consumes a pending, unexpired code matching `email`; false when there is none.
pub fn consume_code(
    conn: &Connection,
    kind: CodeKind,
    email: &str,
    code: &str,
) -> rusqlite::Result<bool> {
    let done = match kind {
        CodeKind::Verification => "verified",
        CodeKind::Reset => "used",
    };
    let n = conn.execute(
        &format!(
            "UPDATE {} SET status = ?4
             WHERE id = (SELECT id FROM {0} WHERE email = ?1 AND code_hash = ?2
                         AND status = 'pending' AND expires_at > ?3 LIMIT 1)",
            kind.table()
        ),
        params![email, token::hash(code), time::now(), done],
    )?;
    Ok(n > 0)
}

/// Delivers a code: by email when SMTP is configured, else (or when the email fails) on the
/// server's stderr, the one documented place a code may appear. Returns whether the email
/// went out.
pub async fn deliver_code(
    smtp: Option<&SmtpConfig>,
    kind: CodeKind,
    email: &str,
    code: &str,
) -> bool {
    if let Some(smtp) = smtp {
        let (subject, what) = match kind {
            CodeKind::Verification => ("Agent Vault verification code", "verification code"),
            CodeKind::Reset => ("Agent Vault password reset code", "password reset code"),
        };
        let html = format!(
            "<p>Your Agent Vault {what} is:</p>\n\
             <p style=\"font-size:24px;font-weight:bold;letter-spacing:4px\">{}</p>\n\
             <p>If you did not ask for it, you can ignore this email.</p>",
            esc(code)
        );
        match smtp.send_html(&[email.to_string()], subject, &html).await {
            Ok(()) => return true,
            Err(e) => tracing::warn!("could not email a {what}, writing it to the log: {e}"),
        }
    }
    log_code(kind, email, code);
    false
}

/// [`deliver_code`] where the answer must not wait for it: an email is sent in the background,
/// so the answer's timing says nothing about the account; the log line is written at once.
pub fn deliver_code_later(smtp: Option<&SmtpConfig>, kind: CodeKind, email: &str, code: String) {
    match smtp {
        None => log_code(kind, email, &code),
        Some(smtp) => {
            let (smtp, email) = (smtp.clone(), email.to_string());
            tokio::spawn(async move {
                deliver_code(Some(&smtp), kind, &email, &code).await;
            });
        }
    }
}

fn log_code(kind: CodeKind, email: &str, code: &str) {
    match kind {
        CodeKind::Verification => {
            eprintln!("[agent-vault] Email verification code for {email}: {code}")
        }
        CodeKind::Reset => eprintln!("[agent-vault] Password reset code for {email}: {code}"),
    }
}

/// Validates an email address (permissive RFC 5322, display-name forms accepted): the
/// reference's 400 messages on failure. Returns the bare address (`local@domain`).
pub fn validate_email(raw: &str) -> Result<String, ApiError> {
    av_store::email::validate(raw.trim()).map_err(ApiError::bad_request)
}

/// Stored instance settings: `allowed_email_domains` and `invite_only`.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Allowed signup domains (empty: unrestricted).
    pub allowed_email_domains: Vec<String>,
    /// Accounts only through invites.
    pub invite_only: bool,
}

fn setting(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT value FROM instance_settings WHERE key = ?1",
        [key],
        |r| r.get(0),
    )
    .optional()
}

/// Saves one instance setting.
pub fn save_setting(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO instance_settings (key, value, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        params![key, value, time::now()],
    )?;
    Ok(())
}

/// Reads the instance settings; `None` for the domain list when it cannot be parsed.
pub fn settings(conn: &Connection) -> rusqlite::Result<(Option<Vec<String>>, bool)> {
    let domains = match setting(conn, "allowed_email_domains")? {
        None => Some(Vec::new()),
        Some(text) => serde_json::from_str::<Vec<String>>(&text).ok(),
    };
    let invite_only = setting(conn, "invite_only")?.as_deref() == Some("true");
    Ok((domains, invite_only))
}

/// The domain restriction of reference §4.22 (fails closed when the settings are unreadable).
pub fn check_email_domain(conn: &Connection, email: &str) -> Result<(), ApiError> {
    let domains = match settings(conn) {
        Ok((Some(d), _)) => d,
        _ => {
            return Err(ApiError::forbidden(
                "unable to verify email domain restrictions, please try again later",
            ))
        }
    };
    if domains.is_empty() {
        return Ok(());
    }
    let domain = email
        .split_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default();
    if domains.contains(&domain) {
        return Ok(());
    }
    Err(ApiError::forbidden(if domains.len() == 1 {
        format!("signups are restricted to @{} email addresses", domains[0])
    } else {
        "signups are restricted to specific email domains".to_string()
    }))
}

/// Invite-only mode (fails closed when the setting cannot be read).
pub fn invite_only(conn: &Connection) -> bool {
    settings(conn).map(|(_, i)| i).unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_validated_permissively() {
        assert_eq!(validate_email(" a@b.co ").ok().as_deref(), Some("a@b.co"));
        assert!(validate_email("a+tag@sub.example.com").is_ok());
        assert_eq!(
            validate_email("Ann <a@b.co>").ok().as_deref(),
            Some("a@b.co")
        );
        for bad in ["", "nope", "@b.co", "a@", "a b@c.de", "a@b..c", "<a@b.c"] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn codes_are_capped_and_consumed_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = av_store::Store::open(dir.path()).unwrap();
        let conn = store.conn().unwrap();
        let codes: Vec<_> = (0..4)
            .map(|_| issue_code(&conn, CodeKind::Reset, "a@b.co").unwrap())
            .collect();
        assert!(codes[..3].iter().all(Option::is_some));
        assert!(codes[3].is_none());
        let c = codes[0].clone().unwrap();
        assert!(!consume_code(&conn, CodeKind::Verification, "a@b.co", &c).unwrap());
        assert!(!consume_code(&conn, CodeKind::Reset, "x@b.co", &c).unwrap());
        assert!(consume_code(&conn, CodeKind::Reset, "a@b.co", &c).unwrap());
        assert!(!consume_code(&conn, CodeKind::Reset, "a@b.co", &c).unwrap());
    }

    #[test]
    fn domain_restriction() {
        let dir = tempfile::tempdir().unwrap();
        let store = av_store::Store::open(dir.path()).unwrap();
        let conn = store.conn().unwrap();
        assert!(check_email_domain(&conn, "a@x.com").is_ok());
        save_setting(&conn, "allowed_email_domains", r#"["x.com"]"#).unwrap();
        assert!(check_email_domain(&conn, "a@X.com").is_ok());
        let e = check_email_domain(&conn, "a@y.com").unwrap_err();
        assert!(format!("{e:?}").contains("restricted to @x.com"));
        save_setting(&conn, "allowed_email_domains", "garbage").unwrap();
        assert!(check_email_domain(&conn, "a@x.com").is_err());
        assert!(!invite_only(&conn));
        save_setting(&conn, "invite_only", "true").unwrap();
        assert!(invite_only(&conn));
    }
}
