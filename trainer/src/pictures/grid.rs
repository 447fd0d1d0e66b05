//! Image grids as PNG: every picture tinyvae writes (training's grids, the
//! chip's grids, `sample`, `qemu` and `listen`) goes through [`Grid`], and
//! every PNG through [`Canvas::save`] (the `png` crate).
//!
//! A 28x28 image is 28 screen pixels, too small to see; grids are scaled up
//! by nearest neighbour (each image pixel becomes a `scale` x `scale` block,
//! so no value is blurred or invented) and can carry a title and a label per
//! row, drawn in a bitmap font built into `embedded-graphics` (no system
//! font needed).

use std::io::BufWriter;
use std::path::{Path, PathBuf};

use embedded_graphics::Drawable;
use embedded_graphics::mono_font::MonoTextStyle;
use embedded_graphics::mono_font::ascii::FONT_7X13;
use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::{DrawTarget, OriginDimensions, Pixel, Point, Size};
use embedded_graphics::text::{Baseline, Text};

/// Errors writing pictures.
#[derive(Debug, thiserror::Error)]
pub enum PictureError {
    /// The pixels do not make whole images of the given shape.
    #[error("{len} bytes are not whole {height}x{width}x{channels} images")]
    Shape {
        /// Bytes given.
        len: usize,
        /// Image rows.
        height: usize,
        /// Image columns.
        width: usize,
        /// Channels per pixel.
        channels: usize,
    },
    /// Only gray (1) and RGB (3) images can be drawn.
    #[error("cannot draw images with {0} channels (1: gray, 3: RGB)")]
    Channels(usize),
    /// Encoding or writing a PNG failed.
    #[error("{path}: {reason}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Pixels of background between images, and around text.
const GAP: usize = 4;
/// The labels' font: 7x13, ASCII.
const FONT: &embedded_graphics::mono_font::MonoFont<'static> = &FONT_7X13;
/// Background (white) and text (near black) gray levels.
const PAPER: u8 = 255;
const INK: u8 = 24;

/// An 8-bit gray or RGB raster, row-major, white where nothing is drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canvas {
    width: usize,
    height: usize,
    channels: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    /// A white canvas; `channels` is 1 (gray) or 3 (RGB).
    pub fn new(width: usize, height: usize, channels: usize) -> Result<Self, PictureError> {
        if channels != 1 && channels != 3 {
            return Err(PictureError::Channels(channels));
        }
        Ok(Self {
            width,
            height,
            channels,
            pixels: vec![PAPER; width * height * channels],
        })
    }

    /// Wraps RGB bytes (`width * height * 3`), e.g. a chart drawn elsewhere.
    pub fn from_rgb(width: usize, height: usize, pixels: Vec<u8>) -> Option<Self> {
        (pixels.len() == width * height * 3).then_some(Self {
            width,
            height,
            channels: 3,
            pixels,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The bytes: `height` rows of `width` pixels of 1 or 3 channels.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// Copies one image (`h` rows of `w` pixels of this canvas' channels)
    /// with its top-left corner at (`left`, `top`), each pixel as a
    /// `scale` x `scale` block.
    fn blit(
        &mut self,
        image: &[u8],
        (h, w): (usize, usize),
        (left, top): (usize, usize),
        scale: usize,
    ) {
        let c = self.channels;
        for y in 0..h * scale {
            let src = &image[(y / scale) * w * c..][..w * c];
            let row = (top + y) * self.width + left;
            let dst = &mut self.pixels[row * c..][..w * scale * c];
            for (x, px) in dst.chunks_exact_mut(c).enumerate() {
                px.copy_from_slice(&src[(x / scale) * c..][..c]);
            }
        }
    }

    /// Draws `text` in the label font, its left edge at `left`, vertically
    /// centred on `middle`.
    fn text(&mut self, text: &str, left: usize, middle: usize) {
        let style = MonoTextStyle::new(FONT, BinaryColor::On);
        let at = Point::new(left as i32, middle as i32);
        let Ok(_) = Text::with_baseline(text, at, style, Baseline::Middle).draw(self);
    }

    /// Writes the canvas as an 8-bit PNG.
    pub fn save(&self, path: &Path) -> Result<(), PictureError> {
        let failed = |reason: String| PictureError::Write {
            path: path.to_owned(),
            reason,
        };
        let file = std::fs::File::create(path).map_err(|err| failed(err.to_string()))?;
        let mut encoder =
            png::Encoder::new(BufWriter::new(file), self.width as u32, self.height as u32);
        encoder.set_color(match self.channels {
            1 => png::ColorType::Grayscale,
            _ => png::ColorType::Rgb,
        });
        encoder.set_depth(png::BitDepth::Eight);
        encoder
            .write_header()
            .and_then(|mut writer| writer.write_image_data(&self.pixels))
            .map_err(|err| failed(err.to_string()))
    }
}

/// Text pixels: `On` is ink; `Off` (never produced by fonts drawn without a
/// background) leaves the paper.
impl DrawTarget for Canvas {
    type Color = BinaryColor;
    type Error = std::convert::Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        for Pixel(at, color) in pixels {
            let (Ok(x), Ok(y)) = (usize::try_from(at.x), usize::try_from(at.y)) else {
                continue;
            };
            if x < self.width && y < self.height && color.is_on() {
                let start = (y * self.width + x) * self.channels;
                self.pixels[start..start + self.channels].fill(INK);
            }
        }
        Ok(())
    }
}

impl OriginDimensions for Canvas {
    fn size(&self) -> Size {
        Size::new(self.width as u32, self.height as u32)
    }
}

/// Images laid out in rows, scaled up, with an optional title above and
/// labels left of the rows.
#[derive(Debug, Clone)]
pub struct Grid<'a> {
    pixels: &'a [u8],
    /// Height, width, channels of one image.
    shape: (usize, usize, usize),
    columns: usize,
    scale: usize,
    title: Option<String>,
    row_labels: Vec<String>,
}

impl<'a> Grid<'a> {
    /// Nearest-neighbour scale of the grids tinyvae writes: a 28x28 image
    /// becomes 84x84.
    pub const SCALE: usize = 3;

