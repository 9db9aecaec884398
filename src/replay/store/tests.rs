//! The file store: read line by line, settled through the journal, rewritten once; a journal a
//! crash left is applied by the next replay and honoured by a look.

use std::io::Write;

use super::journal;
use super::*;

fn record(n: u64) -> String {
    serde_json::json!({
        "version": "1.0", "timestamp": "2026-11-26T01:02:03.000Z",
        "requestContext": {"requestId": null, "functionArn": "work", "condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": {"n": n},
        "responseContext": {"statusCode": 429},
        "fanin": {"source": "orders", "eventId": format!("e-{n}"), "target": "work", "firstAttemptAt": null, "lastAttemptAt": null}
    })
    .to_string()
}

fn file_with(lines: &[String]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dlq.jsonl");
    std::fs::write(&path, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    (dir, path)
}

fn read_all(store: &FileStore) -> Vec<Item> {
    let mut items = vec![];
    while let Some(batch) = store.next(false).unwrap() {
        items.extend(batch.items);
    }
    items
}

fn ns(path: &Path) -> Vec<u64> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["requestPayload"]["n"].as_u64().unwrap())
        .collect()
}

#[test]
fn a_replay_removes_and_writes_back_in_one_rewrite_keeping_the_order_and_what_the_daemon_appended() {
    let (_dir, path) = file_with(&(0..600).map(record).collect::<Vec<_>>());
    let store = FileStore::open(&path, Mode::Replay).unwrap();
    let items = read_all(&store);
    assert_eq!(items.len(), 600, "read through in batches");
    // Settled out of order, as outcomes come.
    for item in items.iter().rev().filter(|i| i.letter.event_id != "e-7" && i.letter.event_id != "e-300") {
        if item.letter.event_id == "e-5" {
            store.settle(&item.key, Some(&record(1005))).unwrap();
        } else if item.letter.event_id.ends_with('0') {
            continue; // not settled: stays where it was
        } else {
            store.settle(&item.key, None).unwrap();
        }
    }
    // A running daemon appends while the replay runs: not read, kept.
    std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(format!("{}\n", record(2000)).as_bytes()).unwrap();
    assert_eq!(ns(&path).len(), 601, "nothing rewritten before the end");
    store.finish().unwrap();
    let mut expected: Vec<u64> = (0..600).filter(|n| n % 10 == 0 || *n == 7).collect();
    expected.extend([1005, 2000]);
    assert_eq!(ns(&path), expected, "the rest in order, the written back after them, the appended last");
    assert!(!journal::path_of(&path).exists(), "the journal goes once applied");
}

#[test]
fn a_journal_left_by_a_crash_is_applied_by_the_next_replay_and_honoured_by_a_look() {
    let (_dir, path) = file_with(&(0..10).map(record).collect::<Vec<_>>());
    {
        let store = FileStore::open(&path, Mode::Replay).unwrap();
        for item in read_all(&store).iter().take(4) {
            store.settle(&item.key, None).unwrap();
        }
        store.flush().unwrap();
        // Killed here: no finish.
    }
    assert_eq!(ns(&path).len(), 10, "the file itself untouched");
    let look = FileStore::open(&path, Mode::Look).unwrap();
    let seen: Vec<String> = read_all(&look).into_iter().map(|i| i.letter.event_id).collect();
    assert_eq!(seen, (4..10).map(|n| format!("e-{n}")).collect::<Vec<_>>(), "a look leaves out what was settled");
    assert!(journal::path_of(&path).exists(), "a look changes nothing");

    let again = FileStore::open(&path, Mode::Replay).unwrap();
    assert_eq!(ns(&path), (4..10).collect::<Vec<_>>(), "the next replay finishes the rewrite first");
    assert_eq!(read_all(&again).len(), 6);
    assert!(!journal::path_of(&path).exists());
}

