//! Opening the database file, applying migrations, and handing out connections.
//!
//! Both services share one file. SQLite in WAL mode lets readers proceed while one writer
//! commits; writers take the lock up front (`BEGIN IMMEDIATE`) so two concurrent
//! read-then-write transactions can never deadlock into `SQLITE_BUSY`.

use std::fs;
use std::ops::{Deref, DerefMut};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::error::{Error, Result};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "agent-vault.db";

/// Embedded migrations, applied in order, each in its own transaction.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_change_log.sql")),
];

const MAX_IDLE: usize = 8;

/// A handle to the shared database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl Store {
    /// Opens (creating if needed) `<data_dir>/agent-vault.db` and migrates it. A new data
    /// directory is created with mode 0700; the database file always ends up 0600.
    pub fn open(data_dir: &Path) -> Result<Store> {
        if !data_dir.exists() {
            fs::create_dir_all(data_dir)
                .map_err(|e| io_err("create data directory", data_dir, e))?;
            fs::set_permissions(data_dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| io_err("set permissions on", data_dir, e))?;
        }
        Self::open_file(&data_dir.join(DB_FILE))
    }

    /// Opens a database file directly and migrates it.
    pub fn open_file(path: &Path) -> Result<Store> {
        if !path.exists() {
            fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| io_err("create", path, e))?;
        }
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .map_err(|e| io_err("set permissions on", path, e))?;
        let store = Store {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                idle: Mutex::new(Vec::new()),
            }),
        };
        {
            let mut conn = store.conn()?;
            migrate(&mut conn)?;
        }
        for suffix in ["-wal", "-shm"] {
            let side = PathBuf::from(format!("{}{suffix}", path.display()));
            if side.exists() {
                let _ = fs::set_permissions(&side, fs::Permissions::from_mode(0o600));
            }
        }
        Ok(store)
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Opens a fresh connection that is not pooled (e.g. the proxy's own change watcher).
    pub fn dedicated_conn(&self) -> Result<Connection> {
        open_conn(&self.inner.path)
    }

    /// A pooled connection, returned to the pool when dropped.
    pub fn conn(&self) -> Result<PooledConn> {
        let idle = self
            .inner
            .idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop();
        let conn = match idle {
            Some(c) => c,
            None => open_conn(&self.inner.path)?,
        };
        Ok(PooledConn {
            conn: Some(conn),
            inner: self.inner.clone(),
        })
    }

    /// Runs `f` in a write transaction (`BEGIN IMMEDIATE`), committing when it returns `Ok`.
    pub fn write<T, E>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<Error>,
    {
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(Error::from)?;
        let out = f(&tx)?;
        tx.commit().map_err(Error::from)?;
        Ok(out)
    }

    /// Runs `f` with a pooled connection (reads, or single-statement writes).
    pub fn read<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<Error>,
    {
        let conn = self.conn()?;
        f(&conn)
    }
}

/// A connection borrowed from the [`Store`] pool.
pub struct PooledConn {
    conn: Option<Connection>,
    inner: Arc<Inner>,
}

impl Deref for PooledConn {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("connection present until drop")
    }
}

impl DerefMut for PooledConn {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("connection present until drop")
    }
}

impl Drop for PooledConn {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // A connection left inside a transaction (panic mid-way) is not reused.
            if conn.is_autocommit() {
                let mut idle = self.inner.idle.lock().unwrap_or_else(|p| p.into_inner());
                if idle.len() < MAX_IDLE {
                    idle.push(conn);
                }
            }
        }
    }
}

fn open_conn(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            applied_at TEXT NOT NULL DEFAULT (datetime('now')))",
    )?;
    for (version, sql) in MIGRATIONS {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let done: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)",
            [version],
            |r| r.get(0),
        )?;
        if !done {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version) VALUES (?1)",
                [version],
            )?;
        }
        tx.commit()?;
    }
    Ok(())
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Io(format!("cannot {what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_migrates_and_seeds_default_vault() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let store = Store::open(&data).unwrap();
        let mode = fs::metadata(&data).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let mode = fs::metadata(data.join(DB_FILE))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let name: String = store
            .read(|c| {
                c.query_row(
                    "SELECT name FROM vaults WHERE id = ?1",
                    [crate::DEFAULT_VAULT_ID],
                    |r| r.get(0),
                )
                .map_err(Error::from)
            })
            .unwrap();
        assert_eq!(name, "default");
        drop(store);
        // Re-opening is a no-op for migrations.
        let store = Store::open(&data).unwrap();
        let n: i64 = store
            .read(|c| {
                c.query_row("SELECT COUNT(*) FROM vaults", [], |r| r.get(0))
                    .map_err(Error::from)
            })
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn write_rolls_back_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let r: Result<()> = store.write(|tx| {
            tx.execute(
                "INSERT INTO instance_settings (key, value, updated_at) VALUES ('k', 'v', 'now')",
                [],
            )?;
            Err(Error::Crypto)
        });
        assert!(r.is_err());
        let n: i64 = store
            .read(|c| {
                c.query_row("SELECT COUNT(*) FROM instance_settings", [], |r| r.get(0))
                    .map_err(Error::from)
            })
            .unwrap();
        assert_eq!(n, 0);
    }
}
