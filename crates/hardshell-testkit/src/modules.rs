//! Module packages as a publisher makes them: a real minisign key pair
//! ([`Publisher`]), a manifest with the digests of its files
//! ([`manifest`]), the signature, and the tar archive ([`tar_of`]), which
//! can also hold what no honest tool writes (`..` names, links, duplicate
//! entries) for the tests that must refuse it. And an OpenClaw skill's
//! folder ([`skill_folder`]), which is unsigned.

use std::io::Cursor;

use sha2::{Digest as _, Sha256};

/// A publisher: a fresh minisign key pair, made by the `minisign` crate.
pub struct Publisher {
    keys: minisign::KeyPair,
    /// The key id this publisher claims instead of its own
    /// ([`Publisher::claiming`]).
    claimed_id: Option<[u8; 8]>,
}

impl Default for Publisher {
    fn default() -> Self {
        Self::new()
    }
}

impl Publisher {
    pub fn new() -> Self {
        Self {
            keys: minisign::KeyPair::generate_unencrypted_keypair().unwrap(),
            claimed_id: None,
        }
    }

    /// A publisher with a key of its own that claims `other`'s key id, as
    /// anyone can: minisign's id is the key maker's choice, and neither
    /// signature covers it.
    pub fn claiming(other: &Publisher) -> Self {
        Self {
            claimed_id: Some(other.id()),
            ..Self::new()
        }
    }

    fn id(&self) -> [u8; 8] {
        self.claimed_id
            .unwrap_or_else(|| self.keys.pk.keynum().try_into().unwrap())
    }

    /// The public key as `[modules] trusted_keys` takes it (the `.pub`
    /// file's second line).
    pub fn public_key(&self) -> String {
        with_id(&self.keys.pk.to_base64(), self.id())
    }

    /// The key id as minisign prints it: the little-endian number in hex.
    pub fn key_id(&self) -> String {
        format!("{:016X}", u64::from_le_bytes(self.id()))
    }

    /// A `module.toml.minisig` for `message`, pre-hashed as minisign signs.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let signature = minisign::sign(
            Some(&self.keys.pk),
            &self.keys.sk,
            Cursor::new(message),
            Some("hardshell test"),
            None,
        )
        .unwrap()
        .into_string();
        // The signature line names the key id in the same bytes a public
        // key does; the other lines are kept as they are.
        let lines: Vec<String> = signature
            .lines()
            .enumerate()
            .map(|(n, line)| {
                if n == 1 {
                    with_id(line, self.id())
                } else {
                    line.to_owned()
                }
            })
            .collect();
        format!("{}\n", lines.join("\n")).into_bytes()
    }

    /// A whole signed package: `manifest`, its signature and `files`.
    pub fn package(&self, manifest: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
        let signature = self.sign(manifest.as_bytes());
        let mut entries = vec![
            Entry::file("module.toml", manifest.as_bytes()),
            Entry::file("module.toml.minisig", &signature),
        ];
        entries.extend(files.iter().map(|(name, bytes)| Entry::file(name, bytes)));
        tar_of(&entries)
    }
}

