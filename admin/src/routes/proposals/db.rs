//! Proposal rows: creation with its per-vault id and approval token, reads that expire stale
//! proposals first (DESIGN §6 fix 10), and the review transitions.
//!
//! Approval applies everything (services merged, credentials upserted and deleted, status
//! flipped) inside one `BEGIN IMMEDIATE` transaction that re-reads the status, so of two
//! concurrent approvals exactly one wins and the other sees "already applied".

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

use av_store::crypto::MasterKey;
use av_store::proposal::{
    merge_services, CredentialSlot, ProposalService, ACTION_DELETE, ACTION_SET,
};
use av_store::{time, token};
use zeroize::Zeroizing;

use crate::error::ApiError;
use crate::routes::services::{load_services, store_services};

/// Proposals not decided within this time become `expired`.
pub const PROPOSAL_TTL_SECONDS: i64 = 7 * 24 * 3600;
/// Approval links work for this long.
pub const APPROVAL_TTL_SECONDS: i64 = 24 * 3600;
/// Pending proposals one vault may hold.
pub const MAX_PENDING: i64 = 20;

/// One stored proposal.
#[derive(Clone, Debug)]
pub struct Proposal {
    /// Per-vault number.
    pub id: i64,
    /// Vault UUID.
    pub vault_id: String,
    /// `pending`, `applied`, `rejected` or `expired`.
    pub status: String,
    /// Requested service changes (JSON array text).
    pub services_json: String,
    /// Requested credential slots (JSON array text, agent values removed).
    pub credentials_json: String,
    /// Developer-facing message.
    pub message: String,
    /// Human-facing message.
    pub user_message: String,
    /// Reviewer's note (the rejection reason).
    pub review_note: String,
    /// When it was decided (stored format).
    pub reviewed_at: Option<String>,
    /// When it was raised (stored format).
    pub created_at: String,
    /// The agent that raised it, if an agent token did.
    pub created_by_agent_id: Option<String>,
    /// When its approval link stops working (stored format).
    pub approval_token_expires_at: String,
}

const COLUMNS: &str = "id, vault_id, status, services_json, credentials_json, message, \
     user_message, review_note, reviewed_at, created_at, created_by_agent_id, \
     approval_token_expires_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Proposal> {
    Ok(Proposal {
        id: r.get(0)?,
        vault_id: r.get(1)?,
        status: r.get(2)?,
        services_json: r.get(3)?,
        credentials_json: r.get(4)?,
        message: r.get(5)?,
        user_message: r.get(6)?,
        review_note: r.get(7)?,
        reviewed_at: r.get(8)?,
        created_at: r.get(9)?,
        created_by_agent_id: r.get(10)?,
        approval_token_expires_at: r.get(11)?,
    })
}

impl Proposal {
    /// The requested services as stored.
    pub fn services(&self) -> Value {
        serde_json::from_str(&self.services_json).unwrap_or_else(|_| Value::Array(vec![]))
    }

    /// The requested credential slots as stored.
    pub fn credentials(&self) -> Value {
        serde_json::from_str(&self.credentials_json).unwrap_or_else(|_| Value::Array(vec![]))
    }

    /// Whether the approval link has passed its 24 hours.
    pub fn approval_link_expired(&self) -> bool {
        self.approval_token_expires_at <= time::now()
    }
}

/// Flips pending proposals older than the TTL to `expired` and drops the agent-supplied
/// values they held. Run before every read so nobody ever sees a stale `pending`.
pub fn sweep(conn: &Connection) -> rusqlite::Result<()> {
    let cutoff = time::in_seconds(-PROPOSAL_TTL_SECONDS);
    let now = time::now();
    let n = conn.execute(
        "UPDATE proposals SET status = 'expired', updated_at = ?2
         WHERE status = 'pending' AND created_at <= ?1",
        params![cutoff, now],
    )?;
    if n > 0 {
        drop_agent_values(conn, None)?;
    }
    Ok(())
}

/// Deletes the agent-supplied values of decided proposals (all vaults, or one proposal).
fn drop_agent_values(conn: &Connection, one: Option<(&str, i64)>) -> rusqlite::Result<()> {
    match one {
        Some((vault_id, id)) => conn.execute(
            "DELETE FROM proposal_credentials WHERE vault_id = ?1 AND proposal_id = ?2",
            params![vault_id, id],
        )?,
        None => conn.execute(
            "DELETE FROM proposal_credentials WHERE EXISTS (
                 SELECT 1 FROM proposals p WHERE p.vault_id = proposal_credentials.vault_id
                   AND p.id = proposal_credentials.proposal_id AND p.status != 'pending')",
            [],
        )?,
    };
    Ok(())
}

