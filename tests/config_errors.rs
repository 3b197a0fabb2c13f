//! Malformed configuration, through the real binary: every case must exit 2 with exactly one
//! line on stderr that names the offending key, and nothing that looks like a crash.

mod support;

use std::time::Duration;

use support::binary;

/// Where a malformed value comes from.
enum Source {
    /// The TOML file (`--config`).
    File(&'static str),
    /// One environment variable (no file).
    Env(&'static str, &'static str),
    /// Command-line flags (no file).
    Flags(&'static [&'static str]),
    /// A valid TOML file plus `--web.config.file` with this YAML.
    WebConfig(&'static str),
    /// A file whose text is produced at run time (paths into the test's temp dir).
    FileWith(fn(&std::path::Path) -> String),
    /// One environment variable whose value is produced at run time.
    EnvWith(&'static str, fn() -> String),
    /// A TOML file and one environment variable together.
    FileEnv(&'static str, &'static str, &'static str),
}

struct Case {
    name: &'static str,
    source: Source,
    /// Text the single stderr line must contain (the key).
    key: &'static str,
}

fn cases() -> Vec<Case> {
    use Source::*;
    vec![
        Case { name: "bad duration", source: File("[cache]\nttl = \"3x\"\n"), key: "cache.ttl" },
        Case { name: "no history entries", source: File("[history]\nmax_entries = 0\n"), key: "history.max_entries: 0 is outside 1-10000" },
        Case { name: "history entries past the limit", source: Env("MILVUS_EXPORTER_HISTORY__MAX_ENTRIES", "10001"), key: "history.max_entries: 10001 is outside 1-10000" },
        Case { name: "negative history bytes", source: File("[history]\nmax_bytes = -1\n"), key: "history.max_bytes" },
        Case { name: "history bytes too few", source: File("[history]\nmax_bytes = \"64KiB\"\n"), key: "history.max_bytes: 65536 is outside" },
        Case { name: "history bytes not a size", source: File("[history]\nmax_bytes = \"lots\"\n"), key: "history.max_bytes" },
        Case { name: "duration without unit", source: File("[milvus]\ntimeout = \"5\"\n"), key: "milvus.timeout" },
        Case { name: "negative threshold", source: File("[readiness]\nmemory_percent_max = -1\n"), key: "readiness.memory_percent_max" },
        Case { name: "threshold over 100", source: File("[readiness]\ndisk_percent_max = 101\n"), key: "readiness.disk_percent_max" },
        Case { name: "NaN threshold", source: File("[readiness]\nmemory_percent_max = nan\n"), key: "readiness.memory_percent_max" },
        Case { name: "unreadable password_file", source: File("[milvus]\nusername = \"root\"\npassword_file = \"/nonexistent/milvus-pw\"\n"), key: "milvus.password_file" },
        Case { name: "password_file is a directory", source: File("[milvus]\nusername = \"root\"\npassword_file = \"/\"\n"), key: "milvus.password_file" },
        Case { name: "password and password_file", source: File("[milvus]\nusername = \"u\"\npassword = \"p\"\npassword_file = \"/etc/hostname\"\n"), key: "milvus.password_file" },
        Case { name: "password without username", source: File("[milvus]\npassword = \"p\"\n"), key: "milvus.username" },
        Case { name: "malformed milvus address", source: File("[milvus]\naddress = \"http://exa mple:19530\"\n"), key: "milvus.address" },
        Case { name: "unsupported address scheme", source: File("[milvus]\naddress = \"ftp://x:1\"\n"), key: "milvus.address" },
        Case { name: "address with a path", source: File("[milvus]\naddress = \"http://x:1/api\"\n"), key: "milvus.address" },
        Case { name: "malformed listen address", source: File("[web]\nlisten_address = \"nowhere\"\n"), key: "web.listen_address" },
        Case { name: "unknown log level", source: File("[log]\nlevel = \"loud\"\n"), key: "log.level" },
        Case { name: "unknown log format", source: File("[log]\nformat = \"xml\"\n"), key: "log.format" },
        Case { name: "empty target name", source: File("[[targets]]\nname = \"\"\naddress = \"http://127.0.0.1:1\"\n"), key: "targets[0].name" },
        Case { name: "duplicate target names", source: File("[[targets]]\nname = \"a\"\naddress = \"http://127.0.0.1:1\"\n[[targets]]\nname = \"a\"\naddress = \"http://127.0.0.1:2\"\n"), key: "targets[1].name: \"a\" is already targets[0].name" },
        Case { name: "duplicate target names but for spaces", source: File("[milvus]\naddress = \"http://127.0.0.1:1\"\n[[targets]]\nname = \"a\"\naddress = \"http://127.0.0.1:1\"\n[[targets]]\nname = \" a \"\naddress = \"http://127.0.0.1:2\"\n"), key: "targets[1].name: \"a\" is already targets[0].name" },
        Case { name: "target named like the main one", source: File("[[targets]]\nname = \"default\"\naddress = \"http://127.0.0.1:1\"\n"), key: "targets[0].name: \"default\" is already milvus.name, the main target's name" },
        Case { name: "env: main target named like a target", source: FileEnv("[[targets]]\nname = \"b\"\naddress = \"http://127.0.0.1:1\"\n", "MILVUS_EXPORTER_MILVUS__NAME", "b"), key: "targets[0].name: \"b\" is already milvus.name" },
        Case { name: "a target name of 1 MB twice", source: FileWith(|_| {
            let long = "t".repeat(1 << 20);
            format!("[milvus]\naddress = \"http://127.0.0.1:1\"\n[[targets]]\nname = \"{long}\"\naddress = \"http://127.0.0.1:1\"\n[[targets]]\nname = \"{long}\"\naddress = \"http://127.0.0.1:1\"\n")
        }), key: "targets[1].name: \"tttt" },
        Case { name: "the same probe twice (docs is default.docs)", source: File("[milvus]\naddress = \"http://127.0.0.1:1\"\n[[readiness.probes]]\ncollection = \"docs\"\n[[readiness.probes]]\ncollection = \"default.docs\"\ntimeout = \"1s\"\n"), key: "readiness.probes[1]: a query probe of \"default.docs\" is already readiness.probes[0]" },
        Case { name: "the same search probe twice", source: File("[milvus]\naddress = \"http://127.0.0.1:1\"\n[[readiness.probes]]\ncollection = \"db2.kb\"\nkind = \"search\"\n[[readiness.probes]]\ncollection = \"db2.kb\"\nkind = \"query\"\n[[readiness.probes]]\ncollection = \"db2.kb\"\nkind = \"search\"\n"), key: "readiness.probes[2]: a search probe of \"db2.kb\" is already readiness.probes[0]" },
        Case { name: "a dependency name twice", source: File("[milvus]\naddress = \"http://127.0.0.1:1\"\n[[dependencies]]\nname = \"embed\"\nkind = \"tcp\"\naddress = \"127.0.0.1:1\"\n[[dependencies]]\nname = \"embed\"\nkind = \"tcp\"\naddress = \"127.0.0.1:2\"\n"), key: "dependencies[1].name: \"embed\" is already dependencies[0].name" },
        Case { name: "a dependency named like a target", source: File("[milvus]\naddress = \"http://127.0.0.1:1\"\n[[targets]]\nname = \"a\"\naddress = \"http://127.0.0.1:1\"\n[[dependencies]]\nname = \"a\"\nkind = \"tcp\"\naddress = \"127.0.0.1:2\"\n"), key: "dependencies[0].name: \"a\" is already targets[0].name" },
        Case { name: "a rag probe named like a dependency", source: File("[milvus]\naddress = \"http://127.0.0.1:1\"\n[[dependencies]]\nname = \"kb\"\nkind = \"tcp\"\naddress = \"127.0.0.1:1\"\n[[rag_probes]]\nname = \"kb\"\ncollection = \"kb\"\n[rag_probes.embedding]\nurl = \"http://127.0.0.1:1/v1/embeddings\"\nmodel = \"m\"\n"), key: "rag_probes[0].name: \"kb\" is already dependencies[0].name" },
        Case { name: "a rag probe name twice", source: File("[milvus]\naddress = \"http://127.0.0.1:1\"\n[[rag_probes]]\nname = \"kb\"\ncollection = \"kb\"\n[rag_probes.embedding]\nurl = \"http://127.0.0.1:1/v1/embeddings\"\nmodel = \"m\"\n[[rag_probes]]\nname = \"kb\"\ncollection = \"kb2\"\n[rag_probes.embedding]\nurl = \"http://127.0.0.1:1/v1/embeddings\"\nmodel = \"m\"\n"), key: "rag_probes[1].name: \"kb\" is already rag_probes[0].name" },
        Case { name: "a disk path of 1 MB", source: FileWith(|_| format!("[milvus]\naddress = \"http://127.0.0.1:1\"\n[system]\ndisk_paths = [\"/{}\"]\n", "d".repeat(1 << 20))), key: "system.disk_paths[0]: a path of 1048577 bytes is longer than 4096" },
        Case { name: "env: a disk path of 100 kB", source: EnvWith("MILVUS_EXPORTER_SYSTEM__DISK_PATHS", || format!("/,/{}", "d".repeat(100_000))), key: "system.disk_paths[1]: a path of 100001 bytes" },
        Case { name: "unknown key in file", source: File("[cache]\nttll = \"1s\"\n"), key: "ttll" },
        Case { name: "unknown section in file", source: File("[cahce]\nttl = \"1s\"\n"), key: "cahce" },
        Case { name: "not TOML", source: File("this is = = not toml\n[[[\n"), key: "exporter.toml" },
        Case { name: "binary garbage", source: File("\u{0}\u{1}\u{2}\u{fffd}"), key: "exporter.toml" },
        Case { name: "wrong type: string for integer", source: File("[milvus]\nmax_concurrency = \"many\"\n"), key: "milvus.max_concurrency" },
        Case { name: "wrong type: table for string", source: File("[milvus]\naddress = { host = \"x\" }\n"), key: "milvus.address" },
        Case { name: "wrong type: number for list", source: File("[system]\ndisk_paths = 5\n"), key: "system.disk_paths" },
        Case { name: "tls cert without key", source: File("[milvus]\naddress = \"https://127.0.0.1:1\"\n[milvus.tls]\ncert_file = \"/etc/hostname\"\n"), key: "milvus.tls.key_file" },
        Case { name: "tls settings on http address", source: File("[milvus]\naddress = \"http://127.0.0.1:1\"\n[milvus.tls]\nserver_name = \"x\"\n"), key: "milvus.address" },
        Case { name: "unreadable tls ca_file", source: File("[milvus]\naddress = \"https://127.0.0.1:1\"\n[milvus.tls]\nca_file = \"/nonexistent/ca.pem\"\n"), key: "milvus.tls.ca_file" },
        Case { name: "max_concurrency 0", source: File("[milvus]\nmax_concurrency = 0\n"), key: "milvus.max_concurrency" },
        Case { name: "ttl 0", source: File("[cache]\nttl = \"0s\"\n"), key: "cache.ttl" },
        Case { name: "timeout 0", source: File("[milvus]\ntimeout = \"0s\"\n"), key: "milvus.timeout" },
        Case { name: "cpu sample interval too short", source: File("[system]\ncpu_sample_interval = \"10ms\"\n"), key: "system.cpu_sample_interval" },
        Case { name: "relative disk path", source: File("[system]\ndisk_paths = [\"data\"]\n"), key: "system.disk_paths[0]" },
        Case { name: "no disk path", source: File("[system]\ndisk_paths = []\n"), key: "system.disk_paths" },
        Case { name: "unknown disabled rule", source: File("[readiness]\ndisabled_rules = [\"nope\"]\n"), key: "readiness.disabled_rules[0]" },
        Case { name: "bad required collection name", source: File("[readiness]\nrequired_collections = [\"a.b.c\"]\n"), key: "readiness.required_collections[0]" },
        Case { name: "empty required collection name", source: File("[readiness]\nrequired_collections = [\".docs\"]\n"), key: "readiness.required_collections[0]" },
        Case { name: "bad database name", source: File("[milvus]\ndatabases = [\"\"]\n"), key: "milvus.databases[0]" },
        Case { name: "password_file in a target", source: FileWith(|_| "[[targets]]\nname = \"t\"\naddress = \"http://127.0.0.1:1\"\nusername = \"u\"\npassword_file = \"/nonexistent/t-pw\"\n".to_string()), key: "targets[0].password_file" },
        Case { name: "unreadable password_file (permissions)", source: FileWith(|dir| {
            let pw = dir.join("pw");
            std::fs::write(&pw, "secret\n").expect("write pw");
            // A directory where the file should be: unreadable whatever the test's user is.
            let blocked = dir.join("blocked");
            std::fs::create_dir_all(&blocked).expect("mkdir");
            format!("[milvus]\nusername = \"u\"\npassword_file = \"{}\"\n", blocked.display())
        }), key: "milvus.password_file" },
        Case { name: "env: unknown key", source: Env("MILVUS_EXPORTER_CACHE__TTLL", "1s"), key: "ttll" },
        Case { name: "env: bad duration", source: Env("MILVUS_EXPORTER_MILVUS__TIMEOUT", "fast"), key: "milvus.timeout" },
        Case { name: "env: threshold over 100", source: Env("MILVUS_EXPORTER_READINESS__MEMORY_PERCENT_MAX", "150"), key: "readiness.memory_percent_max" },
        Case { name: "env: negative threshold", source: Env("MILVUS_EXPORTER_READINESS__DISK_PERCENT_MAX", "-5"), key: "readiness.disk_percent_max" },
        Case { name: "env: malformed address", source: Env("MILVUS_EXPORTER_MILVUS__ADDRESS", "ftp://x"), key: "milvus.address" },
        Case { name: "env: wrong type", source: Env("MILVUS_EXPORTER_MILVUS__MAX_CONCURRENCY", "lots"), key: "milvus.max_concurrency" },
        Case { name: "env: max_concurrency 0", source: Env("MILVUS_EXPORTER_MILVUS__MAX_CONCURRENCY", "0"), key: "milvus.max_concurrency" },
        Case { name: "env: unknown log level", source: Env("MILVUS_EXPORTER_LOG__LEVEL", "chatty"), key: "log.level" },
        Case { name: "env: unknown disabled rule", source: Env("MILVUS_EXPORTER_READINESS__DISABLED_RULES", "memory,bogus"), key: "readiness.disabled_rules[1]" },
        Case { name: "env: relative disk path", source: Env("MILVUS_EXPORTER_SYSTEM__DISK_PATHS", "/,tmp"), key: "system.disk_paths[1]" },
        Case { name: "flag: unknown log level", source: Flags(&["--log.level", "loud"]), key: "log.level" },
        Case { name: "flag: malformed listen address", source: Flags(&["--web.listen-address", "1.2.3.4"]), key: "web.listen_address" },
        Case { name: "flag: missing config file", source: Flags(&["--config", "/nonexistent/exporter.toml"]), key: "--config" },
        Case { name: "flag: missing web config file", source: Flags(&["--web.config.file", "/nonexistent/web.yml"]), key: "--web.config.file" },
        Case { name: "web config: unknown key", source: WebConfig("tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher: x\n"), key: "tls_server_config.cipher" },
        Case { name: "web config: not YAML", source: WebConfig("a: [\n"), key: "--web.config.file" },
        Case { name: "web config: not a bcrypt hash", source: WebConfig("basic_auth_users:\n  alice: hunter2\n"), key: "basic_auth_users.alice" },
        Case { name: "web config: cert file missing", source: WebConfig("tls_server_config:\n  cert_file: /nonexistent/c.pem\n  key_file: /nonexistent/k.pem\n"), key: "tls_server_config.cert_file" },
        Case { name: "web config: cert_file is a device", source: WebConfig("tls_server_config:\n  cert_file: /dev/zero\n  key_file: /dev/zero\n"), key: "tls_server_config.cert_file" },
        Case { name: "web config: unknown client_auth_type", source: WebConfig("tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: Sometimes\n"), key: "tls_server_config.client_auth_type" },
        Case { name: "web config: bad unauthenticated path", source: WebConfig("unauthenticated_paths: [healthz]\n"), key: "unauthenticated_paths[0]" },
        Case { name: "web config: unknown cipher suite", source: WebConfig("tls_server_config:\n  cert_file: c\n  key_file: k\n  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n"), key: "tls_server_config.cipher_suites[0]" },
        Case { name: "web config: TLS 1.0 (rustls cannot speak it)", source: WebConfig("tls_server_config:\n  cert_file: c\n  key_file: k\n  min_version: TLS10\n"), key: "tls_server_config.min_version" },
        Case { name: "web config: header not in the toolkit's list", source: WebConfig("http_server_config:\n  headers:\n    Server: x\n"), key: "http_server_config.headers.Server" },
        Case { name: "web config: rate_limit interval", source: WebConfig("rate_limit:\n  interval: 1d\n  burst: 1\n"), key: "rate_limit.interval" },
    ]
}

fn run_case(case: &Case) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut args: Vec<String> = Vec::new();
    let mut env: Vec<(String, String)> = Vec::new();
    let write = |text: &str| {
        let p = dir.path().join("exporter.toml");
        std::fs::write(&p, text).expect("write config");
        p.display().to_string()
    };
    match &case.source {
        Source::File(text) => {
            args.extend(["--config".into(), write(text)]);
        }
        Source::FileWith(f) => {
            let text = f(dir.path());
            args.extend(["--config".into(), write(&text)]);
        }
        Source::Env(k, v) => env.push((k.to_string(), v.to_string())),
        Source::EnvWith(k, v) => env.push((k.to_string(), v())),
        Source::FileEnv(text, k, v) => {
            args.extend(["--config".into(), write(text)]);
            env.push((k.to_string(), v.to_string()));
        }
        Source::Flags(flags) => args.extend(flags.iter().map(|s| s.to_string())),
        Source::WebConfig(yaml) => {
            let web = dir.path().join("web.yml");
            std::fs::write(&web, yaml).expect("write web config");
            args.extend(["--web.config.file".into(), web.display().to_string()]);
        }
    }
    // If a case wrongly loads, `check` fails fast against a closed port instead of waiting.
    if !args.iter().any(|a| a == "--config")
        && !env
            .iter()
            .any(|(k, _)| k == "MILVUS_EXPORTER_MILVUS__ADDRESS")
    {
        env.push((
            "MILVUS_EXPORTER_MILVUS__ADDRESS".into(),
            "http://127.0.0.1:1".into(),
        ));
    }
    args.push("check".into());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let envv: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (code, _stdout, stderr) = binary::run(&argv, &envv, Duration::from_secs(30));
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut problems = Vec::new();
    if code != Some(2) {
        problems.push(format!("exit code {code:?}, want 2"));
    }
    if lines.len() != 1 {
        problems.push(format!("{} stderr lines, want 1", lines.len()));
    }
    if !stderr.contains(case.key) {
        problems.push(format!("stderr does not name {:?}", case.key));
    }
    // However long the value, the line is one a person reads.
    if stderr.len() > 1024 {
        problems.push(format!("stderr is {} bytes long", stderr.len()));
    }
    let lower = stderr.to_lowercase();
    for bad in ["panicked", "backtrace", "rust_backtrace"] {
        if lower.contains(bad) {
            problems.push(format!("stderr mentions {bad:?}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}\n    stderr: {}",
            case.name,
            problems.join("; "),
            stderr.trim_end().replace('\n', "\n            ")
        ))
    }
}

#[test]
fn every_malformed_config_exits_2_with_one_line_naming_the_key() {
    let cases = cases();
    assert!(cases.len() >= 20);
    let failures: Vec<String> = cases.iter().filter_map(|c| run_case(c).err()).collect();
    println!(
        "{} malformed configurations checked, {} wrong",
        cases.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n  {}",
        failures.len(),
        cases.len(),
        failures.join("\n  ")
    );
}

#[test]
fn a_valid_config_passes_the_same_path() {
    // The control: the same binary and flags with nothing wrong does not exit 2.
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("exporter.toml");
    std::fs::write(
        &p,
        "[milvus]\naddress = \"http://127.0.0.1:1\"\ntimeout = \"1s\"\n",
    )
    .expect("write");
    let path = p.display().to_string();
    let (code, stdout, stderr) =
        binary::run(&["--config", &path, "check"], &[], Duration::from_secs(30));
    assert_eq!(
        code,
        Some(1),
        "not ready, but not a config error\n{stdout}\n{stderr}"
    );
}

/// A list variable that is not UTF-8 is refused by name, with one line, as any other.
#[test]
fn a_list_variable_that_is_not_utf8_is_refused_by_name() {
    use std::os::unix::ffi::OsStrExt;
    let out = std::process::Command::new(binary::BIN)
        .arg("check")
        .env_clear()
        .env("MILVUS_EXPORTER_MILVUS__ADDRESS", "http://127.0.0.1:1")
        .env(
            "MILVUS_EXPORTER_SYSTEM__DISK_PATHS",
            std::ffi::OsStr::from_bytes(b"/,/data\xff"),
        )
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run milvus_exporter");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("MILVUS_EXPORTER_SYSTEM__DISK_PATHS: is not valid UTF-8"),
        "{stderr}"
    );
}

/// Every sample line's series (`name{labels}`) of a text exposition that occurs twice.
fn duplicate_series(text: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series.to_string()))
        .filter(|series| !seen.insert(series.clone()))
        .collect()
}

