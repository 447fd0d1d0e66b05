//! A run's images on disk while they arrive, so that the host's memory
//! stays bounded whatever the count, and an interrupted run (Ctrl-C, a
//! lost connection, a crash) can be finished later without asking again
//! for the images it already has.
//!
//! While a run is under way, `OUT/{stem}.part` holds the pixels (image `i`
//! at byte `i x H x W x C`) and `OUT/{stem}.journal` one JSON line: the
//! run (seed, draw, count, blob, shape), written once the seed is known;
//! then one line per image (index and latent), appended after its pixels
//! are in the part file. A line cut short by an interruption is ignored,
//! so whatever the journal lists is on disk. Only when every image has
//! arrived does [`Store::finish`] replay them (with `--check`), write
//! `{stem}.jsonl` and `{stem}.png` (each through a temporary file and a
//! rename) and rename the part file to `{stem}.raw`: a `.raw` file is
//! always complete, and a `.journal` file marks an unfinished run.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use tinyvae_shared::blob::Hwc;
use tinyvae_shared::protocol::{Begin, Request, SeedSource};
use tinyvae_shared::{Draw, HostDecoder, Model, seeded_rng};
use tinyvae_trainer::pictures::Grid;

use crate::fail::bad_input;
use crate::images::hwc;
use crate::link::{ChipImage, Known};

/// Most images drawn in `{stem}.png`; `{stem}.raw` holds them all.
pub const GRID_MAX: usize = 400;

/// The first line of a journal: which run it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunHeader {
    /// The seed the images are drawn from.
    pub seed: u64,
    /// Where it came from.
    pub source: SeedSource,
    /// What is drawn.
    pub draw: Draw,
    /// Images in the run.
    pub count: u32,
    /// The payload CRC-32 of the board's blob.
    pub blob_crc32: u32,
    /// Image height, width and channels.
    pub shape: [u16; 3],
}

impl RunHeader {
    /// The board's `Begin` for this run.
    fn begin(&self) -> Begin {
        Begin {
            seed: self.seed,
            source: self.source,
            request: Request::new(self.draw, self.count, Some(self.seed)),
        }
    }
}

/// One journal line after the header: an image that is on disk.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    index: u32,
    latent: Vec<i8>,
}

/// What a run in `OUT` is for: the request (its seed, if the host gave
/// one), the blob and the image shape.
#[derive(Debug, Clone, Copy)]
pub struct RunSpec {
    /// The request as asked (seed `None`: the board's RNG).
    pub request: Request,
    /// The payload CRC-32 of the board's blob.
    pub blob_crc32: u32,
    /// The images' shape.
    pub shape: Hwc,
}

impl RunSpec {
    /// Whether an interrupted run `header` is this one: the same draw,
    /// count, blob and shape, and the same seed if this one names a seed.
    pub fn matches(&self, header: &RunHeader) -> bool {
        let shape = self.shape;
        header.draw == self.request.draw
            && header.count == self.request.count
            && header.blob_crc32 == self.blob_crc32
            && header.shape == [shape.height, shape.width, shape.channels]
            && self.request.seed.is_none_or(|seed| seed == header.seed)
    }
}

/// The paths of one run's files.
struct Paths {
    part: PathBuf,
    journal: PathBuf,
    raw: PathBuf,
    png: PathBuf,
    jsonl: PathBuf,
}

impl Paths {
    fn new(dir: &Path, stem: &str) -> Self {
        let file = |extension: &str| dir.join(format!("{stem}.{extension}"));
        Self {
            part: file("part"),
            journal: file("journal"),
            raw: file("raw"),
            png: file("png"),
            jsonl: file("jsonl"),
        }
    }
}

/// An interrupted run found in `OUT`.
pub struct Interrupted {
    /// Its header.
    pub header: RunHeader,
    /// Which images it holds.
    pub received: Vec<bool>,
}

impl Interrupted {
    /// The images it holds.
    pub fn held(&self) -> usize {
        self.received.iter().filter(|&&r| r).count()
    }
}

/// Reads the interrupted run in `dir` (its journal), if there is one with
/// a known seed.
pub fn interrupted(dir: &Path, stem: &str) -> Result<Option<Interrupted>> {
    let paths = Paths::new(dir, stem);
    let file = match File::open(&paths.journal) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e).with_context(|| format!("reading {}", paths.journal.display()));
        }
    };
    let mut lines = BufReader::new(file).split(b'\n');
    let header: RunHeader = match lines.next().transpose()? {
        Some(line) => serde_json::from_slice(&line).map_err(|e| {
            bad_input(anyhow::anyhow!(
                "{} is not a tinyvae journal ({e}): delete it to start afresh",
                paths.journal.display()
            ))
        })?,
        None => return Ok(None),
    };
    let mut received = vec![false; header.count as usize];
    for line in lines {
        // A line cut short by an interruption (the last) does not parse.
        if let Ok(entry) = serde_json::from_slice::<Entry>(&line?)
            && let Some(slot) = received.get_mut(entry.index as usize)
        {
            *slot = true;
        }
    }
    Ok(Some(Interrupted { header, received }))
}

