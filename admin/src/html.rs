//! The server-rendered pages' shared parts (home, invite and approval pages): escaping (every
//! piece of text that came from a request or the database goes through [`esc`] before it is
//! rendered), the page frame and urlencoded form fields.

use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A whole page: the shared frame (no scripts, inline style only) around `body_html`.
pub fn page(status: StatusCode, title: &str, body_html: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{t} · Agent Vault</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}}\
h1{{font-size:1.4rem}}label{{display:block;margin:.8rem 0 .2rem}}\
input{{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}}\
button{{margin-top:1rem;padding:.6rem 1.2rem;font-size:1rem}}.err{{color:#b00020}}\
code{{background:#f3f3f3;padding:.1rem .3rem}}</style></head>\
<body><h1>{t}</h1>\n{body_html}\n</body></html>\n",
        t = esc(title)
    );
    (status, [(CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

/// A field of an `application/x-www-form-urlencoded` body, decoded; `None` when absent or
/// not valid percent-encoded UTF-8.
pub fn form_field(form: &[u8], name: &str) -> Option<String> {
    fn decode(s: &[u8]) -> Option<String> {
        let mut out = Vec::with_capacity(s.len());
        let mut i = 0;
        while i < s.len() {
            match s[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = std::str::from_utf8(s.get(i + 1..i + 3)?).ok()?;
                    out.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).ok()
    }
    form.split(|b| *b == b'&').find_map(|pair| {
        let mut kv = pair.splitn(2, |b| *b == b'=');
        let k = decode(kv.next()?)?;
        (k == name).then(|| decode(kv.next().unwrap_or(b"")))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_decode() {
        let f = b"password=p%40ss+word%21&confirm=x";
        assert_eq!(form_field(f, "password").as_deref(), Some("p@ss word!"));
        assert_eq!(form_field(f, "confirm").as_deref(), Some("x"));
        assert_eq!(form_field(f, "missing"), None);
        assert_eq!(form_field(b"password=%zz", "password"), None);
        assert_eq!(form_field(b"password=%4", "password"), None);
    }
}
