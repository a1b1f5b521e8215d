//! A few seconds of the load-and-kill check (the benchmark `benches/kill_load.rs`
//! runs it longer): 6 clients write and read through `atmpflow serve`, the server
//! is killed with SIGKILL twice mid-load and restarted, and every acknowledged
//! write is found whole; on SQLite and, when ATMPFLOW_TEST_PG is set, PostgreSQL.

use std::time::Duration;

#[path = "../benches/support/kill_load.rs"]
mod kill_load;

#[test]
fn kill_9_under_load_loses_no_acknowledged_write_and_leaves_nothing_partial() {
    let dir = tempfile::tempdir().expect("tempdir");
    for db in store::testing::urls(dir.path()) {
        let r = kill_load::run(&kill_load::Config {
            db: db.clone(),
            clients: 6,
            before_kill: Duration::from_millis(1500),
            rounds: 2,
            seed: 7,
        });
        assert!(
            r.partial.is_empty(),
            "{db}: partial objects {:?}",
            r.partial
        );
        assert!(
            r.lost.is_empty(),
            "{db}: lost acknowledged writes {:?}",
            r.lost
        );
        assert_eq!(r.acknowledged_present, r.acknowledged, "{db}");
        // the check means something only if writes were acknowledged and the kill hit load
        assert!(
            r.acknowledged >= 20,
            "{db}: only {} writes acknowledged",
            r.acknowledged
        );
        assert_eq!(r.errors, 0, "{db}: error answers under load");
    }
}
