//! Building the headers a service's auth injects (reference §4.13 "Header resolution").
//!
//! Credentials are decrypted here, one at a time, into zeroizing buffers that are wiped as
//! soon as the header value is built. Any missing key or failed decryption aborts the whole
//! injection without saying which key (the caller answers `credential_not_found`).

use av_store::crypto::{MasterKey, Sealed};
use base64::Engine;
use http::{HeaderName, HeaderValue};
use zeroize::Zeroizing;

use av_store::services::CompiledAuth;

use crate::view::FastMap;

/// The injection failed: a credential is missing, undecryptable or not a valid header value.
#[derive(Debug, PartialEq, Eq)]
pub struct Unresolved;

/// Headers to set on the upstream request (each replaces any same-named header).
pub type Injected = Vec<(HeaderName, HeaderValue)>;

/// Resolves `auth` against a vault's sealed credentials.
pub fn build(
    auth: &CompiledAuth,
    credentials: &FastMap<String, Sealed>,
    key: &MasterKey,
) -> Result<Injected, Unresolved> {
    let open = |name: &str| -> Result<Zeroizing<String>, Unresolved> {
        let sealed = credentials.get(name).ok_or(Unresolved)?;
        key.open_string(&sealed.ciphertext, &sealed.nonce)
            .map_err(|_| Unresolved)
    };
    let authorization = HeaderName::from_static("authorization");
    match auth {
        CompiledAuth::Bearer { token } => {
            let token = open(token)?;
            Ok(vec![(authorization, value(&["Bearer ", &token])?)])
        }
        CompiledAuth::Basic { username, password } => {
            let mut pair = Zeroizing::new(String::new());
            pair.push_str(&open(username)?);
            pair.push(':');
            if let Some(password) = password {
                pair.push_str(&open(password)?);
            }
            let encoded =
                Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(pair.as_bytes()));
            Ok(vec![(authorization, value(&["Basic ", &encoded])?)])
        }
        CompiledAuth::ApiKey {
            key: name,
            header,
            prefix,
        } => {
            let name_h = HeaderName::from_bytes(header.as_bytes()).map_err(|_| Unresolved)?;
            let secret = open(name)?;
            Ok(vec![(name_h, value(&[prefix, &secret])?)])
        }
        CompiledAuth::Custom { headers } => {
            let mut out = Vec::with_capacity(headers.len());
            for (name, template) in headers {
                let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| Unresolved)?;
                let mut text = Zeroizing::new(String::with_capacity(template.literal_len() + 64));
                template.render_into(&mut text, |key, out| {
                    out.push_str(&open(key)?);
                    Ok(())
                })?;
                out.push((name, value(&[&text])?));
            }
            Ok(out)
        }
    }
}

/// Concatenates parts into a header value marked sensitive (never indexed by HPACK).
fn value(parts: &[&str]) -> Result<HeaderValue, Unresolved> {
    let mut joined = Zeroizing::new(String::with_capacity(parts.iter().map(|p| p.len()).sum()));
    for p in parts {
        joined.push_str(p);
    }
    let mut v = HeaderValue::from_str(&joined).map_err(|_| Unresolved)?;
    v.set_sensitive(true);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::Services;

    fn creds(key: &MasterKey, pairs: &[(&str, &str)]) -> FastMap<String, Sealed> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), key.seal(v.as_bytes()).unwrap()))
            .collect()
    }

    fn first_auth(json: &str) -> CompiledAuth {
        Services::parse(json).unwrap().find("a").unwrap().clone()
    }

    fn show(h: &Injected) -> Vec<(String, String)> {
        h.iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .collect()
    }

    #[test]
    fn each_auth_type() {
        let key = MasterKey::from_bytes([7; 32]);
        let c = creds(&key, &[("TOK", "t0k"), ("USER", "u"), ("PASS", "p:w")]);
        let bearer = first_auth(r#"[{"host":"a","auth":{"type":"bearer","token":"TOK"}}]"#);
        assert_eq!(
            show(&build(&bearer, &c, &key).unwrap()),
            [("authorization".into(), "Bearer t0k".into())]
        );
        let basic = first_auth(
            r#"[{"host":"a","auth":{"type":"basic","username":"USER","password":"PASS"}}]"#,
        );
        assert_eq!(
            show(&build(&basic, &c, &key).unwrap())[0].1,
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("u:p:w")
            )
        );
        let basic = first_auth(r#"[{"host":"a","auth":{"type":"basic","username":"USER"}}]"#);
        assert_eq!(show(&build(&basic, &c, &key).unwrap())[0].1, "Basic dTo=");
        let api = first_auth(
            r#"[{"host":"a","auth":{"type":"api-key","key":"TOK","header":"X-Api-Key","prefix":"Key "}}]"#,
        );
        assert_eq!(
            show(&build(&api, &c, &key).unwrap()),
            [("x-api-key".into(), "Key t0k".into())]
        );
        let api = first_auth(r#"[{"host":"a","auth":{"type":"api-key","key":"TOK"}}]"#);
        assert_eq!(
            show(&build(&api, &c, &key).unwrap()),
            [("authorization".into(), "t0k".into())]
        );
        let custom = first_auth(
            r#"[{"host":"a","auth":{"type":"custom","headers":{"X-A":"{{ USER }}/{{TOK}}","X-Static":"v"}}}]"#,
        );
        assert_eq!(
            show(&build(&custom, &c, &key).unwrap()),
            [
                ("x-a".into(), "u/t0k".into()),
                ("x-static".into(), "v".into())
            ]
        );
    }

    #[test]
    fn missing_or_undecryptable_credentials_fail() {
        let key = MasterKey::from_bytes([7; 32]);
        let other = MasterKey::from_bytes([8; 32]);
        let bearer = first_auth(r#"[{"host":"a","auth":{"type":"bearer","token":"TOK"}}]"#);
        assert_eq!(build(&bearer, &FastMap::default(), &key), Err(Unresolved));
        let c = creds(&other, &[("TOK", "x")]);
        assert_eq!(build(&bearer, &c, &key), Err(Unresolved));
        let c = creds(&key, &[("TOK", "bad\nvalue")]);
        assert_eq!(build(&bearer, &c, &key), Err(Unresolved));
    }
}
