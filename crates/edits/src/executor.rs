//! The executor: validate → compute in memory → (preview | journal, then write atomically under a
//! lock) → revert from the journal alone.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use headroom_core::sha256_hex;
use serde::{Deserialize, Serialize};

use crate::error::EditError;
use crate::fsio;
use crate::grants::EditGrant;
use crate::plan::{Edit, Plan};
use crate::{block, json, toml_file};

/// Where logical paths land: `~/x` under `home`, `/x` under `system` (`/` in production).
#[derive(Debug, Clone)]
pub struct Roots {
    pub home: PathBuf,
    pub system: PathBuf,
}

impl Roots {
    /// `~/…` or `/…`, no `..`, no relative paths.
    pub fn resolve(&self, logical: &str) -> Result<PathBuf, EditError> {
        let bad = |reason: &str| EditError::Path {
            path: logical.to_owned(),
            reason: reason.to_owned(),
        };
        let (base, rest) = if let Some(rest) = logical.strip_prefix("~/") {
            (&self.home, rest)
        } else if let Some(rest) = logical.strip_prefix('/') {
            (&self.system, rest)
        } else {
            return Err(bad("must start with ~/ or /"));
        };
        let rel = Path::new(rest);
        if rest.is_empty() || logical.contains('\0') {
            return Err(bad("names no file"));
        }
        for c in rel.components() {
            match c {
                Component::Normal(_) => {}
                Component::CurDir => {}
                _ => return Err(bad("may not contain '..'")),
            }
        }
        Ok(base.join(rel))
    }
}

/// A plan together with what its source may touch. The executor validates the plan against
/// these grants before reading anything for writing.
#[derive(Debug, Clone)]
pub struct Authorized {
    plan: Plan,
    grants: Vec<EditGrant>,
}

impl Authorized {
    /// Pair a plan with the edit grants of its source. In production the only caller is the
    /// capability policy in headroom-plugins (`Policy::authorize`), which derives the grants
    /// from the manifest, the user's consent and the deny-list; anything else constructing one
    /// would be claiming an authorization nobody gave.
    pub fn new(plan: Plan, grants: Vec<EditGrant>) -> Self {
        Self { plan, grants }
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn grants(&self) -> &[EditGrant] {
        &self.grants
    }

    /// Back to its parts (to change a plan, authorize it again).
    pub fn into_parts(self) -> (Plan, Vec<EditGrant>) {
        (self.plan, self.grants)
    }
}

/// Every edit covered by a grant for its file, format and key. Refuses before anything is read.
pub fn validate(plan: &Plan, grants: &[EditGrant]) -> Result<(), EditError> {
    for edit in &plan.edits {
        let covered = grants.iter().any(|g| {
            g.file == edit.file() && g.format == edit.format() && g.covers_key(&edit.key())
        });
        if !covered {
            return Err(EditError::Denied {
                source_id: plan.source.clone(),
                what: format!(
                    "edit {} of {}",
                    match edit.format() {
                        crate::plan::Format::Json => format!("JSON key {}", edit.key()),
                        crate::plan::Format::Toml => format!("TOML key {}", edit.key()),
                        crate::plan::Format::Text => format!("block {:?}", edit.key()),
                    },
                    edit.file()
                ),
            });
        }
        if let Edit::BlockSet {
            file,
            id,
            comment,
            body,
            ..
        } = edit
        {
            block::check(file, id, comment, body)?;
        }
    }
    Ok(())
}

/// One file's before and after (`None` = absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub logical: String,
    pub path: PathBuf,
    pub before: Option<Vec<u8>>,
    pub after: Option<Vec<u8>>,
}

impl FileChange {
    pub fn is_noop(&self) -> bool {
        self.before == self.after
    }

