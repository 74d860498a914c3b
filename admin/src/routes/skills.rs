//! `GET /v1/skills/cli` and `/v1/skills/http` (reference §4.24): the guides an agent reads to
//! learn how to use Agent Vault, through the CLI or raw HTTP. They are embedded at build time
//! from `admin/skills/*.md` so the server always serves the guide matching its own behavior.

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

/// The CLI guide.
pub const CLI_SKILL: &str = include_str!("../../skills/cli.md");
/// The HTTP guide.
pub const HTTP_SKILL: &str = include_str!("../../skills/http.md");

/// Routes of this area.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/skills/cli", get(|| async { markdown(CLI_SKILL) }))
        .route("/v1/skills/http", get(|| async { markdown(HTTP_SKILL) }))
}

fn markdown(body: &'static str) -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/markdown; charset=utf-8")], body)
}
