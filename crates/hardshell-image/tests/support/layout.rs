//! OCI image layouts written directly: blobs by digest, manifests, indexes and
//! `index.json` tags. Test images are built here, hostile ones included.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::layer::Layer;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const GZIP_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

pub struct Layout {
    pub dir: PathBuf,
    tags: Vec<Value>,
}

/// A blob written to a layout.
#[derive(Clone, Debug)]
pub struct Blob {
    pub digest: String,
    pub size: u64,
}

impl Layout {
    pub fn new(dir: &Path) -> Self {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let layout = Self {
            dir: dir.to_owned(),
            tags: Vec::new(),
        };
        layout.write_index();
        layout
    }

    pub fn blob(&self, bytes: &[u8]) -> Blob {
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
        std::fs::write(self.blob_path(&digest), bytes).unwrap();
        Blob {
            digest,
            size: bytes.len() as u64,
        }
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.dir
            .join("blobs/sha256")
            .join(digest.strip_prefix("sha256:").unwrap())
    }

    /// An image for `arch` from gzip layers; returns its manifest.
    pub fn image(&self, arch: &str, layers: &[Vec<u8>]) -> Blob {
        let config = json!({
            "architecture": arch, "os": "linux",
            "config": {
                "Entrypoint": ["/bin/sh"], "Cmd": ["-c", "echo hello"],
                "Env": ["PATH=/bin", "GREETING=hello"], "WorkingDir": "/srv",
                "ExposedPorts": {"18789/tcp": {}}, "User": "1000"
            },
            "rootfs": {"type": "layers", "diff_ids": []}
        });
        let config = self.blob(config.to_string().as_bytes());
        let layers: Vec<Value> = layers
            .iter()
            .map(|l| {
                let b = self.blob(l);
                json!({"mediaType": GZIP_LAYER, "digest": b.digest, "size": b.size})
            })
            .collect();
        let manifest = json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.digest, "size": config.size},
            "layers": layers
        });
        self.blob(manifest.to_string().as_bytes())
    }

    /// An index of `(manifest, arch)`.
    pub fn index(&self, manifests: &[(&Blob, &str)]) -> Blob {
        let entries: Vec<Value> = manifests
            .iter()
            .map(|(m, arch)| {
                json!({"mediaType": OCI_MANIFEST, "digest": m.digest, "size": m.size,
                "platform": {"architecture": arch, "os": "linux"}})
            })
            .collect();
        self.blob(
            json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
                .to_string()
                .as_bytes(),
        )
    }

    /// Points `tag` at `blob` (a manifest or an index) in `index.json`.
    pub fn tag(&mut self, tag: &str, blob: &Blob, media_type: &str) {
        self.tags
            .retain(|t| t["annotations"]["org.opencontainers.image.ref.name"] != tag);
        self.tags.push(
            json!({"mediaType": media_type, "digest": blob.digest, "size": blob.size,
            "annotations": {"org.opencontainers.image.ref.name": tag}}),
        );
        self.write_index();
    }

    fn write_index(&self) {
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.tags});
        std::fs::write(self.dir.join("index.json"), index.to_string()).unwrap();
    }
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
