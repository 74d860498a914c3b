//! Shared state of the admin service.

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use av_store::crypto::MasterKey;
use av_store::Store;

use crate::limiter::{Cidr, FailureCounter, Limiter};
use crate::mail::SmtpConfig;

/// Settings of the admin service, filled in by the CLI.
#[derive(Clone, Debug)]
pub struct AdminConfig {
    /// External base URL of the admin service, without a trailing slash
    /// (`AGENT_VAULT_ADDR`, default `http://<host>:<port>`). Every link handed out starts here.
    pub base_url: String,
    /// External base URL of the proxy service, without a trailing slash
    /// (`AGENT_VAULT_PROXY_ADDR`). `proxy_url` fields are `<proxy_base_url>/proxy`.
    pub proxy_base_url: String,
    /// `AGENT_VAULT_DEV_MODE=true`: local/internal host names are allowed in proposals.
    pub dev_mode: bool,
    /// Networks whose `X-Forwarded-For` is trusted for rate-limit keys.
    pub trusted_proxies: Vec<Cidr>,
    /// Outgoing email (`AGENT_VAULT_SMTP_*`); `None`: codes go to the server log and invites
    /// return their link.
    pub smtp: Option<SmtpConfig>,
}

impl AdminConfig {
    /// `<proxy base>/proxy`, the `proxy_url` handed to agents.
    pub fn proxy_url(&self) -> String {
        format!("{}/proxy", self.proxy_base_url)
    }
    /// Whether cookies must carry `Secure`.
    pub fn secure_cookies(&self) -> bool {
        self.base_url.starts_with("https://")
    }
}

/// Rate limits and failure counters with the reference's numbers.
#[derive(Debug)]
pub struct Limits {
    /// Register: 5 / 5 min per IP.
    pub register_ip: Limiter,
    /// Login: 10 / 5 min per IP.
    pub login_ip: Limiter,
    /// Login: 10 / 5 min per email.
    pub login_email: Limiter,
    /// Resend verification: 5 / 5 min per IP.
    pub resend_ip: Limiter,
    /// Forgot password: 5 / 5 min per IP.
    pub forgot_ip: Limiter,
    /// User-invite accept: 10 / 5 min per IP.
    pub accept_ip: Limiter,
    /// Failed verification attempts per email (10, reset by success).
    pub verify_failures: FailureCounter,
    /// Failed reset attempts per email (10, reset by success).
    pub reset_failures: FailureCounter,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            register_ip: Limiter::per_5min(5),
            login_ip: Limiter::per_5min(10),
            login_email: Limiter::per_5min(10),
            resend_ip: Limiter::per_5min(5),
            forgot_ip: Limiter::per_5min(5),
            accept_ip: Limiter::per_5min(10),
            verify_failures: FailureCounter::default(),
            reset_failures: FailureCounter::default(),
        }
    }
}

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The contents of [`AppState`].
pub struct Inner {
    /// The shared database.
    pub store: Store,
    /// The credential encryption key.
    pub key: Arc<MasterKey>,
    /// Settings.
    pub config: AdminConfig,
    /// Rate limits.
    pub limits: Limits,
    initialized: AtomicBool,
}

impl AppState {
    /// Builds the state; `initialized` is read from the database (an owner exists).
    pub fn new(store: Store, key: Arc<MasterKey>, config: AdminConfig) -> av_store::Result<Self> {
        let state = AppState(Arc::new(Inner {
            store,
            key,
            config,
            limits: Limits::default(),
            initialized: AtomicBool::new(false),
        }));
        state.refresh_initialized()?;
        Ok(state)
    }

    /// Whether an owner exists. Once true it stays true.
    pub fn is_initialized(&self) -> bool {
        self.initialized.load(Ordering::Acquire) || self.refresh_initialized().unwrap_or(false)
    }

    /// Marks the instance initialized (after the first owner registers).
    pub fn mark_initialized(&self) {
        self.initialized.store(true, Ordering::Release);
    }

    fn refresh_initialized(&self) -> av_store::Result<bool> {
        let has_users: bool = self.store.read(|c| {
            c.query_row("SELECT EXISTS (SELECT 1 FROM users)", [], |r| r.get(0))
                .map_err(av_store::Error::from)
        })?;
        if has_users {
            self.mark_initialized();
        }
        Ok(has_users)
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
