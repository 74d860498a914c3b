use super::*;
use serde_json::json;

fn req(v: serde_json::Value) -> ProposalRequest {
    serde_json::from_value(v).expect("request decodes")
}

fn bearer(key: &str) -> serde_json::Value {
    json!({"type":"bearer","token":key})
}

#[test]
fn decode_defaults_and_nulls() {
    let r = req(json!({"services":null,"credentials":null,"message":null}));
    assert_eq!(r, ProposalRequest::default());
    let r = req(json!({"services":[{"action":"delete","host":"a.com","auth":null}]}));
    assert_eq!(r.services[0].auth, None);
    assert!(serde_json::from_value::<ProposalRequest>(json!({"services":{}})).is_err());
}

#[test]
fn stored_shape() {
    let r = req(json!({
        "services":[{"action":"set","host":"api.stripe.com","description":"","auth":bearer("K")},
                    {"action":"delete","host":"old.example.com"}],
        "credentials":[{"action":"set","key":"K","value":""},{"action":"delete","key":"OLD"}]
    }));
    assert_eq!(
        serde_json::to_value(&r.services).unwrap(),
        json!([{"action":"set","host":"api.stripe.com","auth":{"type":"bearer","token":"K"}},
               {"action":"delete","host":"old.example.com"}])
    );
    let mut slots = r.credentials.clone();
    assert_eq!(
        serde_json::to_value(&slots).unwrap(),
        json!([{"action":"set","key":"K","value":""},{"action":"delete","key":"OLD"}])
    );
    slots[0].value = None;
    slots[0].has_value = true;
    assert_eq!(
        serde_json::to_value(&slots[0]).unwrap(),
        json!({"action":"set","key":"K","has_value":true})
    );
}

