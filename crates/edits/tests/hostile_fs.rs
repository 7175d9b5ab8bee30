//! Issue #13, the write side: a granted file that is a link (or lies behind a directory link),
//! a FIFO, a device, a huge file, or a directory swapped while a plan is being applied. Every
//! file is judged after resolution; a sensitive file's bytes never change, nothing is created
//! outside HOME, and every call ends.
#![cfg(unix)]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use headroom_core::sha256_hex;
use headroom_edits::{Authorized, Edit, EditError, EditGrant, Executor, Format, Plan, Roots};

struct Home {
    dir: tempfile::TempDir,
    home: PathBuf,
    exec: Executor,
    journal: PathBuf,
}

fn home() -> Home {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    fs::create_dir_all(home.join(".ssh")).unwrap();
    fs::write(home.join(".ssh/authorized_keys"), "ssh-ed25519 AAAA me\n").unwrap();
    fs::create_dir_all(dir.path().join("outside")).unwrap();
    let exec = Executor::new(
        Roots {
            home: home.clone(),
            system: dir.path().join("root"),
        },
        home.join(".headroom/locks/edits.lock"),
    );
    let journal = home.join(".headroom/journal.json");
    Home {
        dir,
        home,
        exec,
        journal,
    }
}

impl Home {
    fn outside(&self) -> PathBuf {
        self.dir.path().join("outside")
    }
    fn keys_sha(&self) -> String {
        sha256_hex(&fs::read(self.home.join(".ssh/authorized_keys")).unwrap())
    }
    /// Every path under the temporary directory but HOME (what "outside HOME" holds).
    fn outside_listing(&self) -> Vec<(PathBuf, Option<String>)> {
        let mut out = Vec::new();
        walk(self.dir.path(), &self.home, &mut out);
        out.sort();
        out
    }
}

fn walk(d: &Path, skip: &Path, out: &mut Vec<(PathBuf, Option<String>)>) {
    for e in fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p == skip || p.starts_with(skip) {
            continue;
        }
        let m = fs::symlink_metadata(&p).unwrap();
        if m.is_dir() {
            walk(&p, skip, out);
            out.push((p, None));
        } else if m.is_file() {
            out.push((p.clone(), Some(sha256_hex(&fs::read(&p).unwrap()))));
        } else {
            out.push((p, None));
        }
    }
}

/// A text-block plan on `file`: what an attacker's adapter asks for ("append my key").
fn block_plan(file: &str) -> Authorized {
    Authorized::new(
        Plan {
            source: "hostile".into(),
            edits: vec![Edit::BlockSet {
                file: file.into(),
                id: "env".into(),
                style: headroom_edits::MarkerStyle::Arrows,
                comment: "#".into(),
                body: "ssh-ed25519 AAAA attacker\n".into(),
                placement: Default::default(),
            }],
            notes: vec![],
        },
        vec![EditGrant {
            file: file.into(),
            format: Format::Text,
            keys: vec!["env".into()],
        }],
    )
}

/// Run `f` on a thread; it must end within a generous bound (a FIFO or /dev/zero never ends).
fn ends<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the call did not end")
}

fn refused(h: &Home, file: &str) -> EditError {
    let exec = h.exec.clone();
    let journal = h.journal.clone();
    let plan = block_plan(file);
    let err = ends(move || exec.apply(&[plan], &journal)).expect_err("must be refused");
    assert!(!h.journal.exists(), "nothing journaled");
    err
}

#[test]
fn a_granted_file_linked_to_authorized_keys_is_refused() {
    let h = home();
    let (before, outside) = (h.keys_sha(), h.outside_listing());
    fs::create_dir_all(h.home.join(".foo")).unwrap();
    symlink("../.ssh/authorized_keys", h.home.join(".foo/rc")).unwrap();
    let err = refused(&h, "~/.foo/rc");
    assert!(matches!(err, EditError::Unsafe { .. }), "{err}");
    assert!(err.to_string().contains("deny-list"), "{err}");
    assert_eq!(h.keys_sha(), before);
    assert_eq!(h.outside_listing(), outside);
    // The preview (what --dry-run shows) is refused the same way.
    assert!(h.exec.preview(&[block_plan("~/.foo/rc")]).is_err());
}

