//! Outgoing email over SMTP (reference §6.5): verification and reset codes, user invites,
//! proposal notifications and the owner's test email.
//!
//! One connection per message, driven step by step rather than through a pooled transport,
//! because the rules are about the steps: STARTTLS when advertised (unless the mode is `none`),
//! `required` refuses to go on without it, and credentials are only ever sent over TLS.

use std::fmt;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::Address;
use zeroize::Zeroizing;

/// Dial timeout, and the timeout of each SMTP command.
const TIMEOUT: Duration = Duration::from_secs(10);

/// How the connection is protected (`AGENT_VAULT_SMTP_TLS_MODE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// STARTTLS when the server offers it; plaintext otherwise, but never with credentials.
    Opportunistic,
    /// STARTTLS or fail.
    Required,
    /// Never TLS (port 465 still dials TLS).
    None,
}

/// SMTP settings. Debug output never shows the password.
#[derive(Clone)]
pub struct SmtpConfig {
    /// Server host name (also the TLS server name).
    pub host: String,
    /// Port; 465 means implicit TLS.
    pub port: u16,
    /// PLAIN/LOGIN user, used only with a password and over TLS.
    pub username: String,
    /// The password (kept out of the environment once read).
    pub password: Zeroizing<String>,
    /// Sender address.
    pub from: String,
    /// Sender display name.
    pub from_name: String,
    /// See [`TlsMode`].
    pub tls_mode: TlsMode,
    /// Accept any certificate (testing only).
    pub tls_skip_verify: bool,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field(
                "password",
                &if self.password.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("from", &self.from)
            .field("from_name", &self.from_name)
            .field("tls_mode", &self.tls_mode)
            .field("tls_skip_verify", &self.tls_skip_verify)
            .finish()
    }
}

