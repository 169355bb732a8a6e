"""The TypeScript, Go, Java and Rust clients installed as a user would, into a fresh project
outside the repository (tests/test_install.py does it for pip): the new project runs a prompt
against the real conformance server and serves a client tool. The
offline model calls every tool, then answers quoting the results, so the answer names the
tool's output. Downloads come from the project's caches (.tools, pip's and npm's)."""

from __future__ import annotations

import json
import re
import shutil
import tarfile
import textwrap
from pathlib import Path

import pytest

from ..client_builds import run_checked
from .conftest import ROOT, TOOLS

TIMEOUT = 900
ANSWER = "weather returned Oslo: cold"
PROMPT = "Weather in Oslo?"
SCHEMA = json.dumps(
    {
        "type": "object",
        "properties": {"city": {"type": "string", "examples": ["Oslo"]}},
        "required": ["city"],
    }
)
# The same texts as string literals of Go, Java, Rust and JavaScript (JSON's escapes are theirs).
SCHEMA_LITERAL, PROMPT_LITERAL = json.dumps(SCHEMA), json.dumps(PROMPT)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())


@pytest.mark.timeout(TIMEOUT)
def test_npm_pack_installs_into_a_new_project(tmp_path: Path, conformance_server: str) -> None:
    ts_dir = ROOT / "clients" / "typescript"
    tarball = run_checked(["npm", "pack", "--silent", "--pack-destination", str(tmp_path)], ts_dir)
    project = tmp_path / "app"
    project.mkdir()
    run_checked(["npm", "init", "-y"], project)
    run_checked(
        ["npm", "install", "--no-audit", "--no-fund", str(tmp_path / tarball.strip())], project
    )
    _write(
        project / "app.mjs",
        f"""
        import {{ AgentClient, tool }} from "@agentstream/client";
        const client = new AgentClient(process.argv[2]);
        const weather = tool({{ description: "Current weather of a city", parameters: {SCHEMA},
                               run: async ({{ city }}) => `${{city}}: cold` }});
        const run = client.run({{ agent: "assistant", prompt: {PROMPT_LITERAL} }}, {{
          tools: {{ weather }},
        }});
        console.log((await run.final()).text);
        client.close();
        """,
    )
    assert ANSWER in run_checked(["node", "app.mjs", conformance_server], project)


@pytest.mark.timeout(TIMEOUT)
def test_go_module_through_replace(tmp_path: Path, conformance_server: str) -> None:
    """A module that states `go 1.23` (the helper's floor: `iter`) uses the helper and its
    typed tools; `go mod tidy` keeps it at 1.23, so the helper forces no Go upgrade."""
    module = "github.com/agentstream/agentstream/clients/go"
    _write(
        tmp_path / "go.mod",
        f"""
        module example.com/app

        go 1.23

        require {module} v0.0.0
        replace {module} => {ROOT / "clients" / "go"}
        """,
    )
    _write(
        tmp_path / "main.go",
        f"""
        package main

        import (
        \t"context"
        \t"fmt"
        \t"os"

        \t"{module}/agentstream"
        \tpb "{module}/gen/agentstream/v1"
        )

        type Weather struct {{
        \tCity string `json:"city" jsonschema:"example=Oslo"`
        }}

        func main() {{
        \tclient, err := agentstream.Dial(os.Args[1])
        \tif err != nil {{
        \t\tpanic(err)
        \t}}
        \ttool := agentstream.Tool("weather", "Current weather of a city",
        \t\tfunc(_ context.Context, args Weather) (string, error) {{
        \t\t\treturn args.City + ": cold", nil
        \t\t}})
        \treq := &pb.StreamPromptRequest{{Agent: "assistant", Prompt: {PROMPT_LITERAL}}}
        \tfinal, err := client.Prompt(context.Background(), req, tool)
        \tif err != nil {{
        \t\tpanic(err)
        \t}}
        \tfmt.Println(final.GetText())
        }}
        """,
    )
    local = {"GOTOOLCHAIN": "local"}
    run_checked(["go", "mod", "tidy"], tmp_path, local)
    assert re.search(r"^go 1\.23(\.0)?$", (tmp_path / "go.mod").read_text(), re.M)
    assert ANSWER in run_checked(["go", "run", ".", conformance_server], tmp_path, local)