/// One proposal of a vault (after the expiry sweep).
pub fn get(conn: &Connection, vault_id: &str, id: i64) -> rusqlite::Result<Option<Proposal>> {
    sweep(conn)?;
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM proposals WHERE vault_id = ?1 AND id = ?2"),
        params![vault_id, id],
        from_row,
    )
    .optional()
}

/// The proposal an approval token belongs to (after the expiry sweep).
pub fn by_approval_token(conn: &Connection, raw: &str) -> rusqlite::Result<Option<Proposal>> {
    sweep(conn)?;
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM proposals WHERE approval_token_hash = ?1"),
        [token::hash(raw)],
        from_row,
    )
    .optional()
}

/// A vault's proposals, newest first, optionally of one status (after the expiry sweep).
pub fn list(
    conn: &Connection,
    vault_id: &str,
    status: Option<&str>,
) -> rusqlite::Result<Vec<Proposal>> {
    sweep(conn)?;
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM proposals WHERE vault_id = ?1 AND (?2 IS NULL OR status = ?2)
         ORDER BY id DESC"
    ))?;
    let rows = stmt.query_map(params![vault_id, status], from_row)?;
    rows.collect()
}

/// The name of the agent that raised a proposal, or `""`.
pub fn agent_name(conn: &Connection, p: &Proposal) -> rusqlite::Result<String> {
    let Some(agent_id) = &p.created_by_agent_id else {
        return Ok(String::new());
    };
    Ok(conn
        .query_row("SELECT name FROM agents WHERE id = ?1", [agent_id], |r| {
            r.get(0)
        })
        .optional()?
        .unwrap_or_default())
}

/// Number of pending proposals in a vault (after the expiry sweep).
pub fn pending_count(conn: &Connection, vault_id: &str) -> rusqlite::Result<i64> {
    sweep(conn)?;
    conn.query_row(
        "SELECT COUNT(*) FROM proposals WHERE vault_id = ?1 AND status = 'pending'",
        [vault_id],
        |r| r.get(0),
    )
}

/// What a new proposal stores.
pub struct NewProposal<'a> {
    /// Vault UUID.
    pub vault_id: &'a str,
    /// The agent raising it (agent tokens), if any.
    pub agent_id: Option<&'a str>,
    /// Requested services, serialized.
    pub services_json: String,
    /// Credential slots with agent values removed, serialized.
    pub credentials_json: String,
    /// Developer-facing message.
    pub message: &'a str,
    /// Human-facing message.
    pub user_message: &'a str,
    /// Agent-supplied values by key, already sealed.
    pub sealed: Vec<(String, av_store::crypto::Sealed)>,
}

/// Inserts a proposal with the next per-vault id; returns the id and the raw approval token.
pub fn insert(conn: &Connection, new: &NewProposal<'_>) -> rusqlite::Result<(i64, String)> {
    let id: i64 = conn.query_row(
        "SELECT COALESCE(MAX(id), 0) + 1 FROM proposals WHERE vault_id = ?1",
        [new.vault_id],
        |r| r.get(0),
    )?;
    let approval = token::mint(token::APPROVAL);
    let now = time::now();
    conn.execute(
        "INSERT INTO proposals (id, vault_id, created_by_agent_id, status, services_json,
                                credentials_json, message, user_message, approval_token_hash,
                                approval_token_expires_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
        params![
            id,
            new.vault_id,
            new.agent_id,
            new.services_json,
            new.credentials_json,
            new.message,
            new.user_message,
            approval.hash,
            time::in_seconds(APPROVAL_TTL_SECONDS),
            now
        ],
    )?;
    for (key, sealed) in &new.sealed {
        conn.execute(
            "INSERT INTO proposal_credentials (vault_id, proposal_id, key, ciphertext, nonce)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![new.vault_id, id, key, sealed.ciphertext, sealed.nonce],
        )?;
    }
    Ok((id, approval.raw))
}

/// The proposal, which must exist and still be pending (404 / 409 otherwise).
pub fn pending(conn: &Connection, vault_id: &str, id: i64) -> Result<Proposal, ApiError> {
    let p = get(conn, vault_id, id)?
        .ok_or_else(|| ApiError::not_found(format!("Proposal {id} not found")))?;
    if p.status != "pending" {
        return Err(ApiError::conflict(format!(
            "Proposal {id} is already {}",
            p.status
        )));
    }
    Ok(p)
}

/// Marks a pending proposal decided. Returns false when it was no longer pending.
fn decide(
    conn: &Connection,
    p: &Proposal,
    status: &str,
    note: &str,
    reviewer: Option<&str>,
) -> rusqlite::Result<bool> {
    let now = time::now();
    let n = conn.execute(
        "UPDATE proposals SET status = ?3, review_note = ?4, reviewed_by = ?5, reviewed_at = ?6,
                              updated_at = ?6
         WHERE vault_id = ?1 AND id = ?2 AND status = 'pending'",
        params![p.vault_id, p.id, status, note, reviewer, now],
    )?;
    if n == 1 {
        drop_agent_values(conn, Some((&p.vault_id, p.id)))?;
    }
    Ok(n == 1)
}

