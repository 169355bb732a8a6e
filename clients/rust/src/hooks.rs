//! The hooks stream of one run: serves its client tools and hook handler, carries cancel.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio::task::{JoinHandle, JoinSet};
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::connect::{insert_headers, Service};
use crate::pb;
use crate::pb::hook_reply::Action;
use crate::pb::hooks_request::Request;
use crate::pb::hooks_response::Response;
use crate::tracing::{ToolCall, Tracer};

tokio::task_local! {
    static PROGRESS: Box<dyn Fn(pb::HookProgress) + Send + Sync>;
}

/// Tells the caller how far the client tool running in this task has got: a message and, when
/// known, a fraction between 0 and 1. Each report becomes a `tool_progress` event of the run
/// (the server rate-limits them per call). Outside a client tool it does nothing.
pub fn report_progress(message: &str, fraction: Option<f64>) {
    let progress = pb::HookProgress {
        message: message.into(),
        fraction,
    };
    let _ = PROGRESS.try_with(|report| report(progress));
}

pub(crate) type ToolFn = Arc<dyn Fn(serde_json::Value) -> ToolCall + Send + Sync>;
pub(crate) type HookFn = Arc<dyn Fn(&pb::HookEvent) -> Option<pb::HookReply> + Send + Sync>;

pub(crate) fn tool_fn<F, Fut, E>(f: F) -> ToolFn
where
    F: Fn(serde_json::Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<String, E>> + Send + 'static,
    E: std::fmt::Display,
{
    Arc::new(move |args| {
        let fut = f(args);
        Box::pin(async move { fut.await.map_err(|e| e.to_string()) })
    })
}

/// A tool definition from its name, description and JSON schema.
///
/// # Panics
/// When `schema` is not a JSON object.
pub fn tool(name: &str, description: &str, schema: serde_json::Value) -> pb::ToolDefinition {
    let parameters: pbjson_types::Struct = serde_json::from_value(schema)
        .unwrap_or_else(|e| panic!("tool {name}: the schema is not a JSON object: {e}"));
    pb::ToolDefinition {
        name: name.into(),
        description: description.into(),
        parameters: Some(parameters),
        ..Default::default()
    }
}

/// Lets the loop go on.
pub fn proceed() -> pb::HookReply {
    reply("", Action::Proceed(pb::HookProceed {}))
}

/// Ends the run with ERROR_CODE_CANCELLED.
pub fn cancel(reason: &str) -> pb::HookReply {
    reply(
        "",
        Action::Cancel(pb::HookCancel {
            reason: reason.into(),
        }),
    )
}

/// Answers a tool call without running it; the model reads the reason as its result.
pub fn skip(reason: &str) -> pb::HookReply {
    reply(
        "",
        Action::Skip(pb::HookSkip {
            reason: reason.into(),
        }),
    )
}

fn reply(event_id: &str, action: Action) -> pb::HookReply {
    pb::HookReply {
        event_id: event_id.into(),
        action: Some(action),
    }
}

pub(crate) struct HooksConfig {
    pub tools: HashMap<String, ToolFn>,
    pub handler: Option<HookFn>,
    pub events: Vec<pb::HookEventKind>,
    pub blocking: Vec<pb::HookEventKind>,
    pub tracer: Option<Arc<dyn Tracer>>,
}

/// An open hooks stream: where replies go, and the task reading it.
pub(crate) struct HooksSession {
    pub sender: UnboundedSender<pb::HooksRequest>,
    pub task: JoinHandle<()>,
}

impl HooksSession {
    /// Attaches to the run (before or after it started) and serves it in a task.
    pub fn open(mut service: Service, run_id: &str, config: Arc<HooksConfig>) -> Self {
        let (sender, receiver) = unbounded_channel();
        let attach = pb::HookAttach {
            run_id: run_id.into(),
            events: config.events.iter().map(|k| *k as i32).collect(),
            blocking: config.blocking.iter().map(|k| *k as i32).collect(),
            omit_aggregated_text: config.handler.is_none(),
        };
        let _ = sender.send(pb::HooksRequest {
            request: Some(Request::Attach(attach)),
        });
        let replies = sender.clone();
        // Taken here, in the caller's task: the stream is served from a task of its own, where
        // the caller's current span is not.
        let trace = config
            .tracer
            .as_ref()
            .map(|t| t.outgoing())
            .unwrap_or_default();
        let task = tokio::spawn(async move {
            let mut request = tonic::Request::new(UnboundedReceiverStream::new(receiver));
            insert_headers(request.metadata_mut(), trace);
            let Ok(response) = service.hooks(request).await else {
                return; // the run's outcome arrives on StreamPrompt
            };
            let mut stream = response.into_inner();
            let mut tools = JoinSet::new();
            while let Ok(Some(message)) = stream.message().await {
                match message.response {
                    Some(Response::Event(event)) => on_event(event, &config, &replies, &mut tools),
                    Some(Response::RunEnded(_)) => break,
                    _ => {}
                }
            }
            // Dropping `tools` cancels tool functions still running: the run is over.
        });
        Self { sender, task }
    }

    /// Asks the server to cancel the run (a cancel with no event id).
    pub fn cancel_run(&self, reason: &str) {
        let _ = self.sender.send(pb::HooksRequest {
            request: Some(Request::Reply(cancel(reason))),
        });
    }
}

fn on_event(
    event: pb::HookEvent,
    config: &Arc<HooksConfig>,
    replies: &UnboundedSender<pb::HooksRequest>,
    tools: &mut JoinSet<()>,
) {
    if let Some(pb::hook_event::Event::ToolCall(call)) = &event.event {
        if call.execute {
            let mut tool_call = execute(config.tools.get(&call.name).cloned(), call.clone());
            if let Some(tracer) = &config.tracer {
                tool_call =
                    tracer.in_tool(&call.name, &call.call_id, &event.trace_context, tool_call);
            }
            let (event_id, replies) = (event.event_id.clone(), replies.clone());
            tools.spawn(async move {
                let progress = {
                    let (replies, event_id) = (replies.clone(), event_id.clone());
                    Box::new(move |p: pb::HookProgress| {
                        let action = Action::ToolProgress(p);
                        let _ = replies.send(pb::HooksRequest {
                            request: Some(Request::Reply(reply(&event_id, action))),
                        });
                    }) as Box<dyn Fn(pb::HookProgress) + Send + Sync>
                };
                let (content, is_error) = match PROGRESS.scope(progress, tool_call).await {
                    Ok(content) => (content, false),
                    Err(message) => (message, true),
                };
                let output = Action::ToolOutput(pb::HookToolOutput { content, is_error });
                let _ = replies.send(pb::HooksRequest {
                    request: Some(Request::Reply(reply(&event_id, output))),
                });
            });
            return;
        }
    }
    let answer = config.handler.as_ref().and_then(|handler| handler(&event));
    if event.reply_expected {
        let mut answer = answer.unwrap_or_else(proceed);
        answer.event_id = event.event_id.clone();
        let _ = replies.send(pb::HooksRequest {
            request: Some(Request::Reply(answer)),
        });
    }
}

/// The tool call's output, or the message of its error or panic: a panicking tool gives the
/// model an error result, as a throwing one does in other languages, and the run goes on.
fn execute(function: Option<ToolFn>, call: pb::HookToolCall) -> ToolCall {
    Box::pin(async move {
        let Some(function) = function else {
            return Err(format!("no client tool named {:?}", call.name));
        };
        let arguments = if call.arguments.trim().is_empty() {
            serde_json::Value::Object(Default::default())
        } else {
            serde_json::from_str(&call.arguments)
                .map_err(|e| format!("the arguments are not JSON: {e}"))?
        };
        // The closure itself may panic before it returns its future.
        let future =
            std::panic::catch_unwind(AssertUnwindSafe(|| function(arguments))).map_err(panicked)?;
        AssertUnwindSafe(future)
            .catch_unwind()
            .await
            .unwrap_or_else(|payload| Err(panicked(payload)))
    })
}

fn panicked(payload: Box<dyn Any + Send>) -> String {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string payload".to_string());
    format!("the tool panicked: {message}")
}
