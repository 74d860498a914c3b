//! Service documents (a vault's "which host gets which credential" rules), their validation,
//! and the compiled form the proxy renders headers from.
//!
//! The JSON shape is the reference's (`{"host","description","auth":{"type",...}}`) so stored
//! configs, YAML files and agents' proposals stay interchangeable. Validation produces the
//! reference's messages because agents read them to correct themselves. The host rules are
//! shared by `PUT .../services` and proposals so that neither path can store a rule the other
//! would refuse (no IP literals, one-label wildcards, local names only in dev mode).

use crate::names::{is_credential_key, quote, quote_char};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// The auth types a service may use, in the order error messages list them.
pub const SUPPORTED_AUTH_TYPES: &str = "bearer, basic, api-key, custom";

/// One rule of a vault: requests for `host` get credentials injected as `auth` says.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// Exact host (`api.stripe.com`) or one-label wildcard (`*.github.com`).
    #[serde(default, deserialize_with = "null_default")]
    pub host: String,
    /// Free text for humans and agents; serialized as `null` when absent.
    #[serde(default)]
    pub description: Option<String>,
    /// How credentials are attached.
    #[serde(default, deserialize_with = "null_default")]
    pub auth: Auth,
}

/// How a service attaches credentials. Fields hold credential *key names*, never values.
///
/// Kept as the flat wire struct (rather than an enum per type) so validation can name a field
/// that does not belong to the declared type: `unexpected field "username" for bearer auth`.
/// Empty strings mean absent, as in the reference; they are omitted when serializing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auth {
    /// `bearer`, `basic`, `api-key` or `custom`.
    #[serde(rename = "type", default, deserialize_with = "null_default")]
    pub kind: String,
    /// bearer: the credential key sent as `Authorization: Bearer <value>`.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub token: String,
    /// basic: the credential key holding the user name.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub username: String,
    /// basic: the credential key holding the password (optional).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub password: String,
    /// api-key: the credential key whose value is sent.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub key: String,
    /// api-key: the header name (default `Authorization`).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub header: String,
    /// api-key: text put verbatim before the value (e.g. `Bearer `).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub prefix: String,
    /// custom: header name → template with `{{ KEY }}` placeholders. Sorted by header name,
    /// which is also how the reference re-serializes it.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub headers: BTreeMap<String, String>,
}

/// `null` decodes as the type's default, as Go's decoder leaves a field untouched on `null`.
pub(crate) fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Headers the proxy manages itself; a custom or api-key rule may not set them, because
/// injecting them would let a service rule break framing (request smuggling) or routing.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

impl Auth {
    /// Checks the auth config; the error is the reference's text, starting with `auth: `.
    pub fn validate(&self) -> Result<(), String> {
        match self.kind.as_str() {
            "" => Err(format!(
                "auth: type is required (supported: {SUPPORTED_AUTH_TYPES})"
            )),
            "bearer" => {
                require(&self.token, "token", "bearer")?;
                self.only("bearer", &["token"])?;
                check_key("token", &self.token)
            }
            "basic" => {
                require(&self.username, "username", "basic")?;
                self.only("basic", &["username", "password"])?;
                check_key("username", &self.username)?;
                if !self.password.is_empty() {
                    check_key("password", &self.password)?;
                }
                Ok(())
            }
            "api-key" => {
                require(&self.key, "key", "api-key")?;
                self.only("api-key", &["key", "header", "prefix"])?;
                check_key("key", &self.key)?;
                if !self.header.is_empty() {
                    check_header_name(&self.header)?;
                }
                if has_line_break_or_control(&self.prefix) {
                    return Err("auth: prefix contains a line break or control character".into());
                }
                Ok(())
            }
            "custom" => {
                if self.headers.is_empty() {
                    return Err("auth: \"headers\" is required for custom auth".into());
                }
                self.only("custom", &["headers"])?;
                for (name, value) in &self.headers {
                    check_header_name(name)?;
                    if has_line_break_or_control(value) {
                        return Err(format!(
                            "auth: header {} value contains a line break or control character",
                            quote(name)
                        ));
                    }
                    for key in Template::parse(value).keys() {
                        if !is_credential_key(key) {
                            return Err(format!(
                                "auth: invalid credential key {} in header {} — must be UPPER_SNAKE_CASE",
                                quote(key),
                                quote(name)
                            ));
                        }
                    }
                }
                Ok(())
            }
            other => Err(format!(
                "auth: unsupported type {} (supported: {SUPPORTED_AUTH_TYPES})",
                quote(other)
            )),
        }
    }

