//! The Pingora `ProxyHttp` implementation: each phase is a thin step over the modules that
//! hold the logic (route, plan, upstream, reply), sharing a typed per-request [`Ctx`].

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use av_store::crypto::MasterKey;
use av_store::token;
use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::modules::http::HttpModules;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorSource, ErrorType, Result};

use crate::config::ProxyConfig;
use crate::plan::{self, Ask, Caller, Plan};
use crate::reply::{Reject, SECURITY_FIELDS};
use crate::route::{self, Route, Target};
use crate::upstream::Upstreams;
use crate::view::View;

/// Response headers never passed back to the agent (hop-by-hop, and cookies).
static RESPONSE_STRIP: [HeaderName; 7] = [
    header::SET_COOKIE,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
];

/// The agent's vault selector, never forwarded.
static X_VAULT: HeaderName = HeaderName::from_static("x-vault");

/// Longest wait for an early catch-up of the view.
const CATCH_UP_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// The proxy service.
pub struct AgentVault {
    pub(crate) view: Arc<View>,
    pub(crate) key: Arc<MasterKey>,
    pub(crate) cfg: ProxyConfig,
    pub(crate) upstreams: Upstreams,
}

/// What one request has learned so far.
pub struct Ctx {
    started: Instant,
    target: Option<Target>,
    plan: Option<Plan>,
    upgrade: bool,
    request_bytes: u64,
    response_bytes: u64,
}

impl AgentVault {
    /// Decides the request; `Err` is the answer to send instead of proxying.
    fn admit(&self, session: &Session, ctx: &mut Ctx) -> std::result::Result<(), Reject> {
        if !self.view.catalog.load().initialized {
            return Err(Reject::not_initialized().maybe_stale());
        }
        let req = session.req_header();
        let target = match route::parse(req.raw_path()) {
            Route::Elsewhere => return Err(Reject::not_found()),
            Route::Invalid(reject) => return Err(reject),
            Route::Proxy(target) => target,
        };
        let header = |name: &HeaderName| req.headers.get(name).map(HeaderValue::as_bytes);
        let plan = plan::decide(
            &self.view,
            &self.key,
            &Ask {
                target: &target,
                token: token::from_request(
                    header(&header::AUTHORIZATION),
                    req.headers
                        .get_all(header::COOKIE)
                        .iter()
                        .map(HeaderValue::as_bytes),
                ),
                x_vault: header(&X_VAULT),
                now: av_store::time::unix_now(),
            },
        )?;
        if let Some(limit) = self.cfg.max_request_body {
            let declared = header(&header::CONTENT_LENGTH)
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            if declared.is_some_and(|n| n > limit) {
                return Err(Reject::request_too_large(limit));
            }
        }
        ctx.upgrade = session.is_upgrade_req();
        ctx.target = Some(target);
        ctx.plan = Some(plan);
        Ok(())
    }

    /// The answer for a failure Pingora reports (`None`: the client is gone).
    fn failure_reply(&self, e: &Error, ctx: &Ctx) -> Option<Reject> {
        let host = ctx.target.as_ref().map_or("", |t| t.raw.as_str());
        match (e.etype(), e.esource()) {
            (ErrorType::HTTPStatus(413), _) => Some(Reject::request_too_large(
                self.cfg.max_request_body.unwrap_or_default(),
            )),
            (ErrorType::HTTPStatus(code), _) => Some(Reject::plain(*code, "Request failed")),
            (ErrorType::ReadTimedout, ErrorSource::Upstream) => {
                Some(Reject::upstream_timeout(host))
            }
            (_, ErrorSource::Upstream) => Some(Reject::upstream_error(host)),
            (
                ErrorType::ReadError | ErrorType::WriteError | ErrorType::ConnectionClosed,
                ErrorSource::Downstream,
            ) => None,
            (_, ErrorSource::Downstream) => {
                Some(Reject::coded(400, "bad_request", "Malformed request"))
            }
            _ => Some(Reject::coded(500, "internal", "Internal proxy error")),
        }
    }
}

#[async_trait]
impl ProxyHttp for AgentVault {
    type CTX = Ctx;

    /// No downstream modules: the default adds a response-compression module (disabled) whose
    /// per-request context and filters cost time on every request for nothing.
    fn init_downstream_modules(&self, _modules: &mut HttpModules) {}

    /// An agent hanging up mid-request is not a proxy error: our own request line records it.
    fn suppress_error_log(&self, _session: &Session, _ctx: &Ctx, e: &Error) -> bool {
        e.esource() == &ErrorSource::Downstream
            && matches!(
                e.etype(),
                ErrorType::ConnectionClosed | ErrorType::ReadError | ErrorType::WriteError
            )
    }

