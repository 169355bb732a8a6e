package agentstream

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
)

type unit string

type Window struct {
	From time.Time `json:"from"`
}

type Forecast struct {
	City   string            `json:"city" jsonschema:"description=City name,example=Oslo"`
	Days   int8              `json:"days,omitempty"`
	Unit   unit              `json:"unit,omitempty" jsonschema:"enum=C,enum=F"`
	Notes  *string           `json:"notes"`
	Tags   []string          `json:"tags,omitempty" jsonschema_description:"Labels, any number"`
	Extra  map[string]int    `json:"extra,omitempty"`
	Coords [2]float64        `json:"coords,omitzero"`
	Raw    json.RawMessage   `json:"raw,omitempty"`
	Hidden string            `json:"-"`
	Window                   // flattened, as encoding/json reads it
	Nested struct{ On bool } `json:"nested,omitempty"`
	secret int
}

func TestDefineToolDerivesTheSchemaFromArgs(t *testing.T) {
	def, err := DefineTool[Forecast]("forecast", "Weather forecast")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := protojson.Marshal(def.GetParameters())
	var schema, want map[string]any
	_ = json.Unmarshal(got, &schema)
	_ = json.Unmarshal([]byte(`{
		"type": "object", "additionalProperties": false,
		"required": ["city", "from"],
		"properties": {
			"city": {"type": "string", "description": "City name", "examples": ["Oslo"]},
			"days": {"type": "integer", "minimum": -128, "maximum": 127},
			"unit": {"type": "string", "enum": ["C", "F"]},
			"notes": {"type": "string"},
			"tags": {"type": "array", "items": {"type": "string"}, "description": "Labels, any number"},
			"extra": {"type": "object", "additionalProperties": {"type": "integer"}},
			"coords": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
			"raw": {},
			"from": {"type": "string", "format": "date-time"},
			"nested": {"type": "object", "additionalProperties": false, "required": ["On"],
				"properties": {"On": {"type": "boolean"}}}
		}}`), &want)
	if !reflect.DeepEqual(schema, want) {
		t.Fatalf("schema:\n%s", got)
	}
	if def.GetName() != "forecast" || def.GetDescription() != "Weather forecast" {
		t.Fatalf("definition: %v", def)
	}
}

type recursive struct {
	Children []recursive `json:"children"`
}

func TestArgsWithoutASchemaAreRefusedNamingTheField(t *testing.T) {
	cases := map[string]error{
		"Args.Events: type chan int": definitionError[struct{ Events chan int }](),
		"arguments must be a struct": definitionError[string](),
		"recursive type":             definitionError[recursive](),
		`unknown jsonschema tag key "minLength"`: definitionError[struct {
			A string `jsonschema:"minLength=1"`
		}](),
	}
	for want, err := range cases {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error containing %q, got %v", want, err)
		}
	}
}

func definitionError[Args any]() error {
	_, err := DefineTool[Args]("t", "")
	if err == nil {
		return nil
	}
	return err
}

func TestATypedToolWhoseArgsHaveNoSchemaFailsTheRunBeforeItStarts(t *testing.T) {
	run := (&Client{}).Run(context.Background(), nil,
		Tool("bad", "", func(context.Context, struct{ C chan int }) (string, error) { return "", nil }))
	_, err := run.Final()
	if err == nil || !strings.Contains(err.Error(), `agentstream: tool "bad": Args.C: type chan int has no JSON schema`) {
		t.Fatalf("got %v", err)
	}
}

func TestArgumentsAreDecodedOrRefusedWithTheirPath(t *testing.T) {
	var cfg = runConfig{funcs: map[string]ToolFunc{}}
	var seen Forecast
	Tool("forecast", "", func(_ context.Context, args Forecast) (string, error) {
		seen = args
		return "ok", nil
	})(&cfg)
	fn := cfg.funcs["forecast"]
	// 3.0 is an integer to JSON Schema, as the server checks it.
	out, err := fn(context.Background(), `{"city": "Oslo", "days": 3.0, "from": "2026-11-28T10:00:00Z"}`)
	if err != nil || out != "ok" || seen.City != "Oslo" || seen.Days != 3 || seen.From.Hour() != 10 {
		t.Fatalf("got %q %v %+v", out, err, seen)
	}
	prefix := `tool "forecast" not run: arguments do not fit its parameters: `
	for arguments, want := range map[string]string{
		`{"city": "Oslo", "days": 300}`:     "$.days: number 300 does not fit int8",
		`{"city": 7}`:                       "$.city: number does not fit string",
		`{"city": "Oslo", "country": "NO"}`: `$: unknown field "country"`,
		`{"from": "yesterday"}`:             `$: parsing time "yesterday"`,
		`[1]`:                               "$: array does not fit agentstream.Forecast",
	} {
		_, err := fn(context.Background(), arguments)
		if err == nil || !strings.HasPrefix(err.Error(), prefix+want) {
			t.Errorf("%s: want %q, got %v", arguments, prefix+want, err)
		}
	}
}
