//! A real forward proxy (tinyproxy) on 127.0.0.1 for outbound-proxy tests (being built).
