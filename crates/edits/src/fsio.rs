//! File-system primitives of the executor: resolving a logical path to the file it may edit,
//! capped reads, atomic replace on a held directory handle, directory bookkeeping and the edit
//! lock.
//!
//! Every file the executor reads or writes is judged AFTER resolution. A logical path is
//! resolved component by component from its root (`Roots.home` for `~/…`, `Roots.system` for
//! `/…`), each directory opened with `O_NOFOLLOW` relative to the one before, so no link leads
//! out of the root unnoticed. A link met on the way is followed only inside the root (its text
//! is resolved logically, `..` included); the deny-list is applied to the resolved logical path;
//! a planned file that is itself a link (a dotfile in a dotfiles repository) is edited at its
//! target only when that target is a regular file owned by this user; FIFOs, devices and
//! sockets are refused before anything opens them; reads are capped at [`MAX_FILE_BYTES`].
//! The handle of the file's directory is held from resolution to the atomic write (temp file
//! and `renameat` in that same directory), and the file's identity (device + inode) is checked
//! again right before the rename: a file or directory swapped meanwhile is refused.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::EditError;
use crate::executor::Roots;

/// The most the executor reads of one file: it edits configuration files, not data (and a
/// target linked to `/dev/zero` must not be read until memory runs out).
pub const MAX_FILE_BYTES: u64 = 8 << 20;

/// The most links followed while resolving one path.
#[cfg(unix)]
const MAX_LINKS: usize = 32;

/// A logical path resolved to the file the executor may read and write.
#[derive(Debug)]
pub struct Target {
    /// As planned (`~/.bashrc`).
    pub logical: String,
    /// After links (`~/dotfiles/bashrc`); equal to `logical` when no link was followed.
    pub resolved: String,
    /// The file's absolute path (what the journal records).
    pub path: PathBuf,
    /// The planned file itself is a link (edited at its target).
    pub is_link: bool,
    /// Parent directories that do not exist yet, outermost first (created by the first write).
    pub missing_dirs: Vec<PathBuf>,
    handle: imp::Handle,
}

/// `~/…` or `/…` split into its root and components; no `..`, nothing relative.
pub(crate) fn split<'r>(
    roots: &'r Roots,
    logical: &str,
) -> Result<(bool, &'r Path, Vec<String>), EditError> {
    let bad = |reason: &str| EditError::Path {
        path: logical.to_owned(),
        reason: reason.to_owned(),
    };
    let (home, rest) = if let Some(rest) = logical.strip_prefix("~/") {
        (true, rest)
    } else if let Some(rest) = logical.strip_prefix('/') {
        (false, rest)
    } else {
        return Err(bad("must start with ~/ or /"));
    };
    if rest.is_empty() || logical.contains('\0') {
        return Err(bad("names no file"));
    }
    let mut comps = Vec::new();
    for c in Path::new(rest).components() {
        match c {
            std::path::Component::Normal(n) => comps.push(n.to_string_lossy().into_owned()),
            std::path::Component::CurDir => {}
            _ => return Err(bad("may not contain '..'")),
        }
    }
    if comps.is_empty() {
        return Err(bad("names no file"));
    }
    Ok((home, if home { &roots.home } else { &roots.system }, comps))
}

/// The logical spelling of `comps` under the root (`~/a/b` or `/a/b`).
fn logical_of(home: bool, comps: &[String]) -> String {
    format!("{}{}", if home { "~/" } else { "/" }, comps.join("/"))
}

/// `path` relative to `root` (tried as given and canonicalized: `$HOME` may sit behind a link).
fn strip_root(path: &Path, root: &Path) -> Option<PathBuf> {
    if let Ok(rest) = path.strip_prefix(root) {
        return Some(rest.to_owned());
    }
    let canon = fs::canonicalize(root).ok()?;
    path.strip_prefix(&canon).ok().map(Path::to_owned)
}

