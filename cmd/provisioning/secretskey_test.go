package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"provisioning/app/apptest"
)

// secrets-key new makes the key file, rotate puts a new key first and
// keeps the old one, show lists them.
func TestSecretsKeyCommand(t *testing.T) {
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(apptest.Binary(t), append([]string{"secrets-key"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("secrets-key %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	ids := regexp.MustCompile(`[0-9a-f]{16}`)
	first := ids.FindAllString(run("new", "--data-dir", dir), -1)
	info, err := os.Stat(filepath.Join(dir, "secrets.key"))
	if err != nil || info.Mode().Perm() != 0o600 || len(first) < 1 {
		t.Fatalf("new: %v %v %v", first, info, err)
	}
	rotated := ids.FindAllString(run("rotate", "--secrets-key-file", filepath.Join(dir, "secrets.key")), -1)
	if len(rotated) < 2 || rotated[0] == first[0] || rotated[1] != first[0] {
		t.Fatalf("rotate: keys %v, was %v", rotated, first)
	}
	if shown := ids.FindAllString(run("show", "--data-dir", dir), -1); len(shown) < 2 || shown[0] != rotated[0] {
		t.Fatalf("show: %v", shown)
	}
	if out, err := exec.Command(apptest.Binary(t), "secrets-key", "show", "--data-dir", t.TempDir()).CombinedOutput(); err == nil {
		t.Fatalf("show of a missing file succeeded: %s", out)
	}
}