    /// `--- a/<file>` / `+++ b/<file>` unified diff; an absent side is `/dev/null`.
    pub fn unified_diff(&self) -> String {
        let text = |b: &Option<Vec<u8>>| {
            b.as_deref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        let (old, new) = (text(&self.before), text(&self.after));
        let a = if self.before.is_some() {
            format!("a/{}", self.logical)
        } else {
            "/dev/null".to_owned()
        };
        let b = if self.after.is_some() {
            format!("b/{}", self.logical)
        } else {
            "/dev/null".to_owned()
        };
        similar::TextDiff::from_lines(&old, &new)
            .unified_diff()
            .context_radius(3)
            .header(&a, &b)
            .to_string()
    }
}

/// What `revert` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RevertReport {
    /// Restored byte for byte (or deleted again).
    pub restored: Vec<String>,
    /// Changed by the user since: only headroom's keys/blocks were put back.
    pub merged: Vec<String>,
    /// Deleted by the user since: nothing to do.
    pub missing: Vec<String>,
}

/// What [`Executor::apply_exclusive`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Every file the plans touch, changed or not.
    pub changed: Vec<FileChange>,
    /// Files the journal recorded that the plans no longer touch, put back as they were.
    pub reverted: Vec<FileChange>,
}

/// A journaled file whose bytes are no longer what headroom wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub logical: String,
    pub deleted: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Journal {
    version: u32,
    entries: Vec<JournalEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct JournalEntry {
    logical: String,
    path: PathBuf,
    /// The bytes before headroom first touched the file (base64); absent = did not exist.
    previous: Option<String>,
    previous_mode: Option<u32>,
    /// sha256 of what headroom last wrote (None = headroom deleted it).
    written_sha256: Option<String>,
    /// Directories headroom created for the file, outermost first.
    #[serde(default)]
    created_dirs: Vec<PathBuf>,
    /// Edits that undo headroom's, latest first: used when the user changed the file since.
    #[serde(default)]
    inverse: Vec<Edit>,
}

const JOURNAL_VERSION: u32 = 1;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The executor. Cheap to create; holds no open files.
#[derive(Debug, Clone)]
pub struct Executor {
    roots: Roots,
    /// `~/.headroom/locks/edits.lock`
    lock_file: PathBuf,
}

/// A journal entry undone by an exclusive apply, and the directories to remove once its file is
/// gone again.
type Revert = (Computed, Option<Vec<PathBuf>>);

/// A computed, not yet written, change with the inverse edits that undo it.
struct Computed {
    change: FileChange,
    /// The file's mode now (what a rollback writes back).
    mode: Option<u32>,
    /// The mode to write `change.after` with.
    write_mode: Option<u32>,
    inverse: Vec<Edit>,
    missing_dirs: Vec<PathBuf>,
}

impl Executor {
    pub fn new(roots: Roots, lock_file: PathBuf) -> Self {
        Self { roots, lock_file }
    }

    pub fn roots(&self) -> &Roots {
        &self.roots
    }

    /// Validate and compute every file's new contents; nothing is written.
    pub fn preview(&self, plans: &[Authorized]) -> Result<Vec<FileChange>, EditError> {
        Ok(self.compute(plans)?.into_iter().map(|c| c.change).collect())
    }

    fn compute(&self, plans: &[Authorized]) -> Result<Vec<Computed>, EditError> {
        for a in plans {
            validate(&a.plan, &a.grants)?;
        }
        // Group edits by file, keeping first-seen order.
        let mut order: Vec<String> = Vec::new();
        let mut by_file: BTreeMap<String, Vec<&Edit>> = BTreeMap::new();
        for a in plans {
            for e in &a.plan.edits {
                let f = e.file().to_owned();
                if !by_file.contains_key(&f) {
                    order.push(f.clone());
                }
                by_file.entry(f).or_default().push(e);
            }
        }
        let mut out = Vec::new();
        for logical in order {
            let path = fsio::resolve_target(&self.roots.resolve(&logical)?);
            let (before, mode) = fsio::read_existing(&logical, &path)?;
            let mut text = match &before {
                Some(bytes) => {
                    String::from_utf8(bytes.clone()).map_err(|_| EditError::Invalid {
                        file: logical.clone(),
                        detail: "not UTF-8 text; refusing to edit it".into(),
                    })?
                }
                None => String::new(),
            };
            let mut inverse = Vec::new();
            for edit in &by_file[&logical] {
                let (next, undo) = apply_edit(&logical, &text, edit)?;
                text = next;
                inverse.insert(0, undo);
            }
            let after = Some(text.into_bytes());
            let change = FileChange {
                logical: logical.clone(),
                path: path.clone(),
                before,
                after,
            };
            if change.is_noop() {
                out.push(Computed {
                    change,
                    mode,
                    write_mode: mode,
                    inverse,
                    missing_dirs: Vec::new(),
                });
                continue;
            }
            if let Some(m) = mode
                && m & 0o200 == 0
            {
                return Err(EditError::Invalid {
                    file: logical,
                    detail: "is read-only; make it writable or configure the tool yourself".into(),
                });
            }
            let missing_dirs = fsio::missing_parents(&path);
            out.push(Computed {
                change,
                mode,
                write_mode: mode,
                inverse,
                missing_dirs,
            });
        }
        Ok(out)
    }

    /// Apply the plans: journal first (keeping the bytes from before headroom's FIRST change of
    /// each file), then atomic writes. A failure part-way restores the files already written.
    /// Files the journal recorded before and these plans do not touch are left as they are.
    pub fn apply(
        &self,
        plans: &[Authorized],
        journal: &Path,
    ) -> Result<Vec<FileChange>, EditError> {
        Ok(self.apply_inner(plans, journal, false)?.changed)
    }

    /// Like [`Executor::apply`], but afterwards the journal records exactly the files these
    /// plans touch: every file it recorded before that the plans no longer touch is reverted in
    /// the same transaction (a re-applied deployment un-routes what it no longer routes).
    pub fn apply_exclusive(
        &self,
        plans: &[Authorized],
        journal: &Path,
    ) -> Result<Applied, EditError> {
        self.apply_inner(plans, journal, true)
    }

    /// What [`Executor::apply_exclusive`] would change, without changing anything.
    pub fn preview_exclusive(
        &self,
        plans: &[Authorized],
        journal: &Path,
    ) -> Result<Applied, EditError> {
        let computed = self.compute(plans)?;
        let j = load_journal(journal)?.unwrap_or_default();
        let reverted = self.reverts_outside(&computed, &j)?;
        Ok(Applied {
            changed: computed.into_iter().map(|c| c.change).collect(),
            reverted: reverted.into_iter().map(|(c, _)| c.change).collect(),
        })
    }

    /// The journal's entries for files `computed` does not touch, as changes that undo them.
    fn reverts_outside(
        &self,
        computed: &[Computed],
        j: &Journal,
    ) -> Result<Vec<Revert>, EditError> {
        let touched: std::collections::HashSet<&Path> =
            computed.iter().map(|c| c.change.path.as_path()).collect();
        let mut out = Vec::new();
        for e in j.entries.iter().rev() {
            if touched.contains(e.path.as_path()) {
                continue;
            }
            let (change, outcome) = revert_plan(e)?;
            let current_mode = std::fs::metadata(&e.path)
                .ok()
                .map(|m| headroom_core::fs::mode_of(&m));
            // Directories headroom created are removed again once the file is gone.
            let dirs = (outcome == Outcome::Restore && change.after.is_none())
                .then(|| e.created_dirs.clone());
            out.push((
                Computed {
                    change,
                    mode: current_mode,
                    write_mode: e.previous_mode.or(current_mode),
                    inverse: Vec::new(),
                    missing_dirs: Vec::new(),
                },
                dirs,
            ));
        }
        Ok(out)
    }

    fn apply_inner(
        &self,
        plans: &[Authorized],
        journal: &Path,
        exclusive: bool,
    ) -> Result<Applied, EditError> {
        if plans.is_empty() && !journal.exists() {
            // Nothing to write and nothing to undo: not even a lock file.
            return Ok(Applied::default());
        }
        let _lock = fsio::lock(&self.lock_file)?;
        let computed = self.compute(plans)?;
        let mut j = load_journal(journal)?.unwrap_or(Journal {
            version: JOURNAL_VERSION,
            entries: Vec::new(),
        });
        let before_journal = j.clone();
        let reverts = if exclusive {
            let r = self.reverts_outside(&computed, &j)?;
            let touched: std::collections::HashSet<PathBuf> =
                computed.iter().map(|c| c.change.path.clone()).collect();
            j.entries.retain(|e| touched.contains(&e.path));
            r
        } else {
            Vec::new()
        };
        for c in computed.iter().filter(|c| !c.change.is_noop()) {
            let written = c.change.after.as_deref().map(sha256_hex);
            match j.entries.iter_mut().find(|e| e.path == c.change.path) {
                Some(e) => {
                    e.written_sha256 = written;
                    let mut inv = c.inverse.clone();
                    inv.append(&mut e.inverse);
                    e.inverse = inv;
                }
                None => j.entries.push(JournalEntry {
                    logical: c.change.logical.clone(),
                    path: c.change.path.clone(),
                    previous: c.change.before.as_deref().map(b64),
                    previous_mode: c.mode,
                    written_sha256: written,
                    created_dirs: c.missing_dirs.clone(),
                    inverse: c.inverse.clone(),
                }),
            }
        }
        if j.entries.is_empty() {
            // Nothing is headroom's any more: no journal, rather than an empty one.
            if before_journal.entries.is_empty() && !journal.exists() {
                return Ok(Applied {
                    changed: computed.into_iter().map(|c| c.change).collect(),
                    reverted: Vec::new(),
                });
            }
        } else {
            save_journal(journal, &j)?;
        }
        let steps = computed
            .iter()
            .map(|c| (c, None))
            .chain(reverts.iter().map(|(c, d)| (c, d.as_ref())));
        let mut written: Vec<&Computed> = Vec::new();
        for (c, remove_dirs) in steps.filter(|(c, _)| !c.change.is_noop()) {
            let result = fsio::create_dirs(&c.change.logical, &c.missing_dirs).and_then(|_| {
                restore(
                    &c.change.logical,
                    &c.change.path,
                    c.change.after.as_deref(),
                    c.write_mode.or(Some(0o644)),
                )
            });
            if let Err(e) = result {
                for done in written.iter().rev() {
                    let _ = restore(
                        &done.change.logical,
                        &done.change.path,
                        done.change.before.as_deref(),
                        done.mode,
                    );
                    fsio::remove_empty_dirs(&done.missing_dirs);
                }
                fsio::remove_empty_dirs(&c.missing_dirs);
                if before_journal.entries.is_empty() {
                    let _ = std::fs::remove_file(journal);
                } else {
                    let _ = save_journal(journal, &before_journal);
                }
                return Err(e);
            }
            if let Some(dirs) = remove_dirs {
                fsio::remove_empty_dirs(dirs);
            }
            written.push(c);
        }
        if j.entries.is_empty() {
            let _ = std::fs::remove_file(journal);
        }
        Ok(Applied {
            changed: computed.into_iter().map(|c| c.change).collect(),
            reverted: reverts.into_iter().map(|(c, _)| c.change).collect(),
        })
    }

    /// What `revert` would do, without doing it.
    pub fn preview_revert(&self, journal: &Path) -> Result<Vec<FileChange>, EditError> {
        let Some(j) = load_journal(journal)? else {
            return Ok(Vec::new());
        };
        j.entries
            .iter()
            .rev()
            .map(|e| Ok(revert_plan(e)?.0))
            .collect()
    }

    /// Undo everything the journal records, newest file first; the journal is deleted after.
    /// A missing journal is a no-op (already reverted).
    pub fn revert(&self, journal: &Path) -> Result<RevertReport, EditError> {
        if !journal.exists() {
            // Nothing was ever applied (or it is reverted already): not even a lock file.
            return Ok(RevertReport::default());
        }
        let _lock = fsio::lock(&self.lock_file)?;
        let Some(j) = load_journal(journal)? else {
            return Ok(RevertReport::default());
        };
        let mut report = RevertReport::default();
        // Compute everything first: an unparsable drifted file stops the revert before any write.
        let plans: Vec<(FileChange, Outcome, &JournalEntry)> = j
            .entries
            .iter()
            .rev()
            .map(|e| revert_plan(e).map(|(c, o)| (c, o, e)))
            .collect::<Result<_, _>>()?;
        for (change, outcome, entry) in plans {
            match outcome {
                Outcome::Missing => report.missing.push(change.logical.clone()),
                _ if change.is_noop() => {}
                _ => restore(
                    &change.logical,
                    &change.path,
                    change.after.as_deref(),
                    entry.previous_mode,
                )?,
            }
            match outcome {
                Outcome::Restore => {
                    if change.after.is_none() {
                        fsio::remove_empty_dirs(&entry.created_dirs);
                    }
                    report.restored.push(change.logical)
                }
                Outcome::Merge => report.merged.push(change.logical),
                Outcome::Missing => {}
            }
        }
        std::fs::remove_file(journal)
            .map_err(|e| EditError::io(journal.display().to_string(), "removing the journal", e))?;
        Ok(report)
    }

    /// Journaled files that are no longer what headroom wrote.
    pub fn drift(&self, journal: &Path) -> Result<Vec<Drift>, EditError> {
        let Some(j) = load_journal(journal)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for e in &j.entries {
            let current = std::fs::read(&e.path).ok();
            if current.as_deref().map(sha256_hex) != e.written_sha256 {
                out.push(Drift {
                    logical: e.logical.clone(),
                    deleted: current.is_none(),
                });
            }
        }
        Ok(out)
    }

    /// The journal's files (logical paths), for status displays.
    pub fn journaled_files(journal: &Path) -> Result<Vec<String>, EditError> {
        Ok(load_journal(journal)?
            .map(|j| j.entries.into_iter().map(|e| e.logical).collect())
            .unwrap_or_default())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Restore,
    Merge,
    Missing,
}

/// How to undo one journal entry: the change to make and which kind of undo it is.
fn revert_plan(e: &JournalEntry) -> Result<(FileChange, Outcome), EditError> {
    let current = match std::fs::read(&e.path) {
        Ok(b) => Some(b),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(EditError::io(e.logical.clone(), "reading", err)),
    };
    let previous = match &e.previous {
        Some(b) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|_| EditError::Journal {
                    file: e.logical.clone(),
                    detail: "previous contents are corrupt".into(),
                })?,
        ),
        None => None,
    };
    let change = |after: Option<Vec<u8>>| FileChange {
        logical: e.logical.clone(),
        path: e.path.clone(),
        before: current.clone(),
        after,
    };
    if current.as_deref().map(sha256_hex) == e.written_sha256 {
        return Ok((change(previous), Outcome::Restore));
    }
    let Some(bytes) = &current else {
        return Ok((change(None), Outcome::Missing));
    };
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    for edit in &e.inverse {
        text = apply_edit(&e.logical, &text, edit)?.0;
    }
    Ok((change(Some(text.into_bytes())), Outcome::Merge))
}

