//! Accounts end to end: the first owner, a second user verified with the code from the server
//! log, logins through the API and the CLI, password changes and resets, account deletion, the
//! init gate, rate limits over real sockets, that secrets stay out of answers and logs, and the
//! CLI's first-run setup on a terminal (driven through `script`).

use std::io::Write;
use std::process::{Output, Stdio};

use serde_json::json;

use crate::support::Server;

/// Runs the CLI with `stdin` piped in.
pub fn cli_stdin(s: &Server, args: &[&str], stdin: &str) -> Output {
    let mut child = s
        .cli()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("agent-vault");
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin.as_bytes());
    }
    child.wait_with_output().expect("agent-vault")
}

/// Runs the CLI; returns (success, stdout, stderr).
pub fn cli(s: &Server, args: &[&str]) -> (bool, String, String) {
    let out = s.cli().args(args).output().expect("agent-vault");
    text(out)
}

/// (success, stdout, stderr) of a finished command.
pub fn text(out: Output) -> (bool, String, String) {
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The latest code of `kind` ("Email verification" or "Password reset") logged for `email`.
pub fn logged_code(s: &Server, kind: &str, email: &str) -> String {
    let prefix = format!("[agent-vault] {kind} code for {email}: ");
    let log = s.log();
    log.lines()
        .rev()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {kind} code for {email} in the log:\n{log}"))
        .trim()
        .to_string()
}

/// Registers a member through the API, verifies them with the logged code, and logs in.
pub fn verified_user(s: &Server, email: &str, password: &str) -> crate::support::Login {
    let http = s.http();
    let r = http
        .post(
            &s.url("/v1/auth/register"),
            json!({ "email": email, "password": password }),
        )
        .send();
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["requires_verification"], true);
    let code = logged_code(s, "Email verification", email);
    let r = http
        .post(
            &s.url("/v1/auth/verify"),
            json!({ "email": email, "code": code }),
        )
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    s.login(email, password)
}