@pytest.mark.timeout(TIMEOUT)
def test_maven_artifact_from_the_local_repository(tmp_path: Path, conformance_server: str) -> None:
    maven = ["mvn", "-B", "-q", f"-Dmaven.repo.local={TOOLS / 'm2'}"]
    run_checked([*maven, "install", "-DskipTests"], ROOT / "clients" / "java")
    _write(
        tmp_path / "pom.xml",
        """
        <project xmlns="http://maven.apache.org/POM/4.0.0">
          <modelVersion>4.0.0</modelVersion>
          <groupId>example</groupId>
          <artifactId>app</artifactId>
          <version>1</version>
          <properties><maven.compiler.release>17</maven.compiler.release></properties>
          <dependencies>
            <dependency>
              <groupId>io.github.agentstream</groupId>
              <artifactId>agentstream-client</artifactId>
              <version>0.1.0</version>
            </dependency>
          </dependencies>
          <build><plugins>
            <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-compiler-plugin</artifactId><version>3.14.1</version></plugin>
            <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-resources-plugin</artifactId><version>3.3.1</version></plugin>
            <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-dependency-plugin</artifactId><version>3.8.1</version></plugin>
          </plugins></build>
        </project>
        """,
    )
    _write(
        tmp_path / "src/main/java/app/App.java",
        f"""
        package app;

        import io.github.agentstream.client.AgentClient;
        import io.github.agentstream.client.RunOptions;
        import io.github.agentstream.v1.StreamPromptRequest;

        public final class App {{
          public static void main(String[] args) throws Exception {{
            try (AgentClient client = AgentClient.connect(args[0])) {{
              RunOptions options = RunOptions.builder()
                  .tool("weather", "Current weather of a city", {SCHEMA_LITERAL},
                      a -> a.getFieldsOrThrow("city").getStringValue() + ": cold")
                  .build();
              StreamPromptRequest request = StreamPromptRequest.newBuilder()
                  .setAgent("assistant").setPrompt({PROMPT_LITERAL}).build();
              System.out.println(client.run(request, options).result().getText());
            }}
          }}
        }}
        """,
    )
    classpath = tmp_path / "classpath.txt"
    run_checked(
        [*maven, "compile", "dependency:build-classpath", f"-Dmdep.outputFile={classpath}"],
        tmp_path,
    )
    cp = f"{tmp_path / 'target' / 'classes'}:{classpath.read_text().strip()}"
    assert ANSWER in run_checked(["java", "-cp", cp, "app.App", conformance_server], tmp_path)


@pytest.mark.timeout(TIMEOUT)
def test_rust_crate_packaged_then_used_by_path(tmp_path: Path, conformance_server: str) -> None:
    """`cargo package` makes the crate as crates.io would get it; the new project builds that
    copy, away from the repository (so from the crate's own proto)."""
    env = {"CARGO_HOME": str(TOOLS / "cargo"), "CARGO_TARGET_DIR": str(TOOLS / "cargo-target")}
    source = ROOT / "clients" / "rust"
    run_checked(["cargo", "package", "--allow-dirty", "--no-verify", "--offline"], source, env)
    version = next(
        line.split('"')[1]
        for line in (source / "Cargo.toml").read_text().splitlines()
        if line.startswith("version")
    )
    archive = TOOLS / "cargo-target" / "package" / f"agentstream-{version}.crate"
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "crates", filter="data")
    crate = tmp_path / "crates" / f"agentstream-{version}"
    app = tmp_path / "app"
    _write(
        app / "Cargo.toml",
        f"""
        [package]
        name = "app"
        version = "0.1.0"
        edition = "2021"

        [dependencies]
        agentstream = {{ path = "{crate}" }}
        serde_json = "1"
        tokio = {{ version = "1", features = ["macros", "rt-multi-thread"] }}
        """,
    )
    # The crate's lock file keeps the new project on the versions already in the cache.
    shutil.copy(source / "Cargo.lock", app / "Cargo.lock")
    _write(
        app / "src/main.rs",
        f"""
        use agentstream::{{pb, tool, AgentClient}};

        #[tokio::main]
        async fn main() {{
            let target = std::env::args().nth(1).expect("target");
            let client = AgentClient::connect(&target).await.expect("connect");
            let schema = serde_json::from_str({SCHEMA_LITERAL}).unwrap();
            let request = pb::StreamPromptRequest {{
                agent: "assistant".into(),
                prompt: {PROMPT_LITERAL}.into(),
                ..Default::default()
            }};
            let mut run = client
                .run(request)
                .tool(tool("weather", "Current weather of a city", schema), |args| async move {{
                    Ok::<_, String>(format!("{{}}: cold", args["city"].as_str().unwrap_or("?")))
                }});
            println!("{{}}", run.result().await.expect("the run").text);
        }}
        """,
    )
    assert ANSWER in run_checked(
        ["cargo", "run", "--quiet", "--offline", "--", conformance_server], app, env
    )