    /// Rejects fields set outside `allowed`, checking fields in the reference's order.
    fn only(&self, kind: &str, allowed: &[&str]) -> Result<(), String> {
        let set = [
            ("token", !self.token.is_empty()),
            ("username", !self.username.is_empty()),
            ("password", !self.password.is_empty()),
            ("key", !self.key.is_empty()),
            ("header", !self.header.is_empty()),
            ("prefix", !self.prefix.is_empty()),
            ("headers", !self.headers.is_empty()),
        ];
        match set
            .iter()
            .find(|(name, is_set)| *is_set && !allowed.contains(name))
        {
            Some((name, _)) => Err(format!(
                "auth: unexpected field {} for {kind} auth (only {})",
                quote(name),
                allowed.join(", ")
            )),
            None => Ok(()),
        }
    }

    /// The credential keys this auth reads, in a stable order without duplicates:
    /// bearer `[token]`; basic `[username, password?]`; api-key `[key]`; custom the placeholder
    /// names in header-name order, then position. Unknown types reference nothing.
    pub fn credential_keys(&self) -> Vec<String> {
        match self.kind.as_str() {
            "bearer" => vec![self.token.clone()],
            "basic" if self.password.is_empty() => vec![self.username.clone()],
            "basic" => vec![self.username.clone(), self.password.clone()],
            "api-key" => vec![self.key.clone()],
            "custom" => {
                let mut keys: Vec<String> = Vec::new();
                for value in self.headers.values() {
                    for key in Template::parse(value).keys() {
                        if !keys.iter().any(|k| k == key) {
                            keys.push(key.to_owned());
                        }
                    }
                }
                keys
            }
            _ => Vec::new(),
        }
    }

    /// True when this auth reads credential `key` (used by credential-usage).
    pub fn references(&self, key: &str) -> bool {
        self.credential_keys().iter().any(|k| k == key)
    }

    /// The form the proxy renders headers from; `None` for an unsupported type (which
    /// validation never lets through).
    pub fn compile(&self) -> Option<CompiledAuth> {
        Some(match self.kind.as_str() {
            "bearer" => CompiledAuth::Bearer {
                token: self.token.clone(),
            },
            "basic" => CompiledAuth::Basic {
                username: self.username.clone(),
                password: (!self.password.is_empty()).then(|| self.password.clone()),
            },
            "api-key" => CompiledAuth::ApiKey {
                header: if self.header.is_empty() {
                    "Authorization".to_owned()
                } else {
                    self.header.clone()
                },
                prefix: self.prefix.clone(),
                key: self.key.clone(),
            },
            "custom" => CompiledAuth::Custom {
                headers: self
                    .headers
                    .iter()
                    .map(|(name, value)| (name.clone(), Template::parse(value)))
                    .collect(),
            },
            _ => return None,
        })
    }
}

fn require(value: &str, field: &str, kind: &str) -> Result<(), String> {
    if value.is_empty() {
        Err(format!("auth: \"{field}\" is required for {kind} auth"))
    } else {
        Ok(())
    }
}

fn check_key(field: &str, key: &str) -> Result<(), String> {
    if is_credential_key(key) {
        Ok(())
    } else {
        Err(format!(
            "auth: {field} {} must be UPPER_SNAKE_CASE (e.g. STRIPE_KEY)",
            quote(key)
        ))
    }
}

/// `^[a-zA-Z0-9-]+$`, and not a header the proxy owns.
fn check_header_name(name: &str) -> Result<(), String> {
    if !is_header_name(name) {
        return Err(format!(
            "auth: invalid header name {} — only letters, digits, and hyphens allowed",
            quote(name)
        ));
    }
    if RESERVED_HEADERS
        .iter()
        .any(|reserved| reserved.eq_ignore_ascii_case(name))
    {
        return Err(format!(
            "auth: header {} cannot be injected (it is managed by the proxy)",
            quote(name)
        ));
    }
    Ok(())
}

