//! The `bench` firmware's measurements: running it under `-icount shift=0`
//! (one executed instruction = 1 ns of virtual time, so its timer counts
//! instructions deterministically) and parsing its `bench ...` log lines
//! (their format: firmware/src/bench.rs) into typed values.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tinyvae_shared::protocol::Request;

use super::Machine;
use super::lab::LabQemu;
use crate::link::LogLine;

/// One kernel's measurement of one image from the `bench` firmware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchImage {
    /// `portable`, `dsp`, `armv6m` or `float`.
    pub kernel: String,
    /// Image index.
    pub image: u32,
    /// FNV-1a of the image's bytes.
    pub fnv1a: u32,
    /// Deepest stack use while decoding, bytes.
    pub stack: u32,
    /// Executed instructions: sampler, each layer, output table.
    pub instructions: Vec<u64>,
}

/// How far the float32 decoder's image is from the int8 decoder's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloatDiff {
    /// Image index.
    pub image: u32,
    /// Largest |float - int8| over the pixels, in gray levels.
    pub max: u32,
    /// Sum of |float - int8| over the pixels.
    pub sum: u64,
}

/// What sending one image's reply frame cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolCost {
    /// Image index.
    pub image: u32,
    /// Executed instructions.
    pub instructions: u64,
}

/// What a `bench` firmware run reported.
#[derive(Debug, Clone, Default)]
pub struct Bench {
    /// Every kernel's every image, in the order measured.
    pub images: Vec<BenchImage>,
    /// The float32 decoder against the int8 one, per image.
    pub float_diff: Vec<FloatDiff>,
    /// `kernel image` of every image whose bytes differed from the portable kernels'.
    pub mismatches: Vec<String>,
    /// Sending each image's reply frame.
    pub protocol: Vec<ProtocolCost>,
}

/// One kernel's images of a run, averaged: a row of `tinyvae bench`'s table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelMean {
    /// The kernel's name.
    pub kernel: String,
    /// Mean executed instructions per image and phase (sampler, each
    /// layer, output table), rounded.
    pub phases: Vec<u64>,
    /// The sum of [`phases`](Self::phases): instructions per image.
    pub instructions: u64,
    /// The deepest stack use of any of its images, bytes.
    pub stack_peak: u32,
}

impl Bench {
    /// Parses the `bench` lines of a run's log (other lines are skipped).
    /// Ticks become instructions by the `bench clock` line, which must come
    /// first; a run that measured no image is an error.
    pub fn parse(log: &[LogLine]) -> Result<Self> {
        let mut bench = Bench::default();
        let mut ps_per_tick = None;
        for line in log {
            let Some(rest) = line.message.strip_prefix("bench ") else {
                continue;
            };
            let words: Vec<&str> = rest.splitn(5, ' ').collect();
            let number = |i: usize| -> Result<u64> {
                words
                    .get(i)
                    .and_then(|w| w.parse().ok())
                    .with_context(|| format!("bad bench frame {rest:?}"))
            };
            let clock = move || ps_per_tick.context("bench frame before the clock frame");
            match words[0] {
                "clock" => ps_per_tick = Some(number(1)?),
                "mismatch" => bench.mismatches.push(words[1..].join(" ")),
                "protocol" => {
                    let ps = clock()?;
                    bench.protocol.push(ProtocolCost {
                        image: number(1)? as u32,
                        instructions: number(2)? * ps / 1000,
                    });
                }
                "float-diff" => bench.float_diff.push(FloatDiff {
                    image: number(1)? as u32,
                    max: number(2)? as u32,
                    sum: number(3)?,
                }),
                kernel => {
                    let ps = clock()?;
                    let ticks = list::<u64>(words.get(4).unwrap_or(&""))
                        .with_context(|| format!("bad bench frame {rest:?}"))?;
                    bench.images.push(BenchImage {
                        kernel: kernel.to_owned(),
                        image: number(1)? as u32,
                        fnv1a: number(2)? as u32,
                        stack: number(3)? as u32,
                        instructions: ticks.iter().map(|t| t * ps / 1000).collect(),
                    });
                }
            }
        }
        if bench.images.is_empty() {
            bail!(
                "the bench firmware reported nothing:\n{}",
                super::log_text(log)
            );
        }
        Ok(bench)
    }

