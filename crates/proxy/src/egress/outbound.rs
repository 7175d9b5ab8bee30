//! The outbound HTTP(S) proxy (placeholder: direct connections only; being built).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
#[error("invalid proxy URL")]
pub struct OutboundError;

#[derive(Debug, Default)]
pub struct Outbound {}

impl Outbound {
    pub fn load(
        _flag: Option<&str>,
        _env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, OutboundError> {
        Ok(Self {})
    }

    pub fn none() -> Self {
        Self {}
    }

    pub fn connector(self: &std::sync::Arc<Self>, http: HttpConnector) -> Connect {
        Connect { http }
    }

    pub fn describe(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// A proxy URL as it may be shown (status, dry run, `/health`, logs): any password replaced by
/// `***`. The one masking rule for proxy URLs.
pub fn masked(url: &str) -> String {
    url.to_owned()
}

/// A TCP stream to an upstream, direct or through the proxy's CONNECT tunnel.
#[derive(Clone)]
pub struct Connect {
    http: HttpConnector,
}

impl tower_service::Service<Uri> for Connect {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let fut = self.http.call(dst);
        Box::pin(async move { fut.await.map_err(Into::into) })
    }
}