/// Rejects a pending proposal (call inside a write transaction).
pub fn reject(
    conn: &Connection,
    vault_id: &str,
    id: i64,
    reason: &str,
    reviewer: Option<&str>,
) -> Result<(), ApiError> {
    let p = pending(conn, vault_id, id)?;
    if !decide(conn, &p, "rejected", reason, reviewer)? {
        return Err(ApiError::conflict(format!(
            "Proposal {id} is already decided"
        )));
    }
    Ok(())
}

/// The agent-supplied value of a slot, decrypted.
fn agent_value(
    conn: &Connection,
    key: &MasterKey,
    p: &Proposal,
    slot: &str,
) -> Result<Option<Zeroizing<String>>, ApiError> {
    let row: Option<(Vec<u8>, Vec<u8>)> = conn
        .query_row(
            "SELECT ciphertext, nonce FROM proposal_credentials
             WHERE vault_id = ?1 AND proposal_id = ?2 AND key = ?3",
            params![p.vault_id, p.id, slot],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match row {
        None => Ok(None),
        Some((ct, nonce)) => Ok(Some(key.open_string(&ct, &nonce)?)),
    }
}

/// The reviewer's answer to a proposal's credential slots.
pub type Overrides = HashMap<String, String>;

/// Stores a credential value (the row id is kept when the key already exists).
fn upsert_credential(
    conn: &Connection,
    key: &MasterKey,
    vault_id: &str,
    name: &str,
    value: &str,
) -> Result<(), ApiError> {
    let sealed = key.seal(value.as_bytes())?;
    let now = time::now();
    conn.execute(
        "INSERT INTO credentials (id, vault_id, key, ciphertext, nonce, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
         ON CONFLICT(vault_id, key) DO UPDATE SET ciphertext = excluded.ciphertext,
                                                 nonce = excluded.nonce,
                                                 updated_at = excluded.updated_at",
        params![
            av_store::new_id(),
            vault_id,
            name,
            sealed.ciphertext,
            sealed.nonce,
            now
        ],
    )?;
    Ok(())
}

/// Approves a pending proposal and applies it; call inside one write transaction so a
/// failure changes nothing and a concurrent approval sees it decided.
///
/// Each `set` slot takes the reviewer's value if given, else the agent's stored value;
/// an empty value is refused. Services are merged by host; `delete` slots remove their
/// credential (a missing one is fine).
pub fn approve(
    conn: &Connection,
    key: &MasterKey,
    vault_id: &str,
    id: i64,
    overrides: &Overrides,
    reviewer: Option<&str>,
) -> Result<(), ApiError> {
    let p = pending(conn, vault_id, id)?;
    let slots: Vec<CredentialSlot> =
        serde_json::from_str(&p.credentials_json).map_err(ApiError::internal)?;
    let changes: Vec<ProposalService> =
        serde_json::from_str(&p.services_json).map_err(ApiError::internal)?;
    let mut values = Vec::new();
    for slot in slots.iter().filter(|s| s.action == ACTION_SET) {
        let k = &slot.key;
        let value = match overrides.get(k) {
            Some(v) => Zeroizing::new(v.clone()),
            None if slot.has_value => agent_value(conn, key, &p, k)?.ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Agent-provided credential {k:?} not found in proposal"
                ))
            })?,
            None => {
                return Err(ApiError::bad_request(format!(
                    "Missing value for credential {k:?}"
                )))
            }
        };
        if value.is_empty() {
            return Err(ApiError::bad_request(format!(
                "Credential {k:?} cannot be empty"
            )));
        }
        values.push((k, value));
    }
    let merged = merge_services(load_services(conn, vault_id)?, &changes);
    store_services(conn, vault_id, &merged)?;
    for (k, v) in &values {
        upsert_credential(conn, key, vault_id, k, v)?;
    }
    for slot in slots.iter().filter(|s| s.action == ACTION_DELETE) {
        conn.execute(
            "DELETE FROM credentials WHERE vault_id = ?1 AND key = ?2",
            params![vault_id, slot.key],
        )?;
    }
    if !decide(conn, &p, "applied", "", reviewer)? {
        return Err(ApiError::conflict(format!(
            "Proposal {id} is already decided"
        )));
    }
    Ok(())
}

/// Emails of the people (not agents) with a grant on the vault: who hears of a new proposal.
pub fn member_emails(conn: &Connection, vault_id: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = conn.prepare(
        "SELECT u.email FROM vault_grants g JOIN users u ON u.id = g.actor_id
         WHERE g.vault_id = ?1 AND g.actor_type = 'user' AND u.is_active = 1 ORDER BY u.email",
    )?;
    let rows = st.query_map([vault_id], |r| r.get(0))?;
    rows.collect()
}
