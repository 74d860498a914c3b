//! Keeps the [`View`] in step with the database.
//!
//! Triggers (migration 0002) append `(entity, entity_id)` to `change_log` in the same
//! transaction as every write the proxy cares about, from this process or any other on the
//! same file. A background task polls for rows past its cursor every [`POLL`] and reloads only
//! what they name: one session row, one agent, one vault. A gap (pruned rows) or a very large
//! batch falls back to a full reload. The task also prunes old log rows.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use av_store::crypto::Sealed;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use rusqlite::{Connection, OptionalExtension};

use crate::services::Services;
use crate::view::{Agent, Catalog, FastMap, FastSet, Holder, Session, TokenHash, Vault, View};

/// How often the log is polled (changes are enforced within this plus one reload).
pub const POLL: Duration = Duration::from_millis(100);
/// A batch larger than this reloads everything instead.
const MAX_BATCH: usize = 2000;
/// Log rows kept behind the newest one (other proxy processes may be catching up).
const KEEP_ROWS: i64 = 50_000;
const PRUNE_EVERY: Duration = Duration::from_secs(30);

type Result<T> = std::result::Result<T, rusqlite::Error>;

/// Loads everything; returns the cursor (newest change id) the view reflects.
pub fn load_all(conn: &mut Connection, view: &View) -> Result<i64> {
    let tx = conn.transaction()?;
    let cursor: i64 = tx.query_row("SELECT COALESCE(MAX(id), 0) FROM change_log", [], |r| {
        r.get(0)
    })?;
    let mut sessions = Vec::new();
    {
        let mut stmt =
            tx.prepare("SELECT id, expires_at, vault_id, user_id, agent_id FROM sessions")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            if let Some(entry) = session_row(row)? {
                sessions.push(entry);
            }
        }
    }
    let mut catalog = Catalog {
        initialized: initialized(&tx)?,
        ..Catalog::default()
    };
    let ids: Vec<String> = collect(&tx, "SELECT id FROM vaults", [])?;
    for id in ids {
        if let Some(vault) = load_vault(&tx, &id)? {
            catalog.put_vault(vault);
        }
    }
    let ids: Vec<String> = collect(&tx, "SELECT id FROM agents", [])?;
    for id in ids {
        if let Some(agent) = load_agent(&tx, &id)? {
            catalog.agents.insert(id.into(), Arc::new(agent));
        }
    }
    tx.commit()?;
    view.tokens.replace_all(sessions);
    view.catalog.store(Arc::new(catalog));
    Ok(cursor)
}

/// Applies the changes logged after `cursor`; returns the new cursor.
pub fn catch_up(conn: &mut Connection, view: &View, cursor: i64) -> Result<i64> {
    let tx = conn.transaction()?;
    let mut rows: Vec<(i64, String, String)> = Vec::new();
    {
        let mut stmt = tx.prepare_cached(
            "SELECT id, entity, entity_id FROM change_log WHERE id > ?1 ORDER BY id LIMIT ?2",
        )?;
        let mut q = stmt.query(rusqlite::params![cursor, MAX_BATCH as i64 + 1])?;
        while let Some(r) = q.next()? {
            rows.push((r.get(0)?, r.get(1)?, r.get(2)?));
        }
    }
    let Some(first) = rows.first().map(|r| r.0) else {
        return Ok(cursor);
    };
    if rows.len() > MAX_BATCH || (cursor > 0 && first != cursor + 1 && pruned_past(&tx, cursor)?) {
        drop(tx);
        return load_all(conn, view);
    }
    let newest = rows.last().map_or(cursor, |r| r.0);
    let mut sessions = BTreeSet::new();
    let mut agents = BTreeSet::new();
    let mut vaults = BTreeSet::new();
    let mut users = false;
    for (_, entity, id) in rows {
        match entity.as_str() {
            "sessions" => {
                sessions.insert(id);
            }
            "agents" | "vault_grants" => {
                agents.insert(id);
            }
            "vaults" | "broker_configs" | "credentials" => {
                vaults.insert(id);
            }
            "users" => users = true,
            _ => {}
        }
    }
    for id in sessions {
        let Some(hash) = decode_hash(&id) else {
            continue;
        };
        let row = tx
            .query_row(
                "SELECT id, expires_at, vault_id, user_id, agent_id FROM sessions WHERE id = ?1",
                [&id],
                session_row,
            )
            .optional()?
            .flatten();
        match row {
            Some((_, session)) => view.tokens.put(hash, session),
            None => view.tokens.remove(&hash),
        }
    }
    if users || !agents.is_empty() || !vaults.is_empty() {
        let mut catalog = Catalog::clone(&view.catalog.load());
        if users {
            catalog.initialized = initialized(&tx)?;
        }
        for id in agents {
            match load_agent(&tx, &id)? {
                Some(agent) => {
                    catalog.agents.insert(id.into(), Arc::new(agent));
                }
                None => {
                    catalog.agents.remove(id.as_str());
                }
            }
        }
        for id in vaults {
            match load_vault(&tx, &id)? {
                Some(vault) => catalog.put_vault(vault),
                None => catalog.remove_vault(&id),
            }
        }
        view.catalog.store(Arc::new(catalog));
    }
    tx.commit()?;
    Ok(newest)
}

