//! Where `tinyvae` keeps what it can rebuild: `$XDG_CACHE_HOME/tinyvae`,
//! else `~/.cache/tinyvae` (on Windows `%LOCALAPPDATA%\tinyvae`). The
//! firmware's unpacked sources and the trained judges live there.

use std::path::PathBuf;

/// The cache directory, or `None` when neither `XDG_CACHE_HOME`, `HOME`
/// nor `LOCALAPPDATA` is set to an absolute path.
pub fn cache_home() -> Option<PathBuf> {
    let absolute = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    absolute("XDG_CACHE_HOME")
        .or_else(|| absolute("HOME").map(|home| home.join(".cache")))
        .or_else(|| absolute("LOCALAPPDATA"))
        .map(|base| base.join("tinyvae"))
}