    /// `pixels`: whole images of `height` x `width` x `channels` bytes
    /// (HWC), laid out `columns` to a row.
    pub fn new(
        pixels: &'a [u8],
        (height, width, channels): (usize, usize, usize),
        columns: usize,
    ) -> Result<Self, PictureError> {
        let image = height * width * channels;
        if image == 0 || !pixels.len().is_multiple_of(image) {
            return Err(PictureError::Shape {
                len: pixels.len(),
                height,
                width,
                channels,
            });
        }
        if channels != 1 && channels != 3 {
            return Err(PictureError::Channels(channels));
        }
        Ok(Self {
            pixels,
            shape: (height, width, channels),
            columns: columns.max(1),
            scale: Self::SCALE,
            title: None,
            row_labels: Vec::new(),
        })
    }

    /// Like [`Grid::new`], with a near-square layout.
    pub fn square(pixels: &'a [u8], shape: (usize, usize, usize)) -> Result<Self, PictureError> {
        let count = pixels.len() / (shape.0 * shape.1 * shape.2).max(1);
        let columns = (1..=count.max(1)).find(|k| k * k >= count).unwrap_or(1);
        Self::new(pixels, shape, columns)
    }

    /// Each image pixel becomes `scale` x `scale` pixels (at least 1).
    pub fn scale(mut self, scale: usize) -> Self {
        self.scale = scale.max(1);
        self
    }

    /// A line of text above the grid.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// One label per row, left of it (missing labels leave a row bare).
    pub fn row_labels<S: Into<String>>(mut self, labels: impl IntoIterator<Item = S>) -> Self {
        self.row_labels = labels.into_iter().map(Into::into).collect();
        self
    }

    /// The images' bytes, as given.
    pub fn images(&self) -> &'a [u8] {
        self.pixels
    }

    /// Number of images.
    fn count(&self) -> usize {
        let (h, w, c) = self.shape;
        self.pixels.len() / (h * w * c)
    }

    /// Draws the grid.
    pub fn render(&self) -> Canvas {
        let (h, w, c) = self.shape;
        let (cell_h, cell_w) = (h * self.scale, w * self.scale);
        let rows = self.count().div_ceil(self.columns).max(1);
        let char_w = FONT.character_size.width as usize;
        let line_h = FONT.character_size.height as usize;
        let label_chars = self.row_labels.iter().map(|l| l.chars().count()).max();
        let label_w = label_chars.map_or(0, |n| n * char_w + GAP);
        let title_h = self.title.as_ref().map_or(0, |_| line_h + GAP);
        let grid_w = self.columns * (cell_w + GAP) + GAP;
        let title_w = self
            .title
            .as_ref()
            .map_or(0, |t| t.chars().count() * char_w + 2 * GAP);
        let width = (label_w + grid_w).max(title_w);
        let height = title_h + rows * (cell_h + GAP) + GAP;
        let mut canvas = Canvas::new(width, height, c).expect("channels checked in Grid::new");
        if let Some(title) = &self.title {
            canvas.text(title, GAP, GAP + line_h / 2);
        }
        for (row, label) in self.row_labels.iter().enumerate().take(rows) {
            let middle = title_h + GAP + row * (cell_h + GAP) + cell_h / 2;
            canvas.text(label, GAP, middle);
        }
        for (i, image) in self.pixels.chunks_exact(h * w * c).enumerate() {
            let left = label_w + GAP + (i % self.columns) * (cell_w + GAP);
            let top = title_h + GAP + (i / self.columns) * (cell_h + GAP);
            canvas.blit(image, (h, w), (left, top), self.scale);
        }
        canvas
    }

