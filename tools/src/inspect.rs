//! `tinyvae inspect --blob BLOB`: what a blob holds, for people and for
//! machines.
//!
//! `--json --weights` carries everything needed to rebuild the decoder in
//! another runtime: README.md, "Inspect a blob", says what each array
//! means and in which order it lists its values.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Result;
use serde_json::{Value, json};
use tinyvae_shared::Model;
use tinyvae_shared::blob::{Activation, Layer, Op, Quant};

use crate::blobfile::BlobFile;
use crate::generate::macs;

/// Show what a model blob holds: header, layers, quantization, the class
/// condition and the latent density.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model blob (`tinyvae export` writes one).
    #[arg(long, value_name = "BLOB", required_unless_present = "path")]
    blob: Option<PathBuf>,
    /// The blob, given without `--blob`.
    #[arg(value_name = "BLOB", conflicts_with = "blob")]
    path: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// With --json: include every weight, bias (TFLite's convention, and as
    /// stored: `folded_bias`), multiplier, shift, scale and the output
    /// table, so the decoder can be rebuilt in other tools (the arrays are
    /// described in README.md, "Inspect a blob").
    #[arg(long, requires = "json")]
    weights: bool,
}

/// Runs `inspect`.
pub fn run(args: Args) -> Result<()> {
    let path = args.blob.or(args.path).expect("clap requires one of them");
    let file = BlobFile::read(&path)?;
    let model = file.model()?;
    if args.json {
        let value = to_json(&model, file.bytes().len(), args.weights);
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", to_text(&model, file.bytes().len()));
    }
    Ok(())
}

fn op_name(op: &Op) -> &'static str {
    match op {
        Op::Dense { .. } => "dense",
        Op::ConvTranspose2d { .. } => "conv_transpose_2d",
    }
}

fn activation_name(activation: Activation) -> &'static str {
    match activation {
        Activation::Linear => "linear",
        Activation::Relu => "relu",
    }
}

/// An op's shapes in words: `inputs -> outputs`, or a transposed
/// convolution's `HxWxC -> HxWxC, kernel KxK, stride SxS, padding PxP`,
/// read from [`op_json`] so that both outputs name the same numbers.
fn shape_text(op: &Op) -> String {
    let json = op_json(op);
    let field = |key: &str| match &json[key] {
        Value::Array(dims) => dims
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("x"),
        value => value.to_string(),
    };
    match op {
        Op::Dense { .. } => format!("{} -> {}", field("inputs"), field("outputs")),
        Op::ConvTranspose2d { .. } => format!(
            "{} -> {}, kernel {}, stride {}, padding {}",
            field("input"),
            field("output"),
            field("kernel"),
            field("stride"),
            field("padding")
        ),
    }
}

/// Bytes of parameters a layer stores (weights and per-channel arrays).
fn layer_bytes(layer: &Layer<'_>) -> usize {
    layer.align.len()
        + layer.weights.len()
        + layer.weight_scales.len()
        + layer.bias.len()
        + layer.multipliers.len()
        + layer.shifts.len()
}

fn to_text(model: &Model<'_>, file_len: usize) -> String {
    let body = model.body();
    let header = model.header();
    let image = model.image_shape();
    let z = model.z_quant();
    let mut out = String::new();
    let _ = writeln!(out, "format version  {}", header.version);
    let _ = writeln!(out, "checksum        ok (CRC-32 {:#010x})", header.crc32);
    let _ = writeln!(
        out,
        "flash size      {file_len} bytes (payload {})",
        header.payload_len
    );
    let _ = writeln!(
        out,
        "latent          {} dims, z scale {} zero point {}",
        model.latent_dim(),
        z.scale,
        z.zero_point
    );
    let _ = writeln!(
        out,
        "image           {}x{}x{}",
        image.height, image.width, image.channels
    );
    let _ = writeln!(
        out,
        "scratch         {} bytes of int8 activations",
        model.scratch_len()
    );
    let _ = writeln!(out, "layers          {}", body.layers.len());
    for (i, layer) in body.layers.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {i}: {:<18} {:<48} {:<6} {:>7} bytes, {:>8} MACs, in {} out {}",
            op_name(&layer.op),
            shape_text(&layer.op),
            activation_name(layer.activation),
            layer_bytes(layer),
            layer.op.macs(),
            quant_text(layer.input),
            quant_text(layer.output),
        );
    }
    let total_macs = macs(model);
    let _ = writeln!(out, "MACs per image  {total_macs}");
    let _ = match body.condition {
        Some(c) => writeln!(
            out,
            "condition       {} classes, one-hot after z (code {} for the class)",
            c.classes, c.one
        ),
        None => writeln!(out, "condition       none (unconditional decoder)"),
    };
    let _ = match body.density {
        Some(d) => writeln!(
            out,
            "density         {} full-covariance Gaussians over {} classes (default draw: {})",
            d.components,
            d.classes,
            model.default_draw()
        ),
        None => writeln!(
            out,
            "density         none (default draw: {})",
            model.default_draw()
        ),
    };
    let _ = writeln!(out, "class names     {}", class_names_text(model));
    let m = &body.metadata;
    let _ = writeln!(
        out,
        "metadata        data set {}, model {}, {} epochs, test NELBO {:.2} nats/image",
        m.dataset, m.model, m.epochs, m.test_nelbo
    );
    out
}

