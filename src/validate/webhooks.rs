//! `http` sources: their secrets can be read, the listener's TLS certificate and key load, and
//! a source that checks no signature at all is said out loud. All local: also offline. (The
//! buffer queue is checked as every queue is, in `queues`.)

use super::{Check, Status, World};
use crate::sources::http::{self, Scheme};

const KIND: &str = "source";

/// The checks of every `http` source, then of the listener's TLS files.
pub(super) fn check(world: &World) -> Vec<Check> {
    let config = &world.config;
    let mut checks = Vec::new();
    for (source, settings, options) in http::sources(&config.sources) {
        let check = |status, detail: String| Check::new(KIND, &source.name, status, detail);
        let signature = &options.signature;
        if signature.scheme == Scheme::None {
            checks.push(
                check(Status::Warn, format!("{} checks no signature: anyone who reaches the listener can send it events", options.path))
                    .advise(format!("set signature = {{ scheme = \"…\", secrets = [{{ env = \"NAME\" }}] }} in {}", source.file.display())),
            );
            continue;
        }
        // What a sender's retry comes to, by the kind of buffer queue.
        let retries = if settings.queue_url.ends_with(".fifo") {
            "a sender's retry within SQS's 5-minute deduplication window is dropped"
        } else {
            "a standard buffer queue: a sender's retry is delivered again, with the same event id"
        };
        match signature.verifier(&options.dir) {
            Ok(_) => checks.push(check(
                Status::Ok,
                format!(
                    "{} checks {} signatures, {} secret(s) readable; {retries}",
                    options.path,
                    scheme_name(signature.scheme),
                    signature.secrets.len()
                ),
            )),
            Err(e) => checks.push(
                check(Status::Fail, format!("{}: a signature secret: {e}", options.path))
                    .advise(format!("set it for the fanin service, or fix signature.secrets in {}", source.file.display())),
            ),
        }
    }
    if let (Some(cert), Some(key)) = (&config.http.tls_cert, &config.http.tls_key) {
        let name = config.http.listen.map(|l| l.to_string()).unwrap_or_default();
        checks.push(match http::server::load_tls(cert, key) {
            Ok(_) => Check::new("http", &name, Status::Ok, format!("TLS certificate {} and key load", cert.display())),
            Err(e) => Check::new("http", &name, Status::Fail, format!("TLS: {e}"))
                .advise("give [http] tls_cert a PEM certificate chain and tls_key its PEM private key"),
        });
    }
    checks
}

fn scheme_name(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::Github => "github",
        Scheme::Stripe => "stripe",
        Scheme::Slack => "slack",
        Scheme::Standard => "standard",
        Scheme::Hmac => "hmac",
        Scheme::Bearer => "bearer",
        Scheme::None => "none",
    }
}
