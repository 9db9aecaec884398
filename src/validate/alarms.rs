//! Polling `cloudwatch_alarm` sources: `DescribeAlarms` answers, and how many alarms it finds.

use super::failure::Failure;
use super::{Check, Status, World};
use crate::iam::Subject;
use crate::sources::SourceKind;

const KIND: &str = "source";

/// One `DescribeAlarms` with the source's name prefix.
pub(super) async fn check(world: World, index: usize) -> Vec<Check> {
    let source = &world.config.sources[index];
    let (SourceKind::AlarmPoll(settings), Some(sdk)) = (&source.kind, &world.sdk) else { return vec![] };
    let prefix = settings.options.alarm_name_prefix.as_deref();
    let what = match prefix {
        Some(p) => format!("alarms named {p}*"),
        None => "all alarms".to_string(),
    };
    let answer = crate::aws::cloudwatch(sdk).describe_alarms().set_alarm_name_prefix(prefix.map(str::to_string)).send().await;
    let check = |status, detail: String| Check::new(KIND, &source.name, status, detail);
    let found = match answer.map_err(|e| Failure::of(&e)) {
        Ok(out) => {
            let count = out.metric_alarms().len() + out.composite_alarms().len();
            let more = if out.next_token().is_some() { " (first page)" } else { "" };
            if count == 0 {
                check(Status::Warn, format!("DescribeAlarms finds no {what}: nothing to poll yet"))
                    .advise(format!("check alarm_name_prefix in {}", source.file.display()))
            } else {
                check(Status::Ok, format!("DescribeAlarms finds {count} of {what}{more}"))
            }
        }
        Err(f) if f.denied() => check(Status::Fail, format!("DescribeAlarms: access denied: {}", f.summary()))
            .advise(world.grant_missing(Subject::Source(source))),
        Err(f) => check(Status::Fail, format!("DescribeAlarms: {}", f.summary())).unless_answered(&f, "CLOUDWATCH"),
    };
    vec![found]
}
