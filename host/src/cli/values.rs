//! The allowed values of enum-valued flags, taken from the one definition each has: the
//! deployment enums' and the compression mode's `ALL` lists and parsers, and the targets the
//! built-in adapters' manifests declare. `--help`, the shell completions and the man pages all
//! read them from here, so none of them keeps a second list.

use std::ffi::OsStr;
use std::marker::PhantomData;
use std::str::FromStr;
use std::sync::OnceLock;

use clap::builder::{PossibleValue, StringValueParser, TypedValueParser};
use headroom_compress::Mode;
use headroom_deploy::manifest::{Preset, ProviderMode, Runtime, Scope};
use headroom_usage::query::By;

/// A type with a fixed set of names and a `FromStr` that accepts them.
pub trait Named: FromStr + Clone + Send + Sync + 'static {
    /// The names to show, in the type's order. Aliases its parser also accepts (`python` for
    /// `native`) stay accepted but unlisted.
    fn names() -> Vec<&'static str>;
}

macro_rules! named {
    ($($t:ty),+) => {$(
        impl Named for $t {
            fn names() -> Vec<&'static str> {
                <$t>::ALL.iter().map(|v| v.as_str()).collect()
            }
        }
    )+};
}
named!(Preset, Runtime, Scope, ProviderMode, Mode);

impl Named for By {
    fn names() -> Vec<&'static str> {
        // The usage crate's `By` has no list of its names; this match stops compiling when it
        // gains a variant, and the test below parses every name back.
        [By::Day, By::Client, By::Model, By::Project]
            .into_iter()
            .map(|b| match b {
                By::Day => "day",
                By::Client => "client",
                By::Model => "model",
                By::Project => "project",
            })
            .collect()
    }
}

/// The value parser of a [`Named`] flag: the type's own `FromStr` decides (its error message
/// and aliases), and clap learns the names for help and completions.
#[derive(Clone)]
pub struct OneOf<T>(PhantomData<fn() -> T>);

pub fn one_of<T: Named>() -> OneOf<T> {
    OneOf(PhantomData)
}

impl<T> TypedValueParser for OneOf<T>
where
    T: Named,
    T::Err: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
{
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let parse: fn(&str) -> Result<T, T::Err> = T::from_str;
        parse.parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(T::names().into_iter().map(PossibleValue::new)))
    }
}

/// Every tool the built-in adapters configure (`claude`, `codex`, …, `copilot`, `aider`,
/// `cursor` from shell-env), in the adapters' order, once each. Read from their embedded
/// manifests once per process (a few section headers, no code is compiled).
pub fn builtin_targets() -> &'static [&'static str] {
    static TARGETS: OnceLock<Vec<&'static str>> = OnceLock::new();
    TARGETS.get_or_init(|| {
        let mut out: Vec<&'static str> = Vec::new();
        for (_, bytes) in headroom_plugins::builtin::BUILTINS {
            let Ok(m) = headroom_plugins::inspect(bytes) else {
                continue;
            };
            for t in m.targets {
                if !out.contains(&t.as_str()) {
                    // Leaked once per process: clap's possible values want `'static` names.
                    out.push(Box::leak(t.into_boxed_str()));
                }
            }
        }
        out
    })
}

/// The value parser of a tool name: any name is accepted (an installed adapter may add tools,
/// and the adapters decide), the built-in adapters' tools are the ones help and completions
/// suggest.
#[derive(Clone)]
pub struct Tool;

pub fn tool() -> Tool {
    Tool
}

impl TypedValueParser for Tool {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<String, clap::Error> {
        StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            builtin_targets().iter().copied().map(PossibleValue::new),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_name_parses_and_aliases_still_do() {
        fn check<T: Named>() {
            let names = T::names();
            for name in &names {
                assert!(name.parse::<T>().is_ok(), "{name}");
            }
            let mut unique = names.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), names.len(), "{names:?}");
        }
        check::<Preset>();
        check::<Runtime>();
        check::<Scope>();
        check::<ProviderMode>();
        check::<Mode>();
        check::<By>();
        assert_eq!(Runtime::names(), ["native", "docker"]);
        assert_eq!("python".parse::<Runtime>(), Ok(Runtime::Native));
    }

    #[test]
    fn the_builtin_targets_come_from_the_adapters_manifests() {
        let t = builtin_targets();
        for tool in [
            "claude", "codex", "opencode", "openclaw", "copilot", "aider",
        ] {
            assert!(t.contains(&tool), "{t:?}");
        }
        let mut unique = t.to_vec();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), t.len(), "{t:?}");
    }
}
