//! The workload's state directory is a volume of its own (`[workload]
//! state_mb`): a workload that fills it meets `ENOSPC` there, the disk
//! holding the edge's data keeps its room, and what it wrote before is still
//! synced; a plain state directory from before volumes moves into its volume.

use std::os::unix::fs::MetadataExt as _;

use crate::state::{another_machine, on_bucket, synced};
use crate::{answered, image, instance, is_mount_point, start, stop, token};

const MIB: u64 = 1 << 20;

#[test]
fn a_workload_filling_its_state_meets_enospc_at_state_mb_and_what_it_wrote_before_is_kept() {
    let (_dir, scratch) = image::scratch();
    let image = image::build(&scratch);
    let first = instance(&image, "state_mb = 16\n");
    on_bucket(&first, &format!("state-volume-{}", std::process::id()));
    let token = token(&first);
    let up = start(&first);
    assert_eq!(
        answered(&up, &token, "/cgi-bin/note?before-the-fill"),
        "before-the-fill\n"
    );
    synced(&first);

    // 64 MiB into a 16 MiB volume: the workload's own write fails there.
    let filled = answered(&up, &token, "/cgi-bin/fill");
    assert!(!filled.starts_with("exit=0"), "{filled}");
    assert!(filled.contains("No space left on device"), "{filled}");
    // On the host, what it wrote is inside the volume's image, which never
    // holds more than its size: the data disk lost nothing past it.
    let state = first.path("data/workloads/workload/state");
    assert!(is_mount_point(&state));
    let fill = std::fs::metadata(state.join("fill")).unwrap();
    assert!(fill.len() < 16 * MIB, "{} bytes", fill.len());
    let volume = std::fs::metadata(first.path("data/volumes/workload-state.img")).unwrap();
    assert_eq!(volume.len(), 16 * MIB);
    assert!(
        volume.blocks() * 512 <= 16 * MIB,
        "{} blocks",
        volume.blocks()
    );

    // A clean stop syncs one last time from the full volume, then unmounts it.
    stop(up);
    assert!(!is_mount_point(&state));

    // Another machine, with room for it all, gets the state back.
    let second = another_machine(&first, &image);
    second.edit_config(|text| text.replace("state_mb = 16\n", "state_mb = 64\n"));
    let token = crate::token(&second);
    let up = start(&second);
    assert_eq!(answered(&up, &token, "/cgi-bin/note"), "before-the-fill\n");
    let restored = second.path("data/workloads/workload/state/fill");
    assert_eq!(std::fs::metadata(restored).unwrap().len(), fill.len());
    stop(up);
}

#[test]
fn a_plain_state_directory_from_before_volumes_moves_into_its_volume() {
    let (_dir, scratch) = image::scratch();
    let hs = instance(&image::build(&scratch), "");
    let state = hs.path("data/workloads/workload/state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("note"), "from-before-volumes\n").unwrap();
    let token = token(&hs);
    let up = start(&hs);
    assert!(is_mount_point(&state));
    assert_eq!(
        answered(&up, &token, "/cgi-bin/note"),
        "from-before-volumes\n"
    );
    // The workload writes to the copy in the volume; the old directory is
    // kept aside, as it was, for its owner to remove.
    assert_eq!(
        answered(&up, &token, "/cgi-bin/note?in-the-volume"),
        "in-the-volume\n"
    );
    let aside = hs.path("data/workloads/workload/state.pre-volume/note");
    assert_eq!(
        std::fs::read_to_string(aside).unwrap(),
        "from-before-volumes\n"
    );
    stop(up);
    assert!(!is_mount_point(&state));

    // Started again, the volume is mounted as it was: nothing merged again.
    let up = start(&hs);
    assert_eq!(answered(&up, &token, "/cgi-bin/note"), "in-the-volume\n");
    stop(up);
}

#[test]
fn the_operators_restore_while_up_is_stopped_lands_in_the_state_volume() {
    let (_dir, scratch) = image::scratch();
    let hs = instance(&image::build(&scratch), "");
    let token = token(&hs);
    let up = start(&hs);
    assert_eq!(answered(&up, &token, "/cgi-bin/note?first"), "first\n");
    // A clean stop publishes it; the snapshot names that generation.
    stop(up);
    hs.run(&["state", "snapshot", "before"]).ok();
    let up = start(&hs);
    assert_eq!(answered(&up, &token, "/cgi-bin/note?second"), "second\n");
    stop(up);

    let restored = hs.run(&["state", "restore", "before"]).ok().stdout;
    assert!(restored.contains("restored generation"), "{restored}");
    // Written into the volume, which is unmounted again: nothing was left
    // under its mount point for the next `up` to refuse.
    let state = hs.path("data/workloads/workload/state");
    assert!(!is_mount_point(&state));
    assert_eq!(std::fs::read_dir(&state).unwrap().count(), 0);
    let up = start(&hs);
    assert_eq!(answered(&up, &token, "/cgi-bin/note"), "first\n");
    stop(up);
}
