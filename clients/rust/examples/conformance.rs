//! Runs tests/conformance/scenarios.json against a server with the Rust helper and prints one
//! PASS/FAIL line per scenario, then "N passed, N failed"; exits 1 when a scenario failed.
//!
//!     cargo run --example conformance -- --target 127.0.0.1:50051 --scenarios ../../tests/conformance/scenarios.json

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentstream::{pb, AgentClient, Run, RunError};
use serde_json::{json, Value};

#[derive(Default)]
struct Outcome {
    events: Vec<Value>,
    kinds: Vec<String>,
    status: String,
    result: Value,
    answer_order: Arc<Mutex<Vec<String>>>,
    hook_events: Arc<Mutex<Vec<String>>>,
}

type StepResult<T> = Result<T, String>;

#[tokio::main]
async fn main() {
    let mut target = "localhost:50051".to_string();
    let mut path = "../../tests/conformance/scenarios.json".to_string();
    let mut only = String::new();
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--target" => target = value,
            "--scenarios" => path = value,
            "--only" => only = value,
            flag => panic!("unknown flag {flag}"),
        }
    }
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("scenarios file"))
            .expect("JSON");
    let client = AgentClient::connect(&target).await.expect("connect");
    let (mut passed, mut failed) = (0, 0);
    for scenario in file["scenarios"].as_array().expect("scenarios") {
        let name = scenario["name"].as_str().unwrap_or_default();
        if !only.is_empty() && only != name {
            continue;
        }
        let start = Instant::now();
        match run_scenario(&client, scenario).await {
            Ok(()) => {
                passed += 1;
                println!("PASS {name} ({}ms)", start.elapsed().as_millis());
            }
            Err(why) => {
                failed += 1;
                println!("FAIL {name}: {why}");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    std::process::exit(if failed > 0 { 1 } else { 0 });
}

async fn run_scenario(client: &AgentClient, scenario: &Value) -> StepResult<()> {
    let mut previous = Value::Null;
    for (i, step) in scenario["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        previous = run_step(client, step, &previous)
            .await
            .map_err(|e| format!("step {}: {e}", i + 1))?;
    }
    Ok(())
}

async fn run_step(client: &AgentClient, step: &Value, previous: &Value) -> StepResult<Value> {
    if step.get("watch").is_some() {
        return watch_previous(client, step, previous).await;
    }
    let mut request: pb::StreamPromptRequest =
        serde_json::from_value(step["request"].clone()).map_err(|e| format!("bad request: {e}"))?;
    if step["continue_from_previous"].as_bool() == Some(true) {
        let holder = previous
            .get("finalResponse")
            .or_else(|| previous.get("error"));
        let holder = holder.ok_or("the previous step ended without a final response or error")?;
        let history: pb::FinalResponse =
            serde_json::from_value(json!({"history": holder["history"].clone()}))
                .map_err(|e| format!("bad history: {e}"))?;
        request.history = history.history;
    }
    let mut out = Outcome {
        status: "OK".into(),
        ..Default::default()
    };
    let mut run = client.run(request).timeout(Duration::from_secs(30));
    for spec in step["client_tools"].as_array().into_iter().flatten() {
        let definition: pb::ToolDefinition = serde_json::from_value(spec["definition"].clone())
            .map_err(|e| format!("bad tool: {e}"))?;
        let answers = spec["answers"].as_array().cloned().unwrap_or_default();
        let order = out.answer_order.clone();
        run = run.tool(definition, move |arguments: Value| {
            let (answers, order) = (answers.clone(), order.clone());
            async move {
                for answer in &answers {
                    if answer
                        .get("when")
                        .is_some_and(|when| matches(when, &arguments, "").is_err())
                    {
                        continue;
                    }
                    tokio::time::sleep(Duration::from_millis(
                        answer["delay_ms"].as_u64().unwrap_or(0),
                    ))
                    .await;
                    for p in answer["progress"].as_array().into_iter().flatten() {
                        let message = p["message"].as_str().unwrap_or_default();
                        agentstream::report_progress(message, p["fraction"].as_f64());
                    }
                    order
                        .lock()
                        .unwrap()
                        .push(answer["label"].as_str().unwrap_or_default().to_string());
                    if let Some(message) = answer["raise"].as_str() {
                        return Err(message.to_string());
                    }
                    if let Some(message) = answer["panic"].as_str() {
                        panic!("{message}");
                    }
                    let content = answer["content"].as_str().unwrap_or_default().to_string();
                    return if answer["is_error"].as_bool() == Some(true) {
                        Err(content)
                    } else {
                        Ok(content)
                    };
                }
                Err(format!("no scripted answer for {arguments}"))
            }
        });
    }
    if let Some(hooks) = step.get("hooks") {
        let actions = hooks["on"].as_array().cloned().unwrap_or_default();
        let seen = out.hook_events.clone();
        run = run.hooks(
            move |event: &pb::HookEvent| {
                let kind = event_kind(&serde_json::to_value(event).unwrap_or_default());
                seen.lock().unwrap().push(kind.clone());
                let action = actions
                    .iter()
                    .find(|a| a["event"].as_str() == Some(kind.as_str()))?;
                let reason = action["reason"].as_str().unwrap_or_default();
                Some(match action["action"].as_str() {
                    Some("cancel") => agentstream::cancel(reason),
                    Some("skip") => agentstream::skip(reason),
                    _ => agentstream::proceed(),
                })
            },
            &kinds(&hooks["events"])?,
            &kinds(&hooks["blocking"])?,
        );
    }
    play(&mut run, step, &mut out).await?;
    if step["resume"].as_bool() == Some(true) {
        resume(client, run.run_id(), &mut out).await?;
    }
    check(client, &step["expect"], &out, 0).await?;
    Ok(out.events.last().cloned().unwrap_or(Value::Null))
}

/// Watches the previous step's (ended) run after `watch.after_seq`: a replay.
async fn watch_previous(client: &AgentClient, step: &Value, previous: &Value) -> StepResult<Value> {
    let run_id = previous["runId"]
        .as_str()
        .ok_or("a watch step needs a previous step's run")?;
    let after_seq = step["watch"]["after_seq"].as_u64().unwrap_or(0);
    let mut out = Outcome {
        status: "OK".into(),
        ..Default::default()
    };
    watch_into(client, run_id, after_seq, &mut out).await?;
    check(client, &step["expect"], &out, after_seq).await?;
    Ok(out.events.last().cloned().unwrap_or(previous.clone()))
}

/// Reads the run as the step says (disconnect, cancel, leave early), then asks the result twice.
async fn play(run: &mut Run, step: &Value, out: &mut Outcome) -> StepResult<()> {
    if let Some(reason) = step["cancel_before_start"].as_str() {
        run.cancel(reason).await;
    }
    let mut cancel_after = step.get("cancel_after").cloned();
    while let Some(item) = run.next().await {
        let event = match item {
            Ok(event) => event,
            Err(e) => {
                out.status = status_name(&e);
                break;
            }
        };
        let value = serde_json::to_value(&event).map_err(|e| e.to_string())?;
        let kind = event_kind(&value);
        out.kinds.push(kind.clone());
        out.events.push(value);
        if step["disconnect_after"].as_str() == Some(kind.as_str()) {
            run.close();
        }
        if cancel_after
            .as_ref()
            .is_some_and(|c| c["event"].as_str() == Some(kind.as_str()))
        {
            run.cancel(
                cancel_after.take().unwrap()["reason"]
                    .as_str()
                    .unwrap_or_default(),
            )
            .await;
        }
        if step["break_after"].as_str() == Some(kind.as_str()) {
            break;
        }
    }
    let first = result(run, out).await?;
    let again = result(run, &mut Outcome::default()).await?;
    if first != again {
        return Err(format!("result() answered {first}, then {again}"));
    }
    Ok(())
}

/// Watches the run from the last event recorded and records the rest; its status is the step's.
async fn resume(client: &AgentClient, run_id: &str, out: &mut Outcome) -> StepResult<()> {
    let after = out
        .events
        .last()
        .map_or(0, |ev| scalar(&ev["seq"]).parse().unwrap_or(0));
    watch_into(client, run_id, after, out).await
}

/// Records the run's events after `after` (the helper's watch); its status is the step's.
async fn watch_into(
    client: &AgentClient,
    run_id: &str,
    after: u64,
    out: &mut Outcome,
) -> StepResult<()> {
    out.status = "OK".into();
    let mut watch = match client.watch(run_id, after).await {
        Ok(watch) => watch,
        Err(e) => {
            out.status = status_name(&e);
            return Ok(());
        }
    };
    while let Some(item) = watch.next().await {
        match item {
            Ok(event) => {
                let value = serde_json::to_value(&event).map_err(|e| e.to_string())?;
                out.kinds.push(event_kind(&value));
                out.events.push(value);
            }
            Err(e) => out.status = status_name(&e),
        }
    }
    Ok(())
}

async fn result(run: &mut Run, out: &mut Outcome) -> StepResult<String> {
    match run.result().await {
        Ok(done) => {
            out.status = "OK".into();
            out.result =
                json!({"finalResponse": serde_json::to_value(&done).map_err(|e| e.to_string())?});
        }
        Err(e) => {
            out.status = status_name(&e);
            let event = e
                .event()
                .map(serde_json::to_value)
                .transpose()
                .map_err(|e| e.to_string())?;
            out.result = json!({"error": event.unwrap_or_else(|| json!({}))});
        }
    }
    Ok(out.status.clone())
}

/// The canonical gRPC name of the error's status (the scenarios' spelling).
fn status_name(e: &RunError) -> String {
    let status: tonic::Status = e.clone().into();
    match status.code() {
        tonic::Code::Ok => "OK",
        tonic::Code::Cancelled => "CANCELLED",
        tonic::Code::Unknown => "UNKNOWN",
        tonic::Code::InvalidArgument => "INVALID_ARGUMENT",
        tonic::Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        tonic::Code::NotFound => "NOT_FOUND",
        tonic::Code::AlreadyExists => "ALREADY_EXISTS",
        tonic::Code::PermissionDenied => "PERMISSION_DENIED",
        tonic::Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        tonic::Code::FailedPrecondition => "FAILED_PRECONDITION",
        tonic::Code::Aborted => "ABORTED",
        tonic::Code::OutOfRange => "OUT_OF_RANGE",
        tonic::Code::Unimplemented => "UNIMPLEMENTED",
        tonic::Code::Internal => "INTERNAL",
        tonic::Code::Unavailable => "UNAVAILABLE",
        tonic::Code::DataLoss => "DATA_LOSS",
        tonic::Code::Unauthenticated => "UNAUTHENTICATED",
    }
    .to_string()
}

/// The oneof field set in an event's proto JSON, in the proto's snake_case spelling.
fn event_kind(value: &Value) -> String {
    const SCALARS: [&str; 8] = [
        "runId",
        "seq",
        "turn",
        "eventId",
        "replyExpected",
        "merged",
        "traceContext",
        "merged",
    ];
    let key = value
        .as_object()
        .and_then(|o| {
            o.iter()
                .find(|(k, v)| v.is_object() && !SCALARS.contains(&k.as_str()))
                .map(|(k, _)| k.clone())
        })
        .unwrap_or_default();
    let mut snake = String::new();
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            snake.push('_');
            snake.push(c.to_ascii_lowercase());
        } else {
            snake.push(c);
        }
    }
    snake
}

