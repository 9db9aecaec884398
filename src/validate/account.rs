//! The account fanin fills events and ARNs with: `[aws] account_id`, else what
//! `sts:GetCallerIdentity` says, which `fanin run` asks once at start.

use super::failure::Failure;
use super::{Check, Status, World};

const KIND: &str = "account";

/// Asks STS whose credentials these are, and compares with `[aws] account_id` where set.
pub(super) async fn check(world: World) -> Vec<Check> {
    let Some(sdk) = &world.sdk else { return vec![] };
    let configured = world.config.aws.account_id.as_deref();
    let check = |status, detail: String| Check::new(KIND, "aws", status, detail);
    let found = match (crate::aws::caller_account(sdk).await, configured) {
        (Ok(caller), None) => check(Status::Ok, format!("{caller} (from sts:GetCallerIdentity, asked once at start)")),
        (Ok(caller), Some(account)) if caller == account => {
            check(Status::Ok, format!("{account} ([aws] account_id; the credentials are this account's)"))
        }
        (Ok(caller), Some(account)) => {
            check(Status::Warn, format!("[aws] account_id is {account}, but the credentials are account {caller}'s")).advise(format!(
                "events and dead-letter records will name {account}; correct [aws] account_id in {} if that is wrong",
                world.config.file.display()
            ))
        }
        (Err(_), Some(account)) => check(Status::Ok, format!("{account} ([aws] account_id; STS not asked at start)")),
        (Err(why), None) => check(Status::Fail, format!("sts:GetCallerIdentity: {why}: fanin run cannot tell its account")).advise(
            format!("set [aws] account_id = \"<12 digits>\" in {}, or {}", world.config.file.display(), Failure::unreachable_advice("STS")),
        ),
    };
    vec![found]
}