/// Lists of plain values are sets: a value written twice, in the file or in a comma list of
/// the environment, is kept once, so no scrape carries a series twice. The same place is the
/// same value: `/`, `//` and `/.`; `docs` and `default.docs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_listed_twice_are_kept_once_and_no_series_repeats() {
    use support::fake_milvus::{FakeCollection, FakeMilvus, FakeState};
    let fake = FakeMilvus::start(FakeState::new().with(|b| {
        b.collections = vec![FakeCollection::loaded("default", "docs", 10)];
    }))
    .await;
    let base = format!(
        "[milvus]\naddress = \"{}\"\ntimeout = \"2s\"\n[cache]\nrefresh_interval = \"0s\"\n",
        fake.url()
    );
    let file = format!(
        "[milvus]\naddress = \"{}\"\ntimeout = \"2s\"\ndatabases = [\"default\", \"default\"]\n\
         [milvus.collections]\ninclude = [\"default\\\\..*\", \"default\\\\..*\"]\n\
         [cache]\nrefresh_interval = \"0s\"\n\
         [system]\ndisk_paths = [\"/\", \"/\", \"//\", \"/.\"]\n\
         [readiness]\nrequired_collections = [\"docs\", \"default.docs\"]\n\
         disabled_rules = [\"memory\", \"memory\"]\n\
         quota_states_not_ready = [\"DenyToRead\", \"DenyToRead\"]\n\
         [[readiness.probes]]\ncollection = \"docs\"\n\
         [[readiness.probes]]\ncollection = \"default.docs\"\nkind = \"search\"\n",
        fake.url()
    );
    let ten_thousand = vec!["/"; 10_000].join(",");
    let env_cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("the file", vec![]),
        (
            "the environment",
            vec![
                ("MILVUS_EXPORTER_SYSTEM__DISK_PATHS", "/,/,//"),
                (
                    "MILVUS_EXPORTER_READINESS__REQUIRED_COLLECTIONS",
                    "docs,default.docs",
                ),
                ("MILVUS_EXPORTER_READINESS__DISABLED_RULES", "memory,memory"),
                ("MILVUS_EXPORTER_MILVUS__COLLECTIONS__EXCLUDE", "x,x"),
            ],
        ),
        (
            "10,000 of one path",
            vec![("MILVUS_EXPORTER_SYSTEM__DISK_PATHS", ten_thousand.as_str())],
        ),
    ];
    for (what, env) in env_cases {
        let toml = if env.is_empty() {
            file.clone()
        } else {
            base.clone()
        };
        let bin = tokio::task::block_in_place(|| binary::Binary::start(&toml, &[], &env));
        let metrics = reqwest::get(bin.url("/metrics"))
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("body");
        let dups = duplicate_series(&metrics);
        assert!(dups.is_empty(), "{what}: repeated series {dups:?}");
        let disks = metrics
            .lines()
            .filter(|l| l.starts_with("milvus_host_disk_percent{"))
            .count();
        assert_eq!(disks, 1, "{what}: one disk path\n{metrics}");
        drop(bin);
    }
}

