//! headroom-plugins
