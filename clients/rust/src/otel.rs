//! OpenTelemetry for the helper (the `otel` feature): each call carries the trace context of the
//! current OpenTelemetry context, and each client tool runs in an `execute_tool {tool}` span,
//! child of the server's `execute_tool` span, using the global tracer provider.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use agentstream::{otel::OpenTelemetry, AgentClient};
//! let client = AgentClient::builder("localhost:50051").tracer(OpenTelemetry).connect().await?;
//! // Start runs inside your span: `run.result().with_context(cx).await` or under `cx.attach()`.
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::str::FromStr;

use opentelemetry::trace::{
    FutureExt, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer as _,
};
use opentelemetry::{global, Context, KeyValue};

use crate::tracing::{ToolCall, Tracer};

const INSTRUMENTATION_NAME: &str = "agentstream.client";

/// Traces with the current OpenTelemetry context and the global tracer provider. The trace
/// context is written in W3C form directly, so no global propagator needs to be set.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenTelemetry;

impl Tracer for OpenTelemetry {
    fn outgoing(&self) -> Vec<(String, String)> {
        let cx = Context::current();
        let span = cx.span();
        let context = span.span_context();
        if !context.is_valid() {
            return vec![];
        }
        let mut headers = vec![(
            "traceparent".to_string(),
            format!(
                "00-{:032x}-{:016x}-{:02x}",
                context.trace_id(),
                context.span_id(),
                context.trace_flags().to_u8()
            ),
        )];
        let state = context.trace_state().header();
        if !state.is_empty() {
            headers.push(("tracestate".to_string(), state));
        }
        headers
    }

    fn in_tool(
        &self,
        tool: &str,
        call_id: &str,
        trace_context: &HashMap<String, String>,
        call: ToolCall,
    ) -> ToolCall {
        let parent = match remote_parent(trace_context) {
            Some(context) => Context::current().with_remote_span_context(context),
            None => Context::current(),
        };
        let span = global::tracer(INSTRUMENTATION_NAME)
            .span_builder(format!("execute_tool {tool}"))
            .with_kind(SpanKind::Internal)
            .with_attributes([
                KeyValue::new("gen_ai.operation.name", "execute_tool"),
                KeyValue::new("gen_ai.tool.name", tool.to_string()),
                KeyValue::new("gen_ai.tool.call.id", call_id.to_string()),
                KeyValue::new("gen_ai.tool.type", "function"),
                KeyValue::new("agentstream.tool.side", "client"),
            ])
            .start_with_context(&global::tracer(INSTRUMENTATION_NAME), &parent);
        let cx = parent.with_span(span);
        Box::pin(async move {
            let result = call.with_context(cx.clone()).await;
            let span = cx.span();
            if result.is_err() {
                span.set_attribute(KeyValue::new("error.type", "tool_error"));
                span.set_status(Status::error("tool_error"));
            }
            span.end();
            result
        })
    }
}

/// The span context a `traceparent` (version 00) names, with its `tracestate`.
fn remote_parent(trace_context: &HashMap<String, String>) -> Option<SpanContext> {
    let parts: Vec<&str> = trace_context.get("traceparent")?.split('-').collect();
    let [version, trace_id, span_id, flags] = parts[..] else {
        return None;
    };
    if version != "00" || trace_id.len() != 32 || span_id.len() != 16 || flags.len() != 2 {
        return None;
    }
    let state = trace_context
        .get("tracestate")
        .and_then(|s| TraceState::from_str(s).ok())
        .unwrap_or_default();
    let context = SpanContext::new(
        TraceId::from_hex(trace_id).ok()?,
        SpanId::from_hex(span_id).ok()?,
        TraceFlags::new(u8::from_str_radix(flags, 16).ok()?),
        true,
        state,
    );
    context.is_valid().then_some(context)
}
