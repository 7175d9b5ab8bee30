//! Issue #13: a plan too large to be a configuration edit is refused at once, with a typed
//! one-line error, before any file is read; one within the caps is validated in one pass.

use std::fs;

use headroom_edits::{
    Authorized, Edit, EditError, EditGrant, Executor, Format, MAX_PLAN_EDITS, MAX_PLAN_FILES,
    MAX_PLAN_VALUE_BYTES, Plan, Roots, validate,
};

fn exec(dir: &tempfile::TempDir) -> Executor {
    fs::create_dir_all(dir.path().join("home")).unwrap();
    Executor::new(
        Roots {
            home: dir.path().join("home"),
            system: dir.path().join("root"),
        },
        dir.path().join("locks/edits.lock"),
    )
}

/// `n` JSON edits over `files` files, each key granted by its own grant (the quadratic case).
fn plan(n: usize, files: usize, value: &str) -> Authorized {
    let file = |i: usize| format!("~/.x/{}.json", i % files);
    let edits = (0..n)
        .map(|i| Edit::JsonSet {
            file: file(i),
            pointer: format!("/k{i}"),
            value: value.to_owned(),
        })
        .collect();
    let grants = (0..n)
        .map(|i| EditGrant {
            file: file(i),
            format: Format::Json,
            keys: vec![format!("/k{i}")],
        })
        .collect();
    Authorized::new(
        Plan {
            source: "hostile".into(),
            edits,
            notes: vec![],
        },
        grants,
    )
}

fn too_large(err: EditError, what: &str) {
    let line = err.to_string();
    assert!(
        matches!(err, EditError::PlanTooLarge { .. }),
        "typed: {line}"
    );
    assert!(line.contains(what), "{line}");
    assert!(!line.contains('\n'), "one line: {line}");
}

#[test]
fn five_thousand_edits_are_refused_at_once_and_nothing_is_read_or_written() {
    let dir = tempfile::tempdir().unwrap();
    let exec = exec(&dir);
    let p = plan(5_000, 1, "1");
    // Refused by the edit count, before a single grant is looked at.
    too_large(validate(p.plan(), &[]).unwrap_err(), "5000 edits");
    let journal = dir.path().join("journal.json");
    too_large(exec.apply(&[p], &journal).unwrap_err(), "5000 edits");
    assert!(!journal.exists());
    assert_eq!(fs::read_dir(dir.path().join("home")).unwrap().count(), 0);
}

#[test]
fn plans_over_the_caps_together_are_refused_too() {
    let dir = tempfile::tempdir().unwrap();
    let exec = exec(&dir);
    let half = MAX_PLAN_EDITS / 2 + 1;
    too_large(
        exec.preview(&[plan(half, 1, "1"), plan(half, 1, "2")])
            .unwrap_err(),
        "edits",
    );
}

#[test]
fn too_many_files_or_too_many_value_bytes_are_refused() {
    too_large(
        validate(
            plan(MAX_PLAN_FILES + 1, MAX_PLAN_FILES + 1, "1").plan(),
            &[],
        )
        .unwrap_err(),
        "files",
    );
    let big = format!("\"{}\"", "x".repeat(MAX_PLAN_VALUE_BYTES / 2));
    too_large(
        validate(plan(3, 1, &big).plan(), &[]).unwrap_err(),
        "bytes of values",
    );
}

#[test]
fn the_largest_plan_allowed_validates_against_as_many_grants() {
    let p = plan(MAX_PLAN_EDITS, MAX_PLAN_FILES, "1");
    validate(p.plan(), p.grants()).unwrap();
    // The indexed check denies exactly what the key rule denies.
    let (mut plan, grants) = p.into_parts();
    plan.edits.push(Edit::JsonSet {
        file: "~/.x/0.json".into(),
        pointer: "/k0x".into(),
        value: "1".into(),
    });
    plan.edits.remove(0);
    let err = validate(&plan, &grants).unwrap_err();
    assert!(matches!(err, EditError::Denied { .. }), "{err}");
}

#[test]
fn prefix_grants_still_cover_their_children() {
    let p = Authorized::new(
        Plan {
            source: "t".into(),
            edits: vec![
                Edit::JsonSet {
                    file: "~/.x.json".into(),
                    pointer: "/env/A/B".into(),
                    value: "1".into(),
                },
                Edit::TomlSet {
                    file: "~/.x.toml".into(),
                    key: vec!["a".into(), "b".into()],
                    value: "1".into(),
                },
            ],
            notes: vec![],
        },
        vec![
            EditGrant {
                file: "~/.x.json".into(),
                format: Format::Json,
                keys: vec!["/env".into()],
            },
            EditGrant {
                file: "~/.x.toml".into(),
                format: Format::Toml,
                keys: vec!["a".into()],
            },
        ],
    );
    validate(p.plan(), p.grants()).unwrap();
    let mut denied = p.plan().clone();
    denied.edits[0] = Edit::JsonSet {
        file: "~/.x.json".into(),
        pointer: "/envy".into(),
        value: "1".into(),
    };
    assert!(validate(&denied, p.grants()).is_err());
}
