//! The pages in a real headless Chromium (Debian's `chromium` + `chromedriver`). Approval: a
//! reviewer opens the agent's approval link with no session, signs in on the page, supplies
//! the credential and presses Allow; the proxy then injects it. A second request is denied
//! from the page, and invalid links get a clear page. A phone-sized screenshot of the review
//! page is written under `target/` for people to look at. Home: a new instance's `/` creates
//! the owner.

use std::path::PathBuf;

use serde_json::json;

use crate::proposals::{
    agent_token, approval_token, dev_server, propose, proxied, upstream_proposal,
};
use crate::support::webdriver::Browser;
use crate::support::Upstream;

/// Where the screenshot goes (`target/tmp/`, never committed).
fn screenshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

#[test]
fn approve_and_deny_in_a_real_browser() {
    let server = dev_server();
    let up = Upstream::start();
    let owner = server.register_owner();
    let agent = agent_token(&server, &owner, "research-bot", "proxy");
    let mut body = upstream_proposal();
    body["user_message"] = json!(
        "I'm preparing the weekly report and need read access to the Echo API.\n<script>alert(1)</script>"
    );
    let r = propose(&server, &agent, body);
    assert_eq!(r.status, 201, "{}", r.text);
    let url = r.s("approval_url").to_string();

    let browser = Browser::start();

    // Invalid links get a clear page.
    browser.goto(&server.url("/approve/1?token=av_appr_not-a-real-token"));
    assert!(browser
        .text(&browser.find("#notice"))
        .contains("Invalid approval link"));

    // No session yet: the page shows the request and an inline login form.
    browser.goto(&url);
    let summary = browser.text(&browser.find("#summary"));
    assert!(summary.contains("research-bot"), "{summary}");
    assert!(
        summary.contains("<script>alert(1)</script>"),
        "agent text is shown as text: {summary}"
    );
    assert!(browser.try_find("#allow").is_none());
    let link = browser.find("#credentials a");
    assert_eq!(
        browser.property(&link, "href"),
        json!("https://echo.example.com/settings/tokens")
    );
    browser.type_into(&browser.find("#email"), &owner.email);
    browser.type_into(&browser.find("#password"), "not the password");
    browser.click(&browser.find("#login-submit"));
    assert!(browser
        .text(&browser.wait_for("#error"))
        .contains("Invalid email or password"));
    browser.type_into(&browser.find("#email"), &owner.email);
    browser.type_into(&browser.find("#password"), &owner.password);
    browser.click(&browser.find("#login-submit"));

    // Signed in: back on the same link, now with the decision form.
    let allow = browser.wait_for("#allow");
    assert_eq!(browser.url(), url);
    let session = browser
        .cookies()
        .into_iter()
        .find(|c| c["name"] == "av_session")
        .expect("session cookie");
    assert_eq!(session["httpOnly"], true);
    assert_eq!(session["sameSite"], "Strict");
    let input = browser.find("#v_ECHO_TOKEN");
    assert_eq!(browser.property(&input, "type"), json!("password"));
    let shot = screenshot_path("approval-page.png");
    browser.screenshot(&shot);
    assert!(std::fs::metadata(&shot)
        .map(|m| m.len() > 1000)
        .unwrap_or(false));

    // Allow without a value is refused on the page; nothing changes.
    browser.click(&allow);
    assert!(browser
        .text(&browser.wait_for("#error"))
        .contains("Enter a value for ECHO_TOKEN"));
    browser.type_into(&browser.find("#v_ECHO_TOKEN"), "tok-from-browser");
    browser.click(&browser.find("#allow"));
    let notice = browser.text(&browser.wait_for("#notice"));
    assert!(notice.contains("Approved"), "{notice}");
    assert!(
        !browser.source().contains("tok-from-browser"),
        "the secret is never rendered"
    );

    let r = proxied(&server, &up, &agent, 200);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["headers"]["authorization"],
        "Bearer tok-from-browser"
    );

    // Opening a decided link says so.
    browser.goto(&url);
    assert!(browser
        .text(&browser.find("#notice"))
        .contains("already been applied"));

    // Deny a second request from the page (the session cookie is still there).
    let r = propose(&server, &agent, upstream_proposal());
    let second = r.s("approval_url").to_string();
    browser.goto(&second);
    browser.type_into(&browser.find("#reason"), "Use the staging API instead");
    browser.click(&browser.find("#deny"));
    assert!(browser
        .text(&browser.wait_for("#notice"))
        .contains("Denied"));
    let r = server
        .http()
        .get(&server.url("/v1/proposals/2"))
        .bearer(&agent)
        .header("X-Vault", "default")
        .send();
    assert_eq!(r.json["status"], "rejected", "{}", r.text);
    assert_eq!(r.json["review_note"], "Use the staging API instead");

    // A reviewer without a member/admin grant sees that, not the form.
    let r = propose(&server, &agent, upstream_proposal());
    let third = r.s("approval_url").to_string();
    let r = server
        .http()
        .post(
            &server.url("/v1/users/invites"),
            json!({"email": "outsider@example.com"}),
        )
        .bearer(&owner.token)
        .send();
    assert_eq!(r.status, 201, "{}", r.text);
    let invite = r
        .s("invite_link")
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_string();
    let r = server
        .http()
        .post(
            &server.url(&format!("/v1/users/invites/{invite}/accept")),
            json!({"password": "outsider-password"}),
        )
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    browser.clear_cookies();
    browser.goto(&third);
    browser.type_into(&browser.find("#email"), "outsider@example.com");
    browser.type_into(&browser.find("#password"), "outsider-password");
    browser.click(&browser.find("#login-submit"));
    assert!(browser
        .text(&browser.wait_for("#no-permission"))
        .contains("outsider@example.com"));
    assert!(browser.try_find("#allow").is_none());
    assert_eq!(approval_token(&third).len(), "av_appr_".len() + 64);
}

/// A new instance's home page creates the owner in a real browser (same-site form posts pass
/// the cross-site check), and then only points to the CLI.
#[test]
fn home_page_creates_the_owner_in_a_real_browser() {
    let server = crate::support::Server::start();
    let browser = Browser::start();
    browser.goto(&server.url("/"));
    assert!(
        browser.title().contains("Create the owner account"),
        "{}",
        browser.title()
    );

    browser.type_into(&browser.find("#email"), "root@example.com");
    browser.type_into(&browser.find("#password"), "browser-password-1");
    browser.type_into(&browser.find("#confirm"), "something-else-1");
    browser.click(&browser.find("button[type=submit]"));
    assert!(browser
        .text(&browser.wait_for(".err"))
        .contains("do not match"));
    assert_eq!(
        browser.property(&browser.find("#email"), "value"),
        json!("root@example.com")
    );

    browser.type_into(&browser.find("#password"), "browser-password-1");
    browser.type_into(&browser.find("#confirm"), "browser-password-1");
    browser.click(&browser.find("button[type=submit]"));
    assert!(
        browser.title().contains("Owner account created"),
        "{}",
        browser.source()
    );
    assert!(browser
        .cookies()
        .iter()
        .any(|c| c["name"] == "av_session" && c["httpOnly"] == true));
    server.login("root@example.com", "browser-password-1");

    browser.goto(&server.url("/"));
    assert!(browser
        .source()
        .contains("This Agent Vault server is running."));
    assert!(browser.try_find("form").is_none());
}
