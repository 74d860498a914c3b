use super::*;
use serde_json::json;

fn auth(v: serde_json::Value) -> Auth {
    serde_json::from_value(v).expect("auth decodes")
}

fn service(host: &str, a: serde_json::Value) -> Service {
    Service {
        host: host.to_owned(),
        description: None,
        auth: auth(a),
    }
}

#[test]
fn serde_round_trip_and_shape() {
    let raw = json!([
        {"host":"api.stripe.com","auth":{"type":"bearer","token":"STRIPE_KEY"}},
        {"host":"*.github.com","description":"GitHub","auth":{"type":"basic","username":"U","password":""}},
        {"host":"x.example.com","description":null,"auth":{"type":"custom","headers":{"X-B":"{{ B }}","X-A":"k={{A}}"}}},
        {"host":"y.example.com","auth":{"type":"api-key","key":"K","header":null,"prefix":"Token "}, "extra": 1}
    ]);
    let services: Vec<Service> = serde_json::from_value(raw).unwrap();
    let out = serde_json::to_value(&services).unwrap();
    assert_eq!(
        out,
        json!([
            {"host":"api.stripe.com","description":null,"auth":{"type":"bearer","token":"STRIPE_KEY"}},
            {"host":"*.github.com","description":"GitHub","auth":{"type":"basic","username":"U"}},
            {"host":"x.example.com","description":null,"auth":{"type":"custom","headers":{"X-A":"k={{A}}","X-B":"{{ B }}"}}},
            {"host":"y.example.com","description":null,"auth":{"type":"api-key","key":"K","prefix":"Token "}}
        ])
    );
    // Header order in the serialized form is sorted, as the reference re-serializes it.
    let text = serde_json::to_string(&services[2]).unwrap();
    assert!(text.find("X-A").unwrap() < text.find("X-B").unwrap());
    // Missing and null parts decode to empty and are reported by validation, not by serde.
    let empty: Service = serde_json::from_value(json!({"host":null,"auth":null})).unwrap();
    assert_eq!(empty, Service::default());
    let empty: Service = serde_json::from_value(json!({})).unwrap();
    assert_eq!(empty, Service::default());
    assert!(serde_json::from_value::<Service>(json!({"host":1})).is_err());
    assert!(
        serde_json::from_value::<Service>(json!({"host":"a","auth":{"headers":{"A":1}}})).is_err()
    );
}

