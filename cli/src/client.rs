//! The admin API client every command uses: bearer auth, JSON in and out, and server errors
//! turned into one clear line.

use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use serde_json::Value;

use crate::{prompt, setup, state};

/// A client bound to one server address and (optionally) one token.
pub struct Client {
    /// Admin base URL, no trailing slash.
    pub address: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Client {
    /// An unauthenticated client.
    pub fn anonymous(address: &str) -> Client {
        Client {
            address: address.trim_end_matches('/').to_string(),
            token: None,
            agent: ureq::Agent::new_with_config(
                ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_connect(Some(Duration::from_secs(10)))
                    .build(),
            ),
        }
    }

    /// A client with a token.
    pub fn with_token(address: &str, token: &str) -> Client {
        let mut c = Client::anonymous(address);
        c.token = Some(token.to_string());
        c
    }

    /// The saved login (`ensureSession`); `--address` / `AGENT_VAULT_ADDR` override its
    /// address. Without one, a person at a terminal goes through the first-run setup, and
    /// anything else gets the "not logged in" error.
    pub fn logged_in(address_flag: Option<&str>) -> Result<Client> {
        let saved = match state::load_session() {
            Some(saved) => saved,
            None if prompt::stdin_is_tty() => setup::run()?,
            None => bail!("not logged in, run 'agent-vault auth login' first"),
        };
        let address = address_flag
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .or_else(|| {
                std::env::var("AGENT_VAULT_ADDR")
                    .ok()
                    .filter(|s| !s.is_empty())
            })
            .unwrap_or(saved.address);
        Ok(Client::with_token(&address, &saved.token))
    }

    /// For agent-side commands: `AGENT_VAULT_SESSION_TOKEN` (or `AGENT_VAULT_TOKEN`) with
    /// `AGENT_VAULT_ADDR` when both are set, else the saved login.
    pub fn agent_session() -> Result<Client> {
        let env = |k: &str| std::env::var(k).ok().filter(|s| !s.is_empty());
        let token = env("AGENT_VAULT_SESSION_TOKEN").or_else(|| env("AGENT_VAULT_TOKEN"));
        match (token, env("AGENT_VAULT_ADDR")) {
            (Some(t), Some(a)) => Ok(Client::with_token(&a, &t)),
            _ => Client::logged_in(None),
        }
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Result<Value> {
        self.call("GET", path, None)
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.call("POST", path, Some(body))
    }

    /// `PUT path` with a JSON body.
    pub fn put(&self, path: &str, body: &Value) -> Result<Value> {
        self.call("PUT", path, Some(body))
    }

    /// `DELETE path`, with an optional JSON body.
    pub fn delete(&self, path: &str, body: Option<&Value>) -> Result<Value> {
        self.call("DELETE", path, body)
    }

    /// Sends a request and fails with the server's message on a status ≥ 400.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let (status, value) = self.send(method, path, body, &[])?;
        if status >= 400 {
            bail!("{}", error_message(status, &value));
        }
        Ok(value)
    }

    /// Sends a request and returns the status and JSON body (`Value::Null` if not JSON).
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<(u16, Value)> {
        let url = format!("{}{}", self.address, path);
        let mut req = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let payload = match body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                serde_json::to_vec(b)?
            }
            None => Vec::new(),
        };
        let req = req.body(payload)?;
        let mut res = self.agent.run(req).map_err(|e| {
            anyhow!(
                "cannot reach the Agent Vault server at {}: {e}",
                self.address
            )
        })?;
        let status = res.status().as_u16();
        let text = res.body_mut().read_to_string().unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok((status, value))
    }
}

/// The human message of an error body: `message` for coded errors, else `error`.
pub fn error_message(status: u16, body: &Value) -> String {
    match (body.get("message"), body.get("error")) {
        (Some(Value::String(m)), _) => m.clone(),
        (_, Some(Value::String(e))) => e.clone(),
        _ => format!("server returned status {status}"),
    }
}

/// Percent-encodes one path segment.
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
