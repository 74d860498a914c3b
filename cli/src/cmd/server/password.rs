//! Where the master password comes from (environment, `--password-stdin`, or the terminal),
//! the interactive first-owner prompt, and the SMTP settings (whose password is a secret too).
//!
//! Secret environment variables are scrubbed from the process image, not only unset:
//! `unsetenv` leaves the original `NAME=value` bytes readable in `/proc/<pid>/environ`.

use std::ffi::CString;

use anyhow::{bail, Result};
use zeroize::Zeroizing;

use av_admin::mail::SmtpConfig;
use av_store::crypto::{self, MasterKey};
use av_store::Store;

use crate::{output, prompt};

const ENV: &str = "AGENT_VAULT_MASTER_PASSWORD";
const ATTEMPTS: u32 = 3;

/// Reads `AGENT_VAULT_MASTER_PASSWORD` (when non-empty) and removes it from the process,
/// overwriting its bytes. Call before any thread starts.
pub fn take_env() -> Option<Zeroizing<String>> {
    let value = std::env::var(ENV).ok().map(Zeroizing::new);
    scrub_env(ENV);
    value.filter(|v| !v.is_empty())
}

/// Reads the `AGENT_VAULT_SMTP_*` settings and removes `AGENT_VAULT_SMTP_PASSWORD` from the
/// process, overwriting its bytes. Call before any thread starts, in the process that serves.
pub fn take_smtp() -> Option<SmtpConfig> {
    let cfg = SmtpConfig::from_vars(|k| std::env::var(k).ok());
    scrub_env("AGENT_VAULT_SMTP_PASSWORD");
    cfg
}

fn scrub_env(name: &str) {
    let Ok(cname) = CString::new(name) else {
        return;
    };
    // SAFETY: single-threaded at this point (called first thing in `server`), so nothing else
    // reads or writes the environment concurrently. `getenv` returns a pointer just past the
    // `=` of a NUL-terminated `NAME=value` entry; we check the `NAME=` bytes before it and
    // zero the entry in place (its storage stays valid: it is the initial environment block or
    // a string owned by libc that `unsetenv` does not free), so an empty entry remains.
    unsafe {
        let value = libc::getenv(cname.as_ptr());
        if !value.is_null() {
            let len = libc::strlen(value);
            let prefix = name.len() + 1;
            let start = value.sub(prefix);
            let head = std::slice::from_raw_parts(start as *const u8, prefix);
            if &head[..name.len()] == name.as_bytes() && head[name.len()] == b'=' {
                std::ptr::write_bytes(start, 0, prefix + len);
            }
        }
    }
    std::env::remove_var(name);
}

/// Unlocks the store: the environment password, else one line of stdin, else the terminal
/// (with confirmation on the first start and three attempts afterwards).
pub fn unlock(
    store: &Store,
    env_password: Option<Zeroizing<String>>,
    password_stdin: bool,
) -> Result<MasterKey> {
    if let Some(pw) = env_password {
        return super::unlock_with(store, pw.as_bytes());
    }
    if password_stdin {
        let pw = Zeroizing::new(prompt::stdin_line()?);
        return super::unlock_with(store, pw.as_bytes());
    }
    if !prompt::stdin_is_tty() {
        bail!(
            "no master password: set AGENT_VAULT_MASTER_PASSWORD, use --password-stdin, or run in a terminal"
        );
    }
    let first_run = !store.read(crypto::master_key_exists)?;
    if first_run {
        let notice = "No master password is set yet. Choose one now: it encrypts every credential and cannot be recovered.";
        if std::env::var_os("NO_COLOR").is_none() {
            eprintln!("\x1b[1m{notice}\x1b[0m");
        } else {
            eprintln!("{notice}");
        }
        let pw = Zeroizing::new(prompt::password("Master password: ")?);
        let again = Zeroizing::new(prompt::password("Confirm master password: ")?);
        if *pw != *again {
            bail!("passwords do not match");
        }
        return super::unlock_with(store, pw.as_bytes());
    }
    for attempt in 1..=ATTEMPTS {
        let pw = Zeroizing::new(prompt::password("Master password: ")?);
        match super::unlock_with(store, pw.as_bytes()) {
            Ok(key) => return Ok(key),
            Err(e) if e.to_string() == "wrong password" && attempt < ATTEMPTS => {
                let left = ATTEMPTS - attempt;
                eprintln!(
                    "wrong password ({left} attempt{} remaining)",
                    if left == 1 { "" } else { "s" }
                );
            }
            Err(e) if e.to_string() == "wrong password" => bail!("too many failed attempts"),
            Err(e) => return Err(e),
        }
    }
    bail!("too many failed attempts")
}

/// Asks for the first owner's email and password and creates the account directly.
pub fn prompt_first_owner(store: &Store) -> Result<()> {
    eprintln!("Create owner account:");
    let email = prompt::line("Admin email: ")?.trim().to_string();
    if !plausible_email(&email) {
        bail!("invalid email address");
    }
    let pw = Zeroizing::new(prompt::password("Admin password: ")?);
    if pw.len() < 8 {
        bail!("password must be at least 8 characters");
    }
    let again = Zeroizing::new(prompt::password("Confirm admin password: ")?);
    if *pw != *again {
        bail!("passwords do not match");
    }
    store.write(|tx| av_admin::users::create_first_owner(tx, &email, &pw))?;
    output::success(&format!("Owner account created for {email}"));
    Ok(())
}

fn plausible_email(e: &str) -> bool {
    match e.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(plausible_email("a@b.co"));
        assert!(!plausible_email("a@b"));
        assert!(!plausible_email("@b.co"));
        assert!(!plausible_email("a b@c.de"));
    }
}
