package io.github.agentstream.conformance;

import com.google.protobuf.ListValue;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/** The suite's subset match and event-kind patterns (tests/conformance/README.md). */
final class Match {
  private Match() {}

  /** Null when {@code actual} has everything {@code expected} has, else why not. */
  static String match(Value expected, Value actual, String path) {
    boolean missing = actual == null || actual.hasNullValue();
    switch (expected.getKindCase()) {
      case STRUCT_VALUE -> {
        Map<String, Value> e = expected.getStructValue().getFieldsMap();
        if (e.size() == 1 && e.containsKey("$contains")) {
          String want = e.get("$contains").getStringValue();
          if (!missing && actual.hasStringValue() && actual.getStringValue().contains(want)) {
            return null;
          }
          return path + ": " + show(actual) + " does not contain \"" + want + "\"";
        }
        Struct a = missing ? Struct.getDefaultInstance() : actual.getStructValue();
        if (!missing && !actual.hasStructValue()) {
          return path + ": want an object, got " + show(actual);
        }
        for (Map.Entry<String, Value> entry : e.entrySet()) {
          String err =
              match(entry.getValue(), a.getFieldsMap().get(entry.getKey()), path + "." + entry.getKey());
          if (err != null) {
            return err;
          }
        }
        return null;
      }
      case LIST_VALUE -> {
        List<Value> e = expected.getListValue().getValuesList();
        ListValue a = missing ? ListValue.getDefaultInstance() : actual.getListValue();
        if ((!missing && !actual.hasListValue()) || a.getValuesCount() != e.size()) {
          return path + ": want " + e.size() + " items, got " + show(actual);
        }
        for (int i = 0; i < e.size(); i++) {
          String err = match(e.get(i), a.getValues(i), path + "[" + i + "]");
          if (err != null) {
            return err;
          }
        }
        return null;
      }
      default -> {}
    }
    if (missing) {
      boolean isDefault =
          switch (expected.getKindCase()) {
            case NULL_VALUE -> true;
            case BOOL_VALUE -> !expected.getBoolValue();
            case NUMBER_VALUE -> expected.getNumberValue() == 0;
            case STRING_VALUE -> expected.getStringValue().isEmpty()
                || expected.getStringValue().equals("0");
            default -> false;
          };
      return isDefault ? null : path + ": want " + show(expected) + ", got nothing";
    }
    if (expected.hasBoolValue() || actual.hasBoolValue()) {
      boolean ok =
          expected.hasBoolValue()
              && actual.hasBoolValue()
              && expected.getBoolValue() == actual.getBoolValue();
      return ok ? null : path + ": want " + show(expected) + ", got " + show(actual);
    }
    return scalar(expected).equals(scalar(actual))
        ? null
        : path + ": want " + show(expected) + ", got " + show(actual);
  }

  private static String scalar(Value v) {
    if (v.hasNumberValue()) {
      double d = v.getNumberValue();
      return d == Math.rint(d) ? Long.toString((long) d) : Double.toString(d);
    }
    return v.hasStringValue() ? v.getStringValue() : v.toString();
  }

  static String show(Value v) {
    if (v == null) {
      return "nothing";
    }
    return Json.print(v);
  }

  /** Kinds against a pattern whose items may end in + (one or more), * or ?. */
  static boolean kinds(List<String> pattern, List<String> kinds) {
    StringBuilder re = new StringBuilder();
    for (String item : pattern) {
      String name = item;
      String quant = "";
      if (!item.isEmpty() && "+*?".indexOf(item.charAt(item.length() - 1)) >= 0) {
        name = item.substring(0, item.length() - 1);
        quant = item.substring(item.length() - 1);
      }
      re.append("(?:").append(Pattern.quote(name)).append(",)").append(quant);
    }
    StringBuilder joined = new StringBuilder();
    kinds.forEach(k -> joined.append(k).append(','));
    return Pattern.matches(re.toString(), joined);
  }
}
