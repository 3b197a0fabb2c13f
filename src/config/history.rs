//! `[history]`: how much of each target's verdict history is kept in memory (see
//! `crate::history`). Both bounds hold per target: the oldest entries go when either is reached.

use super::*;

/// The most entries a target's ring may be given: enough for a week of a transition every
/// minute coalesced into hours, small enough that `/health?history=` stays a readable page.
pub const MAX_HISTORY_ENTRIES: u64 = 10_000;
/// The fewest bytes a ring may be given: one entry at its largest (every text clipped) fits.
pub const MIN_HISTORY_BYTES: u64 = 128 * 1024;
/// The most bytes a ring may be given, per target.
pub const MAX_HISTORY_BYTES: u64 = 64 * 1024 * 1024;

/// A count or a size as TOML or the environment gives it: `256`, `"256"`, `"1MiB"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawAmount {
    Int(i64),
    Float(f64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawHistory {
    pub(super) max_entries: RawAmount,
    pub(super) max_bytes: RawAmount,
}

impl Default for RawHistory {
    fn default() -> Self {
        RawHistory {
            max_entries: RawAmount::Int(256),
            max_bytes: RawAmount::Int(1 << 20),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryConfig {
    /// Entries kept per target, 1 to [`MAX_HISTORY_ENTRIES`].
    pub max_entries: usize,
    /// Bytes kept per target, [`MIN_HISTORY_BYTES`] to [`MAX_HISTORY_BYTES`].
    pub max_bytes: usize,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            max_entries: 256,
            max_bytes: 1 << 20,
        }
    }
}

/// `raw` as a whole number, with `KiB`/`MiB`/`GiB` (and `KB`/`MB`/`GB`, 1000-based) allowed
/// when `sizes`; `None` when it is not one.
fn amount(raw: &RawAmount, sizes: bool) -> Option<u64> {
    match raw {
        RawAmount::Int(i) => u64::try_from(*i).ok(),
        RawAmount::Float(_) => None,
        RawAmount::Text(t) => {
            let t = t.trim();
            let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
            let (digits, unit) = t.split_at(split);
            let n: u64 = digits.parse().ok()?;
            let unit = unit.trim();
            let scale: u64 = match unit {
                "" => 1,
                "KiB" if sizes => 1 << 10,
                "MiB" if sizes => 1 << 20,
                "GiB" if sizes => 1 << 30,
                "KB" if sizes => 1_000,
                "MB" if sizes => 1_000_000,
                "GB" if sizes => 1_000_000_000,
                _ => return None,
            };
            n.checked_mul(scale)
        }
    }
}

fn within(
    key: &str,
    raw: &RawAmount,
    sizes: bool,
    min: u64,
    max: u64,
) -> Result<usize, ConfigError> {
    let what = if sizes {
        "a number of bytes, e.g. 1048576 or \"1MiB\""
    } else {
        "a whole number"
    };
    let n = amount(raw, sizes)
        .ok_or_else(|| ConfigError::invalid(key, format!("{} is not {what}", shown_amount(raw))))?;
    if n < min || n > max {
        return Err(ConfigError::invalid(
            key,
            format!("{n} is outside {min}-{max}"),
        ));
    }
    usize::try_from(n).map_err(|_| ConfigError::invalid(key, format!("{n} is too large here")))
}

fn shown_amount(raw: &RawAmount) -> String {
    match raw {
        RawAmount::Int(i) => i.to_string(),
        RawAmount::Float(f) => f.to_string(),
        RawAmount::Text(t) => shown(t),
    }
}

impl HistoryConfig {
    pub(super) fn from_raw(raw: &RawHistory) -> Result<Self, ConfigError> {
        Ok(HistoryConfig {
            max_entries: within(
                "history.max_entries",
                &raw.max_entries,
                false,
                1,
                MAX_HISTORY_ENTRIES,
            )?,
            max_bytes: within(
                "history.max_bytes",
                &raw.max_bytes,
                true,
                MIN_HISTORY_BYTES,
                MAX_HISTORY_BYTES,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(entries: RawAmount, bytes: RawAmount) -> Result<HistoryConfig, String> {
        HistoryConfig::from_raw(&RawHistory {
            max_entries: entries,
            max_bytes: bytes,
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn history_bounds_are_checked_and_errors_name_the_key() {
        use RawAmount::*;
        let ok = parse(Text("10000".into()), Text("1MiB".into())).expect("valid");
        assert_eq!(
            ok,
            HistoryConfig {
                max_entries: 10_000,
                max_bytes: 1 << 20
            }
        );
        assert_eq!(parse(Int(1), Int(131_072)).map(|c| c.max_entries), Ok(1));
        let table: [(RawAmount, RawAmount, &str); 9] = [
            (
                Int(0),
                Int(1 << 20),
                "config: history.max_entries: 0 is outside 1-10000",
            ),
            (
                Int(-1),
                Int(1 << 20),
                "config: history.max_entries: -1 is not a whole number",
            ),
            (
                Int(10_001),
                Int(1 << 20),
                "config: history.max_entries: 10001 is outside 1-10000",
            ),
            (
                Float(2.5),
                Int(1 << 20),
                "config: history.max_entries: 2.5 is not a whole number",
            ),
            (
                Text("1MiB".into()),
                Int(1 << 20),
                "config: history.max_entries: \"1MiB\" is not a whole number",
            ),
            (
                Int(10),
                Int(1024),
                "config: history.max_bytes: 1024 is outside 131072-67108864",
            ),
            (
                Int(10),
                Text("1TiB".into()),
                "config: history.max_bytes: \"1TiB\" is not a number of bytes",
            ),
            (
                Int(10),
                Text("99999999999999999999".into()),
                "config: history.max_bytes: \"99999999999999999999\" is not",
            ),
            (
                Int(10),
                Text("65GiB".into()),
                "config: history.max_bytes: 69793218560 is outside",
            ),
        ];
        for (entries, bytes, want) in table {
            let got = parse(entries, bytes).expect_err(want);
            assert!(got.starts_with(want), "{got} / {want}");
        }
    }
}
