//! Foundation: the server process model, master password, files, config, shutdown, and the
//! admin basics (health, init gate, JSON errors, wrong port).

use serde_json::json;

use crate::support::{large_body, Http, Server, Upstream};

#[test]
fn health_and_proxy_answer() {
    let s = Server::start();
    let http = s.http();
    let r = http.get(&s.url("/health")).send();
    assert_eq!(r.status, 200);
    assert_eq!(r.json["status"], "ok");
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let r = http.get(&format!("{}/nothing-here", s.proxy)).send();
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(r.json.is_object(), "{}", r.text);
}

#[test]
fn upstream_echoes_and_streams() {
    let up = Upstream::start();
    let http = Http::trusting_test_ca();
    let r = http
        .post(&format!("{}/a/b?x=1&y=%20", up.url()), json!({"k": "v"}))
        .header("x-test", "1")
        .send();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["method"], "POST");
    assert_eq!(r.json["path"], "/a/b?x=1&y=%20");
    assert_eq!(r.json["query"], "x=1&y=%20");
    assert_eq!(r.json["headers"]["x-test"], "1");
    assert_eq!(r.json["body_len"], 9);
    assert_eq!(r.json["body"], r#"{"k":"v"}"#);
    assert_eq!(up.requests().len(), 1);

    let r = http.get(&format!("{}/large?bytes=300000", up.url())).send();
    assert_eq!(r.bytes, large_body(300_000));
    let r = http
        .get(&format!("{}/large?bytes=1000&chunked=1", up.url()))
        .send();
    assert_eq!(r.bytes, large_body(1000));
    let r = http.get(&format!("{}/redirect", up.url())).send();
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("/echo"));
    let r = http.get(&format!("{}/status/418", up.url())).send();
    assert_eq!(r.status, 418);
    let r = http.get(&format!("{}/set-cookie", up.url())).send();
    assert!(r.header("set-cookie").is_some());
    let r = http.get(&format!("{}/sse?n=3&ms=10", up.url())).send();
    assert_eq!(r.text.matches("data: ").count(), 3, "{}", r.text);
    let r = http.get(&format!("{}/slow?ms=50", up.url())).send();
    assert_eq!(r.status, 200);
}