    fn new_ctx(&self) -> Ctx {
        Ctx {
            started: Instant::now(),
            target: None,
            plan: None,
            upgrade: false,
            request_bytes: 0,
            response_bytes: 0,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let mut outcome = self.admit(session, ctx);
        if outcome.as_ref().is_err_and(|r| r.stale) {
            // Perhaps written a moment ago (a token just minted): look again after a catch-up.
            self.view.catch_up_now(CATCH_UP_WAIT).await;
            outcome = self.admit(session, ctx);
        }
        match outcome {
            Ok(()) => Ok(false),
            Err(reject) => {
                reject.send(session).await?;
                Ok(true)
            }
        }
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let target = ctx
            .target
            .as_ref()
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no target"))?;
        let addr = self
            .upstreams
            .resolve(&target.host, target.port)
            .await
            .map_err(|e| Error::explain(ErrorType::ConnectError, format!("{e:?}")).into_up())?;
        Ok(Box::new(self.upstreams.peer(addr, target, ctx.upgrade)))
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        up: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let (Some(target), Some(plan)) = (ctx.target.as_ref(), ctx.plan.as_mut()) else {
            return Error::e_explain(ErrorType::InternalError, "request not planned");
        };
        up.set_raw_path(&target.path)?;
        up.remove_header(&header::AUTHORIZATION);
        up.remove_header(&X_VAULT);
        let carries_session =
            |v: &HeaderValue| token::cookie(v.as_bytes(), token::SESSION_COOKIE).is_some();
        if up
            .headers
            .get_all(header::COOKIE)
            .iter()
            .any(carries_session)
        {
            strip_session_cookie(up)?;
        }
        up.insert_header(header::HOST, target.host_header())?;
        for (name, value) in plan.inject.drain(..) {
            up.insert_header(name, value)?;
        }
        Ok(())
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if let Some(chunk) = body {
            ctx.request_bytes += chunk.len() as u64;
            if self
                .cfg
                .max_request_body
                .is_some_and(|limit| ctx.request_bytes > limit)
            {
                return Error::e_explain(ErrorType::HTTPStatus(413), "request body over the cap");
            }
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        resp: &mut ResponseHeader,
        _ctx: &mut Ctx,
    ) -> Result<()> {
        strip_response_headers(resp);
        if let Some(limit) = self.cfg.max_response_body {
            let declared = resp
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            if declared.is_some_and(|n| n > limit) {
                return Error::e_explain(
                    ErrorType::Custom("response_too_large"),
                    "response body over the cap",
                );
            }
        }
        for (name, written, value) in SECURITY_FIELDS.iter() {
            if !resp.headers.contains_key(name) {
                resp.insert_header(written.clone(), value.clone())?;
            }
        }
        Ok(())
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<std::time::Duration>> {
        if let Some(chunk) = body {
            ctx.response_bytes += chunk.len() as u64;
            if self
                .cfg
                .max_response_body
                .is_some_and(|limit| ctx.response_bytes > limit)
            {
                tracing::warn!("upstream response exceeded the configured cap; aborting it");
                return Error::e_explain(
                    ErrorType::Custom("response_too_large"),
                    "response body over the cap",
                );
            }
        }
        Ok(None)
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let reply = if matches!(e.etype(), ErrorType::Custom("response_too_large")) {
            Some(Reject::response_too_large(
                self.cfg.max_response_body.unwrap_or_default(),
            ))
        } else {
            self.failure_reply(e, ctx)
        };
        let mut code = 0;
        if let Some(reply) = reply {
            if session.response_written().is_none() {
                code = reply.status;
                // The connection is not reused after a failure: say so, or a pooling client
                // sends its next request into a closing socket.
                session.set_keepalive(None);
                if let Err(err) = reply.send(session).await {
                    tracing::debug!(error = %err, "could not send the error answer");
                }
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let (kind, agent) = match ctx.plan.as_ref().map(|p| &p.caller) {
            Some(Caller::Agent(agent)) => ("agent", agent.name.as_str()),
            Some(Caller::Session) => ("session", ""),
            None => ("", ""),
        };
        tracing::info!(
            target: "av_proxy::request",
            caller = kind,
            agent,
            vault = ctx.plan.as_ref().map_or("", |p| p.vault.name.as_str()),
            host = ctx.target.as_ref().map_or("", |t| t.raw.as_str()),
            method = %session.req_header().method,
            status,
            request_bytes = ctx.request_bytes,
            response_bytes = ctx.response_bytes,
            latency_ms = %format_args!("{:.3}", ctx.started.elapsed().as_secs_f64() * 1000.0),
            error = e.map(|e| e.etype().as_str()).unwrap_or(""),
            "proxied request"
        );
    }
}

/// Drops the `av_session` cookie (the agent's token when it authenticated by cookie) from the
/// `Cookie` fields sent upstream, keeping every other cookie.
fn strip_session_cookie(up: &mut RequestHeader) -> Result<()> {
    let kept: Vec<Vec<u8>> = up
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| token::without_session_cookie(v.as_bytes()))
        .collect();
    up.remove_header(&header::COOKIE);
    for field in kept {
        up.append_header(header::COOKIE, field)?;
    }
    Ok(())
}

/// Removes hop-by-hop fields and `Set-Cookie`: the fixed list, `Upgrade`, and the fields
/// `Connection` names (a `101` switch keeps `Connection` and `Upgrade`, which it needs).
/// `Connection` itself Pingora rewrites for the agent's own connection. One pass over the
/// fields finds them all; the usual response has none and costs no lookups.
fn strip_response_headers(resp: &mut ResponseHeader) {
    let switching = resp.status.as_u16() == 101;
    let mut doomed: Vec<HeaderName> = Vec::new();
    for (name, value) in resp.headers.iter() {
        if RESPONSE_STRIP.contains(name) || (!switching && name == header::UPGRADE) {
            doomed.push(name.clone());
        } else if !switching && name == header::CONNECTION {
            let named = value
                .as_bytes()
                .split(|&b| b == b',')
                .map(<[u8]>::trim_ascii);
            doomed.extend(
                named
                    .filter(|n| {
                        !n.eq_ignore_ascii_case(b"keep-alive") && !n.eq_ignore_ascii_case(b"close")
                    })
                    .filter_map(|n| HeaderName::from_bytes(n).ok()),
            );
        }
    }
    for name in &doomed {
        resp.remove_header(name);
    }
}
