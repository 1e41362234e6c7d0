//! Unpacked roots: made in `tmp/`, recorded, renamed to `roots/<hex>` only
//! when complete, so a root under its digest is always a whole one.

use std::path::PathBuf;

use super::ImageStore;
use crate::digest::Digest;
use crate::error::ImageError;
use crate::manifest::{ImageManifest, LayerCompression};
use crate::unpack::Unpacker;

impl ImageStore {
    /// Unpacks into `tmp/`, records the result, renames into `roots/<hex>`.
    pub(crate) async fn unpack(
        &self,
        manifest_digest: &Digest,
        manifest: &ImageManifest,
    ) -> Result<(), ImageError> {
        let store = self.clone();
        let manifest_digest = *manifest_digest;
        let layers: Vec<(Digest, PathBuf, LayerCompression)> = manifest
            .layers
            .iter()
            .map(|(l, c)| (l.digest, self.blob_path(&l.digest), *c))
            .collect();
        let work = move || -> Result<(), ImageError> {
            let tmp = store
                .tmp()
                .join(format!("root-{}", crate::store::random_suffix()));
            std::fs::create_dir(&tmp).map_err(ImageError::store("create", &tmp))?;
            let result = store.unpack_into(&tmp, &manifest_digest, &layers);
            if result.is_err() {
                let _ = crate::store::remove_tree(&tmp);
            }
            result
        };
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ImageError::Store {
                step: "unpack (task)",
                path: self.root_path(&manifest_digest),
                source: std::io::Error::other(e.to_string()),
            })?
    }

    fn unpack_into(
        &self,
        tmp: &std::path::Path,
        manifest_digest: &Digest,
        layers: &[(Digest, PathBuf, LayerCompression)],
    ) -> Result<(), ImageError> {
        let mut unpacker =
            Unpacker::new(tmp, self.owner, self.limits).map_err(|source| ImageError::Unpack {
                digest: *manifest_digest,
                source,
            })?;
        for (digest, path, compression) in layers {
            let open = || std::fs::File::open(path).map(std::io::BufReader::new);
            let result = match compression {
                LayerCompression::None => unpacker.apply_layer(open),
                LayerCompression::Gzip => {
                    unpacker.apply_layer(|| open().map(flate2::read::MultiGzDecoder::new))
                }
            };
            result.map_err(|source| ImageError::Unpack {
                digest: *digest,
                source,
            })?;
        }
        let (_, record) = unpacker.finish().map_err(|source| ImageError::Unpack {
            digest: *manifest_digest,
            source,
        })?;
        let record_path = self.record_path(manifest_digest);
        let json = serde_json::to_vec(&record).map_err(|source| ImageError::Index {
            path: record_path.clone(),
            source,
        })?;
        let record_tmp = self
            .tmp()
            .join(format!("record-{}", crate::store::random_suffix()));
        std::fs::write(&record_tmp, json).map_err(ImageError::store("write", &record_tmp))?;
        std::fs::rename(&record_tmp, &record_path)
            .map_err(ImageError::store("rename into place", &record_path))?;
        let root = self.root_path(manifest_digest);
        std::fs::rename(tmp, &root).map_err(ImageError::store("rename into place", &root))
    }
}
