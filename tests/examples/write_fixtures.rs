//! Writes the fixture blobs: `cargo run -p tinyvae-tests --example write_fixtures -- DIR`
//! (for trying `tinyvae qemu` or the firmware's `cargo run` by hand).

fn main() -> std::io::Result<()> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    std::fs::create_dir_all(&dir)?;
    for (name, blob) in [
        ("mlp.tvae", tinyvae_tests::fixtures::mlp_blob()),
        ("conv.tvae", tinyvae_tests::fixtures::conv_blob()),
    ] {
        std::fs::write(dir.join(name), &blob)?;
        println!("{}: {} bytes", dir.join(name).display(), blob.len());
    }
    Ok(())
}
