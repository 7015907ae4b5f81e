package events

import (
	"encoding/json"
	"fmt"
	"strings"
)

func init() {
	upcasters[TaskCreated] = map[int]upcaster{1: upcastTaskCreatedV1}
}

// upcastTaskCreatedV1 lifts a version 1 TaskCreated, which stored the CLI
// joined with the subcommand as "command" (e.g. "/usr/local/bin/prov
// servers create"), to version 2, which stores the CLI alone as "cli":
// the subcommand was kept twice. A command that does not end with its
// subcommand was not written by any version of ours; it is refused rather
// than guessed at.
func upcastTaskCreatedV1(data json.RawMessage) (json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, err
	}
	var command string
	var sub []string
	if raw, ok := fields["command"]; ok {
		if err := json.Unmarshal(raw, &command); err != nil {
			return nil, fmt.Errorf("command: %w", err)
		}
	}
	if raw, ok := fields["subcommand"]; ok {
		if err := json.Unmarshal(raw, &sub); err != nil {
			return nil, fmt.Errorf("subcommand: %w", err)
		}
	}
	words := strings.Join(sub, " ")
	cli, ok := strings.CutSuffix(command, words)
	if !ok {
		return nil, fmt.Errorf("command %q does not end with its subcommand %q", command, words)
	}
	cliJSON, err := json.Marshal(strings.TrimSpace(cli))
	if err != nil {
		return nil, err
	}
	delete(fields, "command")
	fields["cli"] = cliJSON
	return json.Marshal(fields)
}
