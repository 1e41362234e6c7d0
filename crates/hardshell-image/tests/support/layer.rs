//! Tar layers written entry by entry, including entries no well-behaved tool
//! writes (`..`, absolute paths, devices): the headers' name fields are filled
//! byte for byte, since `tar::Header::set_path` refuses the hostile ones.

use flate2::Compression;
use flate2::write::GzEncoder;

#[derive(Default)]
pub struct Layer {
    builder: Option<tar::Builder<Vec<u8>>>,
}

impl Layer {
    pub fn new() -> Self {
        Self {
            builder: Some(tar::Builder::new(Vec::new())),
        }
    }

    fn append(
        &mut self,
        kind: tar::EntryType,
        path: &str,
        link: &str,
        mode: u32,
        data: &[u8],
    ) -> &mut Self {
        let mut header = tar::Header::new_gnu();
        let gnu = header.as_gnu_mut().expect("gnu header");
        assert!(path.len() < gnu.name.len() && link.len() < gnu.linkname.len());
        gnu.name[..path.len()].copy_from_slice(path.as_bytes());
        gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(data.len() as u64);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_cksum();
        self.builder
            .as_mut()
            .expect("open")
            .append(&header, data)
            .expect("append");
        self
    }

    pub fn dir(&mut self, path: &str, mode: u32) -> &mut Self {
        self.append(tar::EntryType::Directory, path, "", mode, b"")
    }

    pub fn file(&mut self, path: &str, mode: u32, data: &[u8]) -> &mut Self {
        self.append(tar::EntryType::Regular, path, "", mode, data)
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.append(tar::EntryType::Symlink, path, target, 0o777, b"")
    }

    pub fn hard_link(&mut self, path: &str, target: &str) -> &mut Self {
        self.append(tar::EntryType::Link, path, target, 0o644, b"")
    }

    pub fn device(&mut self, path: &str, kind: tar::EntryType) -> &mut Self {
        self.append(kind, path, "", 0o666, b"")
    }

    /// A long-name, long-link or PAX extension entry with this content.
    pub fn extension(&mut self, kind: tar::EntryType, content: &[u8]) -> &mut Self {
        self.append(kind, "././@LongLink", "", 0o644, content)
    }

    pub fn tar(&mut self) -> Vec<u8> {
        self.builder
            .take()
            .expect("open")
            .into_inner()
            .expect("finish tar")
    }

    pub fn gzip(&mut self) -> Vec<u8> {
        let tar = self.tar();
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).expect("gzip");
        gz.finish().expect("gzip")
    }
}
