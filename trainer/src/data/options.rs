//! How an image folder becomes pixels ([`DataOptions`]: `tinyvae train`'s
//! `--size`, `--channels` and `--test-fraction`). A run records them in its
//! config, so that `tinyvae export` reads the folder exactly as training did.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The share of each class an image folder without `train/` and `test/`
/// holds out as the test split, unless told otherwise.
pub const DEFAULT_TEST_FRACTION: f64 = 0.1;

/// How to read an image folder. The default (nothing given) reads images
/// as they are: one size, gray if all are gray, 10% held out for testing.
/// IDX files take none of these (they are 28x28 gray with their own test
/// split): [`super::load`] refuses options given for them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct DataOptions {
    /// Resize every image to this size (else all must share one size).
    pub size: Option<Size>,
    /// Convert every image to gray or RGB (else gray if every file is
    /// gray, RGB otherwise).
    pub channels: Option<Channels>,
    /// The share of each class held out as the test split when the folder
    /// has no `train/` and `test/` (else [`DEFAULT_TEST_FRACTION`]).
    pub test_fraction: Option<f64>,
}

impl DataOptions {
    /// The names of the options given, as `tinyvae train` spells them.
    pub fn given(&self) -> Vec<&'static str> {
        [
            (self.size.is_some(), "--size"),
            (self.channels.is_some(), "--channels"),
            (self.test_fraction.is_some(), "--test-fraction"),
        ]
        .into_iter()
        .filter_map(|(given, name)| given.then_some(name))
        .collect()
    }

    /// The share held out for testing.
    pub fn test_fraction(&self) -> f64 {
        self.test_fraction.unwrap_or(DEFAULT_TEST_FRACTION)
    }
}

/// An image size, `HxW` on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Size {
    /// Rows, at least 1.
    pub height: u32,
    /// Columns, at least 1.
    pub width: u32,
}

impl FromStr for Size {
    type Err = String;

    /// `HxW`, e.g. `32x32`: two sides of at least 1.
    fn from_str(text: &str) -> Result<Self, String> {
        let usage = || format!("expected HxW (e.g. 32x32), got {text:?}");
        let (height, width) = text.split_once('x').ok_or_else(usage)?;
        let side = |s: &str| s.parse::<u32>().ok().filter(|&side| side >= 1);
        Ok(Size {
            height: side(height).ok_or_else(usage)?,
            width: side(width).ok_or_else(usage)?,
        })
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.height, self.width)
    }
}

/// Gray or RGB, `1` or `3` on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channels {
    /// One channel.
    Gray,
    /// Three channels.
    Rgb,
}

impl Channels {
    /// Bytes per pixel: 1 or 3.
    pub const fn count(self) -> usize {
        match self {
            Channels::Gray => 1,
            Channels::Rgb => 3,
        }
    }
}

impl FromStr for Channels {
    type Err = String;

    /// `1` (gray) or `3` (RGB).
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "1" => Ok(Channels::Gray),
            "3" => Ok(Channels::Rgb),
            _ => Err(format!("expected 1 (gray) or 3 (RGB), got {text:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_h_x_w() {
        assert_eq!(
            "32x48".parse::<Size>(),
            Ok(Size {
                height: 32,
                width: 48
            })
        );
        assert_eq!("32x48".parse::<Size>().unwrap().to_string(), "32x48");
        for bad in ["32", "0x4", "4x0", "x4", "4x", "-4x4", "4x4x4", "4 x 4"] {
            let err = bad.parse::<Size>().unwrap_err();
            assert!(err.contains("expected HxW"), "{bad}: {err}");
        }
    }

    #[test]
    fn channels_are_1_or_3() {
        assert_eq!("1".parse::<Channels>().map(Channels::count), Ok(1));
        assert_eq!("3".parse::<Channels>().map(Channels::count), Ok(3));
        for bad in ["0", "2", "4", "rgb", ""] {
            assert!(bad.parse::<Channels>().is_err(), "{bad}");
        }
    }

    #[test]
    fn options_name_what_was_given() {
        assert!(DataOptions::default().given().is_empty());
        assert_eq!(DataOptions::default().test_fraction(), 0.1);
        let options = DataOptions {
            channels: Some(Channels::Rgb),
            test_fraction: Some(0.25),
            ..DataOptions::default()
        };
        assert_eq!(options.given(), ["--channels", "--test-fraction"]);
        assert_eq!(options.test_fraction(), 0.25);
    }
}
