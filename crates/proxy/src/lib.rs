//! headroom-proxy
