//! A model's class names: what a class draw is asked for by, and what a
//! picture's rows and `tinyvae inspect` call each class.
//!
//! A blob of format version 4 stores them as one string, the names in
//! class order separated by `\n` (`shared/BLOB-FORMAT.md`, "Class names"),
//! parsed in place like everything else in a blob; a board's `Status`
//! carries the same string (`shared/PROTOCOL.md`). A version-3 blob stores
//! none: its class `k` is called `class k` ([`ClassName::Numbered`]), so
//! every model has one name per class whatever its version.

use core::fmt;

use crate::Error;
use crate::error::ModelProblem;

/// Longest class name, in bytes of UTF-8: enough for a word or two, short
/// enough for a picture's row label and one line of a table.
pub const MAX_CLASS_NAME: usize = 32;

/// Longest names string: 256 names of [`MAX_CLASS_NAME`] bytes and their
/// separators. It bounds the board's `Status` frame, which carries it.
pub const MAX_CLASS_NAMES: usize = 256 * (MAX_CLASS_NAME + 1);

/// The separator between two names in the names string.
pub const SEPARATOR: char = '\n';

/// Why `name` cannot be a class name: it is empty, longer than
/// [`MAX_CLASS_NAME`] bytes, or holds a control character (the separator
/// `\n` among them, which would split it in two). The writer reports it
/// with the name; the parser refuses a blob or a status that holds one.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        Err("is empty")
    } else if name.len() > MAX_CLASS_NAME {
        Err("is longer than 32 bytes")
    } else if name.chars().any(char::is_control) {
        Err("holds a control character (a newline, a tab, ...)")
    } else {
        Ok(())
    }
}

/// The names of a model's classes, borrowed from a blob or a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassNames<'a> {
    /// The names string, or `None` when the model stores no names.
    text: Option<&'a str>,
    /// How many classes the model has.
    classes: u16,
}

impl<'a> ClassNames<'a> {
    /// The names in `text` (separated by `\n`; empty for no names) of a
    /// model with `classes` classes: exactly one valid name per class
    /// ([`check_name`]), at most [`MAX_CLASS_NAMES`] bytes in all.
    pub fn new(text: &'a str, classes: u16) -> Result<Self, Error> {
        if text.len() > MAX_CLASS_NAMES {
            return Err(Error::Inconsistent(ModelProblem::ClassName));
        }
        let mut names = 0_u32;
        for name in split(text) {
            check_name(name).map_err(|_| Error::Inconsistent(ModelProblem::ClassName))?;
            names += 1;
        }
        if names != u32::from(classes) {
            return Err(Error::ClassNameCount { names, classes });
        }
        Ok(Self {
            text: Some(text),
            classes,
        })
    }

    /// A model of `classes` classes that stores no names (a version-3
    /// blob): class `k` is `class k`.
    pub const fn numbered(classes: u16) -> Self {
        Self {
            text: None,
            classes,
        }
    }

    /// The names string as a blob or a status carries it: empty when the
    /// model stores no names (or has no classes).
    pub fn text(&self) -> &'a str {
        self.text.unwrap_or("")
    }

    /// How many classes (and so names) there are.
    pub fn classes(&self) -> u16 {
        self.classes
    }

    /// The name of class `class`, if the model has that class.
    pub fn get(&self, class: u16) -> Option<ClassName<'a>> {
        self.iter().nth(usize::from(class))
    }

    /// Every class's name, class 0 first.
    pub fn iter(&self) -> impl Iterator<Item = ClassName<'a>> + use<'a> {
        let mut stored = self.text.map(split);
        (0..self.classes).map(
            move |class| match stored.as_mut().and_then(Iterator::next) {
                Some(name) => ClassName::Named(name),
                None => ClassName::Numbered(class),
            },
        )
    }
}

/// The names of a names string, in order: none in an empty string.
fn split(text: &str) -> impl Iterator<Item = &str> {
    // `take` rather than an optional iterator: on the Cortex-M0 the
    // firmware validates the names at boot, where every byte of stack
    // counts, and this iterator is a quarter the size of a flattened
    // `Option`.
    let names = if text.is_empty() { 0 } else { usize::MAX };
    text.split(SEPARATOR).take(names)
}

/// One class's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassName<'a> {
    /// The name the model stores.
    Named(&'a str),
    /// Class `k` of a model that stores no names: `class k`.
    Numbered(u16),
}

impl fmt::Display for ClassName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClassName::Named(name) => f.write_str(name),
            ClassName::Numbered(class) => write!(f, "class {class}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_split_at_newlines_one_per_class() {
        let names = ClassNames::new("T-shirt/top\nTrouser\nAnkle boot", 3).unwrap();
        let got: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        assert_eq!(got, ["T-shirt/top", "Trouser", "Ankle boot"]);
        assert_eq!(names.get(2), Some(ClassName::Named("Ankle boot")));
        assert_eq!(names.get(3), None);
        assert_eq!(names.text(), "T-shirt/top\nTrouser\nAnkle boot");
        // No classes, no names: the empty string.
        let none = ClassNames::new("", 0).unwrap();
        assert_eq!((none.iter().count(), none.text()), (0, ""));
    }

    #[test]
    fn a_model_without_names_calls_its_classes_by_number() {
        let names = ClassNames::numbered(3);
        let got: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        assert_eq!(got, ["class 0", "class 1", "class 2"]);
        assert_eq!(names.text(), "");
    }

    #[test]
    fn a_count_that_differs_from_the_classes_is_refused() {
        for (text, classes, names) in [("a\nb", 3, 2), ("a\nb", 1, 2), ("", 2, 0), ("a", 0, 1)] {
            assert_eq!(
                ClassNames::new(text, classes),
                Err(Error::ClassNameCount { names, classes }),
                "{text:?}"
            );
        }
    }

    #[test]
    fn empty_long_and_control_names_are_refused() {
        let bad = Err(Error::Inconsistent(ModelProblem::ClassName));
        for text in ["a\n\nb", "a\n", "\na", "tab\there", "cr\r", &"x".repeat(33)] {
            let classes = split(text).count() as u16;
            assert_eq!(ClassNames::new(text, classes), bad, "{text:?}");
        }
        assert!(ClassNames::new(&"x".repeat(32), 1).is_ok());
        // Multi-byte characters count in bytes: 11 of 3 bytes is 33.
        assert_eq!(check_name(&"€".repeat(11)), Err("is longer than 32 bytes"));
        let many = vec!["n"; 5000].join("\n");
        assert_eq!(ClassNames::new(&many, 5000), bad);
    }

    /// The words give the limits the constants set.
    #[test]
    fn messages_name_the_limits() {
        let message = ModelProblem::ClassName.to_string();
        for limit in [MAX_CLASS_NAME, MAX_CLASS_NAMES] {
            assert!(message.contains(&format!(" {limit} bytes")), "{message}");
        }
        let too_long = check_name(&"x".repeat(MAX_CLASS_NAME + 1)).unwrap_err();
        assert!(too_long.contains(&format!(" {MAX_CLASS_NAME} bytes")));
    }
}
