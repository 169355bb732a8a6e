package io.github.agentstream.conformance;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import com.google.protobuf.util.JsonFormat;

/** JSON through protobuf's Value, so the runner needs nothing beyond the client's own jars. */
final class Json {
  private Json() {}

  static Value parse(String json) {
    Value.Builder v = Value.newBuilder();
    try {
      JsonFormat.parser().merge(json, v);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalArgumentException("bad JSON: " + e.getMessage(), e);
    }
    return v.build();
  }

  static String print(Message m) {
    try {
      return JsonFormat.printer().omittingInsignificantWhitespace().print(m);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A proto message as its proto JSON, as a Value. */
  static Value of(Message m) {
    return parse(print(m));
  }

  /** A JSON value (object) into a proto message. */
  static <B extends Message.Builder> B into(Value v, B builder) {
    try {
      JsonFormat.parser().ignoringUnknownFields().merge(print(v), builder);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalArgumentException("bad message JSON: " + e.getMessage(), e);
    }
    return builder;
  }

  static Value field(Value object, String name) {
    if (object == null || !object.hasStructValue()) {
      return null;
    }
    return object.getStructValue().getFieldsMap().get(name);
  }

  static String string(Value object, String name) {
    Value v = field(object, name);
    return v == null || !v.hasStringValue() ? "" : v.getStringValue();
  }

  static Struct struct(Value v) {
    return v == null ? Struct.getDefaultInstance() : v.getStructValue();
  }
}
