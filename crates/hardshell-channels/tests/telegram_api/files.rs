//! Files: getFile, then a download bounded by its declared size and, as it
//! streams, by what actually arrives; a path from the platform that would
//! leave the file root is refused.

use hardshell_channels::telegram::api::TelegramError;
use hardshell_channels::telegram::types::File;
use serde_json::json;

use super::answers::fake_client;
use super::fake;

fn files(path: &str) -> hyper::Response<fake::Body> {
    let file = |id: &str, size: u64, file_path: &str| {
        fake::json(
            200,
            &json!({"ok": true, "result": {"file_id": id, "file_unique_id": "u", "file_size": size, "file_path": file_path}})
                .to_string(),
        )
    };
    match path.strip_prefix("/file/bot123456:fake-token_canary/") {
        Some("documents/small.txt") => fake::chunked(&[b"hello ", b"world"]),
        // Larger than its getFile said, and without a Content-Length.
        Some("documents/liar.txt") => fake::chunked(&[b"0123456789", b"0123456789", b"0123456789"]),
        Some(_) => fake::json(
            404,
            r#"{"ok":false,"error_code":404,"description":"Not Found"}"#,
        ),
        None if path.ends_with("/getFile") => file("small", 11, "documents/small.txt"),
        None => fake::json(
            404,
            r#"{"ok":false,"error_code":404,"description":"Not Found"}"#,
        ),
    }
}

fn file(size: Option<u64>, path: &str) -> File {
    File {
        file_id: "f".into(),
        file_unique_id: "u".into(),
        file_size: size,
        file_path: Some(path.into()),
    }
}

#[tokio::test]
async fn file_is_downloaded_within_its_bound() {
    let fake = fake::serve(files).await;
    let api = fake_client(&fake);
    let found = api.get_file("small").await.unwrap();
    assert_eq!(found.file_path.as_deref(), Some("documents/small.txt"));
    let bytes = api.download_file(&found, 11).await.unwrap();
    assert_eq!(&bytes[..], b"hello world");
}

#[tokio::test]
async fn file_declared_over_the_bound_is_refused_without_downloading() {
    let fake = fake::serve(files).await;
    let api = fake_client(&fake);
    let refused = api
        .download_file(&file(Some(12), "documents/small.txt"), 11)
        .await
        .unwrap_err();
    assert_eq!(refused, TelegramError::TooLarge { limit: 11 });
    assert!(fake.paths().is_empty(), "{:?}", fake.paths());
}

#[tokio::test]
async fn file_growing_over_the_bound_while_streaming_is_refused() {
    let fake = fake::serve(files).await;
    let api = fake_client(&fake);
    let liar = file(Some(10), "documents/liar.txt");
    let refused = api.download_file(&liar, 25).await.unwrap_err();
    assert_eq!(refused, TelegramError::TooLarge { limit: 25 });
    // The same file within a bound that holds it is downloaded whole.
    assert_eq!(api.download_file(&liar, 30).await.unwrap().len(), 30);
}

#[tokio::test]
async fn file_path_escaping_the_file_root_is_refused_without_downloading() {
    let fake = fake::serve(files).await;
    let refused = fake_client(&fake)
        .download_file(&file(None, "../../bot123456:x/getMe"), 100)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, TelegramError::Malformed(_)),
        "{refused:?}"
    );
    assert!(fake.paths().is_empty());
}
