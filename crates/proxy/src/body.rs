//! Response bodies: one boxed type for everything the proxy returns, and the tap that watches an
//! upstream body pass by (bytes, token usage, completion) without ever holding it.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body as HttpBody, Frame, SizeHint};

use crate::metrics::{Metrics, Usage};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|e| match e {})
        .boxed_unsync()
}

pub fn empty() -> Body {
    Empty::new().map_err(|e| match e {}).boxed_unsync()
}

/// Relays an upstream body frame by frame (streams stay streams) while counting bytes and picking
/// token counts out of `usage` fields. Dropping it (client went away) drops the upstream body,
/// which closes the upstream connection: the provider stops generating.
pub struct Tapped<B> {
    inner: B,
    metrics: Arc<Metrics>,
    scanner: Option<Usage>,
    bytes: u64,
    finished: bool,
    /// For SSE responses: the event sent in place of a broken upstream stream, so the client's
    /// parser reports an error instead of hanging on a truncated stream.
    sse_error: Option<Bytes>,
}

impl<B> Tapped<B> {
    pub fn new(inner: B, metrics: Arc<Metrics>, scan_usage: bool) -> Self {
        Self {
            inner,
            metrics,
            scanner: scan_usage.then(Usage::default),
            bytes: 0,
            finished: false,
            sse_error: None,
        }
    }

    /// End a broken upstream stream with this SSE event instead of an abrupt close.
    pub fn with_sse_error(mut self, event: Bytes) -> Self {
        self.sse_error = Some(event);
        self
    }

    fn finish(&mut self, complete: bool) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.metrics.response_finished(
            self.bytes,
            self.scanner.as_ref().map(Usage::totals),
            complete,
        );
    }
}

impl<B> HttpBody for Tapped<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.finished {
            // Ended on an error event: the upstream is not polled again.
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes += data.len() as u64;
                    if let Some(scanner) = this.scanner.as_mut() {
                        scanner.feed(data);
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.metrics.upstream_stream_error();
                this.finish(false);
                match this.sse_error.take() {
                    Some(event) => Poll::Ready(Some(Ok(Frame::data(event)))),
                    None => Poll::Ready(Some(Err(e.into()))),
                }
            }
            Poll::Ready(None) => {
                this.finish(true);
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for Tapped<B> {
    fn drop(&mut self) {
        // Dropped before the end: the client disconnected (or the server is shutting down).
        self.finish(false);
    }
}
