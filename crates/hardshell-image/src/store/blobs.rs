//! Blobs enter the store only through here: streamed into `tmp/`, hashed and
//! counted on the way, renamed under their digest only if both match. A
//! mismatch deletes the download; nothing is ever stored under that digest.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;

use futures::StreamExt as _;

use super::ImageStore;
use crate::digest::{Digest, DigestOf, DigestWriter};
use crate::error::ImageError;
use crate::source::{BlobCheck, BlobStream};

impl ImageStore {
    /// Whether the blob is here and still hashes to its name.
    pub(crate) fn has_blob(&self, digest: &Digest) -> Result<bool, ImageError> {
        let path = self.blob_path(digest);
        match hash_file(&path) {
            Ok((actual, _)) => Ok(actual == *digest),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(ImageError::Store {
                step: "read",
                path,
                source: e,
            }),
        }
    }

    /// Stores bytes already checked against `digest` by the caller.
    pub(crate) fn put_verified_bytes(
        &self,
        digest: &Digest,
        bytes: &[u8],
    ) -> Result<PathBuf, ImageError> {
        debug_assert_eq!(Digest::of(bytes), *digest);
        let tmp = self.tmp().join(format!("blob-{}", random_suffix()));
        let mut file = std::fs::File::create(&tmp).map_err(ImageError::store("create", &tmp))?;
        file.write_all(bytes)
            .map_err(ImageError::store("write", &tmp))?;
        self.commit_blob(file, &tmp, digest)
    }

    /// Streams a blob to disk, checking `size` as it goes and `digest` at the end.
    pub(crate) async fn put_stream(
        &self,
        what: &'static str,
        digest: &Digest,
        size: u64,
        mut stream: BlobStream,
        progress: &mut dyn FnMut(u64),
    ) -> Result<PathBuf, ImageError> {
        let tmp = self.tmp().join(format!("blob-{}", random_suffix()));
        let result = async {
            let mut file = tokio::fs::File::create(&tmp)
                .await
                .map_err(ImageError::store("create", &tmp))?;
            let mut check = BlobCheck::new(what, digest, size);
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                check.take(&chunk)?;
                tokio::io::AsyncWriteExt::write_all(&mut file, &chunk)
                    .await
                    .map_err(ImageError::store("write", &tmp))?;
                progress(chunk.len() as u64);
            }
            check.finish()?;
            Ok(file.into_std().await)
        }
        .await;
        match result {
            Ok(file) => self.commit_blob(file, &tmp, digest),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    fn commit_blob(
        &self,
        file: std::fs::File,
        tmp: &PathBuf,
        digest: &Digest,
    ) -> Result<PathBuf, ImageError> {
        file.sync_all().map_err(ImageError::store("sync", tmp))?;
        drop(file);
        let path = self.blob_path(digest);
        std::fs::rename(tmp, &path).map_err(ImageError::store("rename into place", &path))?;
        Ok(path)
    }
}

/// The sha256 and length of a file's content.
pub(crate) fn hash_file(path: &std::path::Path) -> std::io::Result<(Digest, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = DigestWriter::default();
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let written = hasher.written();
    Ok((hasher.finish(), written))
}

/// A name for a temporary file or directory no other pull uses.
pub(crate) fn random_suffix() -> String {
    let mut bytes = [0u8; 8];
    // Fall back to the pid: uniqueness under the store lock is all that matters.
    if getrandom::fill(&mut bytes).is_err() {
        bytes = u64::from(std::process::id()).to_le_bytes();
    }
    hex::encode(bytes)
}
