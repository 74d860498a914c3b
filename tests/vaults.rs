//! Vaults, vault users, instance users, user invites and instance settings end to end, through
//! the API and the CLI, checking each role boundary from both sides.

use serde_json::json;

use crate::accounts::{cli, text, verified_user};
use crate::support::Server;

#[test]
fn vaults_and_vault_users_via_cli() {
    let s = Server::start();
    let http = s.http();
    let owner = s.register_owner();
    let alice = verified_user(&s, "alice@example.com", "alice-password-1");
    let bob = verified_user(&s, "bob@example.com", "bob-password-1");

    // Alice creates a vault with the CLI and is its admin.
    s.login_cli(&alice);
    let (ok, stdout, stderr) = cli(&s, &["vault", "create", "team"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.starts_with("✓ Created vault \"team\" (id: "),
        "{stdout}"
    );
    let (ok, _, stderr) = cli(&s, &["vault", "create", "team"]);
    assert!(!ok);
    assert_eq!(stderr.trim(), "Error: Vault \"team\" already exists");
    let (ok, _, stderr) = cli(&s, &["vault", "create", "Bad_Name"]);
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        "Error: Vault name must be 3-64 characters, lowercase alphanumeric and hyphens only"
    );
    let (ok, stdout, _) = cli(&s, &["vault", "list"]);
    assert!(ok);
    assert!(
        stdout.contains("team") && stdout.contains("admin"),
        "{stdout}"
    );
    let (_, stdout, _) = cli(&s, &["vault", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(list["vaults"][0]["name"], "team");

    // Vault users: add, list, set-role, last-admin protection.
    let (ok, stdout, stderr) = cli(
        &s,
        &["vault", "--vault", "team", "user", "add", "bob@example.com"],
    );
    assert!(ok, "{stderr}");
    assert_eq!(
        stdout.trim(),
        "✓ Added bob@example.com to vault team (role: member)"
    );
    let (ok, stdout, _) = cli(&s, &["vault", "user", "list", "--vault", "team"]);
    assert!(ok);
    assert!(stdout.contains("bob@example.com") && stdout.contains("active"));
    let (ok, _, stderr) = cli(
        &s,
        &[
            "vault",
            "user",
            "remove",
            "alice@example.com",
            "--vault",
            "team",
            "--yes",
        ],
    );
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        "Error: Cannot remove the last admin from this vault"
    );
    let (ok, _, stderr) = cli(
        &s,
        &[
            "vault",
            "user",
            "set-role",
            "alice@example.com",
            "--role",
            "member",
            "--vault",
            "team",
        ],
    );
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        "Error: Cannot demote the last admin of this vault"
    );

    // Bob (member) may read the vault's users but not manage them or the vault.
    let r = http
        .get(&s.url("/v1/vaults/team/users"))
        .bearer(&bob.token)
        .send();
    assert_eq!(r.status, 200);
    let r = http
        .post(
            &s.url("/v1/vaults/team/users"),
            json!({"email": "owner@example.com"}),
        )
        .bearer(&bob.token)
        .send();
    assert_eq!((r.status, r.s("error")), (403, "Vault admin role required"));
    let r = http
        .post(&s.url("/v1/vaults/team/rename"), json!({"name": "crew"}))
        .bearer(&bob.token)
        .send();
    assert_eq!(
        (r.status, r.s("error")),
        (403, "Vault admin or instance owner required")
    );
    // The owner has no implicit access to the vault's people, only the listing.
    let r = http
        .get(&s.url("/v1/vaults/team/users"))
        .bearer(&owner.token)
        .send();
    assert_eq!((r.status, r.s("error")), (403, "No access to this vault"));
    let r = http.get(&s.url("/v1/vaults")).bearer(&owner.token).send();
    let team = r.json["vaults"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "team")
        .cloned()
        .unwrap();
    assert_eq!(team["membership"], "implicit");
    assert!(team.get("role").is_none());

    // Promote Bob, then Alice may step down; remove works.
    let (ok, stdout, _) = cli(
        &s,
        &[
            "vault",
            "user",
            "set-role",
            "bob@example.com",
            "--role",
            "admin",
            "--vault",
            "team",
        ],
    );
    assert!(ok);
    assert_eq!(
        stdout.trim(),
        "✓ Set role admin for bob@example.com in vault team"
    );
    let (ok, stdout, _) = cli(
        &s,
        &[
            "vault",
            "user",
            "remove",
            "bob@example.com",
            "--vault",
            "team",
            "--yes",
        ],
    );
    assert!(ok);
    assert_eq!(stdout.trim(), "✓ Removed bob@example.com from vault team");

    // use / current / rename / init.
    let (ok, stdout, _) = cli(&s, &["vault", "use", "team"]);
    assert!(ok && stdout.contains("Now using vault \"team\""));
    let (_, stdout, _) = cli(&s, &["vault", "current"]);
    assert_eq!(stdout.trim(), "team");
    let (ok, stdout, stderr) = cli(&s, &["vault", "rename", "team", "crew"]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "✓ Vault renamed from \"team\" to \"crew\".");
    let (_, stdout, _) = cli(&s, &["vault", "current"]);
    assert_eq!(stdout.trim(), "crew");
    let (_, stdout, _) = text(
        s.cli()
            .args(["vault", "current"])
            .env("AGENT_VAULT_VAULT", "from-env")
            .output()
            .unwrap(),
    );
    assert_eq!(stdout.trim(), "from-env");
    let project = tempfile::tempdir_in(&s.home).unwrap();
    let out = s
        .cli()
        .current_dir(project.path())
        .args(["vault", "init"])
        .output()
        .unwrap();
    let (ok, stdout, stderr) = text(out);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "✓ Wrote agent-vault.json (vault: crew)");
    let bound = std::fs::read_to_string(project.path().join("agent-vault.json")).unwrap();
    assert_eq!(bound, "{\n  \"vault\": \"crew\"\n}\n");
    let out = s
        .cli()
        .current_dir(project.path())
        .args(["vault", "current"])
        .output()
        .unwrap();
    assert_eq!(text(out).1.trim(), "crew");

    // Default-vault protections and deletion (typed confirmation needs --yes without a tty).
    s.login_cli(&owner);
    let (ok, _, stderr) = cli(&s, &["vault", "delete", "default", "--yes"]);
    assert!(!ok);
    assert_eq!(stderr.trim(), "Error: Cannot delete the default vault");
    let (ok, _, stderr) = cli(&s, &["vault", "rename", "default", "other"]);
    assert!(!ok);
    assert_eq!(stderr.trim(), "Error: Cannot rename the default vault");
    let (ok, _, _) = cli(&s, &["vault", "delete", "crew"]);
    assert!(!ok);
    let (ok, stdout, _) = cli(&s, &["owner", "vault", "list"]);
    assert!(ok && stdout.contains("crew") && stdout.contains("default"));
    let (ok, stdout, _) = cli(&s, &["owner", "vault", "join", "crew"]);
    assert!(ok);
    assert_eq!(stdout.trim(), "✓ Joined vault \"crew\" as admin");
    let (ok, _, stderr) = cli(&s, &["owner", "vault", "join", "crew"]);
    assert!(!ok);
    assert_eq!(stderr.trim(), "Error: Already a member of this vault");
    let (ok, stdout, _) = cli(&s, &["vault", "delete", "crew", "--yes"]);
    assert!(ok);
    assert_eq!(stdout.trim(), "✓ Deleted vault \"crew\"");
    let r = http
        .get(&s.url("/v1/vaults/crew/context"))
        .bearer(&alice.token)
        .send();
    assert_eq!((r.status, r.s("error")), (404, "Vault not found"));
}

