//! Test images, written into the testkit's OCI layout
//! ([`hardshell_testkit::registry::Layout`]): a runnable busybox image for
//! any architecture, hostile ones built from it by the tests.

use serde_json::{Value, json};

pub use hardshell_testkit::registry::{Blob, Layout, OCI_INDEX, OCI_MANIFEST};

use super::layer::Layer;

pub const GZIP_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Writes an image for `arch` from gzip `layers` to `layout`; returns its
/// manifest.
pub fn image(layout: &Layout, arch: &str, layers: &[Vec<u8>]) -> Blob {
    let config = json!({
        "architecture": arch, "os": "linux",
        "config": {
            "Entrypoint": ["/bin/sh"], "Cmd": ["-c", "echo hello"],
            "Env": ["PATH=/bin", "GREETING=hello"], "WorkingDir": "/srv",
            "ExposedPorts": {"18789/tcp": {}}, "User": "1000"
        },
        "rootfs": {"type": "layers", "diff_ids": []}
    });
    let config = layout.blob(config.to_string().as_bytes());
    let layers: Vec<Value> = layers
        .iter()
        .map(|layer| layout.blob(layer).descriptor(GZIP_LAYER))
        .collect();
    let manifest = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": config.descriptor("application/vnd.oci.image.config.v1+json"),
        "layers": layers
    });
    layout.blob(manifest.to_string().as_bytes())
}

/// A small runnable image: static busybox, `sh` linked to it, a file that
/// names the image, and a second layer that whites out a file of the first.
pub fn busybox_layers(marker: &str) -> Vec<Vec<u8>> {
    let busybox =
        std::fs::read("/bin/busybox").expect("busybox-static is installed (scripts/install.sh)");
    let base = Layer::new()
        .dir("bin", 0o755)
        .file("bin/busybox", 0o755, &busybox)
        .symlink("bin/sh", "busybox")
        .dir("etc", 0o755)
        .file("etc/image", 0o644, marker.as_bytes())
        .file("etc/old", 0o644, b"removed by the upper layer")
        .dir("srv", 0o755)
        .gzip();
    let upper = Layer::new().file("etc/.wh.old", 0o644, b"").gzip();
    vec![base, upper]
}