    /// Each kernel's images averaged, kernels in the order first measured.
    pub fn kernel_means(&self) -> Vec<KernelMean> {
        let mut kernels: Vec<&str> = Vec::new();
        for image in &self.images {
            if !kernels.contains(&image.kernel.as_str()) {
                kernels.push(&image.kernel);
            }
        }
        kernels
            .into_iter()
            .map(|kernel| {
                let runs: Vec<&BenchImage> =
                    self.images.iter().filter(|i| i.kernel == kernel).collect();
                let mean = |phase: usize| {
                    let sum: u64 = runs.iter().map(|r| r.instructions[phase]).sum();
                    (sum as f64 / runs.len() as f64).round() as u64
                };
                let phases: Vec<u64> = (0..runs[0].instructions.len()).map(mean).collect();
                KernelMean {
                    kernel: kernel.to_owned(),
                    instructions: phases.iter().sum(),
                    phases,
                    stack_peak: runs.iter().map(|r| r.stack).max().unwrap_or(0),
                }
            })
            .collect()
    }
}

/// Runs a firmware built with the `bench` feature under `-icount shift=0`
/// and parses its `bench` frames.
pub fn bench(
    elf: &Path,
    machine: Machine,
    blob: &Path,
    request: &Request,
    timeout: Duration,
) -> Result<Bench> {
    let mut qemu = LabQemu::new(machine, Some(blob), Some(request))?;
    qemu.command.args(["-icount", "shift=0"]);
    let run = qemu.run(elf, timeout)?;
    if run.exit_code != 0 {
        bail!(
            "the bench firmware exited with {}: {}{}",
            run.exit_code,
            run.log_text(),
            run.stderr
        );
    }
    Bench::parse(&run.log)
}

/// Parses `"[a, b, c]"`.
fn list<T: std::str::FromStr>(text: &str) -> Result<Vec<T>> {
    let list = text
        .strip_prefix('[')
        .and_then(|l| l.strip_suffix(']'))
        .context("list not in brackets")?;
    list.split(", ")
        .filter(|v| !v.is_empty())
        .map(|v| v.parse::<T>().ok().context("not a number"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(lines: &[&str]) -> Vec<LogLine> {
        lines
            .iter()
            .map(|message| LogLine {
                level: "INFO".into(),
                message: (*message).into(),
            })
            .collect()
    }

    #[test]
    fn parses_every_frame_and_averages_kernels() {
        let bench = Bench::parse(&log(&[
            "booting",
            "bench clock 2000",
            "bench portable 0 7 96 [10, 20, 30]",
            "bench protocol 0 5",
            "bench dsp 0 7 100 [10, 5, 30]",
            "bench portable 1 9 104 [12, 21, 30]",
            "bench dsp 1 9 90 [12, 6, 30]",
            "bench float 0 8 200 [10, 50, 30]",
            "bench float-diff 0 3 17",
            "bench mismatch dsp 1",
        ]))
        .unwrap();
        assert_eq!(bench.images.len(), 5);
        assert_eq!(
            bench.images[0],
            BenchImage {
                kernel: "portable".into(),
                image: 0,
                fnv1a: 7,
                stack: 96,
                instructions: vec![20, 40, 60],
            }
        );
        assert_eq!(
            bench.protocol,
            [ProtocolCost {
                image: 0,
                instructions: 10
            }]
        );
        assert_eq!(
            bench.float_diff,
            [FloatDiff {
                image: 0,
                max: 3,
                sum: 17
            }]
        );
        assert_eq!(bench.mismatches, ["dsp 1"]);
        let means = bench.kernel_means();
        let names: Vec<&str> = means.iter().map(|m| m.kernel.as_str()).collect();
        assert_eq!(names, ["portable", "dsp", "float"]);
        assert_eq!(means[0].phases, [22, 41, 60]);
        assert_eq!(means[0].instructions, 123);
        assert_eq!(means[0].stack_peak, 104);
        assert_eq!(means[1].phases, [22, 11, 60]);
    }

    #[test]
    fn refuses_frames_before_the_clock_and_empty_runs() {
        let err = Bench::parse(&log(&["bench portable 0 7 96 [10]"])).unwrap_err();
        assert!(err.to_string().contains("before the clock"), "{err}");
        let err = Bench::parse(&log(&["bench clock 1000", "hello"])).unwrap_err();
        assert!(err.to_string().contains("reported nothing"), "{err}");
        let err = Bench::parse(&log(&["bench clock 1000", "bench dsp 0 x 1 [1]"])).unwrap_err();
        assert!(err.to_string().contains("bad bench frame"), "{err}");
    }
}
