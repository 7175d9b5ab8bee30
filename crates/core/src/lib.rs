//! headroom-core: the leaf crate every other headroom crate may use, and which uses none of them.
//!
//! * [`state`]: [`StateDir`], every path under `~/.headroom` (the one place they are spelled),
//!   and the `$HOME` check.
//! * [`fs`]: atomic replace, private directories, optional reads.
//! * [`lock`]: [`FileLock`], an advisory lock that says whom it waits for and gives up after a bound.
//! * [`which`]: PATH lookup.
//! * [`quote`]: POSIX shell quoting.
//! * [`deny`]: the deny-list of paths no adapter may touch.
//! * [`block`]: the marker lines that frame every block headroom writes into someone else's file.
//! * [`env`]: environment variable names shared by the deploy crate and the proxy.
//! * [`time`]: UTC calendar arithmetic (dates of a `SystemTime` and back).

pub mod block;
pub mod deny;
pub mod env;
pub mod fs;
pub mod lock;
pub mod quote;
pub mod state;
pub mod time;
pub mod which;

pub use lock::{FileLock, LockError};
pub use state::{HomeError, JournalOwner, StateDir, home_dir};

/// Lower-case hex sha256 of `bytes` (consent records, journals, the compile cache).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha256_of_nothing() {
        assert_eq!(
            super::sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