#[test]
fn register_verify_login_and_account_via_cli() {
    let s = Server::start();
    let http = s.http();

    // The init gate: gated routes answer 503 until the first owner exists.
    let r = http
        .post(
            &s.url("/v1/auth/login"),
            json!({"email": "a@b.co", "password": "x"}),
        )
        .send();
    assert_eq!(r.status, 503);
    assert_eq!(r.json["error"], "not_initialized");
    let r = http.get(&s.url("/v1/vaults")).send();
    assert_eq!(r.status, 503);
    assert_eq!(
        http.get(&s.url("/v1/status")).send().json["needs_first_user"],
        true
    );

    // The first owner registers with the CLI (no session is saved by register).
    let out = cli_stdin(
        &s,
        &[
            "auth",
            "register",
            "--address",
            &s.admin,
            "--email",
            "owner@example.com",
            "--password-stdin",
        ],
        "owner-password-1\n",
    );
    let (ok, stdout, stderr) = text(out);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("✓ Owner account created."), "{stdout}");
    assert_eq!(
        http.get(&s.url("/v1/status")).send().json["initialized"],
        true
    );

    // A second user registers; the code appears only in the server log.
    let out = cli_stdin(
        &s,
        &[
            "auth",
            "register",
            "--address",
            &s.admin,
            "--email",
            "bob@example.com",
            "--password-stdin",
        ],
        "bob-password-1\n",
    );
    let (ok, stdout, _) = text(out);
    assert!(ok);
    assert!(
        stdout.contains("Ask your Agent Vault instance owner for the verification code"),
        "{stdout}"
    );
    let code = logged_code(&s, "Email verification", "bob@example.com");
    let mut codes = vec![code.clone()];
    assert_eq!(code.len(), 6);
    assert!(!stdout.contains(&code));
    // Not verified yet: no login.
    let r = http
        .post(
            &s.url("/v1/auth/login"),
            json!({"email": "bob@example.com", "password": "bob-password-1"}),
        )
        .send();
    assert_eq!((r.status, r.s("error")), (401, "Invalid email or password"));
    // Re-registering does not replace the password (DESIGN fix 11).
    let r = http
        .post(
            &s.url("/v1/auth/register"),
            json!({"email": "bob@example.com", "password": "attacker-pw-1"}),
        )
        .send();
    assert_eq!(r.status, 201);
    let (ok, stdout, stderr) = cli(
        &s,
        &[
            "auth",
            "verify",
            "--address",
            &s.admin,
            "--email",
            "bob@example.com",
            "--code",
            "000000",
        ],
    );
    assert!(!ok || code == "000000", "{stdout}");
    if code != "000000" {
        assert_eq!(stderr.trim(), "Error: Invalid or expired verification code");
    }
    let code = logged_code(&s, "Email verification", "bob@example.com");
    codes.push(code.clone());
    let (ok, stdout, stderr) = cli(
        &s,
        &[
            "auth",
            "verify",
            "--address",
            &s.admin,
            "--email",
            "bob@example.com",
            "--code",
            &code,
        ],
    );
    assert!(ok, "{stdout}{stderr}");
    let r = http
        .post(
            &s.url("/v1/auth/login"),
            json!({"email": "bob@example.com", "password": "attacker-pw-1"}),
        )
        .send();
    assert_eq!(r.status, 401);

    // CLI login, whoami, wrong password.
    let out = cli_stdin(
        &s,
        &[
            "auth",
            "login",
            "--address",
            &s.admin,
            "--email",
            "bob@example.com",
            "--password-stdin",
        ],
        "wrong-password\n",
    );
    let (ok, _, stderr) = text(out);
    assert!(!ok);
    assert_eq!(stderr.trim(), "Error: invalid email or password");
    let bob = s.login("bob@example.com", "bob-password-1");
    s.login_cli(&bob);
    let session = std::fs::read_to_string(s.cli_dir().join("session.json")).unwrap();
    assert!(session.contains(&s.admin));
    let (ok, stdout, _) = cli(&s, &["account", "whoami"]);
    assert!(ok);
    assert!(
        stdout.contains("bob@example.com")
            && stdout.contains("member")
            && stdout.contains("(none)"),
        "{stdout}"
    );
    let (ok, stdout, _) = cli(&s, &["account", "whoami", "--json"]);
    assert!(ok);
    let me: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(me["email"], "bob@example.com");

    // Change password: the old sessions end, the CLI keeps working with the fresh one.
    let out = cli_stdin(
        &s,
        &["account", "change-password", "--password-stdin"],
        "bob-password-1\nbob-password-2\n",
    );
    let (ok, stdout, stderr) = text(out);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("✓ Password changed successfully."));
    let r = http.get(&s.url("/v1/auth/me")).bearer(&bob.token).send();
    assert_eq!(r.status, 401);
    assert!(cli(&s, &["account", "whoami"]).0);

    // Forgot / reset with the logged code.
    let r = http
        .post(
            &s.url("/v1/auth/forgot-password"),
            json!({"email": "bob@example.com"}),
        )
        .send();
    assert_eq!(r.status, 200);
    assert!(!r.text.contains("code\":"));
    let code = logged_code(&s, "Password reset", "bob@example.com");
    codes.push(code.clone());
    let r = http
        .post(
            &s.url("/v1/auth/reset-password"),
            json!({"email": "bob@example.com", "code": code, "new_password": "bob-password-3"}),
        )
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r
        .header("set-cookie")
        .is_some_and(|c| c.starts_with("av_session=")));
    let (ok, _, stderr) = cli(&s, &["account", "whoami"]);
    assert!(!ok);
    assert_eq!(stderr.trim(), "Error: Invalid or expired session");
    let bob = s.login("bob@example.com", "bob-password-3");
    s.login_cli(&bob);

    // Owners cannot delete themselves; members can.
    let owner = s.login("owner@example.com", "owner-password-1");
    let r = http
        .delete(&s.url("/v1/auth/account"))
        .bearer(&owner.token)
        .send();
    assert_eq!(
        (r.status, r.s("error")),
        (
            409,
            "Owners cannot delete their own account; transfer ownership first"
        )
    );
    let (ok, stdout, _) = cli(&s, &["account", "delete", "--yes"]);
    assert!(ok);
    assert!(stdout.contains("✓ Account deleted."));
    assert!(!s.cli_dir().join("session.json").exists());
    let r = http
        .post(
            &s.url("/v1/auth/login"),
            json!({"email": "bob@example.com", "password": "bob-password-3"}),
        )
        .send();
    assert_eq!(r.status, 401);

    // Logout ends the session.
    s.login_cli(&owner);
    let (ok, stdout, _) = cli(&s, &["auth", "logout"]);
    assert!(ok && stdout.contains("Logged out"));
    let r = http.get(&s.url("/v1/auth/me")).bearer(&owner.token).send();
    assert_eq!(r.status, 200, "the API login is a separate session");

    // No password or token ever reaches the log; codes only in their documented line.
    let log = s.log();
    for secret in [
        "owner-password-1",
        "bob-password-1",
        "bob-password-2",
        "bob-password-3",
        "attacker-pw-1",
        &owner.token,
        &bob.token,
    ] {
        assert!(!log.contains(secret), "log leaks {secret}");
    }
    for line in log
        .lines()
        .filter(|l| codes.iter().any(|c| l.contains(c.as_str())))
    {
        assert!(
            line.starts_with("[agent-vault] "),
            "a code leaks in: {line}"
        );
    }
}