/// A reload refuses a duplicate as start-up does, with the same line, and keeps serving the
/// running configuration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_refuses_a_duplicate_with_the_start_up_line_and_keeps_running() {
    use support::exporter::Exporter;
    use support::fake_milvus::{FakeMilvus, FakeState};
    let fake = FakeMilvus::start(FakeState::new()).await;
    let base = format!(
        "[milvus]\naddress = \"{}\"\ntimeout = \"2s\"\n[cache]\nrefresh_interval = \"0s\"\n\
         [[targets]]\nname = \"a\"\naddress = \"{}\"\n",
        fake.url(),
        fake.url()
    );
    let exporter = Exporter::start(&base).await;
    assert_eq!(exporter.get("/probe?target=a").await.status, 200);
    let tcp = |name: &str| {
        format!("[[dependencies]]\nname = \"{name}\"\nkind = \"tcp\"\naddress = \"127.0.0.1:1\"\n")
    };
    let rag = |name: &str| {
        format!("[[rag_probes]]\nname = \"{name}\"\ncollection = \"kb\"\n[rag_probes.embedding]\nurl = \"http://127.0.0.1:1/v1/embeddings\"\nmodel = \"m\"\n")
    };
    let target = format!("[[targets]]\nname = \"a\"\naddress = \"{}\"\n", fake.url());
    let bad: Vec<(String, &str)> = vec![
        (target.clone(), "targets[1].name: \"a\" is already targets[0].name"),
        (
            "[[readiness.probes]]\ncollection = \"docs\"\n[[readiness.probes]]\ncollection = \"default.docs\"\n".into(),
            "readiness.probes[1]: a query probe of \"default.docs\" is already readiness.probes[0]",
        ),
        (
            format!("{}{}", tcp("d"), tcp("d")),
            "dependencies[1].name: \"d\" is already dependencies[0].name",
        ),
        (
            format!("{}{}", tcp("d"), rag("d")),
            "rag_probes[0].name: \"d\" is already dependencies[0].name",
        ),
        (tcp("a"), "dependencies[0].name: \"a\" is already targets[0].name"),
    ];
    for (extra, line) in bad {
        // The readiness section must come before the [[targets]] table array it follows.
        let text = if extra.starts_with("[[readiness") {
            base.replace("[[targets]]", &format!("{extra}[[targets]]"))
        } else {
            format!("{base}{extra}")
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("exporter.toml");
        std::fs::write(&path, &text).expect("write");
        let start = binary::run(
            &["--config", &path.display().to_string(), "check"],
            &[],
            Duration::from_secs(30),
        );
        assert_eq!(start.0, Some(2), "{line}: {}", start.2);
        assert_eq!(
            start.2.trim_end(),
            format!("milvus_exporter: config: {line}"),
            "start-up"
        );
        std::fs::write(exporter.config_path(), &text).expect("rewrite");
        let refused = exporter.reload().await.expect_err(line);
        assert_eq!(refused, format!("config: {line}"), "reload");
        assert_eq!(
            exporter.get("/probe?target=a").await.status,
            200,
            "{line}: the running configuration still serves"
        );
    }
    exporter.stop().await;
}
