//! headroom-deploy
