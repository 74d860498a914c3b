//! A vault's service rules compiled for O(1) host matching.
//!
//! Matching follows reference §4.13: ports are ignored on both sides, exact case-sensitive
//! equality or a `*.` pattern matching exactly one extra label, first rule in list order wins.
//! Two hash maps (exact host, wildcard suffix) give the same answer as the linear scan
//! because each keeps the lowest rule index for its key.

use std::collections::HashMap;

use serde::Deserialize;

/// How a service's credential is injected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// Credential key of the token.
        token: String,
    },
    /// `Authorization: Basic base64(user:pass)`.
    Basic {
        /// Credential key of the user name.
        username: String,
        /// Credential key of the password, if any.
        password: Option<String>,
    },
    /// `<header>: <prefix><key>`.
    ApiKey {
        /// Credential key.
        key: String,
        /// Header name (default `Authorization`).
        header: String,
        /// Verbatim prefix.
        prefix: String,
    },
    /// Header templates with `{{ KEY }}` placeholders.
    Custom(Vec<(String, Vec<Piece>)>),
}

/// A piece of a custom header template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Literal text.
    Text(String),
    /// The value of a credential.
    Key(String),
}

/// One service rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Host pattern as stored.
    pub host: String,
    /// Injection.
    pub auth: Auth,
}

/// A vault's compiled services.
#[derive(Clone, Debug, Default)]
pub struct Services {
    rules: Vec<Rule>,
    exact: HashMap<String, usize>,
    wildcard: HashMap<String, usize>,
}

#[derive(Deserialize)]
struct StoredService {
    host: String,
    auth: StoredAuth,
}

#[derive(Deserialize)]
struct StoredAuth {
    #[serde(rename = "type")]
    kind: String,
    token: Option<String>,
    username: Option<String>,
    password: Option<String>,
    key: Option<String>,
    header: Option<String>,
    prefix: Option<String>,
    headers: Option<std::collections::BTreeMap<String, String>>,
}

impl Services {
    /// Compiles the stored `services_json` (`null` = no services).
    pub fn parse(json: &str) -> Result<Services, ()> {
        let stored: Option<Vec<StoredService>> = serde_json::from_str(json).map_err(|_| ())?;
        let mut out = Services::default();
        for s in stored.unwrap_or_default() {
            let auth = compile_auth(s.auth)?;
            out.push(Rule { host: s.host, auth });
        }
        Ok(out)
    }

    fn push(&mut self, rule: Rule) {
        let index = self.rules.len();
        let host = strip_port(&rule.host);
        match host.strip_prefix("*.") {
            Some(suffix) => self.wildcard.entry(suffix.to_owned()).or_insert(index),
            None => self.exact.entry(host.to_owned()).or_insert(index),
        };
        self.rules.push(rule);
    }

    /// The first rule matching `host` (given without its port).
    pub fn find(&self, host: &str) -> Option<&Rule> {
        let exact = self.exact.get(host).copied();
        let wild = host
            .split_once('.')
            .filter(|(label, _)| !label.is_empty())
            .and_then(|(_, rest)| self.wildcard.get(rest).copied());
        let index = match (exact, wild) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        self.rules.get(index)
    }
}

/// `host:port` → `host` when the part after the only `:` is a port-like suffix.
fn strip_port(pattern: &str) -> &str {
    match pattern.rsplit_once(':') {
        Some((host, _)) if !host.contains(':') => host,
        _ => pattern,
    }
}

fn compile_auth(a: StoredAuth) -> Result<Auth, ()> {
    let non_empty = |v: Option<String>| v.filter(|s| !s.is_empty());
    Ok(match a.kind.as_str() {
        "bearer" => Auth::Bearer {
            token: non_empty(a.token).ok_or(())?,
        },
        "basic" => Auth::Basic {
            username: non_empty(a.username).ok_or(())?,
            password: non_empty(a.password),
        },
        "api-key" => Auth::ApiKey {
            key: non_empty(a.key).ok_or(())?,
            header: non_empty(a.header).unwrap_or_else(|| "Authorization".into()),
            prefix: a.prefix.unwrap_or_default(),
        },
        "custom" => Auth::Custom(
            a.headers
                .ok_or(())?
                .into_iter()
                .map(|(name, template)| (name, parse_template(&template)))
                .collect(),
        ),
        _ => return Err(()),
    })
}

/// Splits `"Token {{ KEY }}"` into text and `\{\{\s*(\w+)\s*\}\}` placeholders.
fn parse_template(template: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut rest = template;
    let mut text = String::new();
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let placeholder = after.find("}}").and_then(|end| {
            let name = after[..end].trim();
            let word = !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_');
            word.then(|| (name.to_owned(), end))
        });
        match placeholder {
            Some((name, end)) => {
                text.push_str(&rest[..start]);
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Key(name));
                rest = &after[end + 2..];
            }
            None => {
                text.push_str(&rest[..start + 2]);
                rest = after;
            }
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn services(json: &str) -> Services {
        Services::parse(json).unwrap()
    }

    #[test]
    fn exact_then_one_label_wildcard_first_wins() {
        let s = services(
            r#"[{"host":"*.github.com","auth":{"type":"bearer","token":"A"}},
                {"host":"api.github.com","auth":{"type":"bearer","token":"B"}},
                {"host":"api.stripe.com:443","auth":{"type":"bearer","token":"C"}}]"#,
        );
        assert_eq!(s.find("api.github.com").unwrap().host, "*.github.com");
        assert!(s.find("github.com").is_none());
        assert!(s.find("a.b.github.com").is_none());
        assert!(s.find(".github.com").is_none());
        assert_eq!(s.find("api.stripe.com").unwrap().host, "api.stripe.com:443");
        assert!(s.find("API.stripe.com").is_none());
        let s = services(
            r#"[{"host":"api.github.com","auth":{"type":"bearer","token":"B"}},
                {"host":"*.github.com","auth":{"type":"bearer","token":"A"}}]"#,
        );
        assert_eq!(s.find("api.github.com").unwrap().host, "api.github.com");
        assert!(services("null").find("a").is_none());
        assert!(Services::parse("{").is_err());
    }

    #[test]
    fn templates_split_into_pieces() {
        assert_eq!(
            parse_template("Token {{ KEY_A }}-{{B}} {{ bad name }} {{"),
            vec![
                Piece::Text("Token ".into()),
                Piece::Key("KEY_A".into()),
                Piece::Text("-".into()),
                Piece::Key("B".into()),
                Piece::Text(" {{ bad name }} {{".into()),
            ]
        );
    }
}
