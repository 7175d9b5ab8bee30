//! The writer: requests hand rows to a bounded channel (never waiting), one thread writes them
//! in batched transactions and prunes what retention and the row cap no longer keep.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{
    Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError, sync_channel,
};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rusqlite::{Connection, OpenFlags, params};
use serde_json::json;

use crate::{Options, Record, UsageError, client, schema, time};

/// A batch is written at the latest this long after its first row arrived.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// While a batch fills, the writer naps this long between looks at the queue instead of waiting
/// on it: a writer blocked on the channel is woken by every row, a futex wake and a context switch
/// per request that cost the proxy ~10 % of its throughput on two busy cores.
const NAP: Duration = Duration::from_millis(20);

enum Msg {
    Row(Record),
    Flush(SyncSender<()>),
}

struct Shared {
    path: Option<PathBuf>,
    /// `None` while writing works; the one-line reason while it does not.
    trouble: Mutex<Option<String>>,
    written: AtomicU64,
    dropped: AtomicU64,
    /// True until the writer thread has checked and opened the file; `opened` is signalled then.
    opening: Mutex<bool>,
    opened: Condvar,
    /// The file could not be opened: rows are counted as dropped instead of queued.
    refusing: AtomicBool,
}

impl Shared {
    fn new(path: Option<PathBuf>) -> Shared {
        Shared {
            path,
            trouble: Mutex::new(None),
            written: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            opening: Mutex::new(false),
            opened: Condvar::new(),
            refusing: AtomicBool::new(false),
        }
    }

    fn set_trouble(&self, reason: Option<String>) {
        // A poisoned lock only means a panic elsewhere mid-assignment; the value is still usable.
        *self.trouble.lock().unwrap_or_else(|p| p.into_inner()) = reason;
    }

    /// The open is over: `Err` is why the file cannot be used.
    fn set_opened(&self, result: Result<(), String>) {
        if let Err(reason) = result {
            self.refusing.store(true, Ordering::Relaxed);
            self.set_trouble(Some(reason));
        }
        *self.opening.lock().unwrap_or_else(|p| p.into_inner()) = false;
        self.opened.notify_all();
    }