#[test]
fn rate_limits_over_sockets() {
    let s = Server::start();
    let http = s.http();
    let owner = s.register_owner();
    let reg = |i: usize| {
        http.post(
            &s.url("/v1/auth/register"),
            json!({"email": format!("u{i}@example.com"), "password": "long-enough-1"}),
        )
        .send()
    };
    // The owner's registration was the first of five per IP.
    for i in 0..4 {
        assert_eq!(reg(i).status, 201);
    }
    let r = reg(9);
    assert_eq!(
        (r.status, r.s("error")),
        (429, "Too many registration attempts, try again later")
    );

    // Login: ten attempts per IP and email in five minutes (the owner's login was one).
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let r = http
            .post(
                &s.url("/v1/auth/login"),
                json!({"email": "owner@example.com", "password": "wrong-password"}),
            )
            .send();
        statuses.push(r.status);
    }
    assert_eq!(statuses[..9], [401; 9]);
    assert_eq!(statuses[9], 429);
    let r = http
        .post(
            &s.url("/v1/auth/login"),
            json!({"email": "owner@example.com", "password": "owner-password-1"}),
        )
        .send();
    assert_eq!(
        (r.status, r.s("error")),
        (429, "Too many login attempts, try again later")
    );
    // Existing sessions keep working.
    assert_eq!(
        http.get(&s.url("/v1/auth/me"))
            .bearer(&owner.token)
            .send()
            .status,
        200
    );

    for _ in 0..5 {
        let r = http
            .post(
                &s.url("/v1/auth/resend-verification"),
                json!({"email": "u0@example.com"}),
            )
            .send();
        assert_eq!(r.status, 200);
    }
    let r = http
        .post(
            &s.url("/v1/auth/resend-verification"),
            json!({"email": "u0@example.com"}),
        )
        .send();
    assert_eq!(
        (r.status, r.s("error")),
        (429, "Too many requests, try again later")
    );
}

/// `agent-vault <args>` on a terminal: (success, everything it printed).
fn on_terminal(s: &Server, args: &str, typed: &str) -> (bool, String) {
    let (ok, stdout, stderr) = text(s.on_terminal(args, typed));
    (ok, stdout + &stderr)
}

/// The saved CLI login, if any.
fn saved_session(s: &Server) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(s.cli_dir().join("session.json")).ok()?;
    Some(serde_json::from_str(&text).expect("session.json is JSON"))
}

/// Whether a `vault list` table shows the default vault with the admin role.
fn lists_default_vault(out: &str) -> bool {
    out.lines()
        .any(|l| l.contains(" default ") && l.contains(" admin "))
}

#[test]
fn first_run_setup_creates_the_owner_and_continues_the_command() {
    let s = Server::start();

    // Without a terminal nothing is asked: the exact error of a missing login.
    let (ok, _, stderr) = cli(&s, &["vault", "list"]);
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        "Error: not logged in, run 'agent-vault auth login' first"
    );

    // A custom URL must be http(s).
    let (ok, out) = on_terminal(&s, "vault list", "2\nftp://example.com\n");
    assert!(!ok, "{out}");
    assert!(
        out.contains(
            "invalid server URL \"ftp://example.com\": it must start with http:// or https://"
        ),
        "{out}"
    );

    // On a terminal: custom URL (the server's ephemeral port, trailing `/` trimmed), then the
    // owner account, then the original command runs.
    let typed = format!(
        "2\n{}/\nowner@example.com\nowner-password-1\nowner-password-1\n",
        s.admin
    );
    let (ok, out) = on_terminal(&s, "vault list", &typed);
    assert!(ok, "{out}");
    for want in [
        "You are not logged in to Agent Vault yet",
        "Where is your Agent Vault server?",
        "Local server (http://127.0.0.1:14321)",
        "This server has no accounts yet. Create the owner account:",
        "✓ Owner account created.",
        "✓ Logged in as owner@example.com.",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    assert!(lists_default_vault(&out), "{out}");
    let saved = saved_session(&s).expect("session.json saved");
    assert_eq!(saved["address"], s.admin.as_str());
    assert!(saved["token"]
        .as_str()
        .unwrap_or("")
        .starts_with("av_sess_"));

    // The saved login is used as is from now on, terminal or not.
    let (ok, stdout, stderr) = cli(&s, &["vault", "list"]);
    assert!(ok && lists_default_vault(&stdout), "{stdout}{stderr}");
}