/// True for a custom header name: one or more of `a-z`, `A-Z`, `0-9`, `-`.
pub fn is_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// CR, LF, NUL and other controls (tab excepted) would split or corrupt the injected header.
fn has_line_break_or_control(value: &str) -> bool {
    value.chars().any(|c| c.is_control() && c != '\t')
}

/// Validates a whole services list as `PUT /v1/vaults/{name}/services` does; the error is the
/// text after `Invalid services: ` (`service <i>: ...`).
pub fn validate_services(services: &[Service], dev_mode: bool) -> Result<(), String> {
    for (i, service) in services.iter().enumerate() {
        if service.host.is_empty() {
            return Err(format!("service {i}: host is required"));
        }
        validate_host(&service.host, dev_mode).map_err(|e| format!("service {i}: {e}"))?;
        service
            .auth
            .validate()
            .map_err(|e| format!("service {i}: {e}"))?;
    }
    Ok(())
}

/// Host names refused unless the server runs in dev mode (compared case-insensitively).
const LOCAL_NAMES: &[&str] = &[
    "localhost",
    "localhost.localdomain",
    "internal",
    "kubernetes",
    "kubernetes.default",
    "metadata.google.internal",
    "metadata.google",
    "instance-data",
];

/// True for names that point inside the server's own network: the reference's list, plus
/// anything under `.localhost` (the proxy resolves those to loopback, RFC 6761).
fn is_local_name(host: &str) -> bool {
    let lower = host.to_ascii_lowercase();
    LOCAL_NAMES.contains(&lower.as_str()) || lower.ends_with(".localhost")
}

/// The host rules shared by services and proposals. Errors quote the host as given (`%q`).
///
/// Surrounding whitespace is ignored for the check. Refused: `@ ? # space` and control
/// characters, IP literals, `*` alone, wildcards other than `*.<name with a dot>`, local names
/// (unless `dev_mode`), and anything that is not a dotted DNS name ending in 2+ letters. In dev
/// mode a local name is accepted as is (so `localhost` works for trying things out).
pub fn validate_host(host: &str, dev_mode: bool) -> Result<(), String> {
    let h = host.trim();
    if h.is_empty() {
        return Err("host is empty".into());
    }
    if let Some(c) = h
        .chars()
        .find(|&c| matches!(c, '@' | '?' | '#' | ' ') || c.is_control())
    {
        return Err(format!(
            "host {} contains invalid character {}",
            quote(host),
            quote_char(c)
        ));
    }
    if h.parse::<std::net::IpAddr>().is_ok() {
        return Err(format!(
            "host {} must be a hostname, not an IP address",
            quote(host)
        ));
    }
    if let Some(rest) = h.strip_prefix('*') {
        if rest.is_empty() {
            return Err(format!(
                "host {}: bare wildcard is not allowed",
                quote(host)
            ));
        }
        let Some(parent) = rest.strip_prefix('.') else {
            return Err(format!(
                "host {}: wildcard must be in the form *.example.com",
                quote(host)
            ));
        };
        if !parent.contains('.') {
            return Err(format!(
                "host {}: wildcard must have at least two domain levels (e.g. *.example.com)",
                quote(host)
            ));
        }
        if !is_dns_name(parent) {
            return Err(format!(
                "host {}: invalid hostname in wildcard pattern",
                quote(host)
            ));
        }
        return Ok(());
    }
    if is_local_name(h) {
        if dev_mode && LOCAL_NAMES.contains(&h.to_ascii_lowercase().as_str()) {
            return Ok(());
        }
        if !dev_mode {
            return Err(format!(
                "host {} is a local/internal name and is not allowed (set AGENT_VAULT_DEV_MODE=true to override)",
                quote(host)
            ));
        }
    }
    if !is_dns_name(h) {
        return Err(format!("host {} is not a valid hostname", quote(host)));
    }
    Ok(())
}

