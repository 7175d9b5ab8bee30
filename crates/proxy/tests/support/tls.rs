//! A throwaway CA and server certificates for TLS upstream stand-ins (being built).
