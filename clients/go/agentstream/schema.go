package agentstream

import (
	"encoding"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// The JSON schema of a typed tool's Args, derived by reflection the way
// encoding/json reads the struct:
//
//   - a field's name is its json tag's name (else the Go name); `json:"-"` and
//     unexported fields are left out; embedded structs without a name are flattened;
//   - a field is required unless its tag says omitempty or omitzero, or it is a pointer;
//   - string, bool, ints (unsigned ones with minimum 0, sized ones with their
//     bounds), floats, slices and arrays (items), maps with string or integer keys
//     (additionalProperties), nested structs, time.Time (a date-time string) and
//     []byte (base64) map to their JSON types; any, json.RawMessage and types
//     with their own UnmarshalJSON accept any value;
//   - objects admit no other properties (`additionalProperties: false`), so the
//     server refuses a call with a field Args does not have;
//   - the `jsonschema` tag adds description=..., enum=... and example=...
//     (each may repeat), minimum=... and maximum=..., comma-separated; `jsonschema_description` holds a
//     description that contains commas.
//
// Channels, functions, complex numbers and recursive types have no JSON schema:
// Tool reports them as an error of the run.

var (
	timeType        = reflect.TypeFor[time.Time]()
	rawMessageType  = reflect.TypeFor[json.RawMessage]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textType        = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// argumentsSchema is the object schema of Args, a struct (or pointer to one).
func argumentsSchema(t reflect.Type) (map[string]any, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("arguments must be a struct, not %s", t)
	}
	root := t.Name()
	if root == "" {
		root = "Args"
	}
	return (&schemaWalk{seen: map[reflect.Type]bool{}}).object(t, root)
}

type schemaWalk struct {
	// seen holds the struct types on the current path: a type met again is recursive.
	seen map[reflect.Type]bool
}

func (w *schemaWalk) object(t reflect.Type, path string) (map[string]any, error) {
	if w.seen[t] {
		return nil, fmt.Errorf("%s: recursive type %s has no JSON schema", path, t)
	}
	w.seen[t] = true
	defer delete(w.seen, t)
	properties := map[string]any{}
	required := []any{}
	if err := w.fields(t, path, properties, &required); err != nil {
		return nil, err
	}
	schema := map[string]any{"type": "object", "properties": properties, "additionalProperties": false}
	if len(required) > 0 {
		schema["required"] = required
	}
	return schema, nil
}

// fields adds t's fields to properties, flattening embedded structs as encoding/json does.
func (w *schemaWalk) fields(t reflect.Type, path string, properties map[string]any, required *[]any) error {
	for i := range t.NumField() {
		field := t.Field(i)
		name, options, _ := strings.Cut(field.Tag.Get("json"), ",")
		if name == "-" && options == "" {
			continue
		}
		if field.Anonymous && name == "" {
			embedded := field.Type
			if embedded.Kind() == reflect.Pointer {
				embedded = embedded.Elem()
			}
			if embedded.Kind() == reflect.Struct {
				if err := w.fields(embedded, path, properties, required); err != nil {
					return err
				}
				continue
			}
		}
		if !field.IsExported() {
			continue
		}
		if name == "" {
			name = field.Name
		}
		fieldPath := path + "." + field.Name
		schema, err := w.value(field.Type, fieldPath)
		if err != nil {
			return err
		}
		if err := applyTags(schema, field, fieldPath); err != nil {
			return err
		}
		properties[name] = schema
		optional := field.Type.Kind() == reflect.Pointer ||
			strings.Contains(","+options+",", ",omitempty,") || strings.Contains(","+options+",", ",omitzero,")
		if !optional {
			*required = append(*required, name)
		}
	}
	return nil
}

func (w *schemaWalk) value(t reflect.Type, path string) (map[string]any, error) {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}, nil
	case t == rawMessageType:
		return map[string]any{}, nil
	case t.Kind() != reflect.Pointer && (t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType)):
		return map[string]any{}, nil // its own decoder decides what it accepts
	case t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(textType):
		return map[string]any{"type": "string"}, nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return w.value(t.Elem(), path)
	case reflect.Bool:
		return map[string]any{"type": "boolean"}, nil
	case reflect.String:
		return map[string]any{"type": "string"}, nil
	case reflect.Int, reflect.Int64:
		return map[string]any{"type": "integer"}, nil
	case reflect.Int8, reflect.Int16, reflect.Int32:
		bits := t.Bits() - 1
		return map[string]any{"type": "integer", "minimum": -(1 << bits), "maximum": 1<<bits - 1}, nil
	case reflect.Uint, reflect.Uint64, reflect.Uintptr:
		return map[string]any{"type": "integer", "minimum": 0}, nil
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return map[string]any{"type": "integer", "minimum": 0, "maximum": uint64(1)<<t.Bits() - 1}, nil
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}, nil
	case reflect.Interface:
		return map[string]any{}, nil
	case reflect.Slice, reflect.Array:
		return w.array(t, path)
	case reflect.Map:
		return w.mapping(t, path)
	case reflect.Struct:
		return w.object(t, path)
	}
	return nil, fmt.Errorf("%s: type %s has no JSON schema", path, t)
}

