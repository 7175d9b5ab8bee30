//! Header hygiene between client and upstream (RFC 9110 §7.6.1 hop-by-hop, plus what must never
//! leave this machine's trust boundary).

use http::HeaderMap;
use http::header::{self, HeaderName};

// The name lists are `HeaderName`s, not strings: removing by `&str` parses the name again on
// every request (it showed as ~4 % of a pass-through request's CPU in the profile).

/// Connection-scoped headers: meaningful for one hop only, never forwarded.
static HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Names the client's project for the usage history (`headroom wrap` sets it); never forwarded.
pub const PROJECT_HEADER: &str = "x-headroom-project";

/// Client headers that must not reach a provider: browser cookies, credentials meant for a proxy,
/// and forwarding claims a client could forge.
static NEVER_UPSTREAM: [HeaderName; 7] = [
    header::COOKIE,
    header::PROXY_AUTHORIZATION,
    header::FORWARDED,
    HeaderName::from_static("x-real-ip"),
    HeaderName::from_static("x-headroom-proxy-token"),
    HeaderName::from_static(crate::config::UPSTREAM_HEADER),
    HeaderName::from_static(PROJECT_HEADER),
];

/// Remove hop-by-hop headers, including any the `Connection` header names. With `keep_upgrade`
/// the `Connection: upgrade` + `Upgrade` pair survives (a WebSocket handshake being relayed).
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named {
        if !(keep_upgrade && name == header::UPGRADE) {
            headers.remove(name);
        }
    }
    for name in &HOP_BY_HOP {
        if keep_upgrade && (name == header::CONNECTION || name == header::UPGRADE) {
            continue;
        }
        headers.remove(name);
    }
    if keep_upgrade {
        headers.insert(
            header::CONNECTION,
            http::HeaderValue::from_static("upgrade"),
        );
    }
}

/// Prepare a client's request headers for the upstream.
pub fn sanitize_request(headers: &mut HeaderMap, keep_upgrade: bool) {
    strip_hop_by_hop(headers, keep_upgrade);
    for name in &NEVER_UPSTREAM {
        headers.remove(name);
    }
    let forwarded: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("x-forwarded-"))
        .cloned()
        .collect();
    for name in forwarded {
        headers.remove(name);
    }
    // The upstream's own Host is derived from the URI by the client.
    headers.remove(header::HOST);
}

/// Prepare an upstream response's headers for the client: everything end-to-end survives
/// (`request-id`, rate-limit headers, `content-type`), on streams too.
pub fn sanitize_response(headers: &mut HeaderMap, keep_upgrade: bool) {
    strip_hop_by_hop(headers, keep_upgrade);
}

/// Whether a request asks to switch to the WebSocket protocol.
pub fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    let has_token = |name: HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    has_token(header::CONNECTION, "upgrade") && has_token(header::UPGRADE, "websocket")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn request_loses_hop_by_hop_cookies_and_forwarding_claims() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret-hop"),
            ("x-secret-hop", "1"),
            ("te", "trailers"),
            ("cookie", "session=1"),
            ("proxy-authorization", "Basic x"),
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "https"),
            ("host", "127.0.0.1:8787"),
            ("x-api-key", "sk-ant"),
            ("authorization", "Bearer sk"),
            ("anthropic-version", "2023-06-01"),
            ("x-headroom-project", "web-app"),
        ]);
        sanitize_request(&mut h, false);
        let mut left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(left, ["anthropic-version", "authorization", "x-api-key"]);
    }

    #[test]
    fn websocket_handshake_keeps_upgrade() {
        let mut h = map(&[
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-key", "k"),
        ]);
        assert!(is_websocket_upgrade(&h));
        sanitize_request(&mut h, true);
        assert_eq!(h["upgrade"], "websocket");
        assert_eq!(h["connection"], "upgrade");
        assert_eq!(h["sec-websocket-key"], "k");
        let plain = map(&[("connection", "keep-alive")]);
        assert!(!is_websocket_upgrade(&plain));
    }
}
