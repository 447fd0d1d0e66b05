//! The conv fixture that the QEMU tests run (on the M0 too) has exactly the
//! shapes of the decoder `tinyvae train --model conv` builds and `tinyvae
//! export` writes, so the M0 end-to-end test covers the trained model's
//! memory footprint and code path, not just a model that happens to fit.

use tinyvae_shared::Model;
use tinyvae_tests::fixtures::{LATENT, conv_blob};
use tinyvae_tools::firmware::Machine;
use tinyvae_trainer::backend::Backend;
use tinyvae_trainer::export::float_layers;
use tinyvae_trainer::model::{Arch, VaeConfig};
use tinyvae_trainer::rng::Rng;

#[test]
fn conv_fixture_has_the_trained_decoders_shapes() {
    let device = Backend::default().device();
    let trained = VaeConfig::new(Arch::Conv)
        .with_latent(usize::from(LATENT))
        .init(&device, &mut Rng::new(1));
    let trained_ops: Vec<_> = float_layers(&trained.decoder)
        .iter()
        .map(|l| (l.op, l.activation))
        .collect();
    let blob = conv_blob();
    let fixture = Model::from_bytes(&blob).unwrap();
    let fixture_ops: Vec<_> = fixture
        .body()
        .layers
        .iter()
        .map(|l| (l.op, l.activation))
        .collect();
    assert_eq!(fixture_ops, trained_ops);
    let (scratch, _) = Machine::Microbit.buffers();
    assert!(
        fixture.scratch_len() <= scratch,
        "the conv decoder needs {} bytes of scratch, the micro:bit build has {scratch}",
        fixture.scratch_len()
    );
}

/// The linker scripts and `tinyvae_shared::boards` describe the same
/// memory: the same RAM, and code flash that ends at or below the blob
/// region (for boards whose blob is in flash), with the blob region inside
/// the chip's flash.
#[test]
fn linker_scripts_agree_with_the_board_layouts() {
    use tinyvae_shared::boards::{self, Layout};
    /// `(origin, length)` of `region` in a `MEMORY { ... }` block.
    fn region(script: &str, name: &str) -> (u32, u32) {
        let line = script
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in the script"));
        let number = |key: &str| -> u32 {
            let value = line
                .split(key)
                .nth(1)
                .unwrap()
                .trim_start_matches([' ', '=']);
            let value = value.split([',', ' ']).next().unwrap();
            match value.strip_suffix('K').or(value.strip_suffix('M')) {
                Some(n) => n.parse::<u32>().unwrap() << if value.ends_with('K') { 10 } else { 20 },
                None => u32::from_str_radix(value.trim_start_matches("0x"), 16).unwrap(),
            }
        };
        (number("ORIGIN"), number("LENGTH"))
    }
    let firmware = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware/memory");
    let cases: [(&str, Layout, Option<u32>); 4] = [
        ("mps2-an386.x", boards::MPS2_AN386, None),
        ("microbit.x", boards::MICROBIT, Some(256 * 1024)),
        ("microbit-v2.x", boards::MICROBIT_V2, Some(512 * 1024)),
        (
            "stm32f429i-disc1.x",
            boards::STM32F429I_DISC1,
            Some(0x0800_0000 + 2 * 1024 * 1024),
        ),
    ];
    for (file, layout, flash_end) in cases {
        let script = std::fs::read_to_string(firmware.join(file)).unwrap();
        assert_eq!(
            region(&script, "RAM"),
            (layout.ram_start, layout.ram_len),
            "{file}"
        );
        if let Some(flash_end) = flash_end {
            let (origin, length) = region(&script, "FLASH");
            assert!(
                origin + length <= layout.blob_start,
                "{file}: code over the blob"
            );
            assert!(
                layout.blob_end <= flash_end,
                "{file}: blob region past flash"
            );
        }
    }
}
