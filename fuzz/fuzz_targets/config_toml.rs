//! TOML text (or environment variables) → `Config::load_from`: never a panic, and every
//! error is one line that starts with `config:`.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use milvus_exporter::config::{Config, Overrides};

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("fuzz.toml");
        (dir, path)
    })
    .1
}

fn check(result: Result<Config, milvus_exporter::config::ConfigError>) {
    if let Err(e) = result {
        let msg = e.to_string();
        assert!(msg.starts_with("config: "), "{msg:?}");
        assert!(!msg.contains('\n'), "more than one line: {msg:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    // `password_file = "/dev/zero"` would read without end (the real program would too: see
    // the report); device and kernel files are skipped so the run exercises parsing.
    if ["/dev", "/proc", "/sys"].iter().any(|p| text.contains(p)) {
        return;
    }
    if mode % 2 == 0 {
        let path = scratch();
        if std::fs::write(path, text).is_err() {
            return;
        }
        check(Config::load_from(Some(path), &[], &Overrides::default()));
    } else {
        // Each line `KEY=VALUE` becomes MILVUS_EXPORTER_KEY=VALUE.
        let env: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (format!("MILVUS_EXPORTER_{k}"), v.to_string()))
            .collect();
        check(Config::load_from(None, &env, &Overrides::default()));
    }
});
