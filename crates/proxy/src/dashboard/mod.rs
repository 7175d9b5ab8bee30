//! `/dashboard`: the savings page and its JSON API, read from the usage history
//! (`headroom_usage::query::Reader`, the same numbers as `headroom stats --json`).
//!
//! Served to loopback callers only, whose `Host` is a loopback name (a DNS-rebound page in the
//! user's browser must not read the history), and with `HEADROOM_PROXY_TOKEN` set only with that
//! token (`?token=` or `x-headroom-proxy-token`). The page is one HTML document with its CSS and
//! JS inlined, embedded in the binary; it inserts every value from the history as text.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::SystemTime;

use axum::Router;
use axum::extract::{Query, State as Shared};
use axum::response::{IntoResponse, Response as AxumResponse};
use axum::routing::get;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::json;

use headroom_usage::UsageError;
use headroom_usage::query::{self, Reader, Since};

use crate::body::{Body, BoxError};
use crate::server::{State, constant_time_eq};

const PAGE: &str = include_str!("page.html");
const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// The page's period when the API is asked without `?since=` (the page's default choice too).
const DEFAULT_SINCE: &str = "7d";
/// Rows of the page's request table.
const RECENT_MAX: usize = 200;

/// Inline script and style only; data only from this origin; nothing framed, nothing sent away.
const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

/// What the handlers need from the proxy's state (the router is built once, without it).
#[derive(Clone)]
struct Ctx {
    /// `None`: the proxy runs with `--no-usage-history`.
    db: Option<PathBuf>,
}

/// `/dashboard` and `/dashboard/...`.
pub async fn handle(state: &State, local: bool, req: Request<Incoming>) -> Response<Body> {
    if !local || !loopback_host(&req) {
        return refusal(
            StatusCode::FORBIDDEN,
            "the dashboard is served only to callers on this machine, at http://127.0.0.1:PORT/dashboard",
        );
    }
    if let Some(token) = state.config.token.as_deref()
        && !token_presented(&req, token)
    {
        return refusal(
            StatusCode::UNAUTHORIZED,
            "this headroom proxy requires its token: open /dashboard?token=<HEADROOM_PROXY_TOKEN> or send x-headroom-proxy-token",
        );
    }
    static ROUTES: OnceLock<Router<Ctx>> = OnceLock::new();
    let router = ROUTES.get_or_init(routes).clone().with_state(Ctx {
        db: state.config.usage.db.clone(),
    });
    let resp = call(router, req).await;
    resp.map(|b| b.map_err(|e| Box::new(e) as BoxError).boxed_unsync())
}

fn routes() -> Router<Ctx> {
    Router::new()
        .route("/dashboard", get(page))
        .route("/dashboard/", get(page))
        .route("/dashboard/api/summary", get(summary))
        .route("/dashboard/api/recent", get(recent))
        .route("/dashboard/api/series", get(series))
        .fallback(|| async {
            api_error(
                StatusCode::NOT_FOUND,
                "not_found",
                "the dashboard has /dashboard and /dashboard/api/{summary,recent,series}",
            )
        })
}

async fn call(mut router: Router, req: Request<Incoming>) -> AxumResponse {
    use tower_service::Service;
    // A Router is always ready and never fails (its error type is Infallible).
    let ready =
        std::future::poll_fn(|cx| Service::<Request<Incoming>>::poll_ready(&mut router, cx));
    match ready.await {
        Ok(()) => match router.call(req).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        },
        Err(never) => match never {},
    }
}

async fn page() -> AxumResponse {
    static HTML: OnceLock<String> = OnceLock::new();
    let html = HTML.get_or_init(|| {
        PAGE.replace("/*STYLE*/", STYLE)
            .replace("/*SCRIPT*/", SCRIPT)
    });
    let mut resp = html.as_str().into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    no_store(resp)
}

#[derive(Deserialize)]
struct Period {
    since: Option<String>,
}

impl Period {
    fn since(&self) -> Result<Since, query::ParseError> {
        self.since.as_deref().unwrap_or(DEFAULT_SINCE).parse()
    }
}

#[derive(Deserialize)]
struct Limit {
    limit: Option<usize>,
}

async fn summary(Shared(ctx): Shared<Ctx>, Query(q): Query<Period>) -> AxumResponse {
    let since = match q.since() {
        Ok(s) => s,
        Err(e) => return api_error(StatusCode::BAD_REQUEST, "bad_request", &e.to_string()),
    };
    read(ctx, move |r| r.stats(since, None, SystemTime::now())).await
}

async fn series(Shared(ctx): Shared<Ctx>, Query(q): Query<Period>) -> AxumResponse {
    let since = match q.since() {
        Ok(s) => s,
        Err(e) => return api_error(StatusCode::BAD_REQUEST, "bad_request", &e.to_string()),
    };
    read(ctx, move |r| r.series(since, SystemTime::now())).await
}

