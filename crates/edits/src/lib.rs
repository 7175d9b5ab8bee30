//! Everything that changes a user's file goes through this crate.
//!
//! * [`plan`]: the typed edit plan adapters and host code produce.
//! * [`grants`]: what a plan's source may touch; checked before anything is read for writing.
//! * [`json`], [`toml_file`], [`block`]: format-preserving editors.
//! * [`executor`]: validate, preview (diffs), journal, atomic writes, byte-exact revert.

pub mod block;
pub mod error;
pub mod executor;
pub mod fsio;
pub mod grants;
pub mod json;
pub mod plan;
pub mod toml_file;

pub use error::EditError;
pub use executor::{
    Applied, Authorized, Drift, Executor, FileChange, MAX_PLAN_EDITS, MAX_PLAN_FILES,
    MAX_PLAN_VALUE_BYTES, RevertReport, Roots, Unrestored, validate,
};
pub use fsio::MAX_FILE_BYTES;
pub use grants::EditGrant;
pub use plan::{BlockPlacement, Edit, Format, MarkerStyle, Plan};