#[test]
fn auth_validation_messages() {
    let cases: Vec<(serde_json::Value, Result<(), &str>)> = vec![
        (json!({"type":"bearer","token":"T"}), Ok(())),
        (json!({"type":"basic","username":"U"}), Ok(())),
        (json!({"type":"basic","username":"U","password":"P"}), Ok(())),
        (json!({"type":"api-key","key":"K"}), Ok(())),
        (json!({"type":"api-key","key":"K","header":"X-Api-Key","prefix":"Token "}), Ok(())),
        (json!({"type":"custom","headers":{"X-A":"static"}}), Ok(())),
        (json!({"type":"custom","headers":{"X-A":"a {{ A_1 }} b {{B}}"}}), Ok(())),
        (json!({}), Err("auth: type is required (supported: bearer, basic, api-key, custom)")),
        (json!({"type":"oauth"}), Err("auth: unsupported type \"oauth\" (supported: bearer, basic, api-key, custom)")),
        (json!({"type":"Bearer","token":"T"}), Err("auth: unsupported type \"Bearer\" (supported: bearer, basic, api-key, custom)")),
        (json!({"type":"bearer"}), Err("auth: \"token\" is required for bearer auth")),
        (json!({"type":"bearer","token":""}), Err("auth: \"token\" is required for bearer auth")),
        (json!({"type":"bearer","token":"T","username":"U"}), Err("auth: unexpected field \"username\" for bearer auth (only token)")),
        (json!({"type":"bearer","token":"T","headers":{"A":"b"}}), Err("auth: unexpected field \"headers\" for bearer auth (only token)")),
        (json!({"type":"bearer","token":"stripe_key"}), Err("auth: token \"stripe_key\" must be UPPER_SNAKE_CASE (e.g. STRIPE_KEY)")),
        (json!({"type":"basic"}), Err("auth: \"username\" is required for basic auth")),
        (json!({"type":"basic","password":"P"}), Err("auth: \"username\" is required for basic auth")),
        (json!({"type":"basic","username":"U","token":"T"}), Err("auth: unexpected field \"token\" for basic auth (only username, password)")),
        (json!({"type":"basic","username":"u"}), Err("auth: username \"u\" must be UPPER_SNAKE_CASE (e.g. STRIPE_KEY)")),
        (json!({"type":"basic","username":"U","password":"p w"}), Err("auth: password \"p w\" must be UPPER_SNAKE_CASE (e.g. STRIPE_KEY)")),
        (json!({"type":"api-key"}), Err("auth: \"key\" is required for api-key auth")),
        (json!({"type":"api-key","key":"K","password":"P"}), Err("auth: unexpected field \"password\" for api-key auth (only key, header, prefix)")),
        (json!({"type":"api-key","key":"1K"}), Err("auth: key \"1K\" must be UPPER_SNAKE_CASE (e.g. STRIPE_KEY)")),
        (json!({"type":"api-key","key":"K","header":"X Api"}), Err("auth: invalid header name \"X Api\" — only letters, digits, and hyphens allowed")),
        (json!({"type":"api-key","key":"K","header":"Host"}), Err("auth: header \"Host\" cannot be injected (it is managed by the proxy)")),
        (json!({"type":"api-key","key":"K","prefix":"a\r\nX-Evil: 1"}), Err("auth: prefix contains a line break or control character")),
        (json!({"type":"custom"}), Err("auth: \"headers\" is required for custom auth")),
        (json!({"type":"custom","headers":{}}), Err("auth: \"headers\" is required for custom auth")),
        (json!({"type":"custom","headers":{"A":"b"},"token":"T"}), Err("auth: unexpected field \"token\" for custom auth (only headers)")),
        (json!({"type":"custom","headers":{"X_A":"b"}}), Err("auth: invalid header name \"X_A\" — only letters, digits, and hyphens allowed")),
        (json!({"type":"custom","headers":{"":"b"}}), Err("auth: invalid header name \"\" — only letters, digits, and hyphens allowed")),
        (json!({"type":"custom","headers":{"X-A\n":"b"}}), Err("auth: invalid header name \"X-A\\n\" — only letters, digits, and hyphens allowed")),
        (json!({"type":"custom","headers":{"Transfer-Encoding":"chunked"}}), Err("auth: header \"Transfer-Encoding\" cannot be injected (it is managed by the proxy)")),
        (json!({"type":"custom","headers":{"X-A":"{{ lower }}"}}), Err("auth: invalid credential key \"lower\" in header \"X-A\" — must be UPPER_SNAKE_CASE")),
        (json!({"type":"custom","headers":{"X-A":"{{ _X }}"}}), Err("auth: invalid credential key \"_X\" in header \"X-A\" — must be UPPER_SNAKE_CASE")),
        (json!({"type":"custom","headers":{"X-A":"v\r\nX-Evil: 1"}}), Err("auth: header \"X-A\" value contains a line break or control character")),
        // Not a placeholder under the reference's pattern: literal text, accepted.
        (json!({"type":"custom","headers":{"X-A":"{{ A-B }} {{}} {{ {x}"}}), Ok(())),
    ];
    for (input, want) in cases {
        let got = auth(input.clone()).validate();
        assert_eq!(got, want.map_err(str::to_owned), "{input}");
    }
}

#[test]
fn credential_keys_per_type() {
    let cases: Vec<(serde_json::Value, Vec<&str>)> = vec![
        (json!({"type":"bearer","token":"T"}), vec!["T"]),
        (json!({"type":"basic","username":"U"}), vec!["U"]),
        (
            json!({"type":"basic","username":"U","password":"P"}),
            vec!["U", "P"],
        ),
        (json!({"type":"api-key","key":"K","header":"X"}), vec!["K"]),
        (
            json!({"type":"custom","headers":{"B":"{{ Y }}{{X}}","A":"{{X}} {{ Z }} {{X}}"}}),
            vec!["X", "Z", "Y"],
        ),
        (json!({"type":"custom","headers":{"A":"static"}}), vec![]),
        (json!({"type":"nope","token":"T"}), vec![]),
    ];
    for (input, want) in cases {
        let a = auth(input.clone());
        assert_eq!(a.credential_keys(), want, "{input}");
        for k in want {
            assert!(a.references(k));
        }
        assert!(!a.references("OTHER"));
    }
}

