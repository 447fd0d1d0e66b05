//! Progress bars for long work (training epochs, the judge's training,
//! scoring): drawn on stderr when it is a terminal, hidden otherwise, so logs
//! and tests see no control characters.

use std::io::IsTerminal;

use indicatif::{ProgressDrawTarget, ProgressStyle};

/// The bar [`bar`] returns (indicatif's), for callers without indicatif.
pub use indicatif::ProgressBar;

/// A bar of `len` steps labelled `label` (`label [=====>   ] 3/10 msg
/// (elapsed<eta)`), hidden unless stderr is a terminal.
pub fn bar(len: u64, label: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{label} [{{bar:30}}] {{pos}}/{{len}} {{msg}} ({{elapsed}}<{{eta}})"
        ))
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar
}