#[test]
fn users_invites_and_settings_via_cli() {
    let s = Server::start();
    let http = s.http();
    let owner = s.register_owner();
    let alice = verified_user(&s, "alice@example.com", "alice-password-1");
    let r = http
        .post(&s.url("/v1/vaults"), json!({"name": "team"}))
        .bearer(&alice.token)
        .send();
    assert_eq!(r.status, 201);

    // Alice (member, admin of team) invites Carol with a pre-assignment.
    s.login_cli(&alice);
    let (ok, _, stderr) = cli(
        &s,
        &["user", "invite", "carol@example.com", "--role", "owner"],
    );
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        "Error: Only owners can create owner-role user invites"
    );
    let (ok, _, stderr) = cli(
        &s,
        &[
            "user",
            "invite",
            "carol@example.com",
            "--vault",
            "default:member",
        ],
    );
    assert!(!ok);
    assert_eq!(
        stderr.trim(),
        "Error: You must be an admin of vault \"default\" to pre-assign it"
    );
    let (ok, stdout, stderr) = cli(
        &s,
        &[
            "user",
            "invite",
            "carol@example.com",
            "--vault",
            "team:admin",
        ],
    );
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("✓ Invite created for carol@example.com"),
        "{stdout}"
    );
    let link = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Share this link: "))
        .unwrap()
        .trim()
        .to_string();
    assert!(
        link.starts_with(&format!("{}/invite/av_uinv_", s.admin)),
        "{link}"
    );
    let token = link.rsplit('/').next().unwrap().to_string();

    // The list shows the suffix, never the token; the vault shows the pending pre-assignment.
    let (ok, stdout, _) = cli(&s, &["user", "invite", "list"]);
    assert!(ok);
    assert!(stdout.contains("carol@example.com") && stdout.contains(&token[token.len() - 8..]));
    assert!(!stdout.contains(&token));
    let r = http
        .get(&s.url("/v1/users/invites"))
        .bearer(&alice.token)
        .send();
    assert!(!r.text.contains(&token));
    let (_, stdout, _) = cli(&s, &["vault", "user", "list", "--vault", "team"]);
    assert!(
        stdout.contains("carol@example.com") && stdout.contains("pending"),
        "{stdout}"
    );

    // Carol accepts through the API and gets the pre-assigned role.
    let r = http
        .get(&s.url(&format!("/v1/users/invites/{token}/details")))
        .send();
    assert_eq!(r.json["needs_account"], true);
    let r = http
        .post(
            &s.url(&format!("/v1/users/invites/{token}/accept")),
            json!({"password": "carol-password-1"}),
        )
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.s("message"), "Account created. Vault access granted.");
    let carol = s.login("carol@example.com", "carol-password-1");
    let r = http
        .get(&s.url("/v1/vaults/team/context"))
        .bearer(&carol.token)
        .send();
    assert_eq!(r.json["vault_role"], "admin");
    let r = http
        .post(
            &s.url(&format!("/v1/users/invites/{token}/accept")),
            json!({"password": "carol-password-1"}),
        )
        .send();
    assert_eq!(
        (r.status, r.s("error")),
        (410, "This invite has already been accepted")
    );

    // Revoke by suffix.
    let (ok, stdout, _) = cli(&s, &["user", "invite", "dave@example.com"]);
    assert!(ok);
    let link = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Share this link: "))
        .unwrap()
        .trim()
        .to_string();
    let suffix = &link[link.len() - 8..];
    let (ok, stdout, stderr) = cli(&s, &["user", "invite", "revoke", suffix, "--yes"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("Invite revoked"));
    let (ok, _, stderr) = cli(&s, &["user", "invite", "revoke", suffix, "--yes"]);
    assert!(!ok);
    assert_eq!(stderr.trim(), "Error: Invite not found or not pending");

    // Users: members see no vaults; owners see everything.
    let (ok, stdout, _) = cli(&s, &["user", "list"]);
    assert!(ok);
    assert!(stdout.contains("carol@example.com") && !stdout.contains("VAULTS"));
    let r = http
        .get(&s.url("/v1/admin/users/owner@example.com"))
        .bearer(&alice.token)
        .send();
    assert_eq!(
        (r.status, r.s("error")),
        (403, "Owner role required to view other users")
    );
    let (ok, _, stderr) = cli(&s, &["owner", "user", "list"]);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = cli(&s, &["owner", "config", "get"]);
    assert!(!ok);
    assert_eq!(stderr.trim(), "Error: Owner role required");
    let r = http
        .post(&s.url("/v1/admin/email/test"), json!({}))
        .bearer(&alice.token)
        .send();
    assert_eq!((r.status, r.s("error")), (403, "Owner role required"));

    s.login_cli(&owner);
    let (ok, stdout, _) = cli(&s, &["user", "list"]);
    assert!(
        ok && stdout.contains("VAULTS") && stdout.contains("team(admin)"),
        "{stdout}"
    );
    let (ok, stdout, _) = cli(&s, &["owner", "user", "info", "carol@example.com"]);
    assert!(ok);
    assert!(stdout.contains("Vaults:  team"), "{stdout}");
    let (ok, _, stderr) = cli(
        &s,
        &["owner", "user", "remove", "owner@example.com", "--yes"],
    );
    assert!(!ok);
    assert_eq!(stderr.trim(), "Error: Cannot remove the last owner");
    let (ok, _, stderr) = cli(
        &s,
        &[
            "owner",
            "user",
            "set-role",
            "owner@example.com",
            "--role",
            "member",
        ],
    );
    assert!(!ok);
    assert_eq!(stderr.trim(), "Error: Cannot demote the last owner");
    let (ok, _, _) = cli(
        &s,
        &[
            "owner",
            "user",
            "set-role",
            "alice@example.com",
            "--role",
            "owner",
        ],
    );
    assert!(ok);
    let r = http
        .get(&s.url("/v1/admin/vaults"))
        .bearer(&alice.token)
        .send();
    assert_eq!(r.status, 200, "promotion takes effect at once");
    let (ok, stdout, _) = cli(
        &s,
        &["owner", "user", "remove", "carol@example.com", "--yes"],
    );
    assert!(ok);
    assert!(stdout.contains("Removed user carol@example.com"));
    assert_eq!(
        http.get(&s.url("/v1/auth/me"))
            .bearer(&carol.token)
            .send()
            .status,
        401
    );

    // Settings: invite-only and domains, enforced on registration.
    let (ok, stdout, stderr) = cli(
        &s,
        &[
            "owner",
            "config",
            "set",
            "--invite-only",
            "--allowed-domains",
            "example.com",
        ],
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("invite_only: enabled"));
    assert!(stdout.contains("allowed_email_domains: example.com"));
    let r = http
        .post(
            &s.url("/v1/auth/register"),
            json!({"email": "eve@example.com", "password": "eve-password-1"}),
        )
        .send();
    assert_eq!(
        (r.status, r.s("error")),
        (
            403,
            "This instance is invite-only; accounts can only be created through an invite"
        )
    );
    let (ok, _, _) = cli(&s, &["owner", "config", "set", "--invite-only=false"]);
    assert!(ok);
    let r = http
        .post(
            &s.url("/v1/auth/register"),
            json!({"email": "eve@other.org", "password": "eve-password-1"}),
        )
        .send();
    assert_eq!(
        (r.status, r.s("error")),
        (
            403,
            "signups are restricted to @example.com email addresses"
        )
    );
    let (ok, _, _) = cli(&s, &["owner", "config", "set"]);
    assert!(!ok);
    let (ok, stdout, _) = cli(&s, &["owner", "config", "get"]);
    assert!(ok);
    assert!(stdout.contains("invite_only: disabled"));

    // No SMTP here: the settings say so and the test email gets the reference's answer.
    let r = http
        .get(&s.url("/v1/admin/settings"))
        .bearer(&owner.token)
        .send();
    assert_eq!(r.json["smtp_configured"], false);
    let r = http
        .post(
            &s.url("/v1/admin/email/test"),
            json!({"to": "someone@example.com"}),
        )
        .bearer(&owner.token)
        .send();
    assert_eq!((r.status, r.s("error")), (400, "SMTP is not configured"));
    let (ok, _, stderr) = cli(
        &s,
        &["owner", "email", "test", "--to", "someone@example.com"],
    );
    assert!(!ok);
    assert_eq!(stderr.trim(), "Error: SMTP is not configured");

    // Invite acceptance through the HTML page.
    let r = http
        .post(
            &s.url("/v1/users/invites"),
            json!({"email": "frank@example.com"}),
        )
        .bearer(&owner.token)
        .send();
    let link = r.s("invite_link").to_string();
    let page = http.get(&link).send();
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("<form") && page.text.contains("name=\"password\""));
    assert!(!page.text.contains("<script"));
    assert!(page
        .header("content-security-policy")
        .is_some_and(|c| c.contains("script-src 'self'")));
    let path = link.strip_prefix(&s.admin).unwrap();
    let r = http
        .request("POST", &s.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("password=frank-password-1&confirm=frank-password-1")
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("Account created."));
    s.login("frank@example.com", "frank-password-1");
    let page = http.get(&link).send();
    assert_eq!(page.status, 410);
    assert!(page.text.contains("Already Accepted"));

    // Nothing secret reached the log.
    let log = s.log();
    for secret in [
        "alice-password-1",
        "carol-password-1",
        "owner-password-1",
        &token,
        &owner.token,
    ] {
        assert!(!log.contains(secret), "log leaks {secret}");
    }
}