/// Apply the deny-list to what a path resolved to (its `~/` spelling too when a system path
/// lands inside HOME).
fn check_denied(
    roots: &Roots,
    logical: &str,
    resolved: &str,
    path: &Path,
) -> Result<(), EditError> {
    let unsafe_ = |detail: String| EditError::Unsafe {
        file: logical.to_owned(),
        detail,
    };
    if headroom_core::deny::is_denied(logical) {
        return Err(unsafe_("is on the deny-list".into()));
    }
    if headroom_core::deny::is_denied(resolved) {
        return Err(unsafe_(format!(
            "resolves to {resolved}, which is on the deny-list"
        )));
    }
    if let Some(rest) = strip_root(path, &roots.home) {
        let in_home = format!("~/{}", rest.to_string_lossy());
        if headroom_core::deny::is_denied(&in_home) {
            return Err(unsafe_(format!(
                "resolves to {in_home}, which is on the deny-list"
            )));
        }
    }
    Ok(())
}

/// Resolve `logical` to the file the executor may edit (see the module docs). Nothing is
/// created; a missing file (and missing parent directories) is fine.
pub fn resolve(roots: &Roots, logical: &str) -> Result<Target, EditError> {
    imp::resolve(roots, logical)
}

impl Target {
    /// A note for `--dry-run` when the planned file is a link.
    pub fn link_note(&self) -> Option<String> {
        self.is_link.then(|| {
            format!(
                "{} is a link to {}; editing the target",
                self.logical, self.resolved
            )
        })
    }

    /// Current bytes and permission bits; `None` when the file does not exist. Refuses a file
    /// larger than [`MAX_FILE_BYTES`] and one replaced since it was resolved.
    pub fn read(&self) -> Result<(Option<Vec<u8>>, Option<u32>), EditError> {
        imp::read(self)
    }

    /// Replace the file atomically with `bytes` and mode `mode` (creating missing parent
    /// directories first), in the directory held since resolution.
    pub fn write(&mut self, bytes: &[u8], mode: u32) -> Result<(), EditError> {
        imp::write(self, bytes, mode)
    }

    /// Delete the file (absent is fine), if it is still the one resolved.
    pub fn remove(&mut self) -> Result<(), EditError> {
        imp::remove(self)
    }
}

#[cfg(unix)]
mod imp {
    use std::collections::VecDeque;
    use std::ffi::OsStr;
    use std::io::{Read as _, Write as _};
    use std::os::fd::OwnedFd;
    use std::os::unix::ffi::OsStrExt as _;
    use std::path::{Component, Path, PathBuf};