/// The class names, `k: name` each, or why there are none (a
/// version-3 blob stores no names: its classes are `class k`).
fn class_names_text(model: &Model<'_>) -> String {
    let names = model.class_names();
    let listed = class_names(model)
        .iter()
        .enumerate()
        .map(|(k, name)| format!("{k}: {name}"))
        .collect::<Vec<_>>()
        .join(", ");
    match (names.classes(), names.text()) {
        (0, _) => "none (no classes)".to_owned(),
        (_, "") => format!("{listed} (the blob stores none)"),
        _ => listed,
    }
}

/// Every class's name, class 0 first: `--json`'s `class_names`.
fn class_names(model: &Model<'_>) -> Vec<String> {
    model
        .class_names()
        .iter()
        .map(|name| name.to_string())
        .collect()
}

fn quant_text(q: Quant) -> String {
    format!("{:.4e}@{}", q.scale, q.zero_point)
}

fn quant_json(q: Quant) -> Value {
    json!({ "scale": q.scale, "zero_point": q.zero_point })
}

/// An op's kind and shapes as JSON: `--json`'s `op`.
fn op_json(op: &Op) -> Value {
    match op {
        Op::Dense { inputs, outputs } => {
            json!({ "kind": "dense", "inputs": inputs, "outputs": outputs })
        }
        Op::ConvTranspose2d {
            input,
            output,
            kernel,
            stride,
            padding,
        } => json!({
            "kind": "conv_transpose_2d",
            "input": [input.height, input.width, input.channels],
            "output": [output.height, output.width, output.channels],
            "kernel": kernel,
            "stride": stride,
            "padding": padding,
        }),
    }
}

fn layer_json(layer: &Layer<'_>, weights: bool) -> Value {
    let mut value = json!({
        "op": op_json(&layer.op),
        "activation": activation_name(layer.activation),
        "input": quant_json(layer.input),
        "output": quant_json(layer.output),
        "bytes": layer_bytes(layer),
        "macs": layer.op.macs(),
    });
    if weights {
        let channels = 0..layer.op.channels();
        let count = layer.op.weight_count().unwrap_or(0);
        value["weights"] = json!((0..count).map(|i| layer.weight(i)).collect::<Vec<_>>());
        value["weight_scales"] = json!(
            channels
                .clone()
                .map(|c| layer.weight_scale(c))
                .collect::<Vec<_>>()
        );
        value["bias"] = json!(
            channels
                .clone()
                .map(|c| layer.unfolded_bias(c))
                .collect::<Vec<_>>()
        );
        value["folded_bias"] = json!(channels.clone().map(|c| layer.bias(c)).collect::<Vec<_>>());
        value["multipliers"] = json!(
            channels
                .clone()
                .map(|c| layer.multiplier(c))
                .collect::<Vec<_>>()
        );
        value["shifts"] = json!(channels.map(|c| layer.shift(c)).collect::<Vec<_>>());
    }
    value
}

fn to_json(model: &Model<'_>, file_len: usize, weights: bool) -> Value {
    let body = model.body();
    let header = model.header();
    let image = model.image_shape();
    let dims = model.latent_dim();
    let z_scale = model.z_quant().scale;
    let density = body.density.map(|d| {
        let components = (0..usize::from(d.components))
            .map(|k| {
                let mut c = json!({
                    "class": (d.classes > 0).then(|| d.class_of(k)),
                    "weight": d.weight(k),
                    "weight_in_class": d.weight_in_class(k),
                });
                if weights {
                    c["mean"] = json!(d.mean_real(k, z_scale).collect::<Vec<_>>());
                    c["scale_tril"] = json!(d.scale_tril_real(k, z_scale).collect::<Vec<_>>());
                }
                c
            })
            .collect::<Vec<_>>();
        json!({ "classes": d.classes, "components": components })
    });
    let mut value = json!({
        "format_version": header.version,
        "checksum": { "crc32": header.crc32, "ok": true },
        "flash_bytes": file_len,
        "payload_bytes": header.payload_len,
        "latent_dim": dims,
        "z": { "quant": quant_json(model.z_quant()), "inv_scale_q16": body.z_inv_scale_q16 },
        "image": [image.height, image.width, image.channels],
        "scratch_bytes": model.scratch_len(),
        "macs": macs(model),
        "layers": body.layers.iter().map(|l| layer_json(l, weights)).collect::<Vec<_>>(),
        "condition": body.condition.map(|c| json!({ "classes": c.classes, "one": c.one })),
        "density": density,
        "default_draw": model.default_draw().to_string(),
        "class_names": class_names(model),
        "metadata": {
            "dataset": body.metadata.dataset,
            "model": body.metadata.model,
            "epochs": body.metadata.epochs,
            "test_nelbo": body.metadata.test_nelbo,
        },
    });
    if weights {
        value["output_table"] = json!(body.output_table);
    }
    value
}
