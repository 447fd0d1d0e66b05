//! The test split of an image folder that has none: a fixed share of each
//! class, chosen by a keyed hash of each file's path inside its class
//! folder. The choice depends on nothing else (not the machine, the order
//! the files are listed in, nor the training seed), so every run and every
//! `tinyvae export` of a folder sees the same split. A file's rank never
//! changes, so images added to a class join its test split only where
//! their ranks fall.

use std::path::{Path, PathBuf};

use tinyvae_shared::hash::fnv1a;
use tinyvae_shared::splitmix::SplitMix64;

/// The hash's key: fixed, so that the split is too.
const HOLDOUT_SEED: u64 = 0x7e57_5eed;

/// The rank of a file in its class: SplitMix64's first word seeded with
/// [`HOLDOUT_SEED`] xor the FNV-1a hash of `relative`'s bytes.
fn rank(relative: &Path) -> u64 {
    let hash = fnv1a(relative.as_os_str().as_encoded_bytes());
    SplitMix64::new(HOLDOUT_SEED ^ u64::from(hash)).next_u64()
}

/// One class's `files` (below `class_dir`) as (training, test): the test
/// files are the `round(fraction * files.len())` with the lowest [`rank`]
/// (ties broken by path). Both keep the order of `files`.
pub(super) fn hold_out(
    files: Vec<PathBuf>,
    class_dir: &Path,
    fraction: f64,
) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let held = ((fraction * files.len() as f64).round() as usize).min(files.len());
    let mut ranked: Vec<(u64, &PathBuf, usize)> = files
        .iter()
        .enumerate()
        .map(|(i, path)| (rank(path.strip_prefix(class_dir).unwrap_or(path)), path, i))
        .collect();
    ranked.sort_unstable();
    let mut is_test = vec![false; files.len()];
    for &(_, _, i) in &ranked[..held] {
        is_test[i] = true;
    }
    let (test, train): (Vec<_>, Vec<_>) =
        files.into_iter().zip(is_test).partition(|&(_, test)| test);
    let paths = |pairs: Vec<(PathBuf, bool)>| pairs.into_iter().map(|(path, _)| path).collect();
    (paths(train), paths(test))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(n: usize) -> Vec<PathBuf> {
        (0..n)
            .map(|i| PathBuf::from(format!("cats/{i}.png")))
            .collect()
    }

    #[test]
    fn holds_out_the_rounded_share_in_order() {
        for (n, fraction, held) in [
            (10, 0.1, 1),
            (15, 0.1, 2),
            (14, 0.1, 1),
            (3, 0.1, 0),
            (7, 0.5, 4),
        ] {
            let (train, test) = hold_out(files(n), Path::new("cats"), fraction);
            assert_eq!(
                (train.len(), test.len()),
                (n - held, held),
                "{n} {fraction}"
            );
            let mut all = [train.clone(), test.clone()].concat();
            all.sort();
            let mut expected = files(n);
            expected.sort();
            assert_eq!(all, expected, "every file once");
            for split in [&train, &test] {
                let order: Vec<_> = split
                    .iter()
                    .map(|p| files(n).iter().position(|f| f == p))
                    .collect();
                assert!(order.is_sorted(), "kept in order: {order:?}");
            }
        }
    }

    /// The choice depends on the files' paths inside their class folder
    /// only: not on where the class folder is, nor on the order they are
    /// listed in.
    #[test]
    fn the_split_depends_on_each_files_name_only() {
        let (_, test) = hold_out(files(100), Path::new("cats"), 0.1);
        let elsewhere: Vec<PathBuf> = files(100)
            .iter()
            .map(|f| Path::new("/data/x").join(f))
            .collect();
        let (_, moved) = hold_out(elsewhere, Path::new("/data/x/cats"), 0.1);
        let moved: Vec<PathBuf> = moved
            .iter()
            .map(|f| f.strip_prefix("/data/x").unwrap().to_owned())
            .collect();
        assert_eq!(moved, test);
        let (_, reversed) = hold_out(
            files(100).into_iter().rev().collect(),
            Path::new("cats"),
            0.1,
        );
        assert_eq!(
            reversed.into_iter().rev().collect::<Vec<_>>(),
            test,
            "listing order does not matter"
        );
    }
}