fn kinds(names: &Value) -> StepResult<Vec<pb::HookEventKind>> {
    names
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            let name = n.as_str().unwrap_or_default();
            pb::HookEventKind::from_str_name(name)
                .ok_or_else(|| format!("unknown hook event kind {name}"))
        })
        .collect()
}

async fn check(client: &AgentClient, ex: &Value, out: &Outcome, after_seq: u64) -> StepResult<()> {
    if let Some(status) = ex["status"].as_str() {
        if status != out.status {
            return Err(format!(
                "status {}, want {status} (events {:?})",
                out.status, out.kinds
            ));
        }
    }
    let mut next_seq = after_seq + 1;
    for (i, ev) in out.events.iter().enumerate() {
        // An event covers firstSeq..seq (deltas the watch joined), else just seq.
        let seq: u64 = scalar(&ev["seq"]).parse().unwrap_or(0);
        let first = match scalar(&ev["firstSeq"]).parse().unwrap_or(0) {
            0 => seq,
            first => first,
        };
        if first != next_seq || seq < first {
            return Err(format!(
                "event {} covers seqs {first}..{seq}, want {next_seq} first",
                i + 1
            ));
        }
        next_seq = seq + 1;
        if ev["runId"] != out.events[0]["runId"] {
            return Err(format!("event {} has run_id {}", i + 1, ev["runId"]));
        }
    }
    if let Some(pattern) = ex["events"].as_array() {
        let pattern: Vec<&str> = pattern.iter().filter_map(Value::as_str).collect();
        if !kinds_match(&pattern, &out.kinds) {
            return Err(format!("events {:?} do not match {pattern:?}", out.kinds));
        }
    }
    let mut remaining = out.events.iter();
    for want in ex["contains"].as_array().into_iter().flatten() {
        if !remaining.any(|ev| matches(want, ev, "").is_ok()) {
            return Err(format!("no event matching {want} (in order)"));
        }
    }
    if let Some(last) = ex.get("last") {
        matches(last, out.events.last().ok_or("no events")?, "last")?;
    }
    if let Some(result) = ex.get("result") {
        matches(result, &out.result, "result")?;
    }
    for kind in ex["absent"].as_array().into_iter().flatten() {
        if out.kinds.iter().any(|k| Some(k.as_str()) == kind.as_str()) {
            return Err(format!("unexpected {kind} event"));
        }
    }
    if let Some(order) = ex.get("answer_order") {
        let got = out.answer_order.lock().unwrap().clone();
        if *order != json!(got) {
            return Err(format!(
                "client tools answered in order {got:?}, want {order}"
            ));
        }
    }
    if let Some(want) = ex.get("hook_events") {
        let got = out.hook_events.lock().unwrap().clone();
        if *want != json!(got) {
            return Err(format!("hook events {got:?}, want {want}"));
        }
    }
    if ex["server_healthy"].as_bool() == Some(true) {
        tokio::time::timeout(Duration::from_secs(5), client.list_agents())
            .await
            .map_err(|_| "server unhealthy after the step: no answer".to_string())?
            .map_err(|e| format!("server unhealthy after the step: {:?}", e.code()))?;
    }
    Ok(())
}