/// `encoded` (a public key or a signature line: two bytes of algorithm,
/// then the key id, in base64) naming the key id `id`.
fn with_id(encoded: &str, id: [u8; 8]) -> String {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let mut bytes = engine.decode(encoded.trim()).unwrap();
    bytes[2..10].copy_from_slice(&id);
    engine.encode(bytes)
}

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A `module.toml` for `name` at `version`, with `body` (its tools and
/// `[capabilities]`, as TOML) and a `[files]` table of each file's digest.
pub fn manifest(name: &str, version: &str, body: &str, files: &[(&str, &[u8])]) -> String {
    let mut text = format!(
        "name = \"{name}\"\npublisher = \"Example Publisher\"\nversion = \"{version}\"\n\
         description = \"A module for tests.\"\n\n{body}\n\n[files]\n"
    );
    for (path, bytes) in files {
        text.push_str(&format!("\"{path}\" = \"{}\"\n", digest(bytes)));
    }
    text
}

/// A small, plain capabilities section with one tool and one host.
pub const PLAIN_BODY: &str = r#"[[tools]]
name = "search"
description = "Search the web."
parameters = { type = "object", properties = { query = { type = "string" } } }

[capabilities]
hosts = [{ host = "api.search.example", methods = ["GET"], path_prefix = "/v1/" }]
secrets = [{ name = "SEARCH_API_KEY", host = "api.search.example" }]
workspace = "none"
memory_mb = 64
timeout_ms = 5000"#;

/// Bytes standing in for a module's wasm: the crate verifies digests, it
/// does not run the code (a WebAssembly header, so it looks like one).
pub const WASM: &[u8] = b"\0asm\x01\0\0\0 a module for tests";

/// One archive entry, honest or not.
pub struct Entry {
    name: Vec<u8>,
    content: Vec<u8>,
    kind: tar::EntryType,
    link: Option<Vec<u8>>,
}

impl Entry {
    pub fn file(name: &str, content: &[u8]) -> Self {
        Self {
            name: name.as_bytes().to_vec(),
            content: content.to_vec(),
            kind: tar::EntryType::Regular,
            link: None,
        }
    }

    pub fn symlink(name: &str, target: &str) -> Self {
        Self {
            name: name.as_bytes().to_vec(),
            content: Vec::new(),
            kind: tar::EntryType::Symlink,
            link: Some(target.as_bytes().to_vec()),
        }
    }

    pub fn hard_link(name: &str, target: &str) -> Self {
        Self {
            kind: tar::EntryType::Link,
            ..Self::symlink(name, target)
        }
    }

    pub fn directory(name: &str) -> Self {
        Self {
            name: name.as_bytes().to_vec(),
            content: Vec::new(),
            kind: tar::EntryType::Directory,
            link: None,
        }
    }
}

/// A ustar archive of `entries`, names written byte for byte into the
/// header (the `tar` crate's own setters refuse `..`, as they should).
pub fn tar_of(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(entry.kind);
        header.set_size(entry.content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        {
            let raw = header.as_old_mut();
            raw.name = [0; 100];
            raw.name[..entry.name.len()].copy_from_slice(&entry.name);
            if let Some(link) = &entry.link {
                raw.linkname = [0; 100];
                raw.linkname[..link.len()].copy_from_slice(link);
            }
        }
        header.set_cksum();
        builder.append(&header, entry.content.as_slice()).unwrap();
    }
    builder.into_inner().unwrap()
}

/// The component bytes of the test guest `name` (`echo` or `hostile`,
/// from `crates/hardshell-module-host/guests`), built for wasm32-wasip2
/// once per test binary into a target directory beside the tests' own.
pub fn guest(name: &str) -> Vec<u8> {
    static GUESTS: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let directory = GUESTS.get_or_init(|| {
        build_components(&repository().join("crates/hardshell-module-host/guests"))
    });
    read_component(directory, name)
}

/// The first-party module `name` (from `modules/<name>` at the repository's
/// root), built from source once per test binary: its `module.toml` (the
/// crate's `manifest.toml` with the built component's digest under
/// `[files]`) and its component, `module.wasm`, ready to sign.
pub fn first_party(name: &str) -> (String, Vec<u8>) {
    static MODULES: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let directory = MODULES.get_or_init(|| build_components(&repository().join("modules")));
    let wasm = read_component(directory, &name.replace('-', "_"));
    let source = repository()
        .join("modules")
        .join(name)
        .join("manifest.toml");
    let manifest = std::fs::read_to_string(&source)
        .unwrap_or_else(|error| panic!("reading {}: {error}", source.display()));
    let manifest = format!(
        "{}\n\n[files]\n\"module.wasm\" = \"{}\"\n",
        manifest.trim_end(),
        digest(&wasm)
    );
    (manifest, wasm)
}

fn repository() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read_component(directory: &std::path::Path, name: &str) -> Vec<u8> {
    let path = directory.join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}

/// Builds the wasm32-wasip2 workspace at `workspace` and gives the
/// directory its components are in. Every such workspace builds into the
/// same target directory: the test guests and the first-party modules
/// share their dependencies and release profile, so the second build
/// reuses what the first compiled.
fn build_components(workspace: &std::path::Path) -> std::path::PathBuf {
    // The test binary is `<target>/<profile>/deps/<name>`.
    let executable = std::env::current_exe().expect("the test binary's path");
    let target = executable
        .ancestors()
        .nth(3)
        .expect("a test binary under <target>/<profile>/deps")
        .join("module-guests");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-wasip2",
        ])
        .current_dir(workspace)
        .env("CARGO_TARGET_DIR", &target)
        // Flags meant for the host build (coverage, sanitizers) would break
        // or slow the wasm build.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .expect("running cargo to build the wasm components");
    assert!(
        status.success(),
        "building the components in {} failed; is the target installed? `rustup target add wasm32-wasip2`",
        workspace.display()
    );
    target.join("wasm32-wasip2").join("release")
}

/// An OpenClaw skill's folder at `at`: a `SKILL.md` naming `name`, and
/// `script` as `scripts/run.sh`, executable. Made again over an earlier one
/// (a skill changed at its source).
pub fn skill_folder(at: &std::path::Path, name: &str, script: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(at.join("scripts")).unwrap();
    std::fs::write(
        at.join("SKILL.md"),
        format!("---\nname: {name}\ndescription: d\n---\nRun scripts/run.sh\n"),
    )
    .unwrap();
    let script_path = at.join("scripts/run.sh");
    std::fs::write(&script_path, script).unwrap();
    std::fs::set_permissions(&script_path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
