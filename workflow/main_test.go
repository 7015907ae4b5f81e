package workflow_test

import (
	"flag"
	"os"
	"testing"
)

// TestMain runs the property tests on 1000 random cases unless
// -rapid.checks says otherwise: they take well under a second.
func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "rapid.checks" })
	if !explicit {
		_ = flag.Set("rapid.checks", "1000")
	}
	os.Exit(m.Run())
}