async fn recent(Shared(ctx): Shared<Ctx>, Query(q): Query<Limit>) -> AxumResponse {
    let limit = q.limit.unwrap_or(RECENT_MAX).min(RECENT_MAX);
    read(ctx, move |r| r.recent(limit)).await
}

/// Open the history read-only and run one query, off the async threads (SQLite blocks).
async fn read<T: serde::Serialize + Send + 'static>(
    ctx: Ctx,
    query: impl FnOnce(&Reader) -> Result<T, UsageError> + Send + 'static,
) -> AxumResponse {
    let Some(db) = ctx.db else {
        return api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "disabled",
            "usage history is off: this proxy was started with --no-usage-history",
        );
    };
    let result =
        tokio::task::spawn_blocking(move || Reader::open(&db).and_then(|r| query(&r))).await;
    match result {
        Ok(Ok(value)) => no_store(axum::Json(value).into_response()),
        Ok(Err(e)) => api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            &e.to_string(),
        ),
        Err(e) => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &format!("reading the usage history failed: {e}"),
        ),
    }
}

/// `{"state": …, "reason": …}`: the page shows the reason in its banner.
fn api_error(status: StatusCode, state: &str, reason: &str) -> AxumResponse {
    no_store(
        (
            status,
            axum::Json(json!({ "state": state, "reason": reason })),
        )
            .into_response(),
    )
}

fn no_store(mut resp: AxumResponse) -> AxumResponse {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// A refusal before routing, in the same JSON shape as the API's errors.
fn refusal(status: StatusCode, reason: &str) -> Response<Body> {
    let body = json!({ "state": "refused", "reason": reason }).to_string();
    let mut resp = Response::new(crate::body::full(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `Host` names this machine (`127.x.x.x`, `localhost`, `[::1]`, any port). A page on another
/// site whose name was re-pointed at 127.0.0.1 sends its own name here, and is refused.
fn loopback_host<B>(req: &Request<B>) -> bool {
    let Some(host) = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
    else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The token as `?token=` or `x-headroom-proxy-token`, compared in constant time.
fn token_presented<B>(req: &Request<B>, token: &str) -> bool {
    let from_header = req
        .headers()
        .get("x-headroom-proxy-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let from_query = || {
        Query::<std::collections::HashMap<String, String>>::try_from_uri(req.uri())
            .ok()
            .and_then(|Query(mut q)| q.remove("token"))
    };
    from_header
        .or_else(from_query)
        .is_some_and(|p| constant_time_eq(p.as_bytes(), token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(host: &str, uri: &str) -> Request<()> {
        Request::builder()
            .uri(uri)
            .header(header::HOST, host)
            .body(())
            .unwrap()
    }

    #[test]
    fn only_loopback_host_names_are_served() {
        for ok in [
            "127.0.0.1:8787",
            "127.0.0.1",
            "localhost:1",
            "LOCALHOST",
            "[::1]:8787",
            "127.1.2.3:9",
        ] {
            assert!(loopback_host(&req(ok, "/dashboard")), "{ok}");
        }
        for bad in [
            "evil.example:8787",
            "127.0.0.1.evil.example",
            "[::2]:1",
            "",
            "localhost.evil:1",
        ] {
            assert!(!loopback_host(&req(bad, "/dashboard")), "{bad}");
        }
    }

    #[test]
    fn the_token_is_taken_from_the_query_or_the_header() {
        let t = "s3cr&t=x";
        assert!(token_presented(
            &req("127.0.0.1", "/dashboard?a=1&token=s3cr%26t%3Dx"),
            t
        ));
        let mut r = req("127.0.0.1", "/dashboard/api/summary");
        assert!(!token_presented(&r, t));
        r.headers_mut().insert(
            "x-headroom-proxy-token",
            HeaderValue::from_static("s3cr&t=x"),
        );
        assert!(token_presented(&r, t));
        assert!(!token_presented(
            &req("127.0.0.1", "/dashboard?token=s3cr"),
            t
        ));
    }

    #[test]
    fn the_page_is_self_contained() {
        let html = PAGE
            .replace("/*STYLE*/", STYLE)
            .replace("/*SCRIPT*/", SCRIPT);
        assert!(!html.contains("/*STYLE*/") && !html.contains("/*SCRIPT*/"));
        // Nothing loaded from anywhere else, and no markup built from strings.
        for banned in [
            "http://",
            "https://",
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
        ] {
            let hits: Vec<_> = html
                .match_indices(banned)
                .filter(|(i, _)| !html[*i..].starts_with("http://www.w3.org/2000/svg"))
                .collect();
            assert!(hits.is_empty(), "{banned} in the page");
        }
        assert!(
            html.len() < 32 * 1024,
            "the page grew to {} bytes",
            html.len()
        );
    }
}
