package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/agentstream/agentstream/clients/go/agentstream"
)

// forecast is the arguments of the typed tool "forecast" (scenario typed_client_tool).
type forecast struct {
	City string `json:"city" jsonschema:"description=City name"`
	Days int    `json:"days,omitempty" jsonschema:"description=Days ahead"`
}

// typedTool serves a scenario's typed tool with agentstream.Tool, after checking that the
// definition the helper derives contains the scenario's.
func typedTool(name string, declared json.RawMessage, play func(context.Context, any) (string, error)) (agentstream.Option, error) {
	if name != "forecast" {
		return nil, fmt.Errorf("no typed tool %q in this runner", name)
	}
	const description = "Weather forecast of a city"
	derived, err := agentstream.DefineTool[forecast]("forecast", description)
	if err != nil {
		return nil, err
	}
	var want any
	if err := json.Unmarshal(declared, &want); err != nil {
		return nil, err
	}
	got, err := toJSON(derived)
	if err != nil {
		return nil, err
	}
	if err := match(want, got, "definition"); err != nil {
		return nil, fmt.Errorf("the typed tool's derived definition: %w", err)
	}
	return agentstream.Tool("forecast", description, func(ctx context.Context, args forecast) (string, error) {
		// The answers match on the decoded arguments, read back as JSON values.
		encoded, _ := json.Marshal(args)
		var values any
		_ = json.Unmarshal(encoded, &values)
		return play(ctx, values)
	}), nil
}
