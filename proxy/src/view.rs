//! The in-memory view of the store that the request path reads instead of SQLite.
//!
//! Two parts with different update patterns:
//! - tokens (many, minted often): sharded hash maps keyed by the SHA-256 of the raw token,
//!   updated row by row, so minting one token never copies the others;
//! - the catalog (vaults with their compiled services and sealed credentials, agents with
//!   their grants, the initialized flag): few and rarely changed, published as an immutable
//!   snapshot through `ArcSwap` so readers never lock.
//!
//! [`crate::watch`] fills and refreshes it from the database.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use av_store::crypto::Sealed;
use sha2::{Digest, Sha256};

use crate::services::{Services, Unparseable};

/// The view's maps: foldhash instead of SipHash, which cost measurably per request. Keys are
/// written only by admin (names, ids, SHA-256 outputs), so there is no flooding to defend.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
/// A set with the view's hasher.
pub type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// SHA-256 of a raw token, the key of the token map.
pub type TokenHash = [u8; 32];

/// Hashes a raw bearer token the way the store does.
pub fn token_hash(raw: &str) -> TokenHash {
    Sha256::digest(raw.as_bytes()).into()
}

/// Who a token belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holder {
    /// An agent token; the vault comes from `X-Vault`.
    Agent(Arc<str>),
    /// A scoped session bound to one vault.
    Scoped(Arc<str>),
    /// A user's login session (not usable on the proxy).
    User,
}

/// One row of `sessions`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Whose it is.
    pub holder: Holder,
    /// Expiry as Unix seconds (`None` = never).
    pub expires_at: Option<i64>,
}

/// A vault as the proxy needs it.
#[derive(Debug)]
pub struct Vault {
    /// Vault id.
    pub id: Arc<str>,
    /// Vault name (messages, logs).
    pub name: String,
    /// Its services, compiled for matching (`Err` when the stored JSON does not parse).
    pub services: Result<Services, Unparseable>,
    /// Credential ciphertexts by key; decrypted only while a request is built.
    pub credentials: FastMap<String, Sealed>,
}

/// An agent as the proxy needs it.
#[derive(Debug)]
pub struct Agent {
    /// Agent name (logs).
    pub name: String,
    /// `false` once revoked.
    pub active: bool,
    /// Ids of the vaults it has a grant on.
    pub vaults: FastSet<Arc<str>>,
}

/// The rarely-changing part of the view, replaced as a whole snapshot.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    /// Whether any user exists (the proxy answers 503 until then).
    pub initialized: bool,
    /// Vaults by id.
    pub vaults: FastMap<Arc<str>, Arc<Vault>>,
    /// Vault ids by name.
    pub names: FastMap<String, Arc<str>>,
    /// Agents by id.
    pub agents: FastMap<Arc<str>, Arc<Agent>>,
}

impl Catalog {
    /// Looks a vault up by name.
    pub fn vault_by_name(&self, name: &str) -> Option<&Arc<Vault>> {
        self.vaults.get(self.names.get(name)?)
    }

    /// Inserts or replaces a vault (keeping the name index right across renames).
    pub fn put_vault(&mut self, vault: Vault) {
        self.remove_vault(&vault.id);
        self.names.insert(vault.name.clone(), vault.id.clone());
        self.vaults.insert(vault.id.clone(), Arc::new(vault));
    }

    /// Removes a vault.
    pub fn remove_vault(&mut self, id: &str) {
        if let Some(old) = self.vaults.remove(id) {
            if self.names.get(&old.name).is_some_and(|v| &**v == id) {
                self.names.remove(&old.name);
            }
        }
    }
}

const SHARDS: usize = 16;

/// The token map, sharded so writers (minting, revocation) rarely meet readers on one lock.
pub struct Tokens {
    shards: [RwLock<FastMap<TokenHash, Session>>; SHARDS],
}

impl Default for Tokens {
    fn default() -> Self {
        Tokens {
            shards: std::array::from_fn(|_| RwLock::new(FastMap::default())),
        }
    }
}

impl Tokens {
    fn shard(&self, hash: &TokenHash) -> &RwLock<FastMap<TokenHash, Session>> {
        &self.shards[usize::from(hash[0]) % SHARDS]
    }

    /// The session stored for this token hash.
    pub fn get(&self, hash: &TokenHash) -> Option<Session> {
        let shard = self.shard(hash).read().unwrap_or_else(|p| p.into_inner());
        shard.get(hash).cloned()
    }

    /// Inserts or replaces one session.
    pub fn put(&self, hash: TokenHash, session: Session) {
        let mut shard = self.shard(&hash).write().unwrap_or_else(|p| p.into_inner());
        shard.insert(hash, session);
    }

    /// Removes one session.
    pub fn remove(&self, hash: &TokenHash) {
        let mut shard = self.shard(hash).write().unwrap_or_else(|p| p.into_inner());
        shard.remove(hash);
    }

    /// Replaces every session (full reload).
    pub fn replace_all(&self, all: impl IntoIterator<Item = (TokenHash, Session)>) {
        let mut fresh: [FastMap<TokenHash, Session>; SHARDS] =
            std::array::from_fn(|_| FastMap::default());
        for (hash, session) in all {
            fresh[usize::from(hash[0]) % SHARDS].insert(hash, session);
        }
        for (shard, map) in self.shards.iter().zip(fresh) {
            *shard.write().unwrap_or_else(|p| p.into_inner()) = map;
        }
    }
}

/// The whole view shared by the request path and the refresher.
pub struct View {
    /// Tokens by hash.
    pub tokens: Tokens,
    /// Vaults, agents and the initialized flag.
    pub catalog: ArcSwap<Catalog>,
    /// Catch-up requests made so far (tickets).
    requested: AtomicU64,
    /// Wakes the refresher before its next tick.
    wake: tokio::sync::Notify,
    /// The highest ticket whose catch-up has completed.
    served: tokio::sync::watch::Sender<u64>,
}

impl Default for View {
    fn default() -> Self {
        View {
            tokens: Tokens::default(),
            catalog: ArcSwap::default(),
            requested: AtomicU64::new(0),
            wake: tokio::sync::Notify::new(),
            served: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl View {
    /// Waits (at most `limit`) until a catch-up that started after this call has finished.
    ///
    /// Used when a request finds nothing for its token, vault or host: something written a
    /// moment ago (a token just minted) is then visible without waiting for the next tick.
    /// Concurrent callers share one catch-up.
    pub async fn catch_up_now(&self, limit: Duration) {
        let ticket = self.requested.fetch_add(1, Ordering::AcqRel) + 1;
        let mut served = self.served.subscribe();
        self.wake.notify_one();
        let _ = tokio::time::timeout(limit, served.wait_for(|s| *s >= ticket)).await;
    }

    /// For the refresher: the tickets a catch-up starting now will serve.
    pub fn begin_catch_up(&self) -> u64 {
        self.requested.load(Ordering::Acquire)
    }

    /// For the refresher: the catch-up begun with `ticket` is done.
    pub fn end_catch_up(&self, ticket: u64) {
        self.served.send_if_modified(|s| {
            let advanced = ticket > *s;
            *s = (*s).max(ticket);
            advanced
        });
    }

    /// For the refresher: resolves when a request asks for an early catch-up.
    pub async fn wanted(&self) {
        self.wake.notified().await;
    }
}
