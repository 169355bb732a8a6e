"""The proto's file options give each language's generated code an idiomatic home; the Java and
Rust builds and other teams' generators rely on them, so dropping one is a contract change."""

from __future__ import annotations

from agentstream.v1 import agent_pb2


def test_file_options_name_each_language_package() -> None:
    options = agent_pb2.DESCRIPTOR.GetOptions()
    assert options.java_package == "io.github.agentstream.v1"
    assert options.java_multiple_files is True
    assert options.java_outer_classname == "AgentProto"
    assert options.go_package.endswith("/clients/go/gen/agentstream/v1;agentstreamv1")
    assert options.csharp_namespace == "AgentStream.V1"
    assert options.objc_class_prefix == "ASX"
    assert options.php_namespace == "AgentStream\\V1"
    assert options.ruby_package == "AgentStream::V1"