    fn is_opening(&self) -> bool {
        *self.opening.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct Inner {
    tx: Option<SyncSender<Msg>>,
    shared: Arc<Shared>,
}

/// The handle the proxy records with; cheap to clone. Dropping the last clone lets the writer
/// finish its queue in the background; call [`Recorder::flush`] at shutdown to wait for it.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

impl Recorder {
    /// Opens (creating it, its directory 0700 and the file 0600) the history at `path`, and
    /// returns once it is checked. Never fails: a corrupt, locked or unwritable file gives a
    /// recorder whose [`health`](Self::health) says why, and whose rows are counted as dropped,
    /// so the proxy keeps serving.
    pub fn open(path: &Path, options: Options) -> Recorder {
        let recorder = Recorder::start(path, options);
        recorder.wait_opened();
        recorder
    }

    /// As [`open`](Self::open), but returns at once: the writer thread checks and opens the file
    /// (a full-size history's integrity check, a layout move and the retention prune take
    /// seconds, which a proxy's start must not wait for). Until then health says `opening` and
    /// rows queue as usual.
    pub fn start(path: &Path, options: Options) -> Recorder {
        let shared = Arc::new(Shared::new(Some(path.to_path_buf())));
        *shared.opening.lock().unwrap_or_else(|p| p.into_inner()) = true;
        let (tx, rx) = sync_channel(options.queue.max(1));
        let (for_thread, path_buf) = (shared.clone(), path.to_path_buf());
        let spawned = std::thread::Builder::new()
            .name("headroom-usage".into())
            .spawn(move || {
                // Should the open panic, waiters are released with the reason, never left hanging.
                let guard = OpenGuard(&for_thread);
                let opened = Writer::open(&path_buf, options);
                std::mem::forget(guard);
                match opened {
                    Ok(writer) => {
                        for_thread.set_opened(Ok(()));
                        writer.run(rx, &for_thread);
                    }
                    Err(e) => {
                        for_thread.set_opened(Err(e.to_string()));
                        refuse(rx, &for_thread);
                    }
                }
            });
        let tx = match spawned {
            Ok(_) => Some(tx),
            Err(e) => {
                let e = UsageError::Other {
                    path: path.to_path_buf(),
                    reason: format!("cannot start its writer thread ({e})"),
                };
                shared.set_opened(Err(e.to_string()));
                None
            }
        };
        Recorder {
            inner: Arc::new(Inner { tx, shared }),
        }
    }

    /// Waits until the file is open or known to be unusable ([`start`](Self::start)).
    pub fn wait_opened(&self) {
        let shared = &self.inner.shared;
        let mut opening = shared.opening.lock().unwrap_or_else(|p| p.into_inner());
        while *opening {
            opening = shared
                .opened
                .wait(opening)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    /// A recorder that keeps nothing (`--no-usage-history`).
    pub fn disabled() -> Recorder {
        Recorder {
            inner: Arc::new(Inner {
                tx: None,
                shared: Arc::new(Shared::new(None)),
            }),
        }
    }

    /// Queues one row. Never blocks and never panics: a full queue (or an unavailable history)
    /// drops the row and counts it.
    pub fn record(&self, r: Record) {
        let shared = &self.inner.shared;
        if shared.refusing.load(Ordering::Relaxed) {
            shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match &self.inner.tx {
            Some(tx) => match tx.try_send(Msg::Row(r)) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    shared.dropped.fetch_add(1, Ordering::Relaxed);
                }
                Err(TrySendError::Disconnected(_)) => {
                    shared.dropped.fetch_add(1, Ordering::Relaxed);
                    let path = shared.path.as_deref().unwrap_or(Path::new(""));
                    shared.set_trouble(Some(format!(
                        "usage history {}: its writer thread stopped; restart the proxy",
                        path.display()
                    )));
                }
            },
            None if shared.path.is_some() => {
                shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
            None => {}
        }
    }

    /// `{"state":"ok"|"unavailable"|"disabled","path":..,"reason":..,"written":n,"dropped":n}`
    pub fn health(&self) -> serde_json::Value {
        let shared = &self.inner.shared;
        let reason = shared
            .trouble
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let state = match (&shared.path, &reason) {
            (None, _) => "disabled",
            (Some(_), Some(_)) => "unavailable",
            (Some(_), None) if shared.is_opening() => "opening",
            (Some(_), None) => "ok",
        };
        json!({
            "state": state,
            // display(): a non-UTF-8 path must not make health() fail.
            "path": shared.path.as_ref().map(|p| p.display().to_string()),
            "reason": reason,
            "written": shared.written.load(Ordering::Relaxed),
            "dropped": shared.dropped.load(Ordering::Relaxed),
        })
    }

    /// Waits, at most `within`, until every row recorded before this call is on disk (or
    /// counted as dropped). For shutdown and tests.
    pub fn flush(&self, within: Duration) {
        let Some(tx) = &self.inner.tx else { return };
        let deadline = Instant::now() + within;
        let (ack_tx, ack_rx) = sync_channel(1);
        let mut msg = Msg::Flush(ack_tx);
        loop {
            match tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(back)) => {
                    if Instant::now() >= deadline {
                        return;
                    }
                    msg = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
        let _ = ack_rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    }
}

/// Releases [`Recorder::wait_opened`] if the open unwinds.
struct OpenGuard<'a>(&'a Shared);

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        let e = UsageError::Other {
            path: self.0.path.clone().unwrap_or_default(),
            reason: "its writer thread stopped while opening it; restart the proxy".into(),
        };
        self.0.set_opened(Err(e.to_string()));
    }
}

/// The writer thread of a file that could not be opened: what was queued before that was known
/// is counted as dropped, and flushes are answered, until the last recorder is gone.
fn refuse(rx: Receiver<Msg>, shared: &Shared) {
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::Row(_) => {
                shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Msg::Flush(ack) => {
                let _ = ack.try_send(());
            }
        }
    }
}

struct Writer {
    conn: Connection,
    path: PathBuf,
    options: Options,
    /// Per kind (model, project, transforms): name → id in `names`; cleared whenever ids may
    /// have changed (rollback, prune).
    names: Names,
    /// The last key's sequence number, counting on across milliseconds so rows of one rarely
    /// meet a taken key.
    seq: u64,
}

/// Names cached at most per kind; past it the cache starts over (hostile projects cannot grow
/// memory).
const NAMES_CACHED: usize = 4096;

/// The writer's cache of `names` ids, one map per kind so a lookup needs no key of its own, and
/// each kind's last hit in front of it: consecutive rows mostly name the same model and project,
/// and comparing two short strings is cheaper than hashing one.
#[derive(Default)]
struct Names {
    maps: [HashMap<String, i64>; 3],
    last: [Option<(String, i64)>; 3],
}

impl Names {
    fn get(&mut self, kind: i64, name: &str) -> Option<i64> {
        let k = (kind - schema::MODEL) as usize;
        if let Some((last, id)) = &self.last[k]
            && last == name
        {
            return Some(*id);
        }
        let id = *self.maps[k].get(name)?;
        self.last[k] = Some((name.to_owned(), id));
        Some(id)
    }
    fn insert(&mut self, kind: i64, name: String, id: i64) {
        let map = &mut self.maps[(kind - schema::MODEL) as usize];
        if map.len() >= NAMES_CACHED {
            map.clear();
        }
        map.insert(name, id);
    }
    fn clear(&mut self) {
        *self = Names::default();
    }
}

impl Writer {
    fn open(path: &Path, options: Options) -> Result<Writer, UsageError> {
        create_private(path)?;
        let sqlite = |e: rusqlite::Error| UsageError::from_sqlite(path, &e);
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite)?;
        conn.busy_timeout(options.busy).map_err(sqlite)?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(sqlite)?;
        if check != "ok" {
            return Err(UsageError::Corrupt {
                path: path.to_path_buf(),
                reason: check.replace(['\n', '\r'], " "),
            });
        }
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(sqlite)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(UsageError::Other {
                path: path.to_path_buf(),
                reason: format!(
                    "cannot switch it to WAL mode (still {mode}); is it on a network file system?"
                ),
            });
        }
        // NORMAL in WAL mode: a crash loses at most the last transactions, never the file.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sqlite)?;
        schema::migrate(&conn, path)?;
        let mut writer = Writer {
            conn,
            path: path.to_path_buf(),
            options,
            names: Names::default(),
            seq: 0,
        };
        writer.prune(SystemTime::now()).map_err(sqlite)?;
        Ok(writer)
    }

    fn run(mut self, rx: Receiver<Msg>, shared: &Shared) {
        let batch = self.options.batch.max(1);
        let mut pending: Vec<Record> = Vec::with_capacity(batch);
        // Instant, not SystemTime: a wall clock jumping back cannot stall or rush the prune.
        let mut last_prune = Instant::now();
        loop {
            // A batch never outlives the inner loop below, so the only deadline here is the prune.
            let wait = self
                .options
                .prune_every
                .saturating_sub(last_prune.elapsed());
            let mut next = match rx.recv_timeout(wait) {
                Ok(msg) => Some(msg),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => {
                    self.write(&mut pending, shared);
                    return;
                }
            };
            // Once a row is in, the rest of its batch is collected without blocking on the
            // channel (see NAP); a quiet queue sends the writer back to waiting.
            let mut first_pending: Option<Instant> = None;
            loop {
                if let Some(msg) = next.take() {
                    match msg {
                        Msg::Row(r) => {
                            first_pending.get_or_insert_with(Instant::now);
                            pending.push(r);
                            if pending.len() >= batch {
                                self.write(&mut pending, shared);
                                first_pending = None;
                            }
                        }
                        Msg::Flush(ack) => {
                            self.write(&mut pending, shared);
                            first_pending = None;
                            // A flush ends a run (shutdown, a test's read): fold the write-ahead
                            // log back so the file left behind is the whole history, not a stub.
                            let _ = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
                            let _ = ack.try_send(());
                        }
                    }
                }
                match rx.try_recv() {
                    Ok(msg) => {
                        next = Some(msg);
                        continue;
                    }
                    Err(TryRecvError::Disconnected) => {
                        self.write(&mut pending, shared);
                        return;
                    }
                    Err(TryRecvError::Empty) => {}
                }
                match first_pending {
                    None => break,
                    Some(t) if t.elapsed() >= FLUSH_EVERY => {
                        self.write(&mut pending, shared);
                        break;
                    }
                    Some(_) => std::thread::sleep(NAP),
                }
            }
            if last_prune.elapsed() >= self.options.prune_every {
                last_prune = Instant::now();
                if let Err(e) = self.prune(SystemTime::now()) {
                    shared.set_trouble(Some(UsageError::from_sqlite(&self.path, &e).to_string()));
                }
            }
        }
    }

    /// Writes `pending` in one transaction; on failure the rows are counted as dropped and the
    /// reason shown in health until a later batch succeeds (e.g. after disk space is freed).
    fn write(&mut self, pending: &mut Vec<Record>, shared: &Shared) {
        if pending.is_empty() {
            return;
        }
        let n = pending.len() as u64;
        match self.insert(pending) {
            Ok(keyless) => {
                shared.written.fetch_add(n - keyless, Ordering::Relaxed);
                shared.dropped.fetch_add(keyless, Ordering::Relaxed);
                shared.set_trouble(None);
            }
            Err(e) => {
                // The rollback may have taken new names with it.
                self.names.clear();
                shared.dropped.fetch_add(n, Ordering::Relaxed);
                shared.set_trouble(Some(UsageError::from_sqlite(&self.path, &e).to_string()));
            }
        }
        pending.clear();
    }

    /// Returns how many rows found no free key (see below) and were not written.
    fn insert(&mut self, rows: &[Record]) -> rusqlite::Result<u64> {
        let tx = self.conn.transaction()?;
        let mut keyless = 0;
        {
            // OR IGNORE: a key already taken (a row of the same millisecond whose sequence
            // number came round, e.g. a long stream's row written after 1024 newer ones) makes
            // no change, and the row tries the millisecond's next number.
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO requests (id, client, provider, model, project, status,
                 error, ttfb, total, added, input, output, cache_read, cache_write, before, after,
                 transforms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
            )?;
            for r in rows {
                let model = name_id(&tx, &mut self.names, schema::MODEL, r.model.as_deref())?;
                let project = name_id(&tx, &mut self.names, schema::PROJECT, r.project.as_deref())?;
                let transforms = (!r.transforms.is_empty()).then(|| r.transforms.join(","));
                let transforms = name_id(
                    &tx,
                    &mut self.names,
                    schema::TRANSFORMS,
                    transforms.as_deref(),
                )?;
                let ms = time::unix_ms(r.at);
                let mut written = false;
                for _ in 0..schema::SEQS {
                    self.seq = self.seq.wrapping_add(1);
                    let changed = insert.execute(params![
                        schema::key(ms, self.seq),
                        r.client as i64,
                        r.provider as i64,
                        model,
                        project,
                        r.status,
                        r.error.map(|e| e as i64),
                        r.ttfb.map(millis),
                        r.total.map(millis),
                        i64::try_from(r.added.as_micros()).unwrap_or(i64::MAX),
                        sql_u64(r.input_tokens),
                        sql_u64(r.output_tokens),
                        sql_u64(r.cache_read_tokens),
                        sql_u64(r.cache_write_tokens),
                        sql_u64(r.tokens_before),
                        sql_u64(r.tokens_after),
                        transforms,
                    ])?;
                    if changed == 1 {
                        written = true;
                        break;
                    }
                }
                // A millisecond with every key taken keeps its first 1024 rows.
                keyless += u64::from(!written);
            }
        }
        tx.commit()?;
        Ok(keyless)
    }

    /// Deletes rows older than the retention (rows stamped after `now`, from a clock that went
    /// back, are kept: they are not old), then the oldest beyond `max_rows`, then names no row
    /// uses any more.
    fn prune(&mut self, now: SystemTime) -> rusqlite::Result<()> {
        let retention = i64::try_from(self.options.retention.as_millis()).unwrap_or(i64::MAX);
        let cutoff = time::unix_ms(now).saturating_sub(retention);
        let mut deleted = self.conn.execute(
            "DELETE FROM requests WHERE id < ?1",
            [schema::first_key(cutoff)],
        )?;
        let count: i64 = self
            .conn
            .query_row("SELECT count(*) FROM requests", [], |r| r.get(0))?;
        let excess = count.saturating_sub(sql_u64(self.options.max_rows));
        if excess > 0 {
            deleted += self.conn.execute(
                "DELETE FROM requests WHERE id IN
                 (SELECT id FROM requests ORDER BY id LIMIT ?1)",
                [excess],
            )?;
        }
        if deleted > 0 {
            self.conn.execute(
                "DELETE FROM names WHERE id NOT IN (
                   SELECT model FROM requests WHERE model IS NOT NULL
                   UNION SELECT project FROM requests WHERE project IS NOT NULL
                   UNION SELECT transforms FROM requests WHERE transforms IS NOT NULL)",
                [],
            )?;
            self.names.clear();
            self.conn.execute_batch("PRAGMA incremental_vacuum")?;
        }
        Ok(())
    }
}

