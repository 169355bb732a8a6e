//! Asks the default agent of a running server (`make run`) a question, serves a client tool
//! ("weather") with an async closure, and prints the run's events as they stream:
//! `make example-rust`, or `cargo run --example run_prompt -- --target localhost:50051`.
//! Over TLS: `--ca ca.pem`, for mTLS also `--cert client.pem --key client.key`; a bearer token
//! with `--token` (or `AGENTSTREAM_TOKEN`).

use std::process::ExitCode;
use std::time::Duration;

use agentstream::pb::stream_prompt_response::Event;
use agentstream::{pb, tool, AgentClient, Tls};
use serde_json::json;

fn flag(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).cloned()
}

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let target = flag("--target").unwrap_or_else(|| "localhost:50051".into());
    let mut builder = AgentClient::builder(&target);
    if flag("--ca").is_some() || flag("--cert").is_some() {
        let mut tls = Tls::default();
        if let Some(ca) = flag("--ca") {
            tls = tls.ca_file(ca)?;
        }
        if let (Some(cert), Some(key)) = (flag("--cert"), flag("--key")) {
            tls = tls.identity_files(cert, key)?;
        }
        builder = builder.tls(tls);
    }
    if let Some(token) = flag("--token").or_else(|| std::env::var("AGENTSTREAM_TOKEN").ok()) {
        builder = builder.token(token);
    }
    let client = match builder.connect().await {
        Ok(client) => client,
        Err(e) => {
            println!("run failed: cannot connect: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let weather = tool(
        "weather",
        "Current weather of a city",
        json!({"type": "object", "properties": {"city": {"type": "string", "examples": ["Oslo"]}},
               "required": ["city"]}),
    );
    let request = pb::StreamPromptRequest {
        prompt: "What is the weather in Oslo, and what is 6 * 7?".into(),
        ..Default::default()
    };
    let mut run = client
        .run(request)
        .tool(weather, |args| async move {
            let city = args["city"].as_str().unwrap_or("somewhere").to_string();
            Ok::<_, String>(format!("{city}: 3°C and cloudy"))
        })
        .timeout(Duration::from_secs(30));
    while let Some(event) = run.next().await {
        let event = match event {
            Ok(event) => event,
            // code() is the run's gRPC status, e.g. Unauthenticated for a refused token.
            Err(e) => {
                println!("run failed: {:?}: {e}", e.code());
                return Ok(ExitCode::FAILURE);
            }
        };
        match event.event {
            Some(Event::TextDelta(d)) => print!("{}", d.text),
            Some(Event::ToolCall(c)) => {
                println!("[turn {}] calling {} {}", event.turn, c.name, c.arguments)
            }
            Some(Event::ToolResult(r)) => {
                println!("[turn {}] {} returned {:?}", event.turn, r.name, r.content)
            }
            Some(Event::FinalResponse(f)) => println!(
                "\n[done in {} turn(s), {} tokens]",
                f.turns,
                f.usage.map_or(0, |u| u.total_tokens)
            ),
            _ => {}
        }
    }
    Ok(ExitCode::SUCCESS)
}
