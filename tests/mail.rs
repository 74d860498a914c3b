//! Email over SMTP end to end, against a recording SMTP server on 127.0.0.1: verification and
//! reset codes, user invites, proposal notifications and the owner's test email go out by
//! email (STARTTLS, then AUTH); when sending fails, each path says so the documented way and
//! the code falls back to the server log. The SMTP password never shows up anywhere.

use serde_json::json;

use crate::proposals::{agent_token, propose, upstream_proposal};
use crate::support::smtp::{Offer, Smtp};
use crate::support::{Options, Server};

const SMTP_PASSWORD: &str = "smtp-sentinel-7c41d9";

fn server_with(smtp: &Smtp, extra: &[(&str, &str)]) -> Server {
    let mut env: Vec<(String, String)> = vec![
        ("AGENT_VAULT_DEV_MODE".into(), "true".into()),
        ("AGENT_VAULT_SMTP_HOST".into(), "127.0.0.1".into()),
        ("AGENT_VAULT_SMTP_PORT".into(), smtp.port.to_string()),
        ("AGENT_VAULT_SMTP_FROM".into(), "vault@example.com".into()),
        ("AGENT_VAULT_SMTP_FROM_NAME".into(), "Team Vault".into()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Server::start_with(Options {
        env,
        ..Options::default()
    })
}

fn six_digits(text: &str) -> String {
    let digits: Vec<char> = text.chars().collect();
    digits
        .windows(6)
        .find(|w| w.iter().all(char::is_ascii_digit))
        .map(|w| w.iter().collect())
        .unwrap_or_else(|| panic!("no 6-digit code in {text:?}"))
}

#[test]
fn codes_invites_notifications_and_the_test_email_go_by_email() {
    let smtp = Smtp::start(Offer {
        starttls: true,
        auth: true,
    });
    let s = server_with(
        &smtp,
        &[
            ("AGENT_VAULT_SMTP_USERNAME", "mailer"),
            ("AGENT_VAULT_SMTP_PASSWORD", SMTP_PASSWORD),
            ("AGENT_VAULT_SMTP_TLS_SKIP_VERIFY", "true"),
        ],
    );
    let http = s.http();
    let owner = s.register_owner();
    let r = http
        .get(&s.url("/v1/admin/settings"))
        .bearer(&owner.token)
        .send();
    assert_eq!(r.json["smtp_configured"], true, "{}", r.text);

    // Verification code.
    let r = http
        .post(
            &s.url("/v1/auth/register"),
            json!({"email": "dana@example.com", "password": "dana-password-1"}),
        )
        .send();
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["email_sent"], true);
    assert_eq!(
        r.json["message"],
        "Account created. Check your email for a verification code."
    );
    let m = smtp.wait_for(1);
    assert_eq!(m.to, vec!["dana@example.com"]);
    assert_eq!(m.from, "vault@example.com");
    assert_eq!(m.header("From"), Some("\"Team Vault\" <vault@example.com>"));
    assert_eq!(m.header("To"), Some("dana@example.com"));
    assert_eq!(m.header("Subject"), Some("Agent Vault verification code"));
    assert_eq!(m.header("MIME-Version"), Some("1.0"));
    assert_eq!(m.header("Content-Type"), Some("text/html; charset=UTF-8"));
    assert!(m.tls, "credentials go over STARTTLS");
    assert_eq!(m.auth.as_deref(), Some(&*format!("mailer:{SMTP_PASSWORD}")));
    let code = six_digits(m.body());
    assert!(
        !s.log().contains(&code),
        "an emailed code stays out of the log"
    );
    let r = http
        .post(
            &s.url("/v1/auth/verify"),
            json!({"email": "dana@example.com", "code": code}),
        )
        .send();
    assert_eq!(r.status, 200, "{}", r.text);

    // Password reset code (sent in the background).
    let r = http
        .post(
            &s.url("/v1/auth/forgot-password"),
            json!({"email": "dana@example.com"}),
        )
        .send();
    assert_eq!((r.status, r.json["email_sent"].clone()), (200, json!(true)));
    let m = smtp.wait_for(2);
    assert_eq!(m.header("Subject"), Some("Agent Vault password reset code"));
    let r = http
        .post(
            &s.url("/v1/auth/reset-password"),
            json!({"email": "dana@example.com", "code": six_digits(m.body()),
                   "new_password": "dana-password-2"}),
        )
        .send();
    assert_eq!(r.status, 200, "{}", r.text);

    // A user invite: emailed, so the link stays out of the answer.
    let r = http
        .post(
            &s.url("/v1/users/invites"),
            json!({"email": "erin@example.com", "vaults": [{"vault_name": "default"}]}),
        )
        .bearer(&owner.token)
        .send();
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["email_sent"], true);
    assert!(r.json.get("invite_link").is_none(), "{}", r.text);
    let m = smtp.wait_for(3);
    assert_eq!(m.to, vec!["erin@example.com"]);
    assert_eq!(
        m.header("Subject"),
        Some("You've been invited to Agent Vault")
    );
    assert!(m.body().contains("owner@example.com") && m.body().contains("default"));
    assert!(
        m.body().contains(&format!("{}/invite/av_uinv_", s.admin)),
        "{}",
        m.body()
    );

    // A proposal notifies the people of the vault.
    let agent = agent_token(&s, &owner, "mail-agent", "proxy");
    let r = propose(&s, &agent, upstream_proposal());
    assert_eq!(r.status, 201, "{}", r.text);
    let m = smtp.wait_for(4);
    assert_eq!(
        m.header("Subject"),
        Some("New proposal (#1) in vault \"default\"")
    );
    assert!(
        m.to.contains(&"owner@example.com".to_string()),
        "{:?}",
        m.to
    );
    assert!(m.body().contains("mail-agent"));
    assert!(m.body().contains("I need the echo API to finish the task"));
    assert!(
        m.body().contains("/approve/1?token=av_appr_"),
        "{}",
        m.body()
    );

    // The owner's test email, through the API and the CLI.
    let r = http
        .post(&s.url("/v1/admin/email/test"), json!({}))
        .bearer(&owner.token)
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json,
        json!({"message": "Test email sent", "to": "owner@example.com"})
    );
    assert_eq!(smtp.wait_for(5).to, vec!["owner@example.com"]);
    s.login_cli(&owner);
    let out = s
        .cli()
        .args(["owner", "email", "test", "--to", "ops@example.com"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Test email sent to ops@example.com"
    );
    assert_eq!(smtp.wait_for(6).to, vec!["ops@example.com"]);

    // The SMTP password left the server's environment and never reached its log.
    let environ = std::fs::read(format!("/proc/{}/environ", s.pid())).unwrap_or_default();
    assert!(!String::from_utf8_lossy(&environ).contains(SMTP_PASSWORD));
    assert!(!s.log().contains(SMTP_PASSWORD));
}