    /// Draws the grid into a PNG at `path`.
    pub fn save(&self, path: &Path) -> Result<(), PictureError> {
        self.render().save(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two 2x2 gray images, values 0..8.
    const TWO: [u8; 8] = [0, 1, 2, 3, 4, 5, 6, 7];

    #[test]
    fn images_are_scaled_by_nearest_neighbour_in_row_order() {
        let canvas = Grid::new(&TWO, (2, 2, 1), 2).unwrap().scale(3).render();
        // No title, no labels: a GAP border and GAP between the two cells.
        assert_eq!(
            (canvas.width(), canvas.height()),
            (2 * 6 + 3 * GAP, 6 + 2 * GAP)
        );
        let at = |x: usize, y: usize| canvas.pixels()[y * canvas.width() + x];
        for (i, image) in TWO.chunks(4).enumerate() {
            let left = GAP + i * (6 + GAP);
            for y in 0..6 {
                for x in 0..6 {
                    assert_eq!(
                        at(left + x, GAP + y),
                        image[(y / 3) * 2 + x / 3],
                        "image {i} ({x},{y})"
                    );
                }
            }
        }
        assert_eq!(at(0, 0), PAPER);
        assert_eq!(at(GAP + 6, GAP), PAPER, "the gap between cells");
    }

    #[test]
    fn rgb_pixels_keep_their_channels() {
        let red_blue = [255, 0, 0, 0, 0, 255];
        let canvas = Grid::new(&red_blue, (1, 2, 3), 1)
            .unwrap()
            .scale(2)
            .render();
        let px = |x: usize, y: usize| &canvas.pixels()[(y * canvas.width() + x) * 3..][..3];
        assert_eq!(px(GAP + 1, GAP + 1), [255, 0, 0]);
        assert_eq!(px(GAP + 2, GAP), [0, 0, 255]);
    }

    #[test]
    fn labels_and_title_are_inked_outside_the_images() {
        let black = [0_u8; 4 * 784];
        let plain = Grid::new(&black, (28, 28, 1), 2).unwrap().render();
        let labelled = Grid::new(&black, (28, 28, 1), 2)
            .unwrap()
            .title("Sandal")
            .row_labels(["Bag", "Coat"])
            .render();
        assert!(labelled.width() > plain.width() && labelled.height() > plain.height());
        let ink = |c: &Canvas| c.pixels().iter().filter(|&&v| v == INK).count();
        assert_eq!(ink(&plain), 0);
        // Every inked pixel lies in the title band or the label column.
        let label_w = 4 * 7 + GAP;
        let title_h = 13 + GAP;
        let inked: Vec<(usize, usize)> = (0..labelled.height())
            .flat_map(|y| (0..labelled.width()).map(move |x| (x, y)))
            .filter(|&(x, y)| labelled.pixels()[y * labelled.width() + x] == INK)
            .collect();
        assert!(inked.len() > 50, "{} inked pixels", inked.len());
        assert!(inked.iter().all(|&(x, y)| y < title_h || x < label_w));
        assert!(
            inked.iter().any(|&(x, y)| y >= title_h && x < label_w),
            "row labels drawn"
        );
    }

    #[test]
    fn png_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grid.png");
        let grid = Grid::new(&TWO, (2, 2, 1), 1).unwrap().title("t");
        grid.save(&path).unwrap();
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let canvas = grid.render();
        assert_eq!(
            (info.width as usize, info.height as usize),
            (canvas.width(), canvas.height())
        );
        assert_eq!(info.color_type, png::ColorType::Grayscale);
        assert_eq!(&buf[..info.buffer_size()], canvas.pixels());
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert!(matches!(
            Grid::new(&TWO, (3, 1, 1), 1),
            Err(PictureError::Shape { .. })
        ));
        assert!(matches!(
            Grid::new(&TWO, (1, 2, 2), 1),
            Err(PictureError::Channels(2))
        ));
        assert!(matches!(
            Grid::new(&TWO, (0, 2, 1), 1),
            Err(PictureError::Shape { .. })
        ));
    }
}