    use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags};
    use rustix::io::Errno;

    use super::{MAX_FILE_BYTES, MAX_LINKS, Target, check_denied, logical_of, split, strip_root};
    use crate::error::EditError;
    use crate::executor::Roots;

    #[derive(Debug)]
    pub struct Handle {
        /// The deepest directory of the path that exists, held open.
        dir: OwnedFd,
        /// Names of the directories still to create under `dir`.
        missing: Vec<String>,
        name: String,
        /// (device, inode, mode) of the file when resolved or last written; `None` = absent.
        file: Option<(u64, u64, u32)>,
    }

    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    fn ident(st: &rustix::fs::Stat) -> (u64, u64, u32) {
        (
            st.st_dev as u64,
            st.st_ino as u64,
            (st.st_mode as u32) & 0o7777,
        )
    }

    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    fn file_type(st: &rustix::fs::Stat) -> FileType {
        FileType::from_raw_mode(st.st_mode as _)
    }

    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    fn uid_of(st: &rustix::fs::Stat) -> u32 {
        st.st_uid as u32
    }

    fn kind(t: FileType) -> &'static str {
        match t {
            FileType::Fifo => "FIFO",
            FileType::CharacterDevice => "character device",
            FileType::BlockDevice => "block device",
            FileType::Socket => "socket",
            FileType::Directory => "directory",
            FileType::Symlink => "link",
            _ => "special file",
        }
    }

    fn dir_flags() -> OFlags {
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
    }

    pub fn resolve(roots: &Roots, logical: &str) -> Result<Target, EditError> {
        let (home, root, comps) = split(roots, logical)?;
        let io = |action: &'static str| {
            let file = logical.to_owned();
            move |e: Errno| EditError::io(file, action, e.into())
        };
        let unsafe_ = |detail: String| EditError::Unsafe {
            file: logical.to_owned(),
            detail,
        };
        let where_ = if home { "HOME" } else { "the system root" };
        let root_fd = rustix::fs::openat(
            CWD,
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(io("opening its root directory"))?;
        let mut dirs: Vec<OwnedFd> = vec![root_fd];
        let mut names: Vec<String> = Vec::new();
        let mut pending: VecDeque<String> = comps.into();
        let (mut links, mut is_link) = (0usize, false);
        loop {
            let Some(comp) = pending.pop_front() else {
                return Err(unsafe_("resolves to a directory, expected a file".into()));
            };
            if comp == "." || comp.is_empty() {
                continue;
            }
            if comp == ".." {
                if names.pop().is_none() {
                    return Err(unsafe_(format!("a link leads out of {where_}")));
                }
                dirs.pop();
                continue;
            }
            let last = pending.is_empty();
            let cur = dirs.last().expect("the root is never popped");
            let st = match rustix::fs::statat(cur, comp.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(Errno::NOENT) => {
                    if is_link {
                        let mut at = names.clone();
                        at.push(comp);
                        at.extend(pending.drain(..));
                        return Err(unsafe_(format!(
                            "is a link to {}, which does not exist",
                            logical_of(home, &at)
                        )));
                    }
                    if pending.iter().any(|c| c == "..") {
                        return Err(unsafe_("a link leads through a missing directory".into()));
                    }
                    let mut missing: Vec<String> = std::iter::once(comp)
                        .chain(pending.drain(..))
                        .filter(|c| c != "." && !c.is_empty())
                        .collect();
                    let name = missing.pop().expect("at least the missing component");
                    return finish(
                        roots, logical, home, root, dirs, names, missing, name, None, is_link,
                    );
                }
                Err(e) => return Err(io("resolving")(e)),
            };
            match file_type(&st) {
                FileType::Symlink => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(unsafe_("too many links".into()));
                    }
                    if last {
                        is_link = true;
                    }
                    let text = rustix::fs::readlinkat(cur, comp.as_str(), Vec::new())
                        .map_err(io("reading a link"))?;
                    let target = PathBuf::from(OsStr::from_bytes(text.as_bytes()));
                    let rel = if target.is_absolute() {
                        let Some(rel) = strip_root(&target, root) else {
                            return Err(unsafe_(format!(
                                "is a link to {}, outside {where_}",
                                target.display()
                            )));
                        };
                        dirs.truncate(1);
                        names.clear();
                        rel
                    } else {
                        target
                    };
                    let mut next = Vec::new();
                    for c in rel.components() {
                        match c {
                            Component::Normal(n) => match n.to_str() {
                                Some(n) => next.push(n.to_owned()),
                                None => {
                                    return Err(unsafe_("a link names a non-UTF-8 path".into()));
                                }
                            },
                            Component::ParentDir => next.push("..".to_owned()),
                            _ => {}
                        }
                    }
                    for c in next.into_iter().rev() {
                        pending.push_front(c);
                    }
                }
                FileType::Directory if last => {
                    return Err(EditError::Invalid {
                        file: logical.to_owned(),
                        detail: "is a directory, expected a file".into(),
                    });
                }
                FileType::Directory => {
                    let fd = rustix::fs::openat(cur, comp.as_str(), dir_flags(), Mode::empty())
                        .map_err(|e| match e {
                            Errno::LOOP | Errno::NOTDIR => EditError::Changed {
                                file: logical.to_owned(),
                            },
                            e => io("opening its directory")(e),
                        })?;
                    dirs.push(fd);
                    names.push(comp);
                }
                FileType::RegularFile if last => {
                    if is_link && uid_of(&st) != rustix::process::getuid().as_raw() {
                        return Err(unsafe_(format!(
                            "is a link to {}, which belongs to another user",
                            logical_of(home, &[names.clone(), vec![comp]].concat())
                        )));
                    }
                    let id = ident(&st);
                    return finish(
                        roots,
                        logical,
                        home,
                        root,
                        dirs,
                        names,
                        Vec::new(),
                        comp,
                        Some(id),
                        is_link,
                    );
                }
                FileType::RegularFile => {
                    return Err(EditError::Invalid {
                        file: logical.to_owned(),
                        detail: format!("{comp} is a file, expected a directory"),
                    });
                }
                other => {
                    let at = logical_of(home, &[names.clone(), vec![comp]].concat());
                    return Err(unsafe_(format!(
                        "{at} is a {}, not a regular file; refusing to read it",
                        kind(other)
                    )));
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn finish(
        roots: &Roots,
        logical: &str,
        home: bool,
        root: &Path,
        mut dirs: Vec<OwnedFd>,
        names: Vec<String>,
        missing: Vec<String>,
        name: String,
        file: Option<(u64, u64, u32)>,
        is_link: bool,
    ) -> Result<Target, EditError> {
        let all: Vec<String> = names
            .iter()
            .chain(&missing)
            .chain(std::iter::once(&name))
            .cloned()
            .collect();
        let resolved = logical_of(home, &all);
        let path = all.iter().fold(root.to_path_buf(), |p, c| p.join(c));
        check_denied(roots, logical, &resolved, &path)?;
        let mut base = names.iter().fold(root.to_path_buf(), |p, c| p.join(c));
        let missing_dirs = missing
            .iter()
            .map(|m| {
                base = base.join(m);
                base.clone()
            })
            .collect();
        Ok(Target {
            logical: logical.to_owned(),
            resolved,
            path,
            is_link,
            missing_dirs,
            handle: Handle {
                dir: dirs.pop().expect("the root at least"),
                missing,
                name,
                file,
            },
        })
    }

    pub fn read(t: &Target) -> Result<(Option<Vec<u8>>, Option<u32>), EditError> {
        let h = &t.handle;
        let Some(expected) = h.file else {
            return Ok((None, None));
        };
        let io = |e: Errno| EditError::io(t.logical.clone(), "reading", e.into());
        let fd = rustix::fs::openat(
            &h.dir,
            h.name.as_str(),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::LOOP | Errno::NOENT => EditError::Changed {
                file: t.logical.clone(),
            },
            e => io(e),
        })?;
        let st = rustix::fs::fstat(&fd).map_err(io)?;
        let id = ident(&st);
        if file_type(&st) != FileType::RegularFile || (id.0, id.1) != (expected.0, expected.1) {
            return Err(EditError::Changed {
                file: t.logical.clone(),
            });
        }
        #[allow(clippy::unnecessary_cast)]
        if st.st_size as u64 > MAX_FILE_BYTES {
            return Err(EditError::TooLarge {
                file: t.logical.clone(),
                limit: MAX_FILE_BYTES,
            });
        }
        let mut bytes = Vec::new();
        std::fs::File::from(fd)
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| EditError::io(t.logical.clone(), "reading", e))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(EditError::TooLarge {
                file: t.logical.clone(),
                limit: MAX_FILE_BYTES,
            });
        }
        Ok((Some(bytes), Some(id.2)))
    }

    /// The file's entry is still what was resolved (or still absent).
    fn verify(t: &Target) -> Result<(), EditError> {
        let h = &t.handle;
        let now = rustix::fs::statat(&h.dir, h.name.as_str(), AtFlags::SYMLINK_NOFOLLOW);
        let same = match (h.file, now) {
            (None, Err(Errno::NOENT)) => true,
            (Some(id), Ok(st)) => {
                let n = ident(&st);
                file_type(&st) == FileType::RegularFile && (n.0, n.1) == (id.0, id.1)
            }
            _ => false,
        };
        if same {
            Ok(())
        } else {
            Err(EditError::Changed {
                file: t.logical.clone(),
            })
        }
    }

    pub fn write(t: &mut Target, bytes: &[u8], mode: u32) -> Result<(), EditError> {
        let logical = t.logical.clone();
        let io = |action: &'static str| {
            let file = logical.clone();
            move |e: Errno| EditError::io(file, action, e.into())
        };
        for m in std::mem::take(&mut t.handle.missing) {
            match rustix::fs::mkdirat(&t.handle.dir, m.as_str(), Mode::from_raw_mode(0o777)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(io("creating its directory")(e)),
            }
            t.handle.dir =
                rustix::fs::openat(&t.handle.dir, m.as_str(), dir_flags(), Mode::empty()).map_err(
                    |e| match e {
                        Errno::LOOP | Errno::NOTDIR => EditError::Changed {
                            file: logical.clone(),
                        },
                        e => io("creating its directory")(e),
                    },
                )?;
        }
        let h = &t.handle;
        let tmp = format!(".{}.headroom-{}.tmp", h.name, std::process::id());
        let create = || {
            rustix::fs::openat(
                &h.dir,
                tmp.as_str(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
        };
        let fd = match create() {
            // Left by a crashed process that had our PID: it is ours to replace.
            Err(Errno::EXIST) => {
                rustix::fs::unlinkat(&h.dir, tmp.as_str(), AtFlags::empty())
                    .map_err(io("writing"))?;
                create().map_err(io("writing"))?
            }
            other => other.map_err(io("writing"))?,
        };
        let result = (|| -> Result<(u64, u64, u32), EditError> {
            let st = rustix::fs::fstat(&fd).map_err(io("writing"))?;
            let mut f = std::fs::File::from(fd);
            f.write_all(bytes)
                .map_err(|e| EditError::io(logical.clone(), "writing", e))?;
            // Explicitly: the umask may have narrowed `mode`.
            rustix::fs::fchmod(&f, Mode::from_raw_mode((mode & 0o7777) as _))
                .map_err(io("writing"))?;
            f.sync_all()
                .map_err(|e| EditError::io(logical.clone(), "writing", e))?;
            drop(f);
            verify(t)?;
            rustix::fs::renameat(&h.dir, tmp.as_str(), &h.dir, h.name.as_str())
                .map_err(io("writing"))?;
            let _ = rustix::fs::fsync(&h.dir);
            let id = ident(&st);
            Ok((id.0, id.1, mode & 0o7777))
        })();
        match result {
            Ok(id) => {
                t.handle.file = Some(id);
                Ok(())
            }
            Err(e) => {
                let _ = rustix::fs::unlinkat(&h.dir, tmp.as_str(), AtFlags::empty());
                Err(e)
            }
        }
    }

    pub fn remove(t: &mut Target) -> Result<(), EditError> {
        if t.handle.file.is_none() {
            return Ok(());
        }
        verify(t)?;
        match rustix::fs::unlinkat(&t.handle.dir, t.handle.name.as_str(), AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => {
                t.handle.file = None;
                Ok(())
            }
            Err(e) => Err(EditError::io(t.logical.clone(), "deleting", e.into())),
        }
    }
}

