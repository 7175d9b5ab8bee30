//! The proxy's own page and its JSON API (placeholder; being built).

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::body::{Body, full};
use crate::server::State;

/// `/dashboard` and `/dashboard/...`.
pub async fn handle(_state: &State, _local: bool, _req: Request<Incoming>) -> Response<Body> {
    let mut resp = Response::new(full("not yet"));
    *resp.status_mut() = StatusCode::NOT_FOUND;
    resp
}
