//! Cross-crate and end-to-end tests of tinyvae live in `tests/tests/`; this
//! library only gives them a package to belong to.
