//! A blocking HTTP client for tests: any status is an answer (never an error), redirects are
//! returned rather than followed, and bodies are read whole.

use std::time::Duration;

use serde_json::Value;

/// A client; cheap to clone (connections are pooled).
#[derive(Clone)]
pub struct Http {
    agent: ureq::Agent,
}

impl Default for Http {
    fn default() -> Self {
        Http::new()
    }
}

impl Http {
    /// A client with a 60 s overall timeout per request.
    pub fn new() -> Http {
        Http::with_timeout(Duration::from_secs(60))
    }

    /// A client with the given overall timeout per request.
    pub fn with_timeout(timeout: Duration) -> Http {
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .timeout_global(Some(timeout))
                .build(),
        );
        Http { agent }
    }

    /// A client that trusts only the test CA (to call an [`super::Upstream`] directly).
    pub fn trusting_test_ca() -> Http {
        let pem = std::fs::read(super::test_ca_pem_path()).expect("test CA");
        let cert = ureq::tls::Certificate::from_pem(&pem).expect("test CA PEM");
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .timeout_global(Some(Duration::from_secs(60)))
                .tls_config(
                    ureq::tls::TlsConfig::builder()
                        .root_certs(ureq::tls::RootCerts::new_with_certs(&[cert]))
                        .build(),
                )
                .build(),
        );
        Http { agent }
    }

    /// A request with any method.
    pub fn request(&self, method: &str, url: &str) -> Req {
        Req {
            agent: self.agent.clone(),
            method: method.to_string(),
            url: url.to_string(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// `GET url`.
    pub fn get(&self, url: &str) -> Req {
        self.request("GET", url)
    }

    /// `POST url` with a JSON body.
    pub fn post(&self, url: &str, body: Value) -> Req {
        self.request("POST", url).json(body)
    }

    /// `PUT url` with a JSON body.
    pub fn put(&self, url: &str, body: Value) -> Req {
        self.request("PUT", url).json(body)
    }

    /// `PATCH url` with a JSON body.
    pub fn patch(&self, url: &str, body: Value) -> Req {
        self.request("PATCH", url).json(body)
    }

    /// `DELETE url` (add a body with `.json(..)`).
    pub fn delete(&self, url: &str) -> Req {
        self.request("DELETE", url)
    }
}

/// A request being built.
pub struct Req {
    agent: ureq::Agent,
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl Req {
    /// A JSON body (sets `Content-Type: application/json`).
    pub fn json(mut self, body: Value) -> Req {
        self.body = Some(body.to_string().into_bytes());
        self.header("content-type", "application/json")
    }

    /// A raw body, sent as is (no content type added).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Req {
        self.body = Some(body.into());
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Req {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// Adds (or replaces) a header.
    pub fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sends the request; panics only on transport errors (connection refused, timeout).
    pub fn send(self) -> Resp {
        let (method, url) = (self.method.clone(), self.url.clone());
        self.try_send()
            .unwrap_or_else(|e| panic!("{method} {url}: transport error: {e}"))
    }

    /// Sends the request; transport errors are returned.
    pub fn try_send(self) -> Result<Resp, ureq::Error> {
        let mut b = ureq::http::Request::builder()
            .method(self.method.as_str())
            .uri(self.url.as_str());
        for (k, v) in &self.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        let res = match self.body {
            Some(body) => self.agent.run(b.body(body)?)?,
            None => self.agent.run(b.body(())?)?,
        };
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut res = res;
        let bytes = res.body_mut().with_config().limit(u64::MAX).read_to_vec()?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Resp {
            status,
            headers,
            text,
            json,
            bytes,
        })
    }
}

/// A response, read whole.
#[derive(Clone, Debug)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers in order, names lowercase.
    pub headers: Vec<(String, String)>,
    /// Body as (lossy) UTF-8.
    pub text: String,
    /// Body parsed as JSON, `Null` when it is not JSON.
    pub json: Value,
    /// Raw body.
    pub bytes: Vec<u8>,
}

impl Resp {
    /// The first value of a header (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All values of a header.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A string field of the JSON body, or `""`.
    pub fn s(&self, key: &str) -> &str {
        self.json.get(key).and_then(Value::as_str).unwrap_or("")
    }
}