#[test]
fn validation_rules_in_order() {
    let many_services: Vec<_> = (0..11)
        .map(|i| json!({"action":"delete","host":format!("h{i}.example.com")}))
        .collect();
    let many_slots: Vec<_> = (0..11)
        .map(|i| json!({"action":"delete","key":format!("K{i}")}))
        .collect();
    let ten_services: Vec<_> = many_services[..10].to_vec();
    let long = |n: usize| "x".repeat(n);
    let cases: Vec<(serde_json::Value, Result<(), String>)> = vec![
        (json!({}), Err("at least one service or credential is required".into())),
        (json!({"services":[],"credentials":[]}), Err("at least one service or credential is required".into())),
        (json!({"services":many_services}), Err("too many services (max 10)".into())),
        (json!({"services":ten_services}), Ok(())),
        (json!({"credentials":many_slots}), Err("too many credential slots (max 10)".into())),
        (json!({"services":[{"action":"upsert","host":"a.com"}]}),
            Err("service 0: invalid action \"upsert\" (must be \"set\" or \"delete\")".into())),
        (json!({"services":[{"host":"a.com"}]}),
            Err("service 0: invalid action \"\" (must be \"set\" or \"delete\")".into())),
        (json!({"services":[{"action":"delete","host":"a.example.com"},{"action":"delete"}]}),
            Err("service 1: host is required".into())),
        (json!({"services":[{"action":"delete","host":"\t"}]}), Err("service 0: host is empty".into())),
        (json!({"services":[{"action":"delete","host":"8.8.8.8"}]}),
            Err("service 0: host \"8.8.8.8\" must be a hostname, not an IP address".into())),
        (json!({"services":[{"action":"delete","host":"*.com"}]}),
            Err("service 0: host \"*.com\": wildcard must have at least two domain levels (e.g. *.example.com)".into())),
        (json!({"services":[{"action":"delete","host":"a.com","description":long(501)}]}),
            Err("service 0: description too long (max 500 characters)".into())),
        (json!({"services":[{"action":"delete","host":"a.com","description":long(500)}]}), Ok(())),
        (json!({"services":[{"action":"set","host":"a.com"}]}),
            Err("service 0: auth is required for set action".into())),
        (json!({"services":[{"action":"set","host":"a.com","auth":{"type":"bearer"}}]}),
            Err("service 0: auth: \"token\" is required for bearer auth".into())),
        (json!({"services":[{"action":"set","host":"a.com","auth":bearer("K")}]}), Ok(())),
        // Service errors come before slot errors.
        (json!({"services":[{"action":"set","host":"a.com"}],"credentials":[{"action":"bad"}]}),
            Err("service 0: auth is required for set action".into())),
        (json!({"credentials":[{"action":"bad","key":"K"}]}),
            Err("credential slot: invalid action \"bad\" (must be \"set\" or \"delete\")".into())),
        (json!({"credentials":[{"action":"set"}]}), Err("credential slot key is required".into())),
        (json!({"credentials":[{"action":"set","key":"stripe"}]}),
            Err("credential slot key \"stripe\" must be UPPER_SNAKE_CASE (e.g. STRIPE_KEY, GITHUB_TOKEN)".into())),
        (json!({"credentials":[{"action":"set","key":"K"},{"action":"delete","key":"K"}]}),
            Err("duplicate credential slot key \"K\"".into())),
        (json!({"credentials":[{"action":"set","key":"K","description":long(501)}]}),
            Err("credential slot \"K\": description too long (max 500 characters)".into())),
        (json!({"credentials":[{"action":"set","key":"K","obtain":format!("https://a.com/{}", long(490))}]}),
            Err("credential slot \"K\": obtain too long (max 500 characters)".into())),
        (json!({"credentials":[{"action":"set","key":"K","obtain":"ftp://a.com"}]}),
            Err("credential slot \"K\": obtain must be a valid https:// or http:// URL".into())),
        (json!({"credentials":[{"action":"set","key":"K","obtain":"https://dashboard.stripe.com/apikeys"}]}), Ok(())),
        (json!({"credentials":[{"action":"set","key":"K","obtain_instructions":long(1001)}]}),
            Err("credential slot \"K\": obtain_instructions too long (max 1000 characters)".into())),
        (json!({"credentials":[{"action":"set","key":"K","obtain_instructions":long(1000)}]}), Ok(())),
        // Unreferenced set slots are fine without services, refused with them.
        (json!({"credentials":[{"action":"set","key":"K"}]}), Ok(())),
        (json!({"services":[{"action":"set","host":"a.com","auth":bearer("A")}],
                "credentials":[{"action":"set","key":"K"}]}),
            Err("credential slot \"K\" is not referenced by any service auth config".into())),
        (json!({"services":[{"action":"delete","host":"a.com","auth":bearer("K")}],
                "credentials":[{"action":"set","key":"K"}]}),
            Err("credential slot \"K\" is not referenced by any service auth config".into())),
        (json!({"services":[{"action":"set","host":"a.com","auth":bearer("A")}],
                "credentials":[{"action":"delete","key":"K"},{"action":"set","key":"A"}]}), Ok(())),
        (json!({"services":[{"action":"set","host":"a.com",
                "auth":{"type":"custom","headers":{"X-Key":"{{ K }}"}}}],
                "credentials":[{"action":"set","key":"K"}]}), Ok(())),
        // DESIGN fix 8: message limits, counted in characters.
        (json!({"credentials":[{"action":"delete","key":"K"}],"message":long(2000)}), Ok(())),
        (json!({"credentials":[{"action":"delete","key":"K"}],"message":"é".repeat(2000)}), Ok(())),
        (json!({"credentials":[{"action":"delete","key":"K"}],"message":long(2001)}),
            Err("message too long (max 2000 characters)".into())),
        (json!({"credentials":[{"action":"delete","key":"K"}],"user_message":long(5000)}), Ok(())),
        (json!({"credentials":[{"action":"delete","key":"K"}],"user_message":long(5001)}),
            Err("user_message too long (max 5000 characters)".into())),
    ];
    for (input, want) in cases {
        assert_eq!(validate(&req(input.clone()), false), want, "{input}");
    }
}

#[test]
fn dev_mode_only_relaxes_local_names() {
    let r = req(json!({"services":[{"action":"delete","host":"localhost"}]}));
    assert!(validate(&r, false).unwrap_err().contains("local/internal"));
    assert_eq!(validate(&r, true), Ok(()));
    let r = req(json!({"services":[{"action":"delete","host":"127.0.0.1"}]}));
    assert!(validate(&r, true).is_err());
}

#[test]
fn obtain_urls() {
    let cases: &[(&str, bool)] = &[
        ("https://example.com", true),
        ("http://example.com/x?y#z", true),
        ("HTTPS://example.com", true),
        ("https://user:pw@example.com:8443/path", true),
        ("https://[::1]:443/", true),
        ("https://:80", true),
        ("https://", false),
        ("https:///path", false),
        ("https://user@", false),
        ("https:example.com", false),
        ("example.com", false),
        ("//example.com", false),
        ("javascript://example.com", false),
        ("ftp://example.com", false),
        ("https://exa mple.com", false),
        ("https://example.com:port", false),
        ("https://example.com\n", false),
        ("https://[::1", false),
        ("https://[::1]x", false),
        ("", false),
    ];
    for (url, ok) in cases {
        assert_eq!(is_http_url(url), *ok, "{url:?}");
    }
}

