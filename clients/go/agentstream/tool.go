package agentstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	pb "github.com/agentstream/agentstream/clients/go/gen/agentstream/v1"
	"google.golang.org/protobuf/types/known/structpb"
)

// Tool declares a client tool whose arguments are decoded into Args, a struct:
// its JSON schema is derived from Args (see DefineTool) and sent with the tool,
// and fn gets the call's arguments already decoded.
//
//	type Forecast struct {
//		City string `json:"city" jsonschema:"description=City name"`
//		Days int    `json:"days,omitempty" jsonschema:"minimum=1,maximum=14"`
//	}
//	agentstream.Tool("forecast", "Weather forecast of a city",
//		func(ctx context.Context, args Forecast) (string, error) { ... })
//
// The server checks each call against the schema first, so fn only sees
// arguments that fit it. Arguments the schema lets through but Args cannot
// hold (a malformed time, a value its own UnmarshalJSON refuses) never reach fn:
// the model gets an is_error result `tool "forecast" not run: arguments do not
// fit its parameters: $.path: why`. An Args with no JSON schema (a channel
// field, a recursive type) makes the run fail before it starts, naming the field.
func Tool[Args any](name, description string, fn func(ctx context.Context, args Args) (string, error)) Option {
	definition, err := DefineTool[Args](name, description)
	return func(c *runConfig) {
		if err != nil {
			c.err = errors.Join(c.err, err)
			return
		}
		c.tools = append(c.tools, definition)
		c.funcs[name] = func(ctx context.Context, arguments string) (string, error) {
			args, err := decodeArguments[Args](arguments)
			if err != nil {
				return "", fmt.Errorf("tool %q not run: arguments do not fit its parameters: %w", name, err)
			}
			return fn(ctx, args)
		}
	}
}

// DefineTool is the definition Tool sends for Args: its name, description and
// the JSON schema derived from Args.
func DefineTool[Args any](name, description string) (*pb.ToolDefinition, error) {
	schema, err := argumentsSchema(reflect.TypeFor[Args]())
	if err != nil {
		return nil, fmt.Errorf("agentstream: tool %q: %w", name, err)
	}
	parameters, err := structpb.NewStruct(schema)
	if err != nil {
		return nil, fmt.Errorf("agentstream: tool %q: %w", name, err)
	}
	return &pb.ToolDefinition{Name: name, Description: description, Parameters: parameters}, nil
}

// decodeArguments reads a call's arguments into Args; its error names the path
// (`$.days: ...`), as the server's schema check does.
func decodeArguments[Args any](arguments string) (Args, error) {
	var args Args
	if strings.TrimSpace(arguments) == "" {
		arguments = "{}"
	}
	normalized, err := wholeNumbers([]byte(arguments))
	if err != nil {
		return args, argumentsError(err)
	}
	decoder := json.NewDecoder(bytes.NewReader(normalized))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&args); err != nil {
		return args, argumentsError(err)
	}
	return args, nil
}

// wholeNumbers rewrites numbers such as 3.0 or 3e2 as integers: JSON Schema's
// "integer" admits them (and a model or a provider may write them so), while
// encoding/json refuses them for an int field.
func wholeNumbers(arguments []byte) ([]byte, error) {
	decoder := json.NewDecoder(bytes.NewReader(arguments))
	decoder.UseNumber()
	var value any
	if err := decoder.Decode(&value); err != nil {
		return nil, err
	}
	return json.Marshal(rewriteNumbers(value))
}

func rewriteNumbers(value any) any {
	switch v := value.(type) {
	case map[string]any:
		for key, item := range v {
			v[key] = rewriteNumbers(item)
		}
	case []any:
		for i, item := range v {
			v[i] = rewriteNumbers(item)
		}
	case json.Number:
		if strings.ContainsAny(string(v), ".eE") {
			if f, err := v.Float64(); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<63 {
				return json.Number(strconv.FormatInt(int64(f), 10))
			}
		}
	}
	return value
}

func argumentsError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		path := "$"
		if typeErr.Field != "" {
			path += "." + typeErr.Field
		}
		return fmt.Errorf("%s: %s does not fit %s", path, typeErr.Value, typeErr.Type)
	case errors.As(err, &syntaxErr):
		return fmt.Errorf("$: not JSON: %s", strings.TrimPrefix(syntaxErr.Error(), "json: "))
	}
	return fmt.Errorf("$: %s", strings.TrimPrefix(err.Error(), "json: "))
}
