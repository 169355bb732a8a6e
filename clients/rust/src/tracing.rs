//! Joining the caller's distributed trace without depending on a tracing library: the W3C
//! trace context (`traceparent`, `tracestate`) travels as call metadata, and the server's
//! `execute_tool` span reaches client tools in their hooks event. The `otel` feature implements
//! [`Tracer`] with OpenTelemetry (`agentstream::otel::OpenTelemetry`).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

/// A client tool call in progress: its output, or the error message the model reads.
pub type ToolCall = Pin<Box<dyn Future<Output = Result<String, String>> + Send>>;

/// How the helper joins the caller's trace.
pub trait Tracer: Send + Sync {
    /// The W3C trace context of the caller's current span (`traceparent`, and `tracestate`
    /// when there is one), sent as metadata with each call so that the server's run becomes
    /// its child. It is asked in the task that starts the call. Empty: no trace.
    fn outgoing(&self) -> Vec<(String, String)>;

    /// Runs one client tool call, whose hooks event carried the W3C context of the server's
    /// `execute_tool` span (empty when the server does not trace): a tracer may run it in a
    /// span of its own, child of that one. The default runs it as it is.
    fn in_tool(
        &self,
        tool: &str,
        call_id: &str,
        trace_context: &HashMap<String, String>,
        call: ToolCall,
    ) -> ToolCall {
        let _ = (tool, call_id, trace_context);
        call
    }
}

/// A tracer that sends the `traceparent` its provider returns at each call (from whatever
/// tracing library the application uses; `None`: no trace), e.g.
/// `AgentClient::builder(target).tracer(traceparent(|| current_span_traceparent()))`.
pub fn traceparent<F>(provider: F) -> impl Tracer
where
    F: Fn() -> Option<String> + Send + Sync + 'static,
{
    Traceparent(provider)
}

struct Traceparent<F>(F);

impl<F> Tracer for Traceparent<F>
where
    F: Fn() -> Option<String> + Send + Sync + 'static,
{
    fn outgoing(&self) -> Vec<(String, String)> {
        (self.0)()
            .map(|value| vec![("traceparent".to_string(), value)])
            .unwrap_or_default()
    }
}