#[test]
fn templates() {
    let cases: &[(&str, &[&str], &str)] = &[
        ("", &[], ""),
        ("static", &[], "static"),
        ("{{A}}", &["A"], "<A>"),
        ("{{ A }}", &["A"], "<A>"),
        ("{{\t\r\n\x0cA \n}}", &["A"], "<A>"),
        ("x{{A}}y{{ B }}z", &["A", "B"], "x<A>y<B>z"),
        ("{{{A}}}", &["A"], "{<A>}"),
        ("{{ A-B }}", &[], "{{ A-B }}"),
        ("{{}}", &[], "{{}}"),
        ("{{ }}", &[], "{{ }}"),
        ("{{A}", &[], "{{A}"),
        ("{{A", &[], "{{A"),
        ("}}{{", &[], "}}{{"),
        ("{{A}}{{A}}", &["A", "A"], "<A><A>"),
        ("{{ a_b9 }}", &["a_b9"], "<a_b9>"),
        ("{{\u{a0}A}}", &[], "{{\u{a0}A}}"),
        ("é{{A}}ü", &["A"], "é<A>ü"),
        ("{{ A B }}", &[], "{{ A B }}"),
    ];
    for (text, keys, rendered) in cases {
        let t = Template::parse(text);
        assert_eq!(t.keys().collect::<Vec<_>>(), *keys, "{text:?}");
        let mut out = String::new();
        t.render_into(&mut out, |k, out| {
            out.push('<');
            out.push_str(k);
            out.push('>');
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(out, *rendered, "{text:?}");
    }
    // The first failing lookup aborts.
    let t = Template::parse("{{A}}{{B}}{{C}}");
    let mut seen = Vec::new();
    let err = t.render_into(&mut String::new(), |k, _| {
        seen.push(k.to_owned());
        if k == "B" {
            Err("missing")
        } else {
            Ok(())
        }
    });
    assert_eq!(err, Err("missing"));
    assert_eq!(seen, ["A", "B"]);
    assert_eq!(Template::parse("ab{{X}}cd").literal_len(), 4);
}

#[test]
fn compile() {
    assert_eq!(
        auth(json!({"type":"api-key","key":"K"})).compile(),
        Some(CompiledAuth::ApiKey {
            header: "Authorization".into(),
            prefix: String::new(),
            key: "K".into()
        })
    );
    assert_eq!(
        auth(json!({"type":"basic","username":"U"})).compile(),
        Some(CompiledAuth::Basic {
            username: "U".into(),
            password: None
        })
    );
    assert_eq!(
        auth(json!({"type":"bearer","token":"T"})).compile(),
        Some(CompiledAuth::Bearer { token: "T".into() })
    );
    match auth(json!({"type":"custom","headers":{"X-B":"{{B}}","X-A":"a"}})).compile() {
        Some(CompiledAuth::Custom { headers }) => {
            let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["X-A", "X-B"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(auth(json!({"type":"x"})).compile(), None);
}

#[test]
fn host_rules() {
    let cases: &[(&str, bool, Result<(), &str>)] = &[
        ("api.stripe.com", false, Ok(())),
        ("API.Stripe.COM", false, Ok(())),
        ("  api.stripe.com  ", false, Ok(())),
        ("a-b.c-d.io", false, Ok(())),
        ("*.github.com", false, Ok(())),
        ("*.co.uk", false, Ok(())),
        ("xn--bcher-kva.example", false, Ok(())),
        ("", false, Err("host is empty")),
        ("   ", false, Err("host is empty")),
        ("a@b.com", false, Err("host \"a@b.com\" contains invalid character '@'")),
        ("a?b.com", false, Err("host \"a?b.com\" contains invalid character '?'")),
        ("a#b.com", false, Err("host \"a#b.com\" contains invalid character '#'")),
        ("a b.com", false, Err("host \"a b.com\" contains invalid character ' '")),
        ("a\u{0}b.com", false, Err("host \"a\\x00b.com\" contains invalid character '\\x00'")),
        ("a\u{85}b.com", false, Err("host \"a\\u0085b.com\" contains invalid character '\\u0085'")),
        ("1.2.3.4", false, Err("host \"1.2.3.4\" must be a hostname, not an IP address")),
        (" 10.0.0.1 ", false, Err("host \" 10.0.0.1 \" must be a hostname, not an IP address")),
        ("::1", false, Err("host \"::1\" must be a hostname, not an IP address")),
        ("::ffff:1.2.3.4", false, Err("host \"::ffff:1.2.3.4\" must be a hostname, not an IP address")),
        ("[::1]", false, Err("host \"[::1]\" is not a valid hostname")),
        ("1.2.3.4:80", false, Err("host \"1.2.3.4:80\" is not a valid hostname")),
        ("01.2.3.4", false, Err("host \"01.2.3.4\" is not a valid hostname")),
        ("*", false, Err("host \"*\": bare wildcard is not allowed")),
        ("**.a.com", false, Err("host \"**.a.com\": wildcard must be in the form *.example.com")),
        ("*a.com", false, Err("host \"*a.com\": wildcard must be in the form *.example.com")),
        ("*.", false, Err("host \"*.\": wildcard must have at least two domain levels (e.g. *.example.com)")),
        ("*.com", false, Err("host \"*.com\": wildcard must have at least two domain levels (e.g. *.example.com)")),
        ("*.localhost", true, Err("host \"*.localhost\": wildcard must have at least two domain levels (e.g. *.example.com)")),
        ("*..com", false, Err("host \"*..com\": invalid hostname in wildcard pattern")),
        ("*.*.a.com", false, Err("host \"*.*.a.com\": invalid hostname in wildcard pattern")),
        ("*.a.com:443", false, Err("host \"*.a.com:443\": invalid hostname in wildcard pattern")),
        ("*.a.c0m", false, Err("host \"*.a.c0m\": invalid hostname in wildcard pattern")),
        ("localhost", false, Err("host \"localhost\" is a local/internal name and is not allowed (set AGENT_VAULT_DEV_MODE=true to override)")),
        ("LocalHost", false, Err("host \"LocalHost\" is a local/internal name and is not allowed (set AGENT_VAULT_DEV_MODE=true to override)")),
        ("metadata.google.internal", false, Err("host \"metadata.google.internal\" is a local/internal name and is not allowed (set AGENT_VAULT_DEV_MODE=true to override)")),
        ("kubernetes.default", false, Err("host \"kubernetes.default\" is a local/internal name and is not allowed (set AGENT_VAULT_DEV_MODE=true to override)")),
        ("api.localhost", false, Err("host \"api.localhost\" is a local/internal name and is not allowed (set AGENT_VAULT_DEV_MODE=true to override)")),
        ("localhost", true, Ok(())),
        ("kubernetes", true, Ok(())),
        ("metadata.google.internal", true, Ok(())),
        ("api.localhost", true, Ok(())),
        ("localhost:8443", true, Err("host \"localhost:8443\" is not a valid hostname")),
        ("stripe", false, Err("host \"stripe\" is not a valid hostname")),
        ("api.stripe.com:443", false, Err("host \"api.stripe.com:443\" is not a valid hostname")),
        ("api.stripe.com.", false, Err("host \"api.stripe.com.\" is not a valid hostname")),
        (".api.stripe.com", false, Err("host \".api.stripe.com\" is not a valid hostname")),
        ("api..stripe.com", false, Err("host \"api..stripe.com\" is not a valid hostname")),
        ("-api.stripe.com", false, Err("host \"-api.stripe.com\" is not a valid hostname")),
        ("api-.stripe.com", false, Err("host \"api-.stripe.com\" is not a valid hostname")),
        ("api_x.stripe.com", false, Err("host \"api_x.stripe.com\" is not a valid hostname")),
        ("api.stripe.c", false, Err("host \"api.stripe.c\" is not a valid hostname")),
        ("api.stripe.c0m", false, Err("host \"api.stripe.c0m\" is not a valid hostname")),
        ("bücher.de", false, Err("host \"bücher.de\" is not a valid hostname")),
        ("a/b.com", false, Err("host \"a/b.com\" is not a valid hostname")),
        ("a\\b.com", false, Err("host \"a\\\\b.com\" is not a valid hostname")),
        ("a%2eb.com", false, Err("host \"a%2eb.com\" is not a valid hostname")),
        ("\"q\".com", false, Err("host \"\\\"q\\\".com\" is not a valid hostname")),
    ];
    for (host, dev, want) in cases {
        assert_eq!(
            validate_host(host, *dev),
            want.map_err(str::to_owned),
            "{host:?} dev={dev}"
        );
    }
    // DNS length limits.
    let label63 = "a".repeat(63);
    assert_eq!(validate_host(&format!("{label63}.com"), false), Ok(()));
    assert!(validate_host(&format!("{label63}a.com"), false).is_err());
    let long = format!("{}com", "abcdefghi.".repeat(26));
    assert!(long.len() > 253);
    assert!(validate_host(&long, false).is_err());
}

#[test]
fn services_list_validation() {
    let ok = service("api.stripe.com", json!({"type":"bearer","token":"T"}));
    assert_eq!(validate_services(&[], false), Ok(()));
    assert_eq!(validate_services(std::slice::from_ref(&ok), false), Ok(()));
    let cases: Vec<(Vec<Service>, &str)> = vec![
        (vec![ok.clone(), service("", json!({"type":"bearer","token":"T"}))], "service 1: host is required"),
        (vec![service(" ", json!({"type":"bearer","token":"T"}))], "service 0: host is empty"),
        (vec![service("10.0.0.1", json!({"type":"bearer","token":"T"}))], "service 0: host \"10.0.0.1\" must be a hostname, not an IP address"),
        (vec![service("*.com", json!({"type":"bearer","token":"T"}))], "service 0: host \"*.com\": wildcard must have at least two domain levels (e.g. *.example.com)"),
        (vec![ok.clone(), ok.clone(), service("a.com", json!({}))], "service 2: auth: type is required (supported: bearer, basic, api-key, custom)"),
        (vec![service("a.com", json!({"type":"bearer","token":"t"}))], "service 0: auth: token \"t\" must be UPPER_SNAKE_CASE (e.g. STRIPE_KEY)"),
        // Host problems are reported before auth problems.
        (vec![service("localhost", json!({}))], "service 0: host \"localhost\" is a local/internal name and is not allowed (set AGENT_VAULT_DEV_MODE=true to override)"),
    ];
    for (services, want) in cases {
        assert_eq!(validate_services(&services, false), Err(want.to_owned()));
    }
    assert_eq!(
        validate_services(
            &[service("localhost", json!({"type":"bearer","token":"T"}))],
            true
        ),
        Ok(())
    );
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn template_parse_never_panics_and_round_trips(text in "(\\{|\\}| |[A-Za-z0-9_]|\\PC){0,40}") {
            let t = Template::parse(&text);
            let mut out = String::new();
            // Rendering each key back as its own canonical placeholder text keeps literals intact.
            t.render_into(&mut out, |k, out| { out.push_str("{{"); out.push_str(k); out.push_str("}}"); Ok::<(), ()>(()) }).unwrap();
            let again = Template::parse(&out);
            prop_assert_eq!(t.keys().collect::<Vec<_>>(), again.keys().collect::<Vec<_>>());
        }

        #[test]
        fn host_rules_never_panic(host in "\\PC{0,80}", dev in any::<bool>()) {
            let _ = validate_host(&host, dev);
        }

        #[test]
        fn valid_hosts_accepted(labels in proptest::collection::vec("[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", 1..4), tld in "[a-z]{2,6}") {
            let host = format!("{}.{tld}", labels.join("."));
            prop_assert_eq!(validate_host(&host, false), Ok(()));
            let wildcard = format!("*.{host}");
            prop_assert_eq!(validate_host(&wildcard, false), Ok(()));
        }

        #[test]
        fn auth_decode_and_validate_never_panic(json in "\\PC{0,120}") {
            if let Ok(a) = serde_json::from_str::<Auth>(&json) {
                let _ = a.validate();
                let _ = a.credential_keys();
                let _ = a.compile();
            }
        }
    }
}
