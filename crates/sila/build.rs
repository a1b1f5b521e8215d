//! Compiles the SiLA 2 protos with protox (a pure-Rust protobuf compiler: no system `protoc`)
//! and generates the tonic clients.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/SiLAFramework.proto",
        "proto/SiLAService.proto",
        "proto/CellCounter.proto",
    ];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure()
        .build_server(false)
        .build_transport(false)
        .include_file("sila_protos.rs")
        .compile_fds(descriptors)?;
    Ok(())
}
