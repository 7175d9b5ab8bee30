//! Errors the proxy itself produces, in the shape of the provider the client was talking to, so
//! SDKs and CLIs show a sensible message instead of failing to parse ours.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::body::{Body, full};

/// Which API family a request belongs to (decides routing and error shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Anthropic,
    OpenAi,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Anthropic => "anthropic",
            Provider::OpenAi => "openai",
        }
    }
}

/// Why the proxy could not deliver an upstream response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyFault {
    /// Connection refused, DNS failure, TLS failure, reset before headers.
    Unreachable,
    /// No response headers within the upstream timeout.
    Timeout,
    /// A non-loopback caller without the proxy token.
    Unauthorized,
    /// Not a provider API path this proxy forwards.
    NotFound,
    /// A request this proxy will not forward as asked (an upstream override it does not allow).
    Forbidden,
}

impl ProxyFault {
    pub fn status(self) -> StatusCode {
        match self {
            ProxyFault::Unreachable => StatusCode::BAD_GATEWAY,
            ProxyFault::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ProxyFault::Unauthorized => StatusCode::UNAUTHORIZED,
            ProxyFault::NotFound => StatusCode::NOT_FOUND,
            ProxyFault::Forbidden => StatusCode::FORBIDDEN,
        }
    }

    fn kinds(self) -> (&'static str, &'static str) {
        // (anthropic error.type, openai error.type)
        match self {
            ProxyFault::Unreachable => ("api_error", "upstream_error"),
            ProxyFault::Timeout => ("timeout_error", "timeout"),
            ProxyFault::Unauthorized => ("authentication_error", "invalid_request_error"),
            ProxyFault::NotFound => ("not_found_error", "invalid_request_error"),
            ProxyFault::Forbidden => ("permission_error", "invalid_request_error"),
        }
    }
}

/// The error body in the provider's own JSON shape.
pub fn error_json(provider: Provider, fault: ProxyFault, message: &str) -> serde_json::Value {
    let (anthropic_type, openai_type) = fault.kinds();
    match provider {
        Provider::Anthropic => serde_json::json!({
            "type": "error",
            "error": { "type": anthropic_type, "message": message },
        }),
        Provider::OpenAi => serde_json::json!({
            "error": { "message": message, "type": openai_type, "param": null, "code": null },
        }),
    }
}

/// An error as one SSE event in the provider's stream format.
fn sse_event(provider: Provider, json: &serde_json::Value) -> Bytes {
    Bytes::from(match provider {
        Provider::Anthropic => format!("event: error\ndata: {json}\n\n"),
        Provider::OpenAi => format!("data: {json}\n\n"),
    })
}

/// The event that ends an upstream stream which broke mid-way (built only when one does).
pub fn broken_stream_event(provider: Provider) -> Bytes {
    let json = error_json(
        provider,
        ProxyFault::Unreachable,
        "the upstream connection broke in the middle of the stream",
    );
    sse_event(provider, &json)
}

/// An error response. For a streaming request the body is one SSE `error` event (what a streaming
/// client's parser expects), otherwise JSON.
pub fn error_response(
    provider: Provider,
    fault: ProxyFault,
    message: &str,
    streaming: bool,
) -> Response<Body> {
    let json = error_json(provider, fault, message);
    let (content_type, body) = if streaming {
        ("text/event-stream", sse_event(provider, &json))
    } else {
        ("application/json", Bytes::from(json.to_string()))
    };
    let mut resp = Response::new(full(body));
    *resp.status_mut() = fault.status();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut().insert(
        "x-headroom-error",
        HeaderValue::from_static(match fault {
            ProxyFault::Unreachable => "upstream-unreachable",
            ProxyFault::Timeout => "upstream-timeout",
            ProxyFault::Unauthorized => "unauthorized",
            ProxyFault::NotFound => "not-found",
            ProxyFault::Forbidden => "forbidden",
        }),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_match_each_provider() {
        let a = error_json(Provider::Anthropic, ProxyFault::Unreachable, "down");
        assert_eq!(a["type"], "error");
        assert_eq!(a["error"]["type"], "api_error");
        let o = error_json(Provider::OpenAi, ProxyFault::Timeout, "slow");
        assert_eq!(o["error"]["message"], "slow");
        assert_eq!(o["error"]["type"], "timeout");
        let r = error_response(Provider::Anthropic, ProxyFault::Timeout, "x", true);
        assert_eq!(r.status(), 504);
        assert_eq!(r.headers()["content-type"], "text/event-stream");
    }
}