/// Without `openat`: the path is walked with `symlink_metadata` and every link is refused; the
/// rest of the rules (non-regular files, the read cap, the deny-list) are the same.
#[cfg(not(unix))]
mod imp {
    use std::io::Read as _;

    use super::{MAX_FILE_BYTES, Target, check_denied, logical_of, split};
    use crate::error::EditError;
    use crate::executor::Roots;

    #[derive(Debug)]
    pub struct Handle {
        exists: bool,
    }

    pub fn resolve(roots: &Roots, logical: &str) -> Result<Target, EditError> {
        let (home, root, comps) = split(roots, logical)?;
        let mut path = root.to_path_buf();
        let mut missing_dirs = Vec::new();
        let mut exists = false;
        for (i, c) in comps.iter().enumerate() {
            path = path.join(c);
            let last = i + 1 == comps.len();
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(EditError::Unsafe {
                        file: logical.to_owned(),
                        detail: "goes through a link, which this platform does not follow".into(),
                    });
                }
                Ok(m) if last && m.is_dir() => {
                    return Err(EditError::Invalid {
                        file: logical.to_owned(),
                        detail: "is a directory, expected a file".into(),
                    });
                }
                Ok(m) if last && !m.is_file() => {
                    return Err(EditError::Unsafe {
                        file: logical.to_owned(),
                        detail: "is not a regular file; refusing to read it".into(),
                    });
                }
                Ok(_) => exists = last,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if !last {
                        missing_dirs.push(path.clone());
                    }
                }
                Err(e) => return Err(EditError::io(logical, "resolving", e)),
            }
        }
        let resolved = logical_of(home, &comps);
        check_denied(roots, logical, &resolved, &path)?;
        Ok(Target {
            logical: logical.to_owned(),
            resolved,
            path,
            is_link: false,
            missing_dirs,
            handle: Handle { exists },
        })
    }

    pub fn read(t: &Target) -> Result<(Option<Vec<u8>>, Option<u32>), EditError> {
        if !t.handle.exists {
            return Ok((None, None));
        }
        let f =
            std::fs::File::open(&t.path).map_err(|e| EditError::io(&t.logical, "reading", e))?;
        let m = f
            .metadata()
            .map_err(|e| EditError::io(&t.logical, "reading", e))?;
        if m.len() > MAX_FILE_BYTES {
            return Err(EditError::TooLarge {
                file: t.logical.clone(),
                limit: MAX_FILE_BYTES,
            });
        }
        let mut bytes = Vec::new();
        f.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| EditError::io(&t.logical, "reading", e))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(EditError::TooLarge {
                file: t.logical.clone(),
                limit: MAX_FILE_BYTES,
            });
        }
        Ok((Some(bytes), Some(headroom_core::fs::mode_of(&m))))
    }

    pub fn write(t: &mut Target, bytes: &[u8], mode: u32) -> Result<(), EditError> {
        super::create_dirs(&t.logical, &t.missing_dirs)?;
        headroom_core::fs::write_atomic(&t.path, bytes, mode)
            .map_err(|e| EditError::io(&t.logical, "writing", e))?;
        t.handle.exists = true;
        Ok(())
    }

    pub fn remove(t: &mut Target) -> Result<(), EditError> {
        match std::fs::remove_file(&t.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(EditError::io(&t.logical, "deleting", e)),
        }
        t.handle.exists = false;
        Ok(())
    }
}

#[cfg(not(unix))]
fn create_dirs(logical: &str, dirs: &[PathBuf]) -> Result<(), EditError> {
    for d in dirs {
        match fs::create_dir(d) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(EditError::io(logical, "creating its directory", e)),
        }
    }
    Ok(())
}

/// Remove directories headroom created, innermost first, while they are empty (`rmdir` never
/// follows a link).
pub fn remove_empty_dirs(dirs: &[PathBuf]) {
    for d in dirs.iter().rev() {
        if fs::remove_dir(d).is_err() {
            break;
        }
    }
}

/// The edit lock: one headroom process edits users' files at a time. Released on drop.
pub fn lock(path: &Path) -> Result<headroom_core::FileLock, EditError> {
    Ok(headroom_core::FileLock::acquire(path, "edits")?)
}
