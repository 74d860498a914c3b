//! Proposals: an agent asks a human to change a vault's services and credentials.
//!
//! This module holds the request types, the reference's validation rules with their exact
//! messages (agents read them to fix their request), the check that every referenced credential
//! will exist, and the merge applied on approval. Pure functions: the admin routes do the I/O.

use crate::names::{is_credential_key, quote};
use crate::services::{null_default, validate_host, Auth, Service};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// Most services one proposal may touch.
pub const MAX_SERVICES: usize = 10;
/// Most credential slots one proposal may carry.
pub const MAX_CREDENTIALS: usize = 10;
/// Longest `message`, in characters (DESIGN §6 fix 8).
pub const MAX_MESSAGE_CHARS: usize = 2000;
/// Longest `user_message`, in characters (DESIGN §6 fix 8).
pub const MAX_USER_MESSAGE_CHARS: usize = 5000;
/// Longest service or slot description, in bytes.
pub const MAX_DESCRIPTION: usize = 500;
/// Longest `obtain` URL, in bytes.
pub const MAX_OBTAIN: usize = 500;
/// Longest `obtain_instructions`, in bytes.
pub const MAX_OBTAIN_INSTRUCTIONS: usize = 1000;

/// Action value that adds or replaces.
pub const ACTION_SET: &str = "set";
/// Action value that removes.
pub const ACTION_DELETE: &str = "delete";

/// Body of `POST /v1/proposals`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalRequest {
    /// Service changes, applied in order on approval.
    #[serde(default, deserialize_with = "null_default")]
    pub services: Vec<ProposalService>,
    /// Credentials to set (possibly with an agent-supplied value) or delete.
    #[serde(default, deserialize_with = "null_default")]
    pub credentials: Vec<CredentialSlot>,
    /// Developer-facing explanation.
    #[serde(default, deserialize_with = "null_default")]
    pub message: String,
    /// Explanation shown to the approving human.
    #[serde(default, deserialize_with = "null_default")]
    pub user_message: String,
}

/// One service change; also the stored element of `proposals.services_json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalService {
    /// `set` or `delete`.
    #[serde(default, deserialize_with = "null_default")]
    pub action: String,
    /// The service host (stored untrimmed, as sent).
    #[serde(default, deserialize_with = "null_default")]
    pub host: String,
    /// Description; omitted when empty and stored as `null` in the service on approval.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub description: String,
    /// Required for `set`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
}

/// One credential slot; also the stored element of `proposals.credentials_json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialSlot {
    /// `set` or `delete`.
    #[serde(default, deserialize_with = "null_default")]
    pub action: String,
    /// The credential key (UPPER_SNAKE_CASE).
    #[serde(default, deserialize_with = "null_default")]
    pub key: String,
    /// What the credential is.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub description: String,
    /// Where a human can get it (http/https URL).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub obtain: String,
    /// How to get it.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub obtain_instructions: String,
    /// Set by the server when the agent's value was moved to encrypted storage; clients'
    /// values for it are to be overwritten by the creating route.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub has_value: bool,
    /// The agent-supplied value; removed before storing (it is encrypted separately).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// Validates a proposal in the reference's order; the error is the 400 message.
///
/// Order: emptiness and counts, each service (action, host, host rules, description, auth),
/// each slot (action, key, key format, duplicates, lengths, obtain URL, referenced by a set
/// service when services exist), then the message length limits.
pub fn validate(req: &ProposalRequest, dev_mode: bool) -> Result<(), String> {
    if req.services.is_empty() && req.credentials.is_empty() {
        return Err("at least one service or credential is required".into());
    }
    if req.services.len() > MAX_SERVICES {
        return Err(format!("too many services (max {MAX_SERVICES})"));
    }
    if req.credentials.len() > MAX_CREDENTIALS {
        return Err(format!("too many credential slots (max {MAX_CREDENTIALS})"));
    }
    for (i, s) in req.services.iter().enumerate() {
        validate_service(s, dev_mode).map_err(|e| format!("service {i}: {e}"))?;
    }

    let referenced: HashSet<String> = set_services(req)
        .flat_map(|(_, auth)| auth.credential_keys())
        .collect();
    let mut seen = HashSet::new();
    for slot in &req.credentials {
        check_action(&slot.action).map_err(|e| format!("credential slot: {e}"))?;
        if slot.key.is_empty() {
            return Err("credential slot key is required".into());
        }
        let key = quote(&slot.key);
        if !is_credential_key(&slot.key) {
            return Err(format!(
                "credential slot key {key} must be UPPER_SNAKE_CASE (e.g. STRIPE_KEY, GITHUB_TOKEN)"
            ));
        }
        if !seen.insert(slot.key.as_str()) {
            return Err(format!("duplicate credential slot key {key}"));
        }
        for (field, value, max) in [
            ("description", &slot.description, MAX_DESCRIPTION),
            ("obtain", &slot.obtain, MAX_OBTAIN),
        ] {
            if value.len() > max {
                return Err(format!(
                    "credential slot {key}: {field} too long (max {max} characters)"
                ));
            }
        }
        if !slot.obtain.is_empty() && !is_http_url(&slot.obtain) {
            return Err(format!(
                "credential slot {key}: obtain must be a valid https:// or http:// URL"
            ));
        }
        if slot.obtain_instructions.len() > MAX_OBTAIN_INSTRUCTIONS {
            return Err(format!(
                "credential slot {key}: obtain_instructions too long (max {MAX_OBTAIN_INSTRUCTIONS} characters)"
            ));
        }
        if !req.services.is_empty() && slot.action == ACTION_SET && !referenced.contains(&slot.key)
        {
            return Err(format!(
                "credential slot {key} is not referenced by any service auth config"
            ));
        }
    }

    if req.message.chars().count() > MAX_MESSAGE_CHARS {
        return Err(format!(
            "message too long (max {MAX_MESSAGE_CHARS} characters)"
        ));
    }
    if req.user_message.chars().count() > MAX_USER_MESSAGE_CHARS {
        return Err(format!(
            "user_message too long (max {MAX_USER_MESSAGE_CHARS} characters)"
        ));
    }
    Ok(())
}