/// The id of `name` in `names`, inserting it on first use. Names are capped here, on the
/// writer thread, whatever the caller did.
fn name_id(
    conn: &Connection,
    names: &mut Names,
    kind: i64,
    name: Option<&str>,
) -> rusqlite::Result<Option<i64>> {
    let Some(name) = name else { return Ok(None) };
    let name = client::cap(name);
    if let Some(id) = names.get(kind, &name) {
        return Ok(Some(id));
    }
    conn.prepare_cached("INSERT OR IGNORE INTO names (kind, name) VALUES (?1, ?2)")?
        .execute(params![kind, name])?;
    let id: i64 = conn
        .prepare_cached("SELECT id FROM names WHERE kind = ?1 AND name = ?2")?
        .query_row(params![kind, name], |r| r.get(0))?;
    names.insert(kind, name.into_owned(), id);
    Ok(Some(id))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn sql_u64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Creates the directory (0700) and the file (0600) before SQLite does, so neither is ever
/// readable by other users (SQLite gives its -wal and -shm files the database file's mode).
fn create_private(path: &Path) -> Result<(), UsageError> {
    let fail = |what: &str, e: std::io::Error| UsageError::Other {
        path: path.to_path_buf(),
        reason: format!(
            "cannot create {what} ({e}); check the permissions, or start the proxy with --no-usage-history"
        ),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(|e| fail("its directory", e))?;
    }
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    open.open(path).map(drop).map_err(|e| fail("the file", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Shared {
        Shared::new(None)
    }

    fn rows(n: usize) -> Vec<Record> {
        (0..n)
            .map(|i| Record {
                at: SystemTime::now(),
                client: crate::Client::Codex,
                provider: crate::Provider::OpenAi,
                model: Some(format!("model-{i}")),
                project: None,
                status: 200,
                error: None,
                ttfb: None,
                total: None,
                added: Duration::ZERO,
                input_tokens: 1,
                output_tokens: 1,
                cache_read_tokens: 0,
                cache_write_tokens: 0,
                tokens_before: 0,
                tokens_after: 0,
                transforms: Vec::new(),
            })
            .collect()
    }

    /// SQLite reports a full disk as SQLITE_FULL, which `max_page_count` produces on demand.
    #[test]
    fn a_full_disk_drops_the_batch_says_so_and_recovers() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("usage.db");
        let mut writer = Writer::open(&db, Options::default()).unwrap();
        let shared = shared();
        let pages: i64 = writer
            .conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        writer
            .conn
            .pragma_update(None, "max_page_count", pages)
            .unwrap();
        writer.write(&mut rows(300), &shared);
        assert_eq!(shared.dropped.load(Ordering::Relaxed), 300);
        assert_eq!(shared.written.load(Ordering::Relaxed), 0);
        let reason = shared.trouble.lock().unwrap().clone().unwrap();
        assert!(
            reason.contains("the disk is full; free some space"),
            "{reason}"
        );

        writer
            .conn
            .pragma_update(None, "max_page_count", 1_000_000)
            .unwrap();
        writer.write(&mut rows(300), &shared);
        assert_eq!(shared.written.load(Ordering::Relaxed), 300);
        assert!(shared.trouble.lock().unwrap().is_none());
        let models: i64 = writer
            .conn
            .query_row("SELECT count(*) FROM names", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            models, 300,
            "stale name ids from the rolled-back batch were used"
        );
    }
}
