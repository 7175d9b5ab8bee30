//! The executor: validate → compute in memory → (preview | journal, then write atomically under a
//! lock) → revert from the journal alone.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use headroom_core::{StateDir, sha256_hex};
use serde::{Deserialize, Serialize};

use crate::error::EditError;
use crate::fsio::{self, Target};
use crate::grants::{EditGrant, key_covers};
use crate::plan::{Edit, Format, Plan};
use crate::{block, json, toml_file};

/// The most edits one apply takes (all its plans together): configuring a tool takes a handful.
pub const MAX_PLAN_EDITS: usize = 2_000;
/// The most files one apply touches.
pub const MAX_PLAN_FILES: usize = 64;
/// The most bytes of values (JSON/TOML values, block bodies) one apply writes.
pub const MAX_PLAN_VALUE_BYTES: usize = 4 << 20;

/// Where logical paths land: `~/x` under `home`, `/x` under `system` (`/` in production).
#[derive(Debug, Clone)]
pub struct Roots {
    pub home: PathBuf,
    pub system: PathBuf,
}

impl Roots {
    /// `~/…` or `/…`, no `..`, no relative paths: where the path lands lexically (links are
    /// judged by [`fsio::resolve`], which everything that reads or writes goes through).
    pub fn resolve(&self, logical: &str) -> Result<PathBuf, EditError> {
        let (_, base, comps) = fsio::split(self, logical)?;
        Ok(comps.iter().fold(base.to_path_buf(), |p, c| p.join(c)))
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

fn too_large(source_id: &str, detail: String) -> EditError {
    EditError::PlanTooLarge {
        source_id: source_id.to_owned(),
        detail,
    }
}

/// The bytes an edit writes (values and block bodies).
fn value_bytes(edit: &Edit) -> usize {
    match edit {
        Edit::JsonSet { value, .. } | Edit::TomlSet { value, .. } => value.len(),
        Edit::BlockSet { body, .. } => body.len(),
        _ => 0,
    }
}

/// The size caps, for one plan or all of an apply's plans together: the edit count first (a
/// plan of a million edits is refused before anything else is looked at).
fn check_size<'a>(
    source_id: &str,
    edits: impl Iterator<Item = &'a Edit> + Clone,
) -> Result<(), EditError> {
    let n = edits.clone().count();
    if n > MAX_PLAN_EDITS {
        return Err(too_large(
            source_id,
            format!("{n} edits (at most {MAX_PLAN_EDITS})"),
        ));
    }
    let files: HashSet<&str> = edits.clone().map(Edit::file).collect();
    if files.len() > MAX_PLAN_FILES {
        return Err(too_large(
            source_id,
            format!("{} files (at most {MAX_PLAN_FILES})", files.len()),
        ));
    }
    let bytes: usize = edits.map(value_bytes).sum();
    if bytes > MAX_PLAN_VALUE_BYTES {
        return Err(too_large(
            source_id,
            format!("{bytes} bytes of values (at most {MAX_PLAN_VALUE_BYTES})"),
        ));
    }
    Ok(())
}

/// Every edit covered by a grant for its file, format and key. Refuses before anything is read.
/// Grants are indexed by (file, format) once, so a plan is checked in one pass.
pub fn validate(plan: &Plan, grants: &[EditGrant]) -> Result<(), EditError> {
    check_size(&plan.source, plan.edits.iter())?;
    // (file, format) -> granted keys. An edit's key is covered when it, or one of its prefixes
    // ending at a separator, is granted: the same rule as `key_covers`, in O(key length).
    let mut index: HashMap<(&str, Format), HashSet<&str>> = HashMap::new();
    for g in grants {
        index
            .entry((g.file.as_str(), g.format))
            .or_default()
            .extend(g.keys.iter().map(String::as_str));
    }
    for edit in &plan.edits {
        let key = edit.key();
        let covered = index
            .get(&(edit.file(), edit.format()))
            .is_some_and(|keys| {
                keys.contains(key.as_str())
                    || match edit.format() {
                        Format::Json => Some('/'),
                        Format::Toml => Some('.'),
                        Format::Text => None,
                    }
                    .is_some_and(|sep| {
                        key.match_indices(sep)
                            .any(|(i, _)| keys.contains(&key[..i]))
                    })
            });
        if !covered {
            return Err(EditError::Denied {
                source_id: plan.source.clone(),
                what: format!(
                    "edit {} of {}",
                    match edit.format() {
                        Format::Json => format!("JSON key {key}"),
                        Format::Toml => format!("TOML key {key}"),
                        Format::Text => format!("block {key:?}"),
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
    /// Set when the planned file is a link edited at its target
    /// (`~/.bashrc is a link to ~/dotfiles/bashrc; editing the target`).
    pub note: Option<String>,
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
        let diff = similar::TextDiff::from_lines(&old, &new)
            .unified_diff()
            .context_radius(3)
            .header(&a, &b)
            .to_string();
        match &self.note {
            Some(note) if !diff.is_empty() => format!("# {note}\n{diff}"),
            _ => diff,
        }
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
    /// Journal entries that could not be trusted: nothing was written back for them.
    pub unrestored: Vec<Unrestored>,
    /// Where the journal was kept aside when something could not be restored (it is deleted
    /// otherwise).
    pub kept: Option<PathBuf>,
}

/// A file a revert did not write back, why, and how to finish by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrestored {
    pub logical: String,
    pub reason: String,
    /// Its bytes from before headroom, written out (`None`: it did not exist before headroom, or
    /// the journal is too damaged to tell).
    pub original: Option<PathBuf>,
}

impl Unrestored {
    /// One line for the user.
    pub fn line(&self) -> String {
        match &self.original {
            Some(o) => format!(
                "could not restore {} ({}); restore it yourself: its original is kept at {}",
                self.logical,
                self.reason,
                o.display()
            ),
            None => format!(
                "could not restore {} ({}); check it yourself (headroom created it, or its original is unknown)",
                self.logical, self.reason
            ),
        }
    }
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
    /// sha256 over the canonical (compact JSON) `[system, entries]`: a journal changed by hand
    /// is detected, and nothing from it is written back. Version 1 journals have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    checksum: Option<String>,
    /// Whether system (`/…`) paths may appear: only a system-scope owner writes them.
    #[serde(default)]
    system: bool,
    entries: Vec<JournalEntry>,
}

impl Journal {
    fn sum(&self) -> String {
        let canonical =
            serde_json::to_vec(&(self.system, &self.entries)).expect("journal serialises");
        sha256_hex(&canonical)
    }
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

/// 2: with a checksum. 1 (no checksum) is still read, its paths validated.
const JOURNAL_VERSION: u32 = 2;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The executor. Cheap to create; holds no open files.
#[derive(Debug, Clone)]
pub struct Executor {
    roots: Roots,
    /// `~/.headroom/locks/edits.lock`
    lock_file: PathBuf,
    /// Headroom's state: every journal (one owner per setting) and where damaged ones are kept.
    state: Option<StateDir>,
}

/// A journaled file's logical path and where its original bytes were kept aside (if known).
type KeptOriginal = (String, Option<PathBuf>);

/// A journal entry undone by an exclusive apply, and the directories to remove once its file is
/// gone again.
type Revert = (Computed, Option<Vec<PathBuf>>);

/// A computed, not yet written, change with the inverse edits that undo it.
struct Computed {
    /// The resolved file, its directory held from resolution to the write.
    target: Target,
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
        Self {
            roots,
            lock_file,
            state: None,
        }
    }

    /// Know headroom's state: a key or block another journal (deployment or direct plugin
    /// apply) already set is refused ([`EditError::Owned`]), and a journal a revert cannot
    /// trust is kept under `~/.headroom/damaged/`.
    pub fn with_state(mut self, state: StateDir) -> Self {
        self.state = Some(state);
        self
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
        if plans.len() > 1 {
            check_size(
                "the plans together",
                plans.iter().flat_map(|a| &a.plan.edits),
            )?;
        }
        // Group edits by file once, keeping first-seen order.
        let mut order: Vec<&str> = Vec::new();
        let mut by_file: HashMap<&str, Vec<&Edit>> = HashMap::new();
        for e in plans.iter().flat_map(|a| &a.plan.edits) {
            by_file
                .entry(e.file())
                .or_insert_with(|| {
                    order.push(e.file());
                    Vec::new()
                })
                .push(e);
        }
        let mut out = Vec::new();
        for logical in order {
            let target = fsio::resolve(&self.roots, logical)?;
            let (before, mode) = target.read()?;
            let mut text = match &before {
                Some(bytes) => {
                    String::from_utf8(bytes.clone()).map_err(|_| EditError::Invalid {
                        file: logical.to_owned(),
                        detail: "not UTF-8 text; refusing to edit it".into(),
                    })?
                }
                None => String::new(),
            };
            let mut inverse = Vec::new();
            for edit in &by_file[logical] {
                let (next, undo) = apply_edit(logical, &text, edit)?;
                text = next;
                inverse.push(undo);
            }
            // Latest first.
            inverse.reverse();
            let change = FileChange {
                logical: logical.to_owned(),
                path: target.path.clone(),
                before,
                after: Some(text.into_bytes()),
                note: target.link_note(),
            };
            if !change.is_noop()
                && let Some(m) = mode
                && m & 0o200 == 0
            {
                return Err(EditError::Invalid {
                    file: logical.to_owned(),
                    detail: "is read-only; make it writable or configure the tool yourself".into(),
                });
            }
            let missing_dirs = if change.is_noop() {
                Vec::new()
            } else {
                target.missing_dirs.clone()
            };
            out.push(Computed {
                target,
                change,
                mode,
                write_mode: mode,
                inverse,
                missing_dirs,
            });
        }
        Ok(out)
    }

    /// One owner per setting: a key or block of a file another journal records is refused,
    /// naming that owner and the command that releases it.
    fn check_owners(
        &self,
        plans: &[Authorized],
        computed: &[Computed],
        journal: &Path,
    ) -> Result<(), EditError> {
        let Some(state) = &self.state else {
            return Ok(());
        };
        let paths: HashMap<&str, &Path> = computed
            .iter()
            .map(|c| (c.change.logical.as_str(), c.change.path.as_path()))
            .collect();
        for other in state.journals() {
            if other == journal {
                continue;
            }
            // A damaged journal claims nothing it can prove; its revert reports it.
            let Ok(Some(j)) = load_journal(&other) else {
                continue;
            };
            for a in plans {
                for edit in &a.plan.edits {
                    let Some(path) = paths.get(edit.file()) else {
                        continue;
                    };
                    let (format, key) = (edit.format(), edit.key());
                    let claimed = j.entries.iter().filter(|e| e.path == *path).any(|e| {
                        e.inverse.iter().any(|inv| {
                            inv.format() == format && {
                                let k = inv.key();
                                key_covers(format, &k, &key) || key_covers(format, &key, &k)
                            }
                        })
                    });
                    if claimed {
                        let (owner, release) = match state.journal_owner(&other) {
                            Some(o) => (o.describe(), o.release()),
                            None => (
                                format!("the journal {}", other.display()),
                                "headroom plugins revert …".to_owned(),
                            ),
                        };
                        return Err(EditError::Owned {
                            file: edit.file().to_owned(),
                            key,
                            owner,
                            release: format!("run `{release}` first, or skip {}", a.plan.source),
                        });
                    }
                }
            }
        }
        Ok(())
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

    /// What [`Executor::apply`] into `journal` would change, without changing anything
    /// (refused like the apply when another owner holds a key).
    pub fn preview_into(
        &self,
        plans: &[Authorized],
        journal: &Path,
    ) -> Result<Vec<FileChange>, EditError> {
        let computed = self.compute(plans)?;
        self.check_owners(plans, &computed, journal)?;
        Ok(computed.into_iter().map(|c| c.change).collect())
    }

    /// What [`Executor::apply_exclusive`] would change, without changing anything.
    pub fn preview_exclusive(
        &self,
        plans: &[Authorized],
        journal: &Path,
    ) -> Result<Applied, EditError> {
        let computed = self.compute(plans)?;
        self.check_owners(plans, &computed, journal)?;
        let j = load_journal(journal)?.unwrap_or_default();
        let reverted = self.reverts_outside(&computed, &j)?;
        Ok(Applied {
            changed: computed.into_iter().map(|c| c.change).collect(),
            reverted: reverted.into_iter().map(|(c, _)| c.change).collect(),
        })
    }

    /// A journal entry checked against the file system before anything of it is used: its
    /// `logical` is a HOME path (a system path only in a system-scope journal), its `path` is
    /// exactly what `logical` resolves to now, and the directories it created lie between the
    /// root and the file. The resolved file, or why not.
    fn check_entry(&self, j: &Journal, e: &JournalEntry) -> Result<Target, String> {
        if e.logical.starts_with('/') && j.version >= 2 && !j.system {
            return Err("a system path in a journal of the user scope".into());
        }
        let target = fsio::resolve(&self.roots, &e.logical).map_err(|err| err.to_string())?;
        // Today's journals canonicalized a link's target (HOME's own links included): the same
        // file spelled through them is the same file.
        let same = target.path == e.path
            || std::fs::canonicalize(&target.path)
                .is_ok_and(|a| std::fs::canonicalize(&e.path).is_ok_and(|b| a == b));
        if !same {
            return Err(format!(
                "it resolves to {}, not {} where headroom wrote it",
                target.path.display(),
                e.path.display()
            ));
        }
        let root = if e.logical.starts_with("~/") {
            &self.roots.home
        } else {
            &self.roots.system
        };
        for d in &e.created_dirs {
            if !(e.path.starts_with(d) && d != &e.path && d.starts_with(root) && d != root) {
                return Err(format!(
                    "a directory it records ({}) is not one of the file's",
                    d.display()
                ));
            }
        }
        Ok(target)
    }

    /// Every entry of `j`, checked; the first that fails is an error naming the journal.
    fn check_all(&self, journal: &Path, j: &Journal) -> Result<Vec<Target>, EditError> {
        j.entries
            .iter()
            .map(|e| {
                self.check_entry(j, e).map_err(|why| EditError::Journal {
                    file: journal.display().to_string(),
                    detail: format!(
                        "its entry for {} cannot be trusted ({why}); revert it first (`headroom install remove` or `headroom plugins revert`)",
                        e.logical
                    ),
                })
            })
            .collect()
    }

    /// The journal's entries for files `computed` does not touch, as changes that undo them.
    fn reverts_outside(
        &self,
        computed: &[Computed],
        j: &Journal,
    ) -> Result<Vec<Revert>, EditError> {
        let touched: HashSet<&Path> = computed.iter().map(|c| c.change.path.as_path()).collect();
        let mut out = Vec::new();
        for e in j.entries.iter().rev() {
            if touched.contains(e.path.as_path()) {
                continue;
            }
            let target = self.check_entry(j, e).map_err(|why| EditError::Journal {
                file: e.logical.clone(),
                detail: format!("cannot be put back ({why})"),
            })?;
            let (change, outcome, current_mode) = revert_plan(&target, e)?;
            // Directories headroom created are removed again once the file is gone.
            let dirs = (outcome == Outcome::Restore && change.after.is_none())
                .then(|| e.created_dirs.clone());
            out.push((
                Computed {
                    target,
                    change,
                    mode: current_mode,
                    write_mode: e.previous_mode.map(|m| m & 0o777).or(current_mode),
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
        let mut computed = self.compute(plans)?;
        self.check_owners(plans, &computed, journal)?;
        let mut j = load_journal(journal)?.unwrap_or(Journal {
            version: JOURNAL_VERSION,
            ..Default::default()
        });
        self.check_all(journal, &j)?;
        let before_journal = j.clone();
        let journal_bytes = std::fs::read(journal).ok();
        let mut reverts = if exclusive {
            let r = self.reverts_outside(&computed, &j)?;
            let touched: HashSet<PathBuf> =
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
            save_journal(journal, &mut j)?;
        }
        let mut steps: Vec<(&mut Computed, Option<&Vec<PathBuf>>)> = computed
            .iter_mut()
            .map(|c| (c, None))
            .chain(reverts.iter_mut().map(|(c, d)| (c, d.as_ref())))
            .filter(|(c, _)| !c.change.is_noop())
            .collect();
        let mut failed = None;
        let mut done = 0;
        for (c, remove_dirs) in steps.iter_mut() {
            let result = restore(
                &mut c.target,
                c.change.after.as_deref(),
                c.write_mode.or(Some(0o644)),
            );
            if let Err(e) = result {
                fsio::remove_empty_dirs(&c.missing_dirs);
                failed = Some(e);
                break;
            }
            if let Some(dirs) = remove_dirs {
                fsio::remove_empty_dirs(dirs);
            }
            done += 1;
        }
        if let Some(e) = failed {
            for (c, _) in steps[..done].iter_mut().rev() {
                let _ = restore(&mut c.target, c.change.before.as_deref(), c.mode);
                fsio::remove_empty_dirs(&c.missing_dirs);
            }
            match &journal_bytes {
                Some(bytes) => {
                    let _ = headroom_core::fs::write_atomic(journal, bytes, 0o600);
                }
                None => {
                    let _ = std::fs::remove_file(journal);
                }
            }
            return Err(e);
        }
        drop(steps);
        if j.entries.is_empty() {
            let _ = std::fs::remove_file(journal);
        }
        Ok(Applied {
            changed: computed.into_iter().map(|c| c.change).collect(),
            reverted: reverts.into_iter().map(|(c, _)| c.change).collect(),
        })
    }

    /// What `revert` would do, without doing it (entries that cannot be trusted are left out;
    /// `revert` names them).
    pub fn preview_revert(&self, journal: &Path) -> Result<Vec<FileChange>, EditError> {
        let Some(j) = load_journal(journal)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for e in j.entries.iter().rev() {
            if let Ok(t) = self.check_entry(&j, e) {
                out.push(revert_plan(&t, e)?.0);
            }
        }
        Ok(out)
    }

    /// Undo everything the journal records, newest file first; the journal is deleted after.
    /// A missing journal is a no-op (already reverted).
    ///
    /// Nothing is written back from a journal that cannot be trusted: unreadable or changed by
    /// hand (checksum) is [`EditError::JournalDamaged`], after the journal was kept aside. An
    /// entry whose file no longer resolves where headroom wrote it is skipped and reported in
    /// [`RevertReport::unrestored`] (the rest is restored; the journal is kept aside).
    pub fn revert(&self, journal: &Path) -> Result<RevertReport, EditError> {
        if !journal.exists() {
            // Nothing was ever applied (or it is reverted already): not even a lock file.
            return Ok(RevertReport::default());
        }
        let _lock = fsio::lock(&self.lock_file)?;
        let j = match read_journal(journal)? {
            Loaded::Absent => return Ok(RevertReport::default()),
            Loaded::Damaged { reason, bytes } => {
                let entries = serde_json::from_slice::<Journal>(&bytes)
                    .map(|j| j.entries)
                    .unwrap_or_default();
                let (kept, saved) =
                    self.keep_aside(journal, &bytes, &entries.iter().collect::<Vec<_>>())?;
                let files = if entries.is_empty() {
                    salvage_logicals(&bytes)
                } else {
                    entries.iter().map(|e| e.logical.clone()).collect()
                };
                let files = match files.is_empty() {
                    true => "every file it configured (its entries cannot be read)".to_owned(),
                    false => files.join(", "),
                };
                let originals = if saved.iter().any(|(_, o)| o.is_some()) {
                    format!("; the originals it recorded are in {}", kept.display())
                } else {
                    String::new()
                };
                return Err(EditError::JournalDamaged {
                    file: journal.display().to_string(),
                    detail: format!(
                        "{reason}: nothing was written back from it (kept at {}); restore {files} yourself{originals}",
                        kept.display()
                    ),
                });
            }
            Loaded::Journal(j) => j,
        };
        let mut report = RevertReport::default();
        // Compute everything first: an unparsable drifted file stops the revert before any write.
        let mut plans = Vec::new();
        let mut untrusted: Vec<(&JournalEntry, String)> = Vec::new();
        for e in j.entries.iter().rev() {
            match self.check_entry(&j, e) {
                Ok(t) => {
                    let (change, outcome, _) = revert_plan(&t, e)?;
                    plans.push((t, change, outcome, e));
                }
                Err(why) => untrusted.push((e, why)),
            }
        }
        for (mut target, change, outcome, entry) in plans {
            match outcome {
                Outcome::Missing => report.missing.push(change.logical.clone()),
                _ if change.is_noop() => {}
                _ => restore(
                    &mut target,
                    change.after.as_deref(),
                    entry.previous_mode.map(|m| m & 0o777),
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
        if untrusted.is_empty() {
            std::fs::remove_file(journal).map_err(|e| {
                EditError::io(journal.display().to_string(), "removing the journal", e)
            })?;
        } else {
            let bytes = std::fs::read(journal).map_err(|e| {
                EditError::io(journal.display().to_string(), "reading the journal", e)
            })?;
            let entries: Vec<&JournalEntry> = untrusted.iter().map(|(e, _)| *e).collect();
            let (kept, saved) = self.keep_aside(journal, &bytes, &entries)?;
            for ((e, why), (_, original)) in untrusted.into_iter().zip(saved) {
                report.unrestored.push(Unrestored {
                    logical: e.logical.clone(),
                    reason: why,
                    original,
                });
            }
            report.kept = Some(kept);
        }
        Ok(report)
    }

    /// Keep a journal that cannot be (fully) trusted where the user can find it after its
    /// profile is gone (`~/.headroom/damaged/<name>-<time>/`, or next to it without a state
    /// directory), with the original bytes of `entries` written out one file each; the journal
    /// itself is removed from where it was. The directory and each entry's original.
    fn keep_aside(
        &self,
        journal: &Path,
        bytes: &[u8],
        entries: &[&JournalEntry],
    ) -> Result<(PathBuf, Vec<KeptOriginal>), EditError> {
        let name = journal.display().to_string();
        let base = match &self.state {
            Some(s) => s.damaged_dir(),
            None => journal.parent().unwrap_or(Path::new(".")).to_path_buf(),
        };
        let stem = match self.state.as_ref().and_then(|s| s.journal_owner(journal)) {
            Some(headroom_core::JournalOwner::Deployment(p)) => format!("deploy-{p}"),
            Some(headroom_core::JournalOwner::Plugin(id)) => format!("plugin-{id}"),
            None => journal
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "journal".into()),
        };
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let dir = base.join(format!("{stem}.damaged-{secs}-{}", std::process::id()));
        headroom_core::fs::create_private_dir(&dir)
            .map_err(|e| EditError::io(name.clone(), "keeping the journal aside", e))?;
        headroom_core::fs::write_atomic(&dir.join("journal.json"), bytes, 0o600)
            .map_err(|e| EditError::io(name.clone(), "keeping the journal aside", e))?;
        let mut saved = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let original = e
                .previous
                .as_deref()
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .and_then(|b| {
                    let file = Path::new(&e.logical)
                        .file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "file".into());
                    let at = dir.join(format!("{}-{file}.original", i + 1));
                    headroom_core::fs::write_atomic(&at, &b, 0o600)
                        .ok()
                        .map(|_| at)
                });
            saved.push((e.logical.clone(), original));
        }
        std::fs::remove_file(journal)
            .map_err(|e| EditError::io(name, "removing the journal", e))?;
        Ok((dir, saved))
    }

    /// Journaled files that are no longer what headroom wrote (or no longer resolve where it
    /// wrote them).
    pub fn drift(&self, journal: &Path) -> Result<Vec<Drift>, EditError> {
        let Some(j) = load_journal(journal)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for e in &j.entries {
            let current = self
                .check_entry(&j, e)
                .ok()
                .and_then(|t| t.read().ok())
                .map(|(bytes, _)| bytes);
            match current {
                Some(bytes) if bytes.as_deref().map(sha256_hex) == e.written_sha256 => {}
                Some(bytes) => out.push(Drift {
                    logical: e.logical.clone(),
                    deleted: bytes.is_none(),
                }),
                None => out.push(Drift {
                    logical: e.logical.clone(),
                    deleted: false,
                }),
            }
        }
        Ok(out)
    }

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

/// How to undo one journal entry: the change to make, which kind of undo it is, and the file's
/// mode now.
fn revert_plan(
    target: &Target,
    e: &JournalEntry,
) -> Result<(FileChange, Outcome, Option<u32>), EditError> {
    let (current, mode) = target.read()?;
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
        note: target.link_note(),
    };
    if current.as_deref().map(sha256_hex) == e.written_sha256 {
        return Ok((change(previous), Outcome::Restore, mode));
    }
    let Some(bytes) = &current else {
        return Ok((change(None), Outcome::Missing, mode));
    };
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    for edit in &e.inverse {
        // Only this entry's own file: a hand-made inverse naming another file changes nothing.
        if edit.file() != e.logical {
            continue;
        }
        text = apply_edit(&e.logical, &text, edit)?.0;
    }
    Ok((change(Some(text.into_bytes())), Outcome::Merge, mode))
}

fn restore(target: &mut Target, bytes: Option<&[u8]>, mode: Option<u32>) -> Result<(), EditError> {
    match bytes {
        Some(b) => target.write(b, mode.unwrap_or(0o644)),
        None => target.remove(),
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

/// A journal as found.
enum Loaded {
    Absent,
    Journal(Journal),
    /// Unreadable, or changed by hand (its checksum does not match).
    Damaged {
        reason: String,
        bytes: Vec<u8>,
    },
}

fn read_journal(path: &Path) -> Result<Loaded, EditError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Loaded::Absent),
        Err(e) => {
            return Err(EditError::io(
                path.display().to_string(),
                "reading the journal",
                e,
            ));
        }
    };
    let j: Journal = match serde_json::from_slice(&bytes) {
        Ok(j) => j,
        Err(e) => {
            return Ok(Loaded::Damaged {
                reason: format!("is unreadable ({e})"),
                bytes,
            });
        }
    };
    if j.version > JOURNAL_VERSION {
        return Err(EditError::Journal {
            file: path.display().to_string(),
            detail: format!("written by a newer headroom (version {})", j.version),
        });
    }
    // Version 1 (no checksum) is legacy: honoured, its paths validated entry by entry.
    let sum_ok = match (&j.checksum, j.version) {
        (None, v) => v < 2,
        (Some(sum), _) => *sum == j.sum(),
    };
    if !sum_ok {
        return Ok(Loaded::Damaged {
            reason: "was changed by hand (its checksum does not match)".into(),
            bytes,
        });
    }
    Ok(Loaded::Journal(j))
}

fn load_journal(path: &Path) -> Result<Option<Journal>, EditError> {
    match read_journal(path)? {
        Loaded::Absent => Ok(None),
        Loaded::Journal(j) => Ok(Some(j)),
        Loaded::Damaged { reason, .. } => Err(EditError::Journal {
            file: path.display().to_string(),
            detail: format!(
                "{reason}; nothing was changed (`headroom install remove` or `headroom plugins revert` sets it aside)"
            ),
        }),
    }
}

/// The `"logical": "…"` values of a journal too damaged to parse, to name its files.
fn salvage_logicals(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    let mut rest = text.as_ref();
    while let Some(i) = rest.find("\"logical\"") {
        rest = &rest[i + 9..];
        let Some(q) = rest.find('"') else { break };
        let value = &rest[q + 1..];
        let Some(end) = value.find('"') else { break };
        let name = &value[..end];
        if (name.starts_with("~/") || name.starts_with('/')) && !out.iter().any(|o| o == name) {
            out.push(name.to_owned());
        }
        rest = &value[end..];
    }
    out
}

fn save_journal(path: &Path, j: &mut Journal) -> Result<(), EditError> {
    let name = path.display().to_string();
    if let Some(dir) = path.parent() {
        headroom_core::fs::create_private_dir(dir)
            .map_err(|e| EditError::io(name.clone(), "creating the journal directory", e))?;
    }
    j.version = JOURNAL_VERSION;
    j.system = j.entries.iter().any(|e| e.logical.starts_with('/'));
    j.checksum = Some(j.sum());
    let bytes = serde_json::to_vec_pretty(j).expect("journal serialises");
    headroom_core::fs::write_atomic(path, &bytes, 0o600)
        .map_err(|e| EditError::io(name, "writing", e))
}