fn validate_service(s: &ProposalService, dev_mode: bool) -> Result<(), String> {
    check_action(&s.action)?;
    if s.host.is_empty() {
        return Err("host is required".into());
    }
    validate_host(&s.host, dev_mode)?;
    if s.description.len() > MAX_DESCRIPTION {
        return Err(format!(
            "description too long (max {MAX_DESCRIPTION} characters)"
        ));
    }
    if s.action == ACTION_SET {
        match &s.auth {
            None => return Err("auth is required for set action".into()),
            Some(auth) => auth.validate()?,
        }
    }
    Ok(())
}

fn check_action(action: &str) -> Result<(), String> {
    if action == ACTION_SET || action == ACTION_DELETE {
        Ok(())
    } else {
        Err(format!(
            "invalid action {} (must be \"set\" or \"delete\")",
            quote(action)
        ))
    }
}

/// The `set` services that carry an auth, with it.
fn set_services(req: &ProposalRequest) -> impl Iterator<Item = (&ProposalService, &Auth)> {
    req.services
        .iter()
        .filter(|s| s.action == ACTION_SET)
        .filter_map(|s| s.auth.as_ref().map(|auth| (s, auth)))
}

/// Checks that every key a `set` service reads is a `set` slot of the proposal or already in
/// the vault (`existing_keys`). Delete slots do not count.
pub fn validate_credential_refs<S: AsRef<str>>(
    req: &ProposalRequest,
    existing_keys: &[S],
) -> Result<(), String> {
    let available: HashSet<&str> = req
        .credentials
        .iter()
        .filter(|slot| slot.action == ACTION_SET)
        .map(|slot| slot.key.as_str())
        .chain(existing_keys.iter().map(AsRef::as_ref))
        .collect();
    for (service, auth) in set_services(req) {
        for key in auth.credential_keys() {
            if !available.contains(key.as_str()) {
                return Err(format!(
                    "credential {} referenced in service for {} is not provided in this proposal and does not exist in the vault",
                    quote(&key),
                    quote(&service.host)
                ));
            }
        }
    }
    Ok(())
}

/// Applies approved service changes to a vault's services.
///
/// Services are matched by exact host string. `set` replaces the matching service in place or
/// appends (and later changes in the same proposal see the appended one); `delete` removes the
/// matching service (an unknown host is ignored); removals happen at the end so positions stay
/// stable meanwhile. A `set` after a `delete` of the same host appends a new entry. An empty
/// description becomes `null`. With duplicate hosts in `existing`, the first (the one the proxy
/// matches) is the one changed.
pub fn merge_services(existing: Vec<Service>, changes: &[ProposalService]) -> Vec<Service> {
    let mut merged = existing;
    let mut by_host: HashMap<String, usize> = HashMap::with_capacity(merged.len());
    for (i, s) in merged.iter().enumerate() {
        by_host.entry(s.host.clone()).or_insert(i);
    }
    let mut removed = vec![false; merged.len()];
    for change in changes {
        if change.action == ACTION_DELETE {
            if let Some(i) = by_host.remove(&change.host) {
                removed[i] = true;
            }
            continue;
        }
        let service = Service {
            host: change.host.clone(),
            description: (!change.description.is_empty()).then(|| change.description.clone()),
            auth: change.auth.clone().unwrap_or_default(),
        };
        match by_host.get(&change.host) {
            Some(&i) => merged[i] = service,
            None => {
                by_host.insert(change.host.clone(), merged.len());
                merged.push(service);
                removed.push(false);
            }
        }
    }
    merged
        .into_iter()
        .zip(removed)
        .filter_map(|(s, gone)| (!gone).then_some(s))
        .collect()
}

/// True when `s` parses as an `http`/`https` URL with a non-empty host, as Go's `url.Parse`
/// plus the reference's scheme and host checks decide.
fn is_http_url(s: &str) -> bool {
    if s.chars().any(|c| c.is_ascii_control()) {
        return false;
    }
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return false;
    }
    let Some(rest) = rest.strip_prefix("//") else {
        return false;
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.is_empty() {
        return false;
    }
    // An IPv6 literal keeps its colons inside brackets; otherwise the last colon starts a port.
    let (host, port) = if let Some(inner) = host_port.strip_prefix('[') {
        match inner.split_once(']') {
            Some((_, after)) => ("", after.strip_prefix(':').unwrap_or(after)),
            None => return false,
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (h, p),
            None => (host_port, ""),
        }
    };
    port.bytes().all(|b| b.is_ascii_digit())
        && host
            .bytes()
            .all(|b| b >= 0x80 || b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b))
}

#[cfg(test)]
mod tests;