#[test]
fn a_granted_file_behind_a_directory_link_to_a_denied_directory_is_refused() {
    let h = home();
    let before = h.keys_sha();
    symlink(h.home.join(".ssh"), h.home.join(".foo")).unwrap();
    let err = refused(&h, "~/.foo/authorized_keys");
    assert!(matches!(err, EditError::Unsafe { .. }), "{err}");
    assert_eq!(h.keys_sha(), before);
}

#[test]
fn a_dangling_link_out_of_home_creates_nothing() {
    let h = home();
    let outside = h.outside_listing();
    fs::create_dir_all(h.home.join(".foo")).unwrap();
    let target = h.outside().join("created-by-headroom");
    symlink(&target, h.home.join(".foo/rc")).unwrap();
    let err = refused(&h, "~/.foo/rc");
    assert!(matches!(err, EditError::Unsafe { .. }), "{err}");
    assert!(err.to_string().contains("outside HOME"), "{err}");
    assert!(!target.exists());
    assert_eq!(h.outside_listing(), outside);
}

#[test]
fn a_dangling_link_inside_home_is_refused_too() {
    let h = home();
    fs::create_dir_all(h.home.join(".foo")).unwrap();
    symlink("../dotfiles/missing", h.home.join(".foo/rc")).unwrap();
    let err = refused(&h, "~/.foo/rc");
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(!h.home.join("dotfiles").exists());
}

#[test]
fn a_directory_linked_out_of_home_is_refused() {
    let h = home();
    let outside = h.outside_listing();
    symlink(h.outside(), h.home.join(".foo")).unwrap();
    let err = refused(&h, "~/.foo/rc");
    assert!(matches!(err, EditError::Unsafe { .. }), "{err}");
    assert_eq!(h.outside_listing(), outside);
    // A relative link climbing out is refused the same way.
    fs::remove_file(h.home.join(".foo")).unwrap();
    symlink("../outside", h.home.join(".foo")).unwrap();
    let err = refused(&h, "~/.foo/rc");
    assert!(err.to_string().contains("out of HOME"), "{err}");
    assert_eq!(h.outside_listing(), outside);
}

#[test]
fn a_fifo_is_refused_before_it_is_opened() {
    let h = home();
    fs::create_dir_all(h.home.join(".foo")).unwrap();
    let fifo = h.home.join(".foo/rc");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let err = refused(&h, "~/.foo/rc");
    assert!(err.to_string().contains("FIFO"), "{err}");
    assert!(
        fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo_like()
    );
}

trait FifoLike {
    fn is_fifo_like(&self) -> bool;
}
impl FifoLike for fs::FileType {
    fn is_fifo_like(&self) -> bool {
        std::os::unix::fs::FileTypeExt::is_fifo(self)
    }
}

#[test]
fn a_link_to_dev_zero_is_refused_without_reading_it() {
    let h = home();
    fs::create_dir_all(h.home.join(".foo")).unwrap();
    symlink("/dev/zero", h.home.join(".foo/rc")).unwrap();
    let err = refused(&h, "~/.foo/rc");
    assert!(matches!(err, EditError::Unsafe { .. }), "{err}");
}

#[test]
fn a_link_to_a_device_inside_the_root_is_refused_as_a_device() {
    // The system root is `/` in production: /dev/null is inside it, and still not a file.
    let h = home();
    let exec = Executor::new(
        Roots {
            home: h.home.clone(),
            system: "/".into(),
        },
        h.dir.path().join("locks/edits.lock"),
    );
    let plan = block_plan("/dev/null");
    let err = ends(move || exec.preview(&[plan])).expect_err("a device");
    assert!(err.to_string().contains("character device"), "{err}");
}

#[test]
fn a_file_larger_than_the_cap_is_not_read() {
    let h = home();
    fs::create_dir_all(h.home.join(".foo")).unwrap();
    let big = h.home.join(".foo/rc");
    let f = fs::File::create(&big).unwrap();
    f.set_len(headroom_edits::MAX_FILE_BYTES + 1).unwrap();
    drop(f);
    let err = refused(&h, "~/.foo/rc");
    assert!(matches!(err, EditError::TooLarge { .. }), "{err}");
    assert_eq!(
        fs::metadata(&big).unwrap().len(),
        headroom_edits::MAX_FILE_BYTES + 1
    );
}

