//! Asks the default agent of a running server (`make run`) a question, serves a client tool
//! ("weather") with an async closure, and prints the run's events as they stream:
//! `make example-rust`, or `cargo run --example run_prompt -- --target localhost:50051`.

use std::time::Duration;

use agentstream::pb::stream_prompt_response::Event;
use agentstream::{pb, tool, AgentClient};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let target = match args.iter().position(|a| a == "--target") {
        Some(i) => args[i + 1].clone(),
        None => "localhost:50051".to_string(),
    };
    let client = AgentClient::connect(&target).await?;
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
        let event = event?;
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
    Ok(())
}