/// Kinds against a pattern whose items may end in + (one or more), * or ? (optional).
fn kinds_match(pattern: &[&str], kinds: &[String]) -> bool {
    fn go(pattern: &[&str], kinds: &[String]) -> bool {
        let Some((item, rest)) = pattern.split_first() else {
            return kinds.is_empty();
        };
        let (name, quant) = match item.chars().last() {
            Some(q @ ('+' | '*' | '?')) => (&item[..item.len() - 1], q),
            _ => (*item, ' '),
        };
        let run = kinds.iter().take_while(|k| k.as_str() == name).count();
        let (min, max) = match quant {
            '+' => (1, run),
            '*' => (0, run),
            '?' => (0, run.min(1)),
            _ => (1, run.min(1)),
        };
        (min..=max).rev().any(|n| n <= run && go(rest, &kinds[n..]))
    }
    go(pattern, kinds)
}

/// The suite's subset match (tests/conformance/README.md).
fn matches(expected: &Value, actual: &Value, path: &str) -> StepResult<()> {
    match expected {
        Value::Object(e) => {
            if let (1, Some(sub)) = (e.len(), e.get("$contains")) {
                let s = actual.as_str().unwrap_or_default();
                return if s.contains(sub.as_str().unwrap_or_default()) {
                    Ok(())
                } else {
                    Err(format!("{path}: {actual} does not contain {sub}"))
                };
            }
            if !actual.is_null() && !actual.is_object() {
                return Err(format!("{path}: want an object, got {actual}"));
            }
            for (k, v) in e {
                matches(
                    v,
                    actual.get(k).unwrap_or(&Value::Null),
                    &format!("{path}.{k}"),
                )?;
            }
            Ok(())
        }
        Value::Array(e) => {
            let empty = vec![];
            let a = if actual.is_null() {
                &empty
            } else {
                actual.as_array().unwrap_or(&empty)
            };
            if (!actual.is_null() && !actual.is_array()) || a.len() != e.len() {
                return Err(format!("{path}: want {} items, got {actual}", e.len()));
            }
            for (i, (x, y)) in e.iter().zip(a).enumerate() {
                matches(x, y, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        _ if actual.is_null() => {
            let default = match expected {
                Value::Null => true,
                Value::Bool(b) => !b,
                Value::Number(n) => n.as_f64() == Some(0.0),
                Value::String(s) => s.is_empty() || s == "0",
                _ => false,
            };
            if default {
                Ok(())
            } else {
                Err(format!("{path}: want {expected}, got nothing"))
            }
        }
        Value::Bool(_) | _ if actual.is_boolean() || expected.is_boolean() => {
            if expected == actual {
                Ok(())
            } else {
                Err(format!("{path}: want {expected}, got {actual}"))
            }
        }
        _ => {
            if scalar(expected) == scalar(actual) {
                Ok(())
            } else {
                Err(format!("{path}: want {expected}, got {actual}"))
            }
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}