func (w *schemaWalk) array(t reflect.Type, path string) (map[string]any, error) {
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
		return map[string]any{"type": "string", "contentEncoding": "base64"}, nil
	}
	items, err := w.value(t.Elem(), path+"[]")
	if err != nil {
		return nil, err
	}
	schema := map[string]any{"type": "array", "items": items}
	if t.Kind() == reflect.Array {
		schema["minItems"], schema["maxItems"] = t.Len(), t.Len()
	}
	return schema, nil
}

func (w *schemaWalk) mapping(t reflect.Type, path string) (map[string]any, error) {
	switch t.Key().Kind() {
	case reflect.String, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
	default:
		if !reflect.PointerTo(t.Key()).Implements(textType) {
			return nil, fmt.Errorf("%s: map key type %s has no JSON schema", path, t.Key())
		}
	}
	values, err := w.value(t.Elem(), path+"[]")
	if err != nil {
		return nil, err
	}
	return map[string]any{"type": "object", "additionalProperties": values}, nil
}

// applyTags adds what a field's jsonschema and jsonschema_description tags say.
func applyTags(schema map[string]any, field reflect.StructField, path string) error {
	if tag, ok := field.Tag.Lookup("jsonschema"); ok {
		var enum, examples []any
		for _, item := range strings.Split(tag, ",") {
			key, value, _ := strings.Cut(item, "=")
			switch key {
			case "description":
				schema["description"] = value
			case "enum":
				v, err := tagValue(field.Type, value)
				if err != nil {
					return fmt.Errorf("%s: jsonschema enum %q: %w", path, value, err)
				}
				enum = append(enum, v)
			case "example":
				v, err := tagValue(field.Type, value)
				if err != nil {
					return fmt.Errorf("%s: jsonschema example %q: %w", path, value, err)
				}
				examples = append(examples, v)
			case "minimum", "maximum":
				n, err := strconv.ParseFloat(value, 64)
				if err != nil {
					return fmt.Errorf("%s: jsonschema %s %q is not a number", path, key, value)
				}
				schema[key] = number(n)
			default:
				return fmt.Errorf("%s: unknown jsonschema tag key %q (known: description, enum, example, minimum, maximum; "+
					"a description with commas goes in jsonschema_description)", path, key)
			}
		}
		if enum != nil {
			schema["enum"] = enum
		}
		if examples != nil {
			schema["examples"] = examples
		}
	}
	if description, ok := field.Tag.Lookup("jsonschema_description"); ok {
		schema["description"] = description
	}
	return nil
}

// tagValue reads an enum value written in a tag as the field's JSON type.
func tagValue(t reflect.Type, text string) (any, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return text, nil
	case reflect.Bool:
		return strconv.ParseBool(text)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, fmt.Errorf("not a number")
		}
		return number(n), nil
	}
	return nil, fmt.Errorf("enums are for strings, numbers and booleans, not %s", t)
}

// number keeps whole numbers integral, so that the schema reads 1 rather than 1.0.
func number(n float64) any {
	if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
		return int64(n)
	}
	return n
}
