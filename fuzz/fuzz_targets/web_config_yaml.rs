//! `--web.config.file` YAML → `WebConfig::from_yaml`: never a panic, errors are one line
//! starting `web config:`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use milvus_exporter::server::WebConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Relative certificate paths resolve under a directory that does not exist; device and
    // kernel files are skipped (a read of /dev/zero would not end).
    if ["/dev", "/proc", "/sys"].iter().any(|p| text.contains(p)) {
        return;
    }
    if let Err(e) = WebConfig::from_yaml(text, std::path::Path::new("/nonexistent-fuzz-dir")) {
        let msg = e.to_string();
        assert!(msg.starts_with("web config: "), "{msg:?}");
        assert!(!msg.contains('\n'), "more than one line: {msg:?}");
    }
});
