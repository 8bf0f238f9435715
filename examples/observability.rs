//! What a service sees of this client: the span of each command and batch, printed by
//! `tracing-subscriber`'s formatter, and the client's counters.
//!
//! ```text
//! cargo run --example observability
//! cargo run --example observability --features metrics   # and a metrics snapshot
//! ```
//!
//! Like the other examples it uses the Redis the environment points to, or a private
//! `redis-server` started for the run. The spans follow OpenTelemetry's conventions for
//! database clients (`db.system.name`, `db.operation.name`, `server.address`, `error.type`,
//! ...), so an OpenTelemetry layer (`tracing-opentelemetry`) exports them as they are; here
//! the formatter prints each one when it closes, with its attributes and its duration.
#![allow(clippy::print_stdout)]

use redis_manager::prelude::*;
use redis_manager::{Client, Pipeline, cmd};
use tracing_subscriber::fmt::format::FmtSpan;

mod common;

#[tokio::main]
async fn main() {
    // The command spans are at DEBUG under `redis_manager::command`; connects are INFO
    // spans and reconnects, redirections and failovers INFO events.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_span_events(FmtSpan::CLOSE)
        .with_target(false)
        .init();
    #[cfg(feature = "metrics")]
    let snapshotter = {
        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::set_global_recorder(recorder).expect("the only recorder");
        snapshotter
    };

    let demo = common::find_or_start().await;
    // `trace_query_text`: spans carry `db.query.text`, arguments replaced by `?`.
    let config = demo.config.clone().into_builder().trace_query_text(true);
    let client = Client::new(config).expect("a valid configuration");

    println!("\n-- a few commands");
    let _ = client.set("obs:greeting", "hello").await;
    let _ = client.get("obs:greeting").await;
    let _ = client.incr("obs:visits").await;

    println!("\n-- a pipeline: one span, db.operation.batch.size = 3");
    let mut pipe = Pipeline::new();
    pipe.set("obs:a", 1).set("obs:b", 2).get("obs:a");
    let _ = pipe.execute(&client).await;

    println!("\n-- a failing command: error.type and db.response.status_code");
    let err = client
        .query::<i64>(cmd("LPUSH").key("obs:greeting").arg("x"))
        .await
        .unwrap_err();
    println!("error: {err}");

    println!("\n-- client.stats()");
    println!("{:#?}", client.stats());

    #[cfg(feature = "metrics")]
    {
        println!("\n-- metrics");
        for (key, _unit, _desc, value) in snapshotter.snapshot().into_vec() {
            println!("{:?} = {value:?}", key.key());
        }
    }
    let _ = client
        .query::<i64>(
            cmd("DEL")
                .key("obs:greeting")
                .key("obs:visits")
                .key("obs:a")
                .key("obs:b"),
        )
        .await;
}
