package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"provisioning/auth"
	"provisioning/dashboard"
	"provisioning/events"
	"provisioning/handlers"
	"provisioning/handlers/controlcenter"
	"provisioning/projections"
	"provisioning/secrets"
)

// IdentityConfig configures the control center: tokens, passwords and the
// first admin.
type IdentityConfig struct {
	// TokenTTL is the lifetime of issued tokens; TokenIssuer their iss.
	TokenTTL    time.Duration
	TokenIssuer string
	// HashConcurrency bounds password hashes running at once (0: one per
	// CPU); each takes 19 MiB.
	HashConcurrency int
	// AdminPassword is the password of the admin created on a first start
	// with no users (cmd reads it from PROVISIONING_ADMIN_PASSWORD). Empty:
	// one is generated and printed once to BootstrapOutput.
	AdminPassword   string
	BootstrapOutput io.Writer
	// Clock is the time tokens and MFA codes are checked against
	// (time.Now when nil); tests fix it.
	Clock func() time.Time
}

// DefaultIdentity is the identity configuration without flags.
func DefaultIdentity() IdentityConfig {
	return IdentityConfig{TokenTTL: time.Hour, TokenIssuer: "provisioning"}
}

// identity is the control center's part of an instance.
type identity struct {
	users       *projections.Users
	policies    *projections.Policies
	keys        *projections.SigningKeys
	auditLog    *projections.AuditLog
	iamView     *projections.Runner
	auditView   *projections.Runner
	revocations *auth.Revocations
	codes       *auth.CodeGuard
	names       *auth.Names
	hasher      *auth.Hasher
	tokens      *auth.Tokens
	service     *auth.Service
	access      *handlers.Access

	controlAddr net.Addr
}

// startIdentity sets up the identity buckets and views, creates the
// signing key and the first admin when missing, and waits until tokens
// can be verified and revocations are known: only then may the APIs
// serve.
func (in *Instance) startIdentity(ctx context.Context, bg context.Context, snaps *projections.Snapshots) error {
	id := &in.identity
	id.users, id.policies, id.keys, id.auditLog = projections.NewUsers(), projections.NewPolicies(), projections.NewSigningKeys(), projections.NewAuditLog()
	id.iamView = in.newRunner(events.IAMStream, snaps, id.users, id.policies, id.keys)
	id.auditView = in.newRunner(events.AuditStream, snaps, id.auditLog)
	setup, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	// Every step is idempotent (the signing key is appended with
	// ExpectLast(0)); retry them while a cluster settles.
	err := retry(setup, in.log, "set up identity", func(ctx context.Context) error {
		var err error
		if _, err = auth.EnsureSigningKey(ctx, in.store, in.secrets); err != nil {
			return err
		}
		if id.revocations, err = auth.OpenRevocations(ctx, in.store); err != nil {
			return err
		}
		if id.codes, err = auth.OpenCodeGuard(ctx, in.store); err != nil {
			return err
		}
		id.names, err = auth.OpenNames(ctx, in.store)
		return err
	})
	if err != nil {
		return err
	}
	if err := in.checkLoss(setup, id.iamView, id.auditView); err != nil {
		return err
	}
	in.goRun("identity views", func() error { return id.iamView.Run(bg) })
	in.goRun("audit view", func() error { return id.auditView.Run(bg) })
	in.goRun("revocations", func() error { return id.revocations.Run(bg) })

	id.hasher = auth.NewHasher(auth.DefaultArgon2, in.cfg.HashConcurrency)
	id.tokens = &auth.Tokens{Keys: id.keys, Secrets: in.secrets, Issuer: in.cfg.TokenIssuer, TTL: in.cfg.TokenTTL, Now: in.cfg.Clock}
	evaluator, err := auth.NewEvaluator(id.policies, in.log)
	if err != nil {
		return err
	}
	id.access = &handlers.Access{
		Auth: &auth.Authenticator{Tokens: id.tokens, Revocations: id.revocations, Users: id.users,
			CatchUp: func(ctx context.Context) error {
				ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				return id.iamView.WaitForLatest(ctx)
			}},
		Policies:       evaluator,
		Audit:          &handlers.Auditor{Store: in.store},
		Limits:         handlers.NewLimiters(in.cfg.RateLimits, in.counters, in.registry),
		TrustedProxies: in.cfg.TrustedProxies,
	}
	id.service = &auth.Service{Store: in.store, Users: id.users, Policies: id.policies, View: id.iamView, ReadWait: in.cfg.ReadWait,
		Hasher: id.hasher, Names: id.names, Tokens: id.tokens, Codes: id.codes, Revocations: id.revocations,
		Authenticator: id.access.Auth, Evaluator: evaluator, Secrets: in.secrets, Log: in.log,
		Backoff: &auth.Backoff{Limit: in.cfg.RateLimits.Account.Requests, Window: in.cfg.RateLimits.Account.Window,
			Counter: in.counters.Failures("account"), Now: in.cfg.Clock}}
	if err := id.iamView.WaitForLatest(setup); err != nil {
		return fmt.Errorf("identity views: %w", err)
	}
	if err := in.checkSecrets(); err != nil {
		return err
	}
	select {
	case <-id.revocations.Ready():
	case <-setup.Done():
		return fmt.Errorf("revocations: not loaded in time: %w", setup.Err())
	}
	return in.bootstrapAdmin(setup)
}

