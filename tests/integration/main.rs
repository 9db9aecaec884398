//! Integration tests: the real `fanin` binary against moto (SQS, S3) and the Lambda test
//! endpoint. Run through `scripts/test`, which starts moto and sets `FANIN_TEST_MOTO_URL`.

#[path = "../support/mod.rs"]
mod support;

mod alarm_polling;
mod aws_sources;
mod chaos;
mod config_errors;
mod conformance;
mod contrib;
mod cron;
mod dead_letters;
mod dlq_inspect;
mod edge_values;
mod first_day;
mod function_urls;
mod hostile_input;
mod iam_policy;
mod invoke;
mod large_payloads;
mod limits;
mod operations;
mod reload;
mod replay;
mod setup;
mod sqs_delivery;
mod step_functions;
mod synchronous;
mod task_tokens;
mod test_pattern;
mod traces;
mod validate;
mod webhooks;
