//! The Rust side of the telemetry tests (tests/test_telemetry_e2e.py): under a span of its own
//! it runs a prompt whose model calls a client tool served here, with the helper's
//! OpenTelemetry tracer, then prints every span it recorded as one JSON line each, and
//! "final: <text>".
//!
//! `cargo run --features otel --example telemetry_client -- --target HOST:PORT --agent NAME --script JSON`

use std::sync::{Arc, Mutex};

use agentstream::otel::OpenTelemetry;
use agentstream::{pb, tool, AgentClient};
use opentelemetry::trace::{FutureExt, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::{global, Context, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use serde_json::json;

/// Keeps the finished spans, to print them at the end.
#[derive(Clone, Debug, Default)]
struct Recorder(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Recorder {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

fn flag(name: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name).expect(name);
    args[i + 1].clone()
}

fn as_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Bool(b) => json!(b),
        Value::I64(i) => json!(i),
        Value::F64(f) => json!(f),
        other => json!(other.as_str()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let recorder = Recorder::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(recorder.clone())
        .build();
    global::set_tracer_provider(provider.clone());

    let script: serde_json::Value = serde_json::from_str(&flag("--script"))?;
    let extra = serde_json::from_value(json!({ "script": script }))?;
    let client = AgentClient::builder(flag("--target"))
        .tracer(OpenTelemetry)
        .connect()
        .await?;
    let request = pb::StreamPromptRequest {
        agent: flag("--agent"),
        prompt: "Where is order A-7?".into(),
        extra_params: Some(extra),
        ..Default::default()
    };
    let lookup = tool(
        "lookup_order",
        "Where an order is",
        json!({"type": "object"}),
    );
    let mut run = client.run(request).tool(lookup, |_| async {
        Ok::<_, String>("order A-7 is in the Lyon depot".to_string())
    });
    let root = provider.tracer("backend").start("handle order question");
    let cx = Context::current_with_span(root);
    let final_response = run.result().with_context(cx.clone()).await;
    cx.span().end();
    let final_response = final_response?;

    for span in recorder.0.lock().unwrap().iter() {
        let attributes: serde_json::Map<_, _> = span
            .attributes
            .iter()
            .map(|kv| (kv.key.to_string(), as_json(&kv.value)))
            .collect();
        let parent = (span.parent_span_id != opentelemetry::trace::SpanId::INVALID)
            .then(|| format!("{:016x}", span.parent_span_id));
        let line = json!({
            "name": span.name,
            "trace_id": format!("{:032x}", span.span_context.trace_id()),
            "span_id": format!("{:016x}", span.span_context.span_id()),
            "parent_id": parent,
            "attributes": attributes,
        });
        println!("{line}");
    }
    println!("final: {}", final_response.text);
    Ok(())
}
