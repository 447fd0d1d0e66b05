//! Prints the firmware's log for one request:
//! `cargo run -p tinyvae-tests --example qemu_log -- BLOB SEED COUNT [m0]`.

use std::time::Duration;

use tinyvae_shared::Draw;
use tinyvae_shared::protocol::Request;
use tinyvae_tools::firmware::{self, Machine};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let machine = if args.get(4).is_some_and(|a| a == "m0") {
        Machine::Microbit
    } else {
        Machine::Mps2An386
    };
    let request = Request::new(Draw::Prior, args[3].parse()?, Some(args[2].parse()?));
    let elf = firmware::build(machine)?;
    let run = firmware::run(
        &elf,
        machine,
        Some(args[1].as_ref()),
        Some(&request),
        Duration::from_secs(60),
    )?;
    print!("{}", run.log_text());
    println!(
        "exit {} images {} z0 {:?}",
        run.exit_code,
        run.images.len(),
        run.latents.first()
    );
    Ok(())
}
