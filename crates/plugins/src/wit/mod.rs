//! The host ↔ adapter contract, one module per adapter API version (`wit/v0.1` →
//! [`v0_1`]). Each holds its bindings, its host imports (thin: the runtime answers them after
//! asking the policy) and every conversion between its types and the host's, so a later
//! version can sit beside it without touching the rest of the host.

pub mod v0_1;