#[test]
fn failed_sends_answer_the_documented_way_and_codes_fall_back_to_the_log() {
    // No STARTTLS on offer, but the mode requires it.
    let smtp = Smtp::start(Offer::default());
    let s = server_with(&smtp, &[("AGENT_VAULT_SMTP_TLS_MODE", "required")]);
    let http = s.http();
    let owner = s.register_owner();
    let r = http
        .post(
            &s.url("/v1/admin/email/test"),
            json!({"to": "ops@example.com"}),
        )
        .bearer(&owner.token)
        .send();
    assert_eq!(r.status, 502, "{}", r.text);
    let err = r.s("error");
    assert!(
        err.starts_with("Failed to send test email: ") && err.contains("tls_mode=required"),
        "{err}"
    );

    let r = http
        .post(
            &s.url("/v1/auth/register"),
            json!({"email": "fay@example.com", "password": "fay-password-1"}),
        )
        .send();
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["email_sent"], false);
    assert_eq!(
        r.json["message"],
        "Account created. Ask your Agent Vault instance owner for the verification code."
    );
    assert!(
        s.log()
            .contains("[agent-vault] Email verification code for fay@example.com: "),
        "the code falls back to the log"
    );

    let r = http
        .post(
            &s.url("/v1/users/invites"),
            json!({"email": "gus@example.com"}),
        )
        .bearer(&owner.token)
        .send();
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["email_sent"], false);
    assert!(r.s("email_error").starts_with("failed to send email: "));
    assert!(r.s("invite_link").contains("/invite/av_uinv_"));
    assert!(smtp.mails().is_empty());
}

#[test]
fn credentials_never_cross_an_unencrypted_connection() {
    // Opportunistic mode, a server without STARTTLS, and credentials set: refuse to send.
    let smtp = Smtp::start(Offer {
        starttls: false,
        auth: true,
    });
    let s = server_with(
        &smtp,
        &[
            ("AGENT_VAULT_SMTP_USERNAME", "mailer"),
            ("AGENT_VAULT_SMTP_PASSWORD", SMTP_PASSWORD),
        ],
    );
    let owner = s.register_owner();
    let r = s
        .http()
        .post(&s.url("/v1/admin/email/test"), json!({}))
        .bearer(&owner.token)
        .send();
    assert_eq!(r.status, 502, "{}", r.text);
    assert!(r.s("error").contains("unencrypted"), "{}", r.text);
    assert!(!r.text.contains(SMTP_PASSWORD));
    assert!(smtp.mails().is_empty());

    // Without credentials the same server gets the mail in plaintext.
    let s2 = server_with(&smtp, &[]);
    let owner = s2.register_owner();
    let r = s2
        .http()
        .post(&s2.url("/v1/admin/email/test"), json!({}))
        .bearer(&owner.token)
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    let m = smtp.wait_for(1);
    assert!(!m.tls && m.auth.is_none());
}
