//! Everything that changes a user's file goes through this crate.
//!
//! * [`plan`]: the typed edit plan adapters and host code produce.
//! * [`grants`]: what a plan's source may touch; checked before anything is read for writing.
