//! `/livez`, `/readyz`, `/health`. Readiness never depends on reaching a provider: an offline
//! install must come up healthy. Upstream reachability is a separate, opt-in check.

use std::sync::atomic::Ordering;

use http::{HeaderValue, Response, StatusCode, header};
use serde_json::json;

use crate::body::{Body, full};
use crate::config::{ProxyConfig, Upstream};
use crate::egress::Egress;
use crate::probe;
use crate::server::State;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

fn json_response(status: StatusCode, value: serde_json::Value) -> Response<Body> {
    let mut resp = Response::new(full(value.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

pub fn livez() -> Response<Body> {
    json_response(StatusCode::OK, json!({ "status": "alive" }))
}

pub fn readyz(state: &State) -> Response<Body> {
    if state.ready.load(Ordering::SeqCst) {
        json_response(StatusCode::OK, json!({ "status": "ready" }))
    } else {
        json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "draining" }),
        )
    }
}

pub async fn health(state: &State, local: bool, check_upstreams: bool) -> Response<Body> {
    let ready = state.ready.load(Ordering::SeqCst);
    let upstreams = if check_upstreams {
        let egress = &state.config.egress;
        let (a, o) = tokio::join!(
            reachable(&state.config.anthropic, egress),
            reachable(&state.config.openai, egress)
        );
        json!({ "anthropic": a, "openai": o })
    } else {
        json!("not checked (GET /health?upstream=1 checks them)")
    };
    let mut body = json!({
        "status": if ready { "ok" } else { "draining" },
        "service": "headroom",
        "version": VERSION,
        "uptime_seconds": state.started.elapsed().as_secs_f64(),
        "checks": {
            "listener": if ready { "ok" } else { "draining" },
            "upstreams": upstreams,
        },
        "requests": {
            "total": state.metrics.requests_total(),
            "in_flight": state.metrics.in_flight(),
        },
    });
    describe_config(&state.config, local, &mut body);
    body["usage_history"] = usage_history(state.usage.health(), local);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, body)
}

/// What `/health` says about the configuration: the deployment and the compression mode to
/// everyone (neither is secret), where it forwards to and keeps files only to loopback callers.
fn describe_config(config: &ProxyConfig, local: bool, body: &mut serde_json::Value) {
    body["compress"] = json!(config.compress.as_str());
    if let Some(d) = &config.deployment {
        body["deployment"] = serde_json::to_value(d).unwrap_or_default();
    }
    // Where it forwards to is nobody else's business.
    if local {
        body["config"] = json!({
            "listen": config.listen.to_string(),
            "anthropic_api_url": config.anthropic.display(),
            "openai_api_url": config.openai.display(),
            "token_required_for_remote": config.token.is_some(),
            "retrieve_dir": config.retrieve_dir.as_ref().map(|p| p.display().to_string()),
            // Proxy credentials masked: loopback callers may be other local users' tools.
            "egress": config.egress.describe(),
            "allowed_upstreams": config
                .allowed_upstreams
                .iter()
                .map(|a| a.anthropic.display())
                .collect::<Vec<_>>(),
        });
    }
}

/// The recorder's state and counts to everyone; where the file is (the path, and a reason that
/// may name it) only to loopback callers.
fn usage_history(mut health: serde_json::Value, local: bool) -> serde_json::Value {
    if !local && let Some(h) = health.as_object_mut() {
        h.remove("path");
        h.remove("reason");
    }
    health
}

/// The doctor's probe, through the egress the forwarding uses (outbound proxy, CONNECT, TLS), so a
/// refused tunnel or an untrusted certificate is reported with its cause: a reachability hint,
/// not a readiness condition.
async fn reachable(upstream: &Upstream, egress: &Egress) -> serde_json::Value {
    let url = upstream.display();
    match probe::probe(&url, egress).await {
        Ok(r) => {
            let mut detail = format!("reachable ({}", r.addr);
            if let Some(via) = &r.via {
                detail.push_str(&format!(" via proxy {via}"));
            }
            if r.tls {
                detail.push_str(", TLS ok");
            }
            detail.push(')');
            json!({ "url": url, "reachable": true, "detail": detail })
        }
        Err(e) => {
            json!({ "url": url, "reachable": false, "step": e.step, "detail": e.to_string() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mode_is_shown_to_everyone_and_the_retrieve_dir_to_loopback_only() {
        let mut config = ProxyConfig::loopback(1, "http://127.0.0.1:2").unwrap();
        config.compress = headroom_compress::Mode::Full;
        config.retrieve_dir = Some("/h o/.headroom/retrieve".into());
        let mut remote = json!({});
        describe_config(&config, false, &mut remote);
        assert_eq!(remote, json!({ "compress": "full" }));
        let mut local = json!({});
        describe_config(&config, true, &mut local);
        assert_eq!(local["compress"], "full");
        assert_eq!(local["config"]["retrieve_dir"], "/h o/.headroom/retrieve");
        config.retrieve_dir = None;
        describe_config(&config, true, &mut local);
        assert_eq!(local["config"]["retrieve_dir"], serde_json::Value::Null);
    }

    #[test]
    fn the_history_file_is_named_to_loopback_callers_only() {
        let health = json!({ "state": "unavailable", "path": "/h/.headroom/usage.db",
            "reason": "/h/.headroom/usage.db is not a database", "written": 0, "dropped": 3 });
        assert_eq!(usage_history(health.clone(), true), health);
        assert_eq!(
            usage_history(health, false),
            json!({ "state": "unavailable", "written": 0, "dropped": 3 })
        );
    }
}
