//! Deciding what to do with a proxy request, from the in-memory view only: authenticate the
//! token (§4.2), resolve the vault (§4.4), match the service and build the injected headers
//! (§4.13, §4.15 steps 5-7). Pure apart from reading the view, so it is tested directly.

use std::sync::Arc;

use av_store::crypto::MasterKey;

use crate::inject::{self, Injected};
use crate::reply::Reject;
use crate::route::Target;
use crate::view::{token_hash, Agent, Holder, Vault, View};

/// Who is calling, for the request log.
#[derive(Clone, Debug)]
pub enum Caller {
    /// An agent.
    Agent(Arc<Agent>),
    /// A scoped session.
    Session,
}

/// A request cleared to go upstream.
#[derive(Debug)]
pub struct Plan {
    /// Who asked.
    pub caller: Caller,
    /// The vault (a snapshot shared with the view, not a copy).
    pub vault: Arc<Vault>,
    /// Headers to set upstream.
    pub inject: Injected,
}

/// The parts of the agent's request the decision needs.
pub struct Ask<'a> {
    /// Parsed target.
    pub target: &'a Target,
    /// The raw token: the bearer token, else the `av_session` cookie.
    pub token: Option<&'a [u8]>,
    /// `X-Vault` header.
    pub x_vault: Option<&'a [u8]>,
    /// Current Unix time.
    pub now: i64,
}

/// Authenticates, resolves the vault and builds the injection.
pub fn decide(view: &View, key: &MasterKey, ask: &Ask<'_>) -> Result<Plan, Reject> {
    let token = ask
        .token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Reject::plain(401, "Authorization required"))?;
    let token =
        std::str::from_utf8(token).map_err(|_| Reject::plain(401, "Invalid or expired session"))?;
    let session = view
        .tokens
        .get(&token_hash(token))
        .ok_or_else(|| Reject::plain(401, "Invalid or expired session").maybe_stale())?;
    if session.expires_at.is_some_and(|at| at <= ask.now) {
        return Err(Reject::plain(401, "Session expired"));
    }
    let catalog = view.catalog.load();
    let (caller, vault) = match &session.holder {
        Holder::User => return Err(Reject::plain(403, "Session requires vault scope")),
        Holder::Scoped(vault_id) => {
            let vault = catalog
                .vaults
                .get(vault_id)
                .ok_or_else(|| Reject::plain(500, "Failed to resolve vault").maybe_stale())?;
            (Caller::Session, Arc::clone(vault))
        }
        Holder::Agent(agent_id) => {
            let agent = catalog
                .agents
                .get(agent_id)
                .filter(|a| a.active)
                .ok_or_else(|| Reject::plain(401, "Invalid or expired session").maybe_stale())?;
            let name = ask.x_vault.filter(|v| !v.is_empty()).ok_or_else(|| {
                Reject::plain(
                    400,
                    "Agent tokens require X-Vault header to specify which vault to use",
                )
            })?;
            let name = String::from_utf8_lossy(name);
            let vault = catalog.vault_by_name(&name).ok_or_else(|| {
                Reject::plain(404, &format!("Vault not found: {name}")).maybe_stale()
            })?;
            if !agent.vaults.contains(&vault.id) {
                return Err(Reject::plain(
                    403,
                    &format!("Agent does not have access to vault: {name}"),
                )
                .maybe_stale());
            }
            (Caller::Agent(Arc::clone(agent)), Arc::clone(vault))
        }
    };
    let services = vault
        .services
        .as_ref()
        .map_err(|_| Reject::coded(500, "internal", "Failed to parse broker services"))?;
    let auth = services
        .find(&ask.target.host)
        .ok_or_else(|| Reject::no_service(&ask.target.raw, &vault.name).maybe_stale())?;
    let inject = inject::build(auth, &vault.credentials, key).map_err(|_| {
        tracing::warn!(vault = %vault.id, host = %ask.target.host, "credential could not be resolved");
        Reject::credential_not_found().maybe_stale()
    })?;
    Ok(Plan {
        caller,
        vault,
        inject,
    })
}
