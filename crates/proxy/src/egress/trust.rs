//! Which certificates the proxy trusts upstream (placeholder: the bundled roots; being built).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[error("invalid CA file")]
pub struct TrustError;

#[derive(Debug)]
pub struct Trust {
    config: rustls::ClientConfig,
}

impl Trust {
    pub fn load(
        _ca_files: &[PathBuf],
        _env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, TrustError> {
        Ok(Self::system())
    }

    pub fn system() -> Self {
        let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        Self { config }
    }

    pub fn client_config(&self) -> rustls::ClientConfig {
        self.config.clone()
    }

    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!("bundled")
    }
}