// checkSecrets opens every secret of the identity views with the key
// ring: a ring that does not open them is another deployment's (or a
// fresh one made because the right file was not given), and serving with
// it would fail every login. Refusing to start says so at once.
func (in *Instance) checkSecrets() error {
	id := &in.identity
	var problems []string
	for _, k := range id.keys.All() {
		if _, err := auth.OpenSigningKey(in.secrets, k); err != nil {
			problems = append(problems, err.Error())
		}
	}
	for _, u := range id.users.All() {
		for _, s := range []secrets.Stored{u.MFASecret, u.MFAPending} {
			if _, err := in.secrets.OpenStored(auth.TOTPPurpose(u.ID), s); err != nil {
				problems = append(problems, fmt.Sprintf("the TOTP secret of user %s: %v", u.Username, err))
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	if len(problems) > 3 {
		problems = append(problems[:3], fmt.Sprintf("and %d more", len(problems)-3))
	}
	return fmt.Errorf("the secrets key file %s (keys %s) does not open the secrets sealed in the event store: %s. "+
		"Every instance of a deployment must be given the same --secrets-key-file, and a rotated file must keep the old keys below the new one",
		in.secrets.Path(), strings.Join(in.secrets.KeyIDs(), ", "), strings.Join(problems, "; "))
}

// bootstrapAdmin creates the user admin (roles [admin]) when there are no
// users. Two instances starting at once race on the username claim; the
// loser finds the winner's admin and prints nothing.
func (in *Instance) bootstrapAdmin(ctx context.Context) error {
	id := &in.identity
	if id.users.Count() > 0 {
		return nil
	}
	password, generated := in.cfg.AdminPassword, false
	if password == "" {
		password, generated = rand.Text(), true
	}
	if err := auth.CheckPassword(password, "admin", ""); err != nil {
		return fmt.Errorf("PROVISIONING_ADMIN_PASSWORD %w", err)
	}
	admin, err := auth.CreateUserRequest{Username: "admin", Password: password, Roles: []string{auth.RoleAdmin}}.User(events.NewID())
	if err != nil {
		return fmt.Errorf("the admin user: %w", err)
	}
	_, err = id.service.CreateUser(ctx, auth.System, admin)
	if errors.Is(err, auth.ErrTaken) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create the admin user: %w", err)
	}
	if generated {
		out := in.cfg.BootstrapOutput
		if out == nil {
			out = os.Stderr
		}
		fmt.Fprintf(out, "\nCreated user admin with password %s\nIt is shown only this once: log in and change it (PUT /users/%s).\n\n", password, admin.ID)
	}
	in.log.Info("created the admin user", "id", admin.ID, "password_from", map[bool]string{true: "generated", false: "PROVISIONING_ADMIN_PASSWORD"}[generated])
	return nil
}

// serveControl starts the control center API.
func (in *Instance) serveControl() error {
	id := &in.identity
	ln, err := net.Listen("tcp", in.cfg.ControlAddr)
	if err != nil {
		return fmt.Errorf("control center listen %s: %w", in.cfg.ControlAddr, err)
	}
	id.controlAddr = ln.Addr()
	_, orchPort, _ := net.SplitHostPort(in.orchestratorAddr.String())
	page, err := dashboard.New(dashboard.Config{OrchestratorURL: in.cfg.PublicOrchestratorURL, OrchestratorPort: orchPort, Version: version()})
	if err != nil {
		ln.Close()
		return err
	}
	cc := &controlcenter.API{
		Identity: id.service, Users: id.users, Policies: id.policies, Keys: id.keys, AuditLog: id.auditLog,
		IAMView: id.iamView, AuditView: id.auditView, Access: id.access, Log: in.log,
		// Its own series only: the instance's are served by the
		// orchestrator, so scraping both ports counts each once.
		Registry: prometheus.NewRegistry(),
		ReadWait: in.cfg.ReadWait, Idempotency: in.idempotency, CORS: in.cors(), Dashboard: page,
	}
	in.control = newHTTPServer(cc.Handler())
	in.goRun("control center api", func() error {
		if err := in.control.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	in.log.Info("control center listening", "addr", ln.Addr().String())
	in.log.Info("dashboard", "url", in.DashboardURL())
	return nil
}

// DashboardURL is the address of the web page: the control center's
// /ui/, on localhost when it listens on every address.
func (in *Instance) DashboardURL() string {
	host, port, _ := net.SplitHostPort(in.identity.controlAddr.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + dashboard.Prefix
}

// cors is who may call the APIs from another origin: the dashboard (a
// page of the control center's port on the API's own host name) and
// CORSOrigins.
func (in *Instance) cors() *handlers.CORS {
	_, port, _ := net.SplitHostPort(in.identity.controlAddr.String())
	return &handlers.CORS{DashboardPort: port, Origins: in.cfg.CORSOrigins}
}

// version names the build: its module version, or the VCS revision it
// was built from.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return s.Value[:12]
		}
	}
	return info.Main.Version
}

// ControlURL is the base URL of the control center API.
func (in *Instance) ControlURL() string { return "http://" + in.identity.controlAddr.String() }

// Access is the instance's access guard (for tests that build handlers).
func (in *Instance) Access() *handlers.Access { return in.identity.access }
