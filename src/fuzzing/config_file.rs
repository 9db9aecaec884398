//! The `config_file` target: a daemon file and source files, loaded as `fanin` loads them.

use super::*;

/// A daemon file and its source files (the parts after `%%` lines, as `sources/s0.toml`,
/// `sources/s1.toml`…), loaded as the daemon loads them; then the routes' filters are used and
/// every setting read.
pub fn config_file(data: &[u8]) {
    thread_local! {
        static DIR: Scratch = Scratch::new("config");
    }
    let parts = parts(data);
    DIR.with(|dir| {
        dir.clear_sources();
        dir.write("fanin.toml", parts[0]);
        for (i, source) in parts[1..].iter().enumerate() {
            dir.write(&format!("sources/s{i}.toml"), source);
        }
        load(&dir.path.join("fanin.toml"));
    });
}

fn load(file: &Path) {
    let config = match Config::load(file) {
        Ok(config) => config,
        Err(e) => {
            std::hint::black_box(e.to_string());
            return;
        }
    };
    for source in &config.sources {
        for route in &source.routes {
            if let Some(filter) = &route.filter {
                for event in fixed_events() {
                    std::hint::black_box(filter.matches(event));
                }
            }
        }
    }
    for target in config.targets.values() {
        std::hint::black_box(config.dlq_of(target));
    }
    std::hint::black_box((config.default_dlq_path(), format!("{config:?}").len()));
}

// ---------------------------------------------------------------------------------------------
