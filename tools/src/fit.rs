//! `tinyvae fit`: will a blob run on a board? Its bytes against the board's
//! blob region, its decoder's scratch and its image against the firmware's
//! buffers (`boards::Layout::check`, the test the firmware makes at boot
//! and `tinyvae hex` before it writes), and an estimate of the instructions
//! each image costs there.

use std::path::PathBuf;

use anyhow::Result;
use clap::ValueEnum;
use tinyvae_shared::Model;
use tinyvae_shared::blob::Op;
use tinyvae_shared::boards::{self, Layout};

use crate::blobfile::BlobFile;
use crate::generate::macs;

/// Check whether a blob fits a board's flash and RAM, and estimate its
/// instructions per image there.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model blob (`tinyvae export` writes one).
    #[arg(long)]
    blob: PathBuf,
    /// The board to check (every board when none is given): exit 2, with
    /// the first reason, when the model does not fit it.
    #[arg(long, value_enum)]
    board: Option<BoardArg>,
}

/// The boards the firmware builds for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BoardArg {
    /// BBC micro:bit v1 (nRF51822, Cortex-M0, 16 MHz).
    Microbit,
    /// BBC micro:bit v2 (nRF52833, Cortex-M4F, 64 MHz).
    MicrobitV2,
    /// STM32F429I-DISC1 (Cortex-M4F, 168 MHz).
    Stm32f429iDisc1,
    /// QEMU's `mps2-an386` lab machine (Cortex-M4F), as `tinyvae qemu` runs it.
    LabM4,
}

impl BoardArg {
    /// Every board, in the order the table lists them.
    const ALL: [BoardArg; 4] = [
        BoardArg::Microbit,
        BoardArg::MicrobitV2,
        BoardArg::Stm32f429iDisc1,
        BoardArg::LabM4,
    ];

    /// The board's memory facts, the ones its firmware is built with.
    fn layout(self) -> &'static Layout {
        match self {
            BoardArg::Microbit => &boards::MICROBIT,
            BoardArg::MicrobitV2 => &boards::MICROBIT_V2,
            BoardArg::Stm32f429iDisc1 => &boards::STM32F429I_DISC1,
            BoardArg::LabM4 => &boards::MPS2_AN386,
        }
    }

    /// Its flag value (`--board`), the table's first column.
    fn name(self) -> String {
        self.to_possible_value()
            .expect("no variant is skipped")
            .get_name()
            .to_owned()
    }

    /// Instructions per multiply-accumulate of the firmware's fast kernels
    /// on the board's core, for a decoder with transposed convolutions and
    /// for one of dense layers only, and where each figure comes from:
    /// `tinyvae bench` on the 10-epoch models of README.md, "On the chip"
    /// (sampler and output table included, fitted draws).
    fn per_mac(self, conv: bool) -> (f64, &'static str) {
        match (self, conv) {
            (BoardArg::Microbit, true) => (4.57, "M0, the conv decoder"),
            // No MLP fits the micro:bit: its conv decoder's dense layer.
            (BoardArg::Microbit, false) => (7.33, "M0, the conv decoder's dense layer"),
            (_, true) => (1.29, "M4, the conv decoder"),
            (_, false) => (1.14, "M4, the MLP"),
        }
    }
}

/// Runs `fit`: one table, a row per board; with `--board`, bad input
/// (exit 2) when the model does not fit that board.
pub fn run(args: Args) -> Result<()> {
    let file = BlobFile::read(&args.blob)?;
    let model = file.model()?;
    let macs = macs(&model);
    println!(
        "{}: {} bytes; per image {macs} MACs, {} bytes of scratch, {} bytes of image",
        args.blob.display(),
        file.bytes().len(),
        model.scratch_len(),
        model.image_len()
    );
    println!();
    let boards = match args.board {
        Some(board) => vec![board],
        None => BoardArg::ALL.to_vec(),
    };
    let mut rows = vec![
        [
            "board",
            "blob region",
            "scratch",
            "image buffer",
            "instructions per image (estimate)",
            "fits",
        ]
        .map(String::from),
    ];
    rows.extend(boards.iter().map(|&board| row(board, &model, macs)));
    print!("{}", table(&rows));
    println!(
        "\ninstructions: MACs x instructions per MAC of the fast kernels, as `tinyvae bench` \
         measured them on the README's 10-epoch models (README.md, \"On the chip\"); \
         an estimate for other shapes, which `tinyvae bench --blob B --m0` measures"
    );
    match args.board {
        Some(board) => file.check_fits(board.layout()),
        None => Ok(()),
    }
}

/// One board's row: each room as `needed / available` bytes, the
/// instruction estimate, and whether the model fits (else the first room
/// it overflows).
fn row(board: BoardArg, model: &Model<'_>, macs: u64) -> [String; 6] {
    let layout = board.layout();
    let conv = model
        .body()
        .layers
        .iter()
        .any(|layer| matches!(layer.op, Op::ConvTranspose2d { .. }));
    let (per_mac, source) = board.per_mac(conv);
    let room = |needs: usize, has: usize| format!("{needs} / {has}");
    [
        board.name(),
        room(model.header().blob_len(), layout.blob_capacity()),
        room(model.scratch_len(), layout.scratch),
        room(model.image_len(), layout.pixels),
        format!(
            "{} ({per_mac} per MAC, {source})",
            millions(macs as f64 * per_mac)
        ),
        match layout.check(model) {
            Ok(()) => "yes".to_owned(),
            Err(misfit) => format!("no: {}", misfit.what.name()),
        },
    ]
}

/// An instruction count as an estimate should read: `4.70 M`, or a
/// small one whole.
fn millions(instructions: f64) -> String {
    if instructions >= 1e5 {
        format!("{:.2} M", instructions / 1e6)
    } else {
        format!("{instructions:.0}")
    }
}

/// `rows` (the first one the header) as a Markdown table, columns padded.
fn table(rows: &[[String; 6]]) -> String {
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        out += &line(
            row.iter()
                .zip(&widths)
                .map(|(cell, &w)| format!("{cell:<w$}"))
                .collect(),
        );
        if i == 0 {
            out += &line(widths.iter().map(|&w| "-".repeat(w)).collect());
        }
    }
    out
}
