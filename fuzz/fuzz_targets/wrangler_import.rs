//! `hardshell import`: a `wrangler.toml` from wherever the operator got it,
//! and the image references in it.
//!
//! Properties:
//! - `import` never panics; when it succeeds, what it wrote loads with
//!   `hardshell-config` (it checks that itself; asserted again here) and its
//!   workload image is pinned unless `[dangerous] unpinned_images` is written.
//! - No `[vars]` value the credential detector flags appears in the written
//!   config, the report or an error.
//! - `ImageRef::parse` never panics, and what it accepts prints as a
//!   reference that parses back to the same value.
#![no_main]

use std::path::Path;

use hardshell_config::{ImageRef, LoadedConfig, looks_like_credential};
use hardshell_import::{Options, import};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(image) = ImageRef::parse(text) {
        let again = ImageRef::parse(&image.to_string()).expect("a printed reference parses");
        assert_eq!(again, image);
    }
    let flagged: Vec<String> = text
        .parse::<toml::Table>()
        .ok()
        .and_then(|table| table.get("vars").and_then(|v| v.as_table()).cloned())
        .map(|vars| {
            vars.values()
                .filter_map(|v| v.as_str())
                .filter(|v| looks_like_credential(v).is_some())
                .map(|v| v.trim().to_owned())
                .collect()
        })
        .unwrap_or_default();
    for allow_unpinned in [false, true] {
        let options = Options {
            allow_unpinned,
            ..Options::default()
        };
        match import(text, &options) {
            Ok(imported) => {
                let loaded = LoadedConfig::parse(&imported.config, Path::new("hardshell.toml"))
                    .expect("what import wrote loads");
                let workload = loaded.config.workload.expect("a workload is written");
                assert!(workload.image.digest().is_some() || loaded.config.dangerous.unpinned_images);
                let report: Vec<String> = imported.report.iter().map(ToString::to_string).collect();
                for value in &flagged {
                    assert!(!imported.config.contains(value.as_str()), "{value:?} copied");
                    assert!(!report.iter().any(|line| line.contains(value.as_str())));
                }
            }
            Err(err) => {
                let shown = err.to_string();
                for value in &flagged {
                    assert!(!shown.contains(value.as_str()), "{value:?} in {shown}");
                }
            }
        }
    }
});