impl SmtpConfig {
    /// Reads the `AGENT_VAULT_SMTP_*` variables through `get`; `None` (SMTP disabled) without a
    /// host or a sender. Lenient like the reference: a bad port means 587, an unknown TLS mode
    /// means opportunistic.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Option<SmtpConfig> {
        let var = |k: &str| get(k).map(|v| v.trim().to_string()).unwrap_or_default();
        let (host, from) = (var("AGENT_VAULT_SMTP_HOST"), var("AGENT_VAULT_SMTP_FROM"));
        if host.is_empty() || from.is_empty() {
            return None;
        }
        let port = match var("AGENT_VAULT_SMTP_PORT").parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => 587,
        };
        let tls_mode = match var("AGENT_VAULT_SMTP_TLS_MODE")
            .to_ascii_lowercase()
            .as_str()
        {
            "required" => TlsMode::Required,
            "none" => TlsMode::None,
            _ => TlsMode::Opportunistic,
        };
        let from_name = match var("AGENT_VAULT_SMTP_FROM_NAME") {
            n if n.is_empty() => "Agent Vault".to_string(),
            n => n,
        };
        Some(SmtpConfig {
            host,
            port,
            username: var("AGENT_VAULT_SMTP_USERNAME"),
            password: Zeroizing::new(get("AGENT_VAULT_SMTP_PASSWORD").unwrap_or_default()),
            from,
            from_name,
            tls_mode,
            tls_skip_verify: matches!(
                var("AGENT_VAULT_SMTP_TLS_SKIP_VERIFY").as_str(),
                "true" | "1"
            ),
        })
    }

    fn tls_parameters(&self) -> Result<TlsParameters, String> {
        TlsParameters::builder(self.host.clone())
            .dangerous_accept_invalid_certs(self.tls_skip_verify)
            .build_rustls()
            .map_err(|e| format!("tls setup: {e}"))
    }

    /// Sends one HTML message to `to`. Nothing happens without recipients. The error is for
    /// people (it names the failing step, never the password).
    pub async fn send_html(&self, to: &[String], subject: &str, html: &str) -> Result<(), String> {
        if to.is_empty() {
            return Ok(());
        }
        let from: Address = self
            .from
            .parse()
            .map_err(|e| format!("invalid sender address {:?}: {e}", self.from))?;
        let rcpt = to
            .iter()
            .map(|t| {
                t.parse::<Address>()
                    .map_err(|e| format!("invalid recipient address {t:?}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let envelope = Envelope::new(Some(from), rcpt).map_err(|e| e.to_string())?;
        let message = self.message(to, subject, html);

        let hello = ClientId::Domain("localhost".to_string());
        let implicit = if self.port == 465 {
            Some(self.tls_parameters()?)
        } else {
            None
        };
        let mut conn = AsyncSmtpConnection::connect_tokio1(
            (self.host.as_str(), self.port),
            Some(TIMEOUT),
            &hello,
            implicit,
            None,
        )
        .await
        .map_err(|e| format!("connect to {}:{}: {e}", self.host, self.port))?;
        let result = self.deliver(&mut conn, &hello, &envelope, &message).await;
        match result {
            Ok(()) => {
                let _ = conn.quit().await;
                Ok(())
            }
            Err(e) => {
                conn.abort().await;
                Err(e)
            }
        }
    }

    async fn deliver(
        &self,
        conn: &mut AsyncSmtpConnection,
        hello: &ClientId,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<(), String> {
        if !conn.is_encrypted() && self.tls_mode != TlsMode::None {
            if conn.can_starttls() {
                conn.starttls(self.tls_parameters()?, hello)
                    .await
                    .map_err(|e| format!("starttls: {e}"))?;
            } else if self.tls_mode == TlsMode::Required {
                return Err("the server does not offer STARTTLS and tls_mode=required".to_string());
            }
        }
        let with_credentials = !self.username.is_empty() && !self.password.is_empty();
        if with_credentials {
            if !conn.is_encrypted() {
                return Err(
                    "refusing to send SMTP credentials over an unencrypted connection".to_string(),
                );
            }
            let creds = Credentials::new(self.username.clone(), self.password.to_string());
            conn.auth(&[Mechanism::Plain, Mechanism::Login], &creds)
                .await
                .map_err(|e| format!("authentication: {e}"))?;
        }
        conn.send(envelope, message)
            .await
            .map_err(|e| format!("send: {e}"))?;
        Ok(())
    }

    /// The RFC 5322 message: From, To, Subject, MIME-Version, Content-Type, blank line, body.
    fn message(&self, to: &[String], subject: &str, html: &str) -> Vec<u8> {
        let one_line = |s: &str| s.replace(['\r', '\n'], "");
        let name = one_line(&self.from_name).replace(['"', '\\'], "");
        format!(
            "From: \"{name}\" <{}>\r\nTo: {}\r\nSubject: {}\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/html; charset=UTF-8\r\n\r\n{}",
            one_line(&self.from),
            one_line(&to.join(", ")),
            one_line(subject),
            html.replace("\r\n", "\n").replace('\n', "\r\n"),
        )
        .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn disabled_without_host_or_sender() {
        assert!(SmtpConfig::from_vars(vars(&[])).is_none());
        assert!(SmtpConfig::from_vars(vars(&[("AGENT_VAULT_SMTP_HOST", "mx")])).is_none());
        assert!(SmtpConfig::from_vars(vars(&[("AGENT_VAULT_SMTP_FROM", "a@b.co")])).is_none());
    }

    #[test]
    fn defaults_and_lenient_values() {
        let base = [
            ("AGENT_VAULT_SMTP_HOST", "mail.example.com"),
            ("AGENT_VAULT_SMTP_FROM", "vault@example.com"),
        ];
        let with = |key: &str, value: &str| {
            let mut v = base.to_vec();
            v.push((key, value));
            SmtpConfig::from_vars(vars(&v)).unwrap()
        };
        let c = SmtpConfig::from_vars(vars(&base)).unwrap();
        assert_eq!(
            (c.port, c.tls_mode, c.tls_skip_verify),
            (587, TlsMode::Opportunistic, false)
        );
        assert_eq!(c.from_name, "Agent Vault");
        for (port, want) in [
            ("abc", 587),
            ("0", 587),
            ("-5", 587),
            ("465", 465),
            ("2525", 2525),
        ] {
            assert_eq!(with("AGENT_VAULT_SMTP_PORT", port).port, want, "{port}");
        }
        for (mode, want) in [
            ("required", TlsMode::Required),
            ("NONE", TlsMode::None),
            ("whatever", TlsMode::Opportunistic),
        ] {
            assert_eq!(
                with("AGENT_VAULT_SMTP_TLS_MODE", mode).tls_mode,
                want,
                "{mode}"
            );
        }
        for (skip, want) in [("true", true), ("1", true), ("yes", false)] {
            assert_eq!(
                with("AGENT_VAULT_SMTP_TLS_SKIP_VERIFY", skip).tls_skip_verify,
                want
            );
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let c = SmtpConfig::from_vars(vars(&[
            ("AGENT_VAULT_SMTP_HOST", "mx"),
            ("AGENT_VAULT_SMTP_FROM", "a@b.co"),
            ("AGENT_VAULT_SMTP_PASSWORD", "smtp-sentinel-4f2a"),
        ]))
        .unwrap();
        assert!(!format!("{c:?}").contains("smtp-sentinel-4f2a"));
    }

    #[test]
    fn header_values_lose_line_breaks() {
        let c = SmtpConfig::from_vars(vars(&[
            ("AGENT_VAULT_SMTP_HOST", "mx"),
            ("AGENT_VAULT_SMTP_FROM", "a@b.co"),
            ("AGENT_VAULT_SMTP_FROM_NAME", "Vault\r\nBcc: x@evil.test"),
        ]))
        .unwrap();
        let m = String::from_utf8(c.message(
            &["u@b.co".to_string()],
            "Hi\r\nBcc: y@evil.test",
            "<p>a</p>\n<p>b</p>",
        ))
        .unwrap();
        let head = m.split("\r\n\r\n").next().unwrap();
        assert_eq!(head.lines().count(), 5, "{head}");
        assert!(head.contains("From: \"VaultBcc: x@evil.test\" <a@b.co>"));
        assert!(head.contains("Subject: HiBcc: y@evil.test"));
        assert!(m.ends_with("<p>a</p>\r\n<p>b</p>"));
    }
}