fn pruned_past(conn: &Connection, cursor: i64) -> Result<bool> {
    let oldest: i64 = conn.query_row("SELECT COALESCE(MIN(id), 0) FROM change_log", [], |r| {
        r.get(0)
    })?;
    Ok(oldest > cursor + 1)
}

/// Deletes log rows far behind the newest.
fn prune(conn: &Connection) -> Result<()> {
    conn.execute(
        "DELETE FROM change_log WHERE id < (SELECT MAX(id) FROM change_log) - ?1",
        [KEEP_ROWS],
    )?;
    Ok(())
}

fn initialized(conn: &Connection) -> Result<bool> {
    conn.query_row("SELECT EXISTS (SELECT 1 FROM users)", [], |r| r.get(0))
}

fn collect<P: rusqlite::Params>(conn: &Connection, sql: &str, p: P) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map(p, |r| r.get(0))?;
    rows.collect()
}

fn decode_hash(hex_id: &str) -> Option<TokenHash> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_id, &mut out).ok()?;
    Some(out)
}

fn session_row(r: &rusqlite::Row<'_>) -> Result<Option<(TokenHash, Session)>> {
    let id: String = r.get(0)?;
    let Some(hash) = decode_hash(&id) else {
        return Ok(None);
    };
    let expires: Option<String> = r.get(1)?;
    let vault: Option<String> = r.get(2)?;
    let agent: Option<String> = r.get(4)?;
    let holder = match (agent, vault) {
        (Some(agent), _) => Holder::Agent(agent.into()),
        (None, Some(vault)) => Holder::Scoped(vault.into()),
        (None, None) => Holder::User,
    };
    // An unparseable expiry is treated as already expired.
    let expires_at = expires.map(|e| av_store::time::unix(&e).unwrap_or(0));
    Ok(Some((hash, Session { holder, expires_at })))
}

fn load_vault(conn: &Connection, id: &str) -> Result<Option<Vault>> {
    let row: Option<(String, Option<String>)> = conn
        .query_row(
            "SELECT v.name, b.services_json FROM vaults v
             LEFT JOIN broker_configs b ON b.vault_id = v.id WHERE v.id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((name, services)) = row else {
        return Ok(None);
    };
    let mut credentials = FastMap::default();
    let mut stmt =
        conn.prepare_cached("SELECT key, ciphertext, nonce FROM credentials WHERE vault_id = ?1")?;
    let mut rows = stmt.query([id])?;
    while let Some(r) = rows.next()? {
        credentials.insert(
            r.get(0)?,
            Sealed {
                ciphertext: r.get(1)?,
                nonce: r.get(2)?,
            },
        );
    }
    Ok(Some(Vault {
        id: id.into(),
        name,
        services: Services::parse(services.as_deref().unwrap_or("[]")),
        credentials,
    }))
}

fn load_agent(conn: &Connection, id: &str) -> Result<Option<Agent>> {
    let row: Option<(String, String)> = conn
        .query_row("SELECT name, status FROM agents WHERE id = ?1", [id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let Some((name, status)) = row else {
        return Ok(None);
    };
    let vaults: Vec<String> = collect(
        conn,
        "SELECT vault_id FROM vault_grants WHERE actor_id = ?1 AND actor_type = 'agent'",
        [id],
    )?;
    Ok(Some(Agent {
        name,
        active: status == "active",
        vaults: vaults.into_iter().map(Arc::from).collect::<FastSet<_>>(),
    }))
}

/// The background task that keeps the view fresh.
pub struct Refresher {
    /// The store to watch.
    pub store: av_store::Store,
    /// The view to refresh.
    pub view: Arc<View>,
    /// The change id the view reflects at start.
    pub cursor: i64,
}

#[async_trait]
impl BackgroundService for Refresher {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut cursor = self.cursor;
        let mut conn = None;
        let mut last_prune = Instant::now();
        let mut ticker = tokio::time::interval(POLL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = ticker.tick() => {}
                _ = self.view.wanted() => {}
            }
            let ticket = self.view.begin_catch_up();
            if conn.is_none() {
                match self.store.dedicated_conn() {
                    Ok(c) => conn = Some(c),
                    Err(e) => {
                        tracing::warn!(error = %e, "proxy view: cannot open the database");
                        continue;
                    }
                }
            }
            let Some(c) = conn.as_mut() else { continue };
            match catch_up(c, &self.view, cursor) {
                Ok(next) => {
                    cursor = next;
                    self.view.end_catch_up(ticket);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "proxy view: refresh failed; retrying");
                    conn = None;
                    continue;
                }
            }
            if last_prune.elapsed() >= PRUNE_EVERY {
                last_prune = Instant::now();
                if let Err(e) = prune(c) {
                    tracing::debug!(error = %e, "proxy view: pruning the change log failed");
                }
            }
        }
    }
}