#[test]
fn first_run_setup_logs_in_to_a_server_that_has_an_owner() {
    let s = Server::start();
    s.register_owner();

    // "Create account" makes a member that must be verified first: the setup stops there.
    let typed = format!(
        "2\n{}\n2\nbob@example.com\nbob-password-1\nbob-password-1\n",
        s.admin
    );
    let (ok, out) = on_terminal(&s, "vault list", &typed);
    assert!(!ok, "{out}");
    assert!(
        out.contains("Ask your Agent Vault instance owner for the verification code"),
        "{out}"
    );
    let hint = format!(
        "Error: verify the account with 'agent-vault auth verify --email bob@example.com \
         --code <code> --address {}', then run this command again",
        s.admin
    );
    assert!(out.contains(&hint), "{out}");
    assert!(saved_session(&s).is_none());

    // "Log in" with the owner's credentials, then the command runs.
    let typed = format!("2\n{}\n1\nowner@example.com\nowner-password-1\n", s.admin);
    let (ok, out) = on_terminal(&s, "vault list", &typed);
    assert!(ok, "{out}");
    assert!(
        out.contains("Do you have an account on this server?"),
        "{out}"
    );
    assert!(out.contains("✓ Logged in as owner@example.com."), "{out}");
    assert!(lists_default_vault(&out), "{out}");
    assert_eq!(
        saved_session(&s).expect("session.json saved")["address"],
        s.admin.as_str()
    );
}

#[test]
fn auth_login_on_a_terminal_asks_for_the_server_when_none_is_known() {
    let s = Server::start();
    s.register_owner();
    let typed = format!("2\n{}/\nowner@example.com\nowner-password-1\n", s.admin);
    let (ok, out) = on_terminal(&s, "auth login", &typed);
    assert!(ok, "{out}");
    assert!(out.contains("Where is your Agent Vault server?"), "{out}");
    assert!(out.contains("Login successful"), "{out}");
    assert_eq!(
        saved_session(&s).expect("session.json saved")["address"],
        s.admin.as_str()
    );
    // Once an address is known (here the saved login), it is used without asking.
    let (ok, out) = on_terminal(&s, "auth login", "owner@example.com\nowner-password-1\n");
    assert!(ok, "{out}");
    assert!(!out.contains("Where is your Agent Vault server?"), "{out}");
}

#[test]
fn owner_reset_stops_the_server_and_erases_the_instance() {
    let mut s = Server::start();
    let owner = s.register_owner();
    let member = verified_user(&s, "mona@example.com", "mona-password-1");
    let db = s.data_file("agent-vault.db");
    let data_dir = db.parent().expect("data dir").to_path_buf();
    let reset = |s: &Server| {
        s.cli()
            .env("AGENT_VAULT_DATA_DIR", &data_dir)
            .args(["owner", "reset", "--yes"])
            .output()
            .unwrap()
    };

    // Members cannot; without --yes a script is refused; a wrong word cancels.
    s.login_cli(&member);
    let (ok, _, stderr) = text(reset(&s));
    assert!(!ok);
    assert_eq!(stderr.trim(), "Error: only an owner can reset the instance");
    s.login_cli(&owner);
    let (ok, _, stderr) = cli(&s, &["owner", "reset"]);
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        "Error: refusing to reset without confirmation; pass --yes"
    );
    let (ok, out) = on_terminal(&s, "owner reset", "nope\n");
    assert!(
        !ok && out.contains("Type 'reset' to confirm") && out.contains("reset cancelled"),
        "{out}"
    );
    assert!(db.exists());
    assert_eq!(s.http().get(&s.url("/health")).send().status, 200);

    // The owner resets: the server stops, the database files are gone, the CLI is logged out.
    let pid = s.pid();
    let (ok, stdout, stderr) = text(reset(&s));
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(&format!("Stopping server (PID {pid})...")),
        "{stdout}"
    );
    assert!(stdout.contains("Instance reset"), "{stdout}");
    assert!(s.stop().success(), "the server shut down cleanly");
    for suffix in ["", "-wal", "-shm", "-journal"] {
        assert!(
            !data_dir.join(format!("agent-vault.db{suffix}")).exists(),
            "{suffix}"
        );
    }
    assert!(!data_dir.join("agent-vault.pid").exists());
    assert!(saved_session(&s).is_none());
}
