package app_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pquerna/otp/totp"

	"provisioning/app"
	"provisioning/app/apptest"
	"provisioning/auth"
	"provisioning/events"
	"provisioning/events/eventstest"
	"provisioning/eventstore"
	"provisioning/secrets"
)

// The signing key's seed, TOTP secrets and webhook secrets are sealed:
// after a session that made all three, no stream, bucket or snapshot of
// the data directory holds any of them in the clear, and the key that
// seals them is a 0600 file of its own beside the event store.
func TestSecretsAreSealedAtRest(t *testing.T) {
	t.Parallel()
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer rc.Close()
	cfg := apptest.Config(t)
	cfg.SecretsKeyFile = "" // the default: created in the data directory
	cfg.Webhooks.AllowPrivateTargets = true
	in, orch, cc := apptest.StartAdmin(t, cfg)

	var users []struct{ ID string }
	cc.Do(t, "GET", "/users", nil).Decode(t, &users)
	res := cc.Do(t, "POST", "/users/"+users[0].ID+"/mfa", nil)
	if res.Status != 200 {
		t.Fatalf("enrol: %d %s", res.Status, res.Raw)
	}
	var enrol struct{ Secret string }
	res.Decode(t, &enrol)
	const hookSecret = "a-webhook-secret-only-receivers-know"
	if res := orch.Do(t, "POST", "/webhooks", map[string]any{"url": rc.URL + "/hook", "events": []string{"*"}, "secret": hookSecret}); res.Status != 201 {
		t.Fatalf("register: %d %s", res.Status, res.Raw)
	}
	keyPath := filepath.Join(cfg.DataDir, secrets.KeyFile)
	ring, err := secrets.Load(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	key := signingKeyOf(t, in.Store())
	priv, err := auth.OpenSigningKey(ring, key)
	if err != nil {
		t.Fatal(err)
	}
	seed := priv.Seed()
	closeInstance(t, in) // its last snapshots are written

	leaks := map[string][]byte{
		"TOTP secret":                  []byte(enrol.Secret),
		"webhook secret":               []byte(hookSecret),
		"signing seed":                 seed,
		"signing seed (base64)":        []byte(base64.StdEncoding.EncodeToString(seed)),
		"secrets key (base64 in file)": []byte(firstKeyLine(t, keyPath)),
	}
	env := eventstest.Start(t, eventstest.WithDir(filepath.Join(cfg.DataDir, "nats")))
	scanned := 0
	for name, msg := range allMessages(t, env.Store) {
		scanned++
		for what, secret := range leaks {
			if bytes.Contains(msg, secret) {
				t.Errorf("%s holds the %s in the clear", name, what)
			}
		}
	}
	if scanned < 10 {
		t.Fatalf("scanned %d messages: the data directory was not read", scanned)
	}
}

// An instance given another key file than the one that sealed the
// deployment's secrets refuses to start, saying so, instead of serving
// with secrets it cannot open.
func TestWrongSecretsKeyRefusesToStart(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	cfg.SecretsKeyFile = ""
	in := apptest.Start(t, cfg)
	closeInstance(t, in)
	keyPath := filepath.Join(cfg.DataDir, secrets.KeyFile)
	if err := os.Remove(keyPath); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other.key")
	if _, _, err := secrets.LoadOrCreate(other); err != nil {
		t.Fatal(err)
	}
	cfg.SecretsKeyFile = other
	_, err := app.Start(context.Background(), cfg, apptest.Logger(t))
	if err == nil || !strings.Contains(err.Error(), other) || !strings.Contains(err.Error(), "does not open") {
		t.Fatalf("start with another deployment's key: %v", err)
	}
	// Nor does a lost key file come back as a fresh one silently.
	cfg.SecretsKeyFile = ""
	_, err = app.Start(context.Background(), cfg, apptest.Logger(t))
	if err == nil || !strings.Contains(err.Error(), "does not open") {
		t.Fatalf("start after the key file was lost: %v", err)
	}
}

// A data directory of a version that stored secrets in the clear keeps
// working: its signing key still signs, and a user's TOTP secret still
// checks codes.
func TestPlaintextSecretsOfOlderVersionsStillWork(t *testing.T) {
	t.Parallel()
	env := eventstest.Start(t)
	ctx := context.Background()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	legacyKey := events.SigningKeyCreatedData{KeyID: "0ldk3y", Algorithm: auth.Algorithm, Seed: priv.Seed(), PublicKey: pub, NotBefore: time.Now().Add(-time.Hour)}
	hash, err := auth.NewHasher(auth.DefaultArgon2, 1).Hash(ctx, apptest.AdminPassword)
	if err != nil {
		t.Fatal(err)
	}
	const totpSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	for _, e := range []struct {
		typ  events.Type
		id   string
		data any
	}{
		{events.SigningKeyCreated, events.PrimarySigningKey, legacyKey},
		{events.UserCreated, "01OLDADMIN", events.UserCreatedData{UserID: "01OLDADMIN", Username: "admin", PasswordHash: hash, Roles: []string{"admin"}, Enabled: true}},
		{events.UserMFAEnrolled, "01OLDADMIN", events.UserMFAEnrolledData{UserID: "01OLDADMIN", Secret: totpSecret}},
		{events.UserMFAEnabled, "01OLDADMIN", events.UserMFAEnabledData{UserID: "01OLDADMIN"}},
	} {
		ev, err := events.New(e.typ, e.id, e.data)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.Store.Append(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Unix(time.Now().Unix()/30*30+15, 0)
	cfg := apptest.Config(t)
	cfg.NATSURL = env.URL()
	cfg.Clock = func() time.Time { return now }
	in := apptest.Start(t, cfg)
	code, err := totp.GenerateCode(totpSecret, now)
	if err != nil {
		t.Fatal(err)
	}
	token := apptest.Login(t, in.ControlURL(), "admin", apptest.AdminPassword, code)
	header, _, _ := strings.Cut(token, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(header)
	if !strings.Contains(string(raw), `"kid":"0ldk3y"`) {
		t.Fatalf("the token is not signed by the old key: %s", raw)
	}
	if res := apptest.NewClient(in.OrchestratorURL()).WithToken(token).Do(t, "GET", "/tasks", nil); res.Status != 200 {
		t.Fatalf("the old key's token: %d %s", res.Status, res.Raw)
	}
}

func signingKeyOf(t *testing.T, store *eventstore.Store) events.SigningKeyCreatedData {
	t.Helper()
	last, err := store.Last(context.Background(), events.AggSigningKey, events.PrimarySigningKey)
	if err != nil {
		t.Fatal(err)
	}
	var k events.SigningKeyCreatedData
	if err := last.Decode(&k); err != nil {
		t.Fatal(err)
	}
	return k
}

func firstKeyLine(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			return line
		}
	}
	t.Fatal("no key in the key file")
	return ""
}

// allMessages returns every message of every stream (KV buckets and
// object stores are streams too), by "stream#seq".
func allMessages(t *testing.T, store *eventstore.Store) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	js := store.JetStream()
	out := map[string][]byte{}
	names := js.StreamNames(ctx)
	for name := range names.Name() {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
			msg, err := s.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			data := bytes.Clone(msg.Data)
			for _, vs := range msg.Header {
				data = append(data, strings.Join(vs, "\n")...)
			}
			out[name+"#"+strconv.FormatUint(seq, 10)] = data
		}
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Rotation: with a new key put first in the file (the old one kept
// below), a restarted instance opens what the old key sealed and seals
// what is new with the new key.
func TestRotatedSecretsKeyOpensOldAndSealsNew(t *testing.T) {
	t.Parallel()
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer rc.Close()
	cfg := apptest.Config(t)
	cfg.Webhooks.AllowPrivateTargets = true
	in, orch, _ := apptest.StartAdmin(t, cfg)
	if res := orch.Do(t, "POST", "/webhooks", map[string]any{"url": rc.URL + "/old", "events": []string{"*"}}); res.Status != 201 {
		t.Fatalf("register: %d %s", res.Status, res.Raw)
	}
	oldKey := in.Secrets().KeyID()
	closeInstance(t, in)
	ring, err := secrets.Rotate(cfg.SecretsKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	in, orch, _ = apptest.StartAdmin(t, cfg) // the old signing key still opens: logins work
	res := orch.Do(t, "POST", "/webhooks", map[string]any{"url": rc.URL + "/new", "events": []string{"*"}})
	if res.Status != 201 {
		t.Fatalf("register after rotation: %d %s", res.Status, res.Raw)
	}
	var created struct{ ID string }
	res.Decode(t, &created)
	last, err := in.Store().Last(context.Background(), events.AggWebhook, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	var d events.WebhookRegisteredData
	if err := last.Decode(&d); err != nil {
		t.Fatal(err)
	}
	if got := secrets.SealedWith(d.SealedSecret); got != ring.KeyID() || got == oldKey {
		t.Fatalf("a secret registered after rotation is sealed with %s, want the new key %s", got, ring.KeyID())
	}
}
