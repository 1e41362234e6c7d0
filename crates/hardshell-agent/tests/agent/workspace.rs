//! Workspace files from a real directory.

use hardshell_agent::Workspace;

#[tokio::test]
async fn workspace_files_are_read_in_order_and_capped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("MEMORY.md"), "memory").unwrap();
    std::fs::write(dir.path().join("AGENTS.md"), "agents").unwrap();
    std::fs::write(dir.path().join("USER.md"), "é".repeat(20)).unwrap();
    std::fs::write(dir.path().join("NOTES.md"), "not a workspace file").unwrap();
    let files = Workspace::new(dir.path())
        .with_max_file_bytes(9)
        .files()
        .await;
    let names: Vec<&str> = files.iter().map(|f| f.name).collect();
    assert_eq!(names, ["AGENTS.md", "USER.md", "MEMORY.md"]);
    assert_eq!(
        (files[0].text.as_str(), files[0].truncated),
        ("agents", false)
    );
    // Cut at 9 bytes, inside the fifth "é": four whole characters remain.
    assert_eq!((files[1].text.as_str(), files[1].truncated), ("éééé", true));
}

#[tokio::test]
async fn a_missing_workspace_directory_means_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let files = Workspace::new(dir.path().join("absent")).files().await;
    assert!(files.is_empty());
    assert!(Workspace::none().files().await.is_empty());
}

#[tokio::test]
async fn workspace_entries_that_are_not_regular_files_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("SOUL.md")).unwrap();
    // A FIFO would block a naive read forever.
    let made = std::process::Command::new("mkfifo")
        .arg(dir.path().join("USER.md"))
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::write(dir.path().join("AGENTS.md"), "agents").unwrap();
    let files = Workspace::new(dir.path()).files().await;
    let names: Vec<&str> = files.iter().map(|f| f.name).collect();
    assert_eq!(names, ["AGENTS.md"]);
}
