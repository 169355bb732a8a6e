//! Generates the prost messages, their proto-JSON serde impls (pbjson) and the tonic client from
//! the crate's copy of the proto (`proto/`, kept identical to the repository's by `make gen`, so
//! the packaged crate builds on its own), with the protoc binary shipped by the
//! protoc-bin-vendored crate (no system protoc needed).

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let proto_dir = manifest.join("proto");
    let proto = proto_dir.join("agentstream/v1/agent.proto");
    println!("cargo:rerun-if-changed={}", proto.display());
    // SAFETY: build scripts are single-threaded; prost-build reads PROTOC from the environment.
    unsafe { std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?) };
    let descriptors = out.join("agentstream_descriptor.bin");
    tonic_prost_build::configure()
        .build_server(false)
        .file_descriptor_set_path(&descriptors)
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_protos(&[proto], &[proto_dir])?;
    pbjson_build::Builder::new()
        .register_descriptors(&std::fs::read(&descriptors)?)?
        .build(&[".agentstream"])?;
    Ok(())
}