#[test]
fn a_journal_whose_rewrite_was_already_renamed_into_place_is_dropped() {
    let (_dir, path) = file_with(&(0..3).map(record).collect::<Vec<_>>());
    let store = FileStore::open(&path, Mode::Replay).unwrap();
    let items = read_all(&store);
    store.settle(&items[0].key, None).unwrap();
    store.flush().unwrap();
    let journal_copy = std::fs::read(journal::path_of(&path)).unwrap();
    store.finish().unwrap();
    // A crash between the rename and the journal's removal: the journal names the old inode.
    std::fs::write(journal::path_of(&path), journal_copy).unwrap();
    let _ = FileStore::open(&path, Mode::Replay).unwrap();
    assert_eq!(ns(&path), vec![1, 2], "not applied twice");
}

#[test]
fn one_file_is_replayed_by_one_run_at_a_time_and_looked_at_by_any() {
    let (_dir, path) = file_with(&(0..3).map(record).collect::<Vec<_>>());
    let first = FileStore::open(&path, Mode::Replay).unwrap();
    let Err(e) = FileStore::open(&path, Mode::Replay) else { panic!("a second replay of the same file") };
    assert!(e.to_string().contains("another fanin replay"), "{e}");
    assert_eq!(read_all(&FileStore::open(&path, Mode::Look).unwrap()).len(), 3, "a look is not held back");
    drop(first);
    assert!(FileStore::open(&path, Mode::Replay).is_ok(), "free again once the first is done");
}

#[test]
fn a_torn_journal_entry_is_ignored() {
    let mut lines = journal::Lines::default();
    for n in [0, 63, 64, 1000] {
        lines.set(n);
    }
    assert!(lines.contains(63) && lines.contains(64) && lines.contains(1000) && !lines.contains(1) && !lines.contains(5000));
    assert_eq!(lines.count(), 4);

    let (_dir, path) = file_with(&(0..3).map(record).collect::<Vec<_>>());
    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).unwrap());
    let len = std::fs::metadata(&path).unwrap().len();
    let text = format!("fanin-replay-journal 1 {inode} {len}\n-0\n+1 {}\n+2 {{\"vers", record(101));
    std::fs::write(journal::path_of(&path), text).unwrap();
    assert_eq!(journal::apply(&path, &journal::path_of(&path)).unwrap(), (1, 1));
    assert_eq!(ns(&path), vec![2, 101]);
}

#[test]
fn from_names_a_place_or_with_a_configuration_a_sink() {
    assert_eq!(Place::parse("file:state/dlq.jsonl", None).unwrap(), Place::File("state/dlq.jsonl".into()));
    assert_eq!(Place::parse("sqs:https://q", None).unwrap(), Place::Sqs("https://q".into()));
    assert_eq!(Place::parse("s3://b/p/", None).unwrap(), Place::S3 { bucket: "b".into(), prefix: "p/".into() });
    assert!(matches!(Place::parse("local", None), Err(FromError::NoConfig(_))));
    assert!(matches!(Place::parse("/var/lib/fanin/dlq.jsonl", None), Err(FromError::Unknown(_))), "a path needs file:");

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("etc")).unwrap();
    let file = dir.path().join("etc/fanin.toml");
    std::fs::write(
        &file,
        "[daemon]\nstate_dir = \"../state\"\n[dlq.local]\ntype = \"file\"\npath = \"../state/local.jsonl\"\n[dlq.remote]\ntype = \"sqs\"\nqueue_url = \"https://sqs.us-east-1.amazonaws.com/1/dlq\"\n",
    )
    .unwrap();
    let config = Config::load(&file).unwrap();
    let base = dir.path().join("etc");
    assert_eq!(Place::parse("local", Some(&config)).unwrap(), Place::File(base.join("../state/local.jsonl")), "relative to the file");
    assert_eq!(Place::parse("default", Some(&config)).unwrap(), Place::File(base.join("../state").join("dlq.jsonl")));
    assert_eq!(Place::parse("remote", Some(&config)).unwrap(), Place::Sqs("https://sqs.us-east-1.amazonaws.com/1/dlq".into()));
    let Err(FromError::NoSuchSink { known, .. }) = Place::parse("locale", Some(&config)) else { panic!("a name that is no sink") };
    assert_eq!(known, "local, remote, default");
}