#[test]
fn credential_refs() {
    let r = req(json!({
        "services":[{"action":"set","host":"a.com","auth":{"type":"basic","username":"U","password":"P"}},
                    {"action":"delete","host":"b.com","auth":bearer("IGNORED")}],
        "credentials":[{"action":"set","key":"U"},{"action":"delete","key":"P"}]
    }));
    assert_eq!(
        validate_credential_refs(&r, &[] as &[&str]),
        Err("credential \"P\" referenced in service for \"a.com\" is not provided in this proposal and does not exist in the vault".into())
    );
    assert_eq!(validate_credential_refs(&r, &["P"]), Ok(()));
    assert_eq!(validate_credential_refs(&r, &["P".to_owned()]), Ok(()));
    let none = req(json!({"credentials":[{"action":"set","key":"X"}]}));
    assert_eq!(validate_credential_refs(&none, &[] as &[String]), Ok(()));
}

fn svc(host: &str, key: &str, description: Option<&str>) -> Service {
    Service {
        host: host.into(),
        description: description.map(str::to_owned),
        auth: serde_json::from_value(bearer(key)).unwrap(),
    }
}

fn change(action: &str, host: &str, key: &str, description: &str) -> ProposalService {
    ProposalService {
        action: action.into(),
        host: host.into(),
        description: description.into(),
        auth: (action == "set").then(|| serde_json::from_value(bearer(key)).unwrap()),
    }
}

#[test]
fn merge() {
    let existing = vec![
        svc("a.com", "A", Some("first")),
        svc("b.com", "B", None),
        svc("c.com", "C", None),
    ];
    // Replace in place, append, delete, ignore unknown delete; empty description → null.
    let merged = merge_services(
        existing.clone(),
        &[
            change("set", "b.com", "B2", ""),
            change("set", "d.com", "D", "new"),
            change("delete", "a.com", "", ""),
            change("delete", "zzz.com", "", ""),
        ],
    );
    assert_eq!(
        merged,
        vec![
            svc("b.com", "B2", None),
            svc("c.com", "C", None),
            svc("d.com", "D", Some("new"))
        ]
    );
    // Set after delete of the same host appends a fresh entry.
    let merged = merge_services(
        existing.clone(),
        &[
            change("delete", "a.com", "", ""),
            change("set", "a.com", "A2", ""),
        ],
    );
    assert_eq!(
        merged,
        vec![
            svc("b.com", "B", None),
            svc("c.com", "C", None),
            svc("a.com", "A2", None)
        ]
    );
    // Two sets of a new host: the second replaces the appended one.
    let merged = merge_services(
        Vec::new(),
        &[
            change("set", "x.com", "X1", ""),
            change("set", "x.com", "X2", "d"),
        ],
    );
    assert_eq!(merged, vec![svc("x.com", "X2", Some("d"))]);
    // Set then delete of a new host removes it again.
    let merged = merge_services(
        existing.clone(),
        &[
            change("set", "x.com", "X", ""),
            change("delete", "x.com", "", ""),
        ],
    );
    assert_eq!(merged, existing);
    // Exact host string: case and whitespace differences are different hosts.
    let merged = merge_services(existing.clone(), &[change("delete", "A.com", "", "")]);
    assert_eq!(merged, existing);
    // Duplicate hosts in the stored list: the first (the effective one) is changed.
    let dup = vec![svc("a.com", "A", None), svc("a.com", "A_SHADOW", None)];
    let merged = merge_services(dup, &[change("delete", "a.com", "", "")]);
    assert_eq!(merged, vec![svc("a.com", "A_SHADOW", None)]);
    assert_eq!(merge_services(Vec::new(), &[]), Vec::<Service>::new());
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn validate_never_panics(json in "\\PC{0,200}", dev in any::<bool>()) {
            if let Ok(r) = serde_json::from_str::<ProposalRequest>(&json) {
                let _ = validate(&r, dev);
                let _ = validate_credential_refs(&r, &["A"]);
            }
        }

        #[test]
        fn obtain_url_never_panics(url in "\\PC{0,60}") {
            let _ = is_http_url(&url);
        }

        #[test]
        fn merge_keeps_unrelated_services(n in 0usize..8, ops in proptest::collection::vec((any::<bool>(), 0usize..12), 0..12)) {
            let existing: Vec<Service> = (0..n).map(|i| svc(&format!("h{i}.com"), "K", None)).collect();
            let changes: Vec<ProposalService> = ops.iter()
                .map(|(set, i)| change(if *set { "set" } else { "delete" }, &format!("h{i}.com"), "K2", ""))
                .collect();
            let merged = merge_services(existing.clone(), &changes);
            // Hosts are unique after a merge of unique hosts, and untouched services survive unchanged.
            let mut hosts: Vec<&str> = merged.iter().map(|s| s.host.as_str()).collect();
            let before = hosts.len();
            hosts.sort_unstable();
            hosts.dedup();
            prop_assert_eq!(hosts.len(), before);
            for s in &existing {
                if !changes.iter().any(|c| c.host == s.host) {
                    prop_assert!(merged.contains(s));
                }
            }
        }
    }
}