/// A run being written to `OUT`.
pub struct Store {
    paths: Paths,
    dir: PathBuf,
    image_len: usize,
    spec: RunSpec,
    part: Option<File>,
    journal: Option<File>,
    header: Option<RunHeader>,
}

impl Store {
    /// Starts the run `spec` in `dir`, or continues `resumed` (an
    /// interrupted run of the same spec found there): returns what the
    /// board still has to send. A fresh run writes nothing until its seed
    /// is known ([`Store::seed`]), so a refused request leaves no files.
    pub fn open(
        dir: &Path,
        stem: &str,
        spec: RunSpec,
        resumed: Option<Interrupted>,
    ) -> Result<(Self, Option<Known>)> {
        let paths = Paths::new(dir, stem);
        let (h, w, c) = hwc(spec.shape);
        let mut store = Self {
            paths,
            dir: dir.to_owned(),
            image_len: h * w * c,
            spec,
            part: None,
            journal: None,
            header: None,
        };
        let Some(run) = resumed else {
            return Ok((store, None));
        };
        store.part = Some(store.open_part(false)?);
        store.journal = Some(
            OpenOptions::new()
                .append(true)
                .open(&store.paths.journal)
                .with_context(|| format!("opening {}", store.paths.journal.display()))?,
        );
        store.header = Some(run.header);
        let known = Known {
            begin: run.header.begin(),
            received: run.received,
        };
        Ok((store, Some(known)))
    }

    /// Opens (`fresh`: creates) the part file, sized for every image.
    fn open_part(&self, fresh: bool) -> Result<File> {
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let path = &self.paths.part;
        let part = OpenOptions::new()
            .create(true)
            .write(true)
            .read(true)
            .truncate(fresh)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        part.set_len((self.image_len * self.spec.request.count as usize) as u64)
            .with_context(|| format!("sizing {}", path.display()))?;
        Ok(part)
    }

    /// Records the run's seed: creates the part file and the journal, its
    /// first line the run's header.
    pub fn seed(&mut self, begin: Begin) -> Result<()> {
        if self.header.is_some() {
            return Ok(());
        }
        self.part = Some(self.open_part(true)?);
        let shape = self.spec.shape;
        let header = RunHeader {
            seed: begin.seed,
            source: begin.source,
            draw: self.spec.request.draw,
            count: self.spec.request.count,
            blob_crc32: self.spec.blob_crc32,
            shape: [shape.height, shape.width, shape.channels],
        };
        let mut journal = File::create(&self.paths.journal)
            .with_context(|| format!("creating {}", self.paths.journal.display()))?;
        append_line(&mut journal, &header, &self.paths.journal)?;
        self.journal = Some(journal);
        self.header = Some(header);
        Ok(())
    }

    /// Stores one image: its pixels in the part file, then its journal line.
    pub fn image(&mut self, image: &ChipImage) -> Result<()> {
        let (Some(part), Some(journal)) = (self.part.as_mut(), self.journal.as_mut()) else {
            bail!("an image arrived before its seed");
        };
        if image.pixels.len() != self.image_len {
            bail!(
                "image {} has {} bytes, not {}",
                image.index,
                image.pixels.len(),
                self.image_len
            );
        }
        let at = image.index as u64 * self.image_len as u64;
        part.seek(SeekFrom::Start(at))
            .and_then(|_| part.write_all(&image.pixels))
            .with_context(|| format!("writing {}", self.paths.part.display()))?;
        let entry = Entry {
            index: image.index,
            latent: image.latent.clone(),
        };
        append_line(journal, &entry, &self.paths.journal)
    }

    /// Ends a run that has all its images: with `model`, replays each on
    /// the host (`verified` in the JSON lines); writes `{stem}.jsonl`, the
    /// PNG grid (the first [`GRID_MAX`] images, titled `title`), renames
    /// the part file to `{stem}.raw` and removes the journal. Returns the
    /// index of the first image that differs from the host's replay.
    pub fn finish(self, model: Option<&Model<'_>>, title: &str) -> Result<Option<u32>> {
        let (Some(header), Some(mut part)) = (self.header, self.part.as_ref()) else {
            bail!("the run never received its seed");
        };
        let verified = model
            .map(|model| self.replay(&mut part, model, &header))
            .transpose()?;
        self.write_jsonl(&header, verified.as_deref())?;
        self.write_grid(&mut part, title, header.count as usize)?;
        part.sync_all()
            .with_context(|| format!("writing {}", self.paths.part.display()))?;
        fs::rename(&self.paths.part, &self.paths.raw)
            .with_context(|| format!("renaming to {}", self.paths.raw.display()))?;
        fs::remove_file(&self.paths.journal)
            .with_context(|| format!("removing {}", self.paths.journal.display()))?;
        Ok(verified.and_then(|v| v.iter().position(|ok| !ok).map(|i| i as u32)))
    }

