//! Storage behaviour against every backend a user can choose: the local directory,
//! and real S3 servers (SeaweedFS, moto) started by `scripts/test`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod conformance;
mod full;
mod rollback;
mod s3_failures;
mod support;