/// `^([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?\.)+[a-zA-Z]{2,}$` plus DNS length limits
/// (63 bytes a label, 253 in all).
fn is_dns_name(name: &str) -> bool {
    if name.len() > 253 {
        return false;
    }
    let Some((labels, tld)) = name.rsplit_once('.') else {
        return false;
    };
    let label_ok = |label: &str| {
        let b = label.as_bytes();
        !b.is_empty()
            && b.len() <= 63
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    };
    tld.len() >= 2
        && tld.len() <= 63
        && tld.bytes().all(|c| c.is_ascii_alphabetic())
        && labels.split('.').all(label_ok)
}

/// A custom header value split once into literal text and `{{ KEY }}` placeholders, so the
/// proxy renders it with a single pass and no pattern matching per request.
///
/// Placeholders follow the reference's `\{\{\s*(\w+)\s*\}\}`: `{{`, optional whitespace
/// (space, tab, CR, LF, FF), one or more `[A-Za-z0-9_]`, optional whitespace, `}}`. Anything
/// else (`{{ A-B }}`, `{{}}`, a lone `{{`) stays literal text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    Key(String),
}

impl Template {
    /// Splits `text` into literals and placeholders. Never fails: text that is not a
    /// placeholder is literal.
    pub fn parse(text: &str) -> Self {
        let bytes = text.as_bytes();
        let mut parts = Vec::new();
        let mut literal_start = 0;
        let mut i = 0;
        while i + 1 < bytes.len() {
            if bytes[i] == b'{' && bytes[i + 1] == b'{' {
                if let Some((key, end)) = placeholder_at(bytes, i + 2) {
                    if literal_start < i {
                        parts.push(Part::Literal(text[literal_start..i].to_owned()));
                    }
                    parts.push(Part::Key(text[key].to_owned()));
                    i = end;
                    literal_start = end;
                    continue;
                }
            }
            i += 1;
        }
        if literal_start < text.len() {
            parts.push(Part::Literal(text[literal_start..].to_owned()));
        }
        Template { parts }
    }

    /// The placeholder names in order of appearance (repeats included).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Key(key) => Some(key.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Appends the rendered value to `out`: literals are copied, each placeholder is written by
    /// `value(key, out)`. The first error aborts (the caller drops the partial output).
    ///
    /// Writing into the caller's buffer lets the proxy decrypt straight into a zeroizing buffer.
    pub fn render_into<E>(
        &self,
        out: &mut String,
        mut value: impl FnMut(&str, &mut String) -> Result<(), E>,
    ) -> Result<(), E> {
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Key(key) => value(key, out)?,
            }
        }
        Ok(())
    }

    /// Bytes of literal text, a capacity hint for rendering.
    pub fn literal_len(&self) -> usize {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Literal(text) => text.len(),
                Part::Key(_) => 0,
            })
            .sum()
    }
}

/// Matches `\s*(\w+)\s*}}` at `start`; returns the key's byte range and the end offset.
fn placeholder_at(bytes: &[u8], start: usize) -> Option<(std::ops::Range<usize>, usize)> {
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c');
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = start;
    while i < bytes.len() && is_space(bytes[i]) {
        i += 1;
    }
    let key_start = i;
    while i < bytes.len() && is_word(bytes[i]) {
        i += 1;
    }
    let key_end = i;
    if key_start == key_end {
        return None;
    }
    while i < bytes.len() && is_space(bytes[i]) {
        i += 1;
    }
    if bytes.get(i) == Some(&b'}') && bytes.get(i + 1) == Some(&b'}') {
        Some((key_start..key_end, i + 2))
    } else {
        None
    }
}

/// An [`Auth`] ready for the proxy: defaults applied, custom templates parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompiledAuth {
    /// `Authorization: Bearer <token value>`.
    Bearer {
        /// Credential key of the token.
        token: String,
    },
    /// `Authorization: Basic base64(<username value>:<password value or "">)`.
    Basic {
        /// Credential key of the user name.
        username: String,
        /// Credential key of the password, if any.
        password: Option<String>,
    },
    /// `<header>: <prefix><key value>`.
    ApiKey {
        /// Header name (`Authorization` when the rule names none).
        header: String,
        /// Verbatim prefix.
        prefix: String,
        /// Credential key of the value.
        key: String,
    },
    /// Each header set to its rendered template.
    Custom {
        /// Header name and its template, in header-name order.
        headers: Vec<(String, Template)>,
    },
}

#[cfg(test)]
mod tests;