#[test]
fn a_link_to_another_users_file_is_refused() {
    let h = home();
    if rustix_uid() != 0 {
        return; // only root can give a file away
    }
    fs::create_dir_all(h.home.join("dotfiles")).unwrap();
    let theirs = h.home.join("dotfiles/rc");
    fs::write(&theirs, "# theirs\n").unwrap();
    std::os::unix::fs::chown(&theirs, Some(4242), Some(4242)).unwrap();
    fs::create_dir_all(h.home.join(".foo")).unwrap();
    symlink("../dotfiles/rc", h.home.join(".foo/rc")).unwrap();
    let sha = sha256_hex(&fs::read(&theirs).unwrap());
    let err = refused(&h, "~/.foo/rc");
    assert!(err.to_string().contains("another user"), "{err}");
    assert_eq!(sha256_hex(&fs::read(&theirs).unwrap()), sha);
}

fn rustix_uid() -> u32 {
    // No extra dependency for the test: the owner of a file we just created is our uid.
    let f = tempfile::NamedTempFile::new().unwrap();
    std::os::unix::fs::MetadataExt::uid(&fs::metadata(f.path()).unwrap())
}

#[test]
fn a_symlinked_dotfile_inside_home_is_edited_at_its_target_and_the_preview_says_so() {
    let h = home();
    fs::create_dir_all(h.home.join("dotfiles")).unwrap();
    fs::write(h.home.join("dotfiles/bashrc"), "# mine\n").unwrap();
    symlink("dotfiles/bashrc", h.home.join(".bashrc")).unwrap();
    let preview = h.exec.preview(&[block_plan("~/.bashrc")]).unwrap();
    let diff = preview[0].unified_diff();
    assert!(
        diff.starts_with("# ~/.bashrc is a link to ~/dotfiles/bashrc; editing the target\n"),
        "{diff}"
    );
    h.exec
        .apply(&[block_plan("~/.bashrc")], &h.journal)
        .unwrap();
    assert!(
        fs::symlink_metadata(h.home.join(".bashrc"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        fs::read_to_string(h.home.join("dotfiles/bashrc"))
            .unwrap()
            .contains("attacker")
    );
    h.exec.revert(&h.journal).unwrap();
    assert_eq!(
        fs::read_to_string(h.home.join("dotfiles/bashrc")).unwrap(),
        "# mine\n"
    );
}

#[test]
fn a_directory_swapped_for_a_link_after_resolution_does_not_redirect_the_write() {
    let h = home();
    let outside = h.outside_listing();
    fs::create_dir_all(h.home.join(".foo")).unwrap();
    fs::write(h.home.join(".foo/rc"), "# rc\n").unwrap();
    let mut target = headroom_edits::fsio::resolve(h.exec.roots(), "~/.foo/rc").unwrap();
    // Between planning and writing, the granted directory becomes a link out of HOME.
    fs::rename(h.home.join(".foo"), h.home.join(".foo-moved")).unwrap();
    symlink(h.outside(), h.home.join(".foo")).unwrap();
    let result = target.write(b"# written\n", 0o644);
    assert_eq!(h.outside_listing(), outside, "nothing written outside HOME");
    // Written into the directory that was resolved (held open), or refused: never elsewhere.
    if result.is_ok() {
        assert_eq!(
            fs::read_to_string(h.home.join(".foo-moved/rc")).unwrap(),
            "# written\n"
        );
    }
}

#[test]
fn a_file_swapped_for_a_link_after_resolution_is_refused() {
    let h = home();
    let before = h.keys_sha();
    fs::create_dir_all(h.home.join(".foo")).unwrap();
    fs::write(h.home.join(".foo/rc"), "# rc\n").unwrap();
    let mut target = headroom_edits::fsio::resolve(h.exec.roots(), "~/.foo/rc").unwrap();
    fs::remove_file(h.home.join(".foo/rc")).unwrap();
    symlink("../.ssh/authorized_keys", h.home.join(".foo/rc")).unwrap();
    let err = target.write(b"attacker\n", 0o644).unwrap_err();
    assert!(matches!(err, EditError::Changed { .. }), "{err}");
    assert_eq!(h.keys_sha(), before);
    assert!(
        fs::symlink_metadata(h.home.join(".foo/rc"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}