fn restore(
    logical: &str,
    path: &Path,
    bytes: Option<&[u8]>,
    mode: Option<u32>,
) -> Result<(), EditError> {
    match bytes {
        Some(b) => fsio::write_atomic(logical, path, b, mode.unwrap_or(0o644)),
        None => match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(EditError::io(logical, "deleting", e)),
        },
    }
}

/// One edit on `text`: the new text and the edit that undoes it.
fn apply_edit(file: &str, text: &str, edit: &Edit) -> Result<(String, Edit), EditError> {
    Ok(match edit {
        Edit::JsonSet { pointer, value, .. } => {
            let v: serde_json::Value =
                serde_json::from_str(value).map_err(|e| EditError::Invalid {
                    file: file.to_owned(),
                    detail: format!("value for {pointer} is not JSON: {e}"),
                })?;
            let undo = json_undo(file, text, pointer)?;
            (json::set(file, text, pointer, &v)?, undo)
        }
        Edit::JsonRemove { pointer, .. } => {
            let undo = json_undo(file, text, pointer)?;
            (json::remove(file, text, pointer)?, undo)
        }
        Edit::TomlSet { key, value, .. } => {
            let undo = toml_undo(file, text, key)?;
            (toml_file::set(file, text, key, value)?, undo)
        }
        Edit::TomlRemove { key, .. } => {
            let undo = toml_undo(file, text, key)?;
            (toml_file::remove(file, text, key)?, undo)
        }
        Edit::BlockSet {
            id,
            style,
            comment,
            body,
            placement,
            ..
        } => {
            let undo = block_undo(file, text, *style, comment, id)?;
            (
                block::set(file, text, *style, comment, id, body, *placement)?,
                undo,
            )
        }
        Edit::BlockRemove {
            id, style, comment, ..
        } => {
            let undo = block_undo(file, text, *style, comment, id)?;
            (block::remove(file, text, *style, comment, id)?, undo)
        }
    })
}

