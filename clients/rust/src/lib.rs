//! A client of agentstream: generated messages and stub (`pb`, tonic + prost, with proto-JSON
//! serde impls) and a helper that runs a prompt, streams its events, serves client tools with
//! async closures and cancels it. The helpers of every language follow one contract
//! (`clients/README.md` in the repository).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use agentstream::{pb, AgentClient};
//! let client = AgentClient::connect("localhost:50051").await?;
//! let request = pb::StreamPromptRequest { prompt: "What is 6 * 7?".into(), ..Default::default() };
//! let mut run = client.run(request);
//! while let Some(event) = run.next().await {
//!     println!("{:?}", event?.event);
//! }
//! println!("{}", run.result().await?.text);
//! # Ok(()) }
//! ```

pub mod pb {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("agentstream.v1");
    include!(concat!(env!("OUT_DIR"), "/agentstream.v1.serde.rs"));
}

mod client;
mod connect;
mod error;
mod hooks;
#[cfg(feature = "otel")]
pub mod otel;
mod run;
mod tracing;

pub use client::{AgentClient, Watch, MAX_MESSAGE_BYTES};
pub use connect::{CallHeaders, ClientBuilder, ConnectError, Service, Tls};
pub use error::RunError;
pub use hooks::{cancel, proceed, report_progress, skip, tool};
pub use run::{CancelHandle, Run, HOOKS_DRAIN};
pub use tracing::{traceparent, ToolCall, Tracer};