    /// Whether each image equals the host's replay of its seed, reading
    /// the part file one image at a time.
    fn replay(&self, part: &mut &File, model: &Model<'_>, header: &RunHeader) -> Result<Vec<bool>> {
        part.seek(SeekFrom::Start(0))?;
        let mut chip = BufReader::new(*part);
        let mut decoder = HostDecoder::new(model);
        let (mut host, mut board) = (vec![0; self.image_len], vec![0; self.image_len]);
        let mut verified = Vec::with_capacity(header.count as usize);
        let mut unread = None;
        model
            .for_each_latent(
                header.draw,
                header.count,
                &mut seeded_rng(header.seed),
                |_, z| {
                    decoder.decode(z, &mut host)?;
                    match chip.read_exact(&mut board) {
                        Ok(()) => verified.push(host == board),
                        Err(e) => {
                            unread.get_or_insert(e);
                        }
                    }
                    Ok::<(), tinyvae_shared::Error>(())
                },
            )
            .context("replaying the images on the host")?;
        if let Some(e) = unread {
            return Err(e).with_context(|| format!("reading {}", self.paths.part.display()));
        }
        Ok(verified)
    }

    /// `{stem}.jsonl`: the journal's image lines, in the order they
    /// arrived, each with the run and whether it was verified.
    fn write_jsonl(&self, header: &RunHeader, verified: Option<&[bool]>) -> Result<()> {
        let journal = File::open(&self.paths.journal)
            .with_context(|| format!("reading {}", self.paths.journal.display()))?;
        let mut seen = vec![false; header.count as usize];
        atomic_write(&self.paths.jsonl, |out| {
            for line in BufReader::new(journal).split(b'\n').skip(1) {
                let Ok(entry) = serde_json::from_slice::<Entry>(&line?) else {
                    continue;
                };
                let index = entry.index as usize;
                if seen.get(index) != Some(&false) {
                    continue;
                }
                seen[index] = true;
                let line = json_line(header, &entry, verified.map(|v| v[index]));
                writeln!(out, "{line}")?;
            }
            Ok(())
        })
    }

    /// `{stem}.png`: the first [`GRID_MAX`] images.
    fn write_grid(&self, part: &mut &File, title: &str, count: usize) -> Result<()> {
        let shown = count.min(GRID_MAX);
        let mut pixels = vec![0; shown * self.image_len];
        part.seek(SeekFrom::Start(0))?;
        part.read_exact(&mut pixels)
            .with_context(|| format!("reading {}", self.paths.part.display()))?;
        let title = if shown < count {
            format!("{title} (the first {shown} of {count})")
        } else {
            title.to_owned()
        };
        let grid = Grid::square(&pixels, hwc(self.spec.shape))?.title(title);
        let temporary = temporary(&self.paths.png);
        grid.save(&temporary)?;
        fs::rename(&temporary, &self.paths.png)
            .with_context(|| format!("renaming to {}", self.paths.png.display()))
    }
}

/// One JSON object per image: index, seed, what was drawn, the latent and
/// whether the host's replay matched (null without --check).
fn json_line(header: &RunHeader, entry: &Entry, verified: Option<bool>) -> serde_json::Value {
    let drawn = match header.draw {
        Draw::Prior => serde_json::json!({"prior": true}),
        Draw::Fitted => serde_json::json!({"fitted": true}),
        Draw::Class(k) => serde_json::json!({"class": k}),
        Draw::Interpolate => {
            serde_json::json!({"interpolation": {"step": entry.index, "steps": header.count}})
        }
    };
    serde_json::json!({
        "index": entry.index,
        "seed": header.seed,
        "seed_source": match header.source {
            SeedSource::Host => "host",
            SeedSource::Hardware => "hardware",
        },
        "drawn": drawn,
        "latent": entry.latent,
        "verified": verified,
    })
}

/// Appends `value` as one JSON line in a single write, so that an
/// interruption leaves at most the last line cut short.
fn append_line(file: &mut File, value: &impl Serialize, path: &Path) -> Result<()> {
    let mut line = serde_json::to_vec(value)?;
    line.push(b'\n');
    file.write_all(&line)
        .with_context(|| format!("writing {}", path.display()))
}

/// `path` with `.tmp` appended: where a file is written before it is
/// renamed into place.
fn temporary(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Writes `path` through a temporary file renamed into place, so that it
/// is either the old file or the whole new one, never a part.
pub fn atomic_write(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<File>) -> Result<()>,
) -> Result<()> {
    let temporary = temporary(path);
    let file =
        File::create(&temporary).with_context(|| format!("creating {}", temporary.display()))?;
    let mut out = std::io::BufWriter::new(file);
    write(&mut out).with_context(|| format!("writing {}", temporary.display()))?;
    out.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|file| file.sync_all())
        .with_context(|| format!("writing {}", temporary.display()))?;
    fs::rename(&temporary, path).with_context(|| format!("renaming to {}", path.display()))
}