fn json_undo(file: &str, text: &str, pointer: &str) -> Result<Edit, EditError> {
    Ok(match json::get(file, text, pointer)? {
        Some(v) => Edit::JsonSet {
            file: file.to_owned(),
            pointer: pointer.to_owned(),
            value: v.to_string(),
        },
        None => Edit::JsonRemove {
            file: file.to_owned(),
            pointer: pointer.to_owned(),
        },
    })
}

fn toml_undo(file: &str, text: &str, key: &[String]) -> Result<Edit, EditError> {
    Ok(match toml_file::get(file, text, key)? {
        Some(v) => Edit::TomlSet {
            file: file.to_owned(),
            key: key.to_vec(),
            value: v,
        },
        None => Edit::TomlRemove {
            file: file.to_owned(),
            key: key.to_vec(),
        },
    })
}

fn block_undo(
    file: &str,
    text: &str,
    style: crate::plan::MarkerStyle,
    comment: &str,
    id: &str,
) -> Result<Edit, EditError> {
    Ok(match block::get(file, text, style, comment, id)? {
        Some(body) => Edit::BlockSet {
            file: file.to_owned(),
            id: id.to_owned(),
            style,
            comment: comment.to_owned(),
            body,
            placement: Default::default(),
        },
        None => Edit::BlockRemove {
            file: file.to_owned(),
            id: id.to_owned(),
            style,
            comment: comment.to_owned(),
        },
    })
}

fn load_journal(path: &Path) -> Result<Option<Journal>, EditError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(EditError::io(
                path.display().to_string(),
                "reading the journal",
                e,
            ));
        }
    };
    let j: Journal = serde_json::from_slice(&bytes).map_err(|e| EditError::Journal {
        file: path.display().to_string(),
        detail: format!("unreadable ({e}); nothing was changed"),
    })?;
    if j.version > JOURNAL_VERSION {
        return Err(EditError::Journal {
            file: path.display().to_string(),
            detail: format!("written by a newer headroom (version {})", j.version),
        });
    }
    Ok(Some(j))
}

fn save_journal(path: &Path, j: &Journal) -> Result<(), EditError> {
    let name = path.display().to_string();
    if let Some(dir) = path.parent() {
        headroom_core::fs::create_private_dir(dir)
            .map_err(|e| EditError::io(name.clone(), "creating the journal directory", e))?;
    }
    let bytes = serde_json::to_vec_pretty(j).expect("journal serialises");
    fsio::write_atomic(&name, path, &bytes, 0o600)
}
