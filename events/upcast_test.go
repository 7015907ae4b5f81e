package events_test

import (
	"encoding/json"
	"strings"
	"testing"

	"provisioning/events"
)

func TestUpcastTaskCreatedV1(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, command, wantCLI, wantErr string
	}{
		{name: "cli and subcommand", command: "/usr/local/bin/provisioning servers create", wantCLI: "/usr/local/bin/provisioning"},
		{name: "cli with words", command: "/bin/prov simulate servers create", wantCLI: "/bin/prov simulate"},
		{name: "no cli", command: "servers create", wantCLI: ""},
		{name: "not ending with the subcommand", command: "/bin/prov taskserv create", wantErr: "does not end with its subcommand"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := `{"id":"E1","type":"TaskCreated","aggregate":"task","aggregate_id":"T1","time":"2026-01-01T00:00:00Z","schema_version":1,` +
				`"data":{"task_id":"T1","name":"create_servers","command":` + quote(tc.command) + `,"subcommand":["servers","create"],"args":["--infra","p"]}}`
			env, err := events.Parse([]byte(body), 7)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if env.SchemaVersion != events.SchemaVersion || env.Seq != 7 {
				t.Fatalf("version %d seq %d", env.SchemaVersion, env.Seq)
			}
			var d events.TaskCreatedData
			if err := env.Decode(&d); err != nil {
				t.Fatal(err)
			}
			if d.CLI != tc.wantCLI || d.TaskID != "T1" || strings.Join(d.Subcommand, " ") != "servers create" || len(d.Args) != 2 {
				t.Fatalf("upcast data %+v", d)
			}
			if strings.Contains(string(env.Data), `"command"`) {
				t.Fatalf("v1 field left in %s", env.Data)
			}
		})
	}
}

func TestNewerSchemaIsRefused(t *testing.T) {
	t.Parallel()
	body := `{"id":"E1","type":"TaskProgress","aggregate":"task","aggregate_id":"T1","time":"2026-01-01T00:00:00Z","schema_version":99,"data":{}}`
	if _, err := events.Parse([]byte(body), 1); err == nil {
		t.Fatal("an event of a newer schema was folded")
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
