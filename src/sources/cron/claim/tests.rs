use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::sources::cron::store::memory::MemoryStore;

const LEASE: Duration = Duration::from_secs(6);

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

/// Two instances' claims in one store, on a clock that starts at the fire's instant.
fn fleet() -> (Arc<MemoryStore>, Claims, Claims) {
    clock::simulated::set(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let store = Arc::new(MemoryStore::default());
    let claims = |id: &str| Claims::with_store(store.clone(), "claims/".into(), id.into(), format!("host-{id}"), LEASE);
    (store.clone(), claims("a"), claims("b"))
}

fn record(store: &MemoryStore) -> serde_json::Value {
    serde_json::from_slice(&store.body("claims/tick/20270115T080000Z").expect("a claim")).unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_first_claim_wins_and_says_who_holds_it_since_when_and_until_when() {
    let (store, a, b) = fleet();
    let Claim::Ours(_) = a.claim("tick", at()).await else { panic!("the first claim is not ours") };
    match b.claim("tick", at()).await {
        Claim::Held { owner, until } => {
            assert_eq!(owner, "host-a (instance a)");
            assert_eq!(until, Some(at() + LEASE));
        }
        other => panic!("{other:?}"),
    }
    let claim = record(&store);
    assert_eq!(claim["instance"], "a");
    assert_eq!(claim["takenAt"], "2027-01-15T08:00:00Z");
    assert_eq!(claim["heldUntil"], "2027-01-15T08:00:06Z");
    assert_eq!(claim["settledAt"], serde_json::Value::Null);
}

#[tokio::test(start_paused = true)]
async fn a_renewed_lease_holds_and_a_lapsed_one_is_taken_over_once() {
    let (store, a, b) = fleet();
    let Claim::Ours(mut lease) = a.claim("tick", at()).await else { panic!() };
    tokio::time::sleep(Duration::from_secs(4)).await;
    a.renew(&mut lease).await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(matches!(b.examine("tick", at()).await, Claim::Held { until: Some(u), .. } if u == at() + Duration::from_secs(10)), "renewed");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let Claim::Ours(taken) = b.examine("tick", at()).await else { panic!("not taken over") };
    assert_eq!(taken.takeovers(), 1);
    assert_eq!(record(&store)["instance"], "b");
    assert_eq!(record(&store)["claimedAt"], "2027-01-15T08:00:00Z", "the first claim's time is kept");
    assert_eq!(a.renew(&mut lease).await, Err(LeaseError::Lost), "the old holder learns it lost the fire");
    assert_eq!(a.settle(&mut lease).await, Err(LeaseError::Lost));
    assert!(matches!(a.examine("tick", at()).await, Claim::Held { .. }), "the new holder's lease holds");
}

#[tokio::test(start_paused = true)]
async fn of_two_instances_taking_over_one_claim_exactly_one_gets_it() {
    clock::simulated::set(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    // Every call takes as long: both read the lapsed claim before either writes.
    let store = Arc::new(MemoryStore::with_latency(|| Duration::from_millis(10)));
    let claims = |id: &str| Claims::with_store(store.clone(), "claims/".into(), id.into(), format!("host-{id}"), LEASE);
    let (a, b, c) = (claims("a"), claims("b"), claims("c"));
    let Claim::Ours(_) = a.claim("tick", at()).await else { panic!() };
    tokio::time::sleep(LEASE + Duration::from_secs(1)).await;
    let (x, y) = tokio::join!(b.examine("tick", at()), c.examine("tick", at()));
    let won = [&x, &y].iter().filter(|c| matches!(c, Claim::Ours(_))).count();
    assert_eq!(won, 1, "{x:?} {y:?}");
    assert!([&x, &y].iter().any(|c| matches!(c, Claim::Later(_))), "the other write met the changed ETag");
}

#[tokio::test(start_paused = true)]
async fn a_settled_claim_is_nobodys_to_take_and_a_released_one_is_taken_at_once() {
    let (_store, a, b) = fleet();
    let Claim::Ours(mut lease) = a.claim("tick", at()).await else { panic!() };
    a.settle(&mut lease).await.unwrap();
    tokio::time::sleep(LEASE * 2).await;
    assert!(matches!(b.examine("tick", at()).await, Claim::Settled(_)));
    assert!(matches!(a.claim("tick", at()).await, Claim::Settled(_)), "not even its holder's after a restart");

    let later = at() + Duration::from_secs(60);
    let Claim::Ours(mut lease) = a.claim("tick", later).await else { panic!() };
    a.release(&mut lease).await.unwrap();
    assert!(matches!(b.examine("tick", later).await, Claim::Ours(_)), "released: taken without waiting");
}

#[tokio::test(start_paused = true)]
async fn an_instance_takes_its_own_unsettled_claim_back_at_once() {
    let (_store, a, _b) = fleet();
    let Claim::Ours(_) = a.claim("tick", at()).await else { panic!() };
    // Restarted: the same instance id, a new process.
    let Claim::Ours(lease) = a.claim("tick", at()).await else { panic!("its own claim is not fired again") };
    assert_eq!(lease.takeovers(), 0);
}

#[tokio::test(start_paused = true)]
async fn claims_from_before_leases_are_held_for_good_by_their_owner() {
    let (store, a, b) = fleet();
    let old = serde_json::json!({ "instance": "a", "host": "host-a", "claimedAt": at() }).to_string();
    store.put("claims/tick/20270115T080000Z", old.into_bytes());
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(matches!(b.examine("tick", at()).await, Claim::Held { until: None, .. }), "never taken over");
    assert!(matches!(a.examine("tick", at()).await, Claim::Held { until: None, .. }), "nor swept up by its owner");
    let Claim::Ours(_) = a.claim("tick", at()).await else { panic!("its owner's catch-up fires it again") };
    assert_eq!(record(&store)["heldUntil"], "2027-01-15T09:00:06Z", "now under a lease");

    // Claims from before instance ids: nobody's own.
    let older = serde_json::json!({ "host": "host-a", "claimedAt": at() }).to_string();
    store.put("claims/tick/20270115T080001Z", older.into_bytes());
    assert!(matches!(a.claim("tick", at() + Duration::from_secs(1)).await, Claim::Held { until: None, .. }));
}

#[tokio::test(start_paused = true)]
async fn a_store_that_does_not_answer_leaves_the_fire_unclaimed_or_for_later() {
    let (store, a, b) = fleet();
    let Claim::Ours(mut lease) = a.claim("tick", at()).await else { panic!() };
    store.down.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(matches!(a.claim("tick", at() + Duration::from_secs(1)).await, Claim::Unknown(_)), "fired anyway");
    assert!(matches!(b.examine("tick", at()).await, Claim::Later(_)));
    assert!(matches!(a.renew(&mut lease).await, Err(LeaseError::Store(_))));
    store.down.store(false, std::sync::atomic::Ordering::SeqCst);
    a.renew(&mut lease).await.expect("the lease still holds");
}

fn lease_of(text: &str) -> Result<Duration, crate::config::ConfigError> {
    let table: toml::Value = toml::from_str(text).unwrap();
    crate::config::deserialize_at::<FleetSettings>(Path::new("fanin.toml"), "fleet", table).map(|f| f.lease)
}

#[test]
fn the_lease_defaults_to_30s_and_bad_ones_are_refused_naming_the_key() {
    assert_eq!(lease_of("").unwrap(), DEFAULT_LEASE);
    assert_eq!(DEFAULT_LEASE, Duration::from_secs(30));
    assert_eq!(lease_of("lease = \"4s\"").unwrap(), Duration::from_secs(4));
    for bad in ["0s", "2s", "2999ms", "2h", "soon"] {
        let e = lease_of(&format!("lease = \"{bad}\"")).unwrap_err();
        assert_eq!(e.key, "fleet.lease", "{bad}: {e}");
        assert!(e.to_string().contains("fanin.toml"), "{e}");
    }
}
