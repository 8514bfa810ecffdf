//! Generates the RocketMQ 5 gRPC messages from the protos in src/protocol/grpc/proto.
//!
//! protox parses the protos in Rust, so a build needs no protoc on the host.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = "src/protocol/grpc/proto";
    let files = [
        "apache/rocketmq/v2/definition.proto",
        "apache/rocketmq/v2/service.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={root}/{f}");
    }
    let descriptors = protox::compile(files, [root])?;
    prost_build::Config::new()
        .compile_well_known_types()
        .extern_path(".google.protobuf", "::prost_types")
        .compile_fds(descriptors)?;
    Ok(())
}
