//! Storage behaviour against every backend a user can choose: the local directory,
//! and real S3 servers (SeaweedFS, moto) started by `scripts/test`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Runs each named check (an `async fn(Backend)` of the module it is used
/// in) on the local directory, SeaweedFS and moto, as tests of their own.
macro_rules! on_every_backend {
    ($($check:ident),* $(,)?) => {
        mod local { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $check() { super::$check(crate::support::Backend::Local).await } )* }
        mod seaweedfs { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $check() { super::$check(crate::support::Backend::SeaweedFs).await } )* }
        mod moto { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $check() { super::$check(crate::support::Backend::Moto).await } )* }
    };
}

mod conformance;
mod full;
mod logs;
mod rollback;
mod s3_failures;
mod support;
